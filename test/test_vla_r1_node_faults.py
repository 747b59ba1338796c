"""vla_r1_node against hostile input, the way an independent client meets it: real rclpy, real topics.

Bad sensor data, oversized instructions, prefill that outlasts the timeout, concurrent goals and
cancels: each goal ends with a clear reason and the node keeps serving. Runs only inside a
loopback-only network namespace (conftest.ros_sandbox).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import numpy as np
import pytest

pytest.importorskip("rclpy", reason="rclpy is not installed; run scripts/run_tests.sh")
pytestmark = pytest.mark.usefixtures("ros_sandbox")

from ros_support import box_answer, scripted, wait_for  # noqa: E402


def _image_copy(message: Any, **changes: Any) -> Any:
    from sensor_msgs.msg import Image

    copy = Image(
        height=message.height,
        width=message.width,
        encoding=message.encoding,
        is_bigendian=message.is_bigendian,
        step=message.step,
    )
    copy.data = message.data
    copy.header.frame_id = message.header.frame_id
    for name, value in changes.items():
        setattr(copy, name, value)
    return copy


def _info_copy(info: Any, **changes: Any) -> Any:
    from sensor_msgs.msg import CameraInfo

    copy = CameraInfo(width=info.width, height=info.height, distortion_model=info.distortion_model)
    copy.header.frame_id = info.header.frame_id
    copy.d, copy.k, copy.r, copy.p = info.d, info.k, info.r, info.p
    for name, value in changes.items():
        setattr(copy, name, value)
    return copy


def _nan_depth(depth: Any) -> Any:
    values = np.full(depth.height * depth.width, np.nan, dtype=np.float32)
    return _image_copy(depth, data=values.tobytes())


# case -> (what the camera publishes instead, a fragment of the goal's message)
SENSOR_FAULTS: dict[str, tuple[Any, str]] = {
    "colour_encoding": (lambda m: {"rgb": _image_copy(m.rgb, encoding="yuv422")}, "colour image unusable"),
    "colour_short_buffer": (
        lambda m: {"rgb": _image_copy(m.rgb, data=bytes(m.rgb.data)[: len(m.rgb.data) // 2])},
        "colour image unusable: image data has",
    ),
    "colour_empty": (
        lambda m: {"rgb": _image_copy(m.rgb, width=0, height=0, step=0, data=b"")},
        "colour image unusable: image is empty",
    ),
    "depth_encoding": (lambda m: {"depth": _image_copy(m.depth, encoding="mono16x")}, "depth unusable"),
    "depth_short_buffer": (
        lambda m: {"depth": _image_copy(m.depth, data=bytes(m.depth.data)[:100])},
        "depth unusable",
    ),
    "depth_all_nan": (lambda m: {"depth": _nan_depth(m.depth)}, "cannot lift the box"),
    "camera_info_k_zero": (lambda m: {"info": _info_copy(m.info, k=[0.0] * 9, p=[0.0] * 12)}, "depth unusable"),
}


@pytest.mark.parametrize("case", sorted(SENSOR_FAULTS))
def test_bad_sensor_data_aborts_the_goal_with_a_reason_and_the_node_keeps_serving(
    harness_factory: Any, scene_msgs: Any, case: str
) -> None:
    replace, fragment = SENSOR_FAULTS[case]
    broken = dataclasses.replace(scene_msgs, **replace(scene_msgs))
    harness = harness_factory(scripted({"affordance": box_answer(scene_msgs.scene)}), messages=broken)
    result, _ = harness.send("pick up the green box")
    assert not result.success
    assert fragment in result.message, result.message
    # The camera recovers: the next goal succeeds on good frames.
    harness.camera.messages = scene_msgs
    harness.camera.info = scene_msgs.info
    time.sleep(0.2)
    again, _ = harness.send("pick up the green box")
    assert again.success, again.message


def test_an_instruction_over_the_limit_ends_the_goal_at_once(harness_factory: Any, scene_msgs: Any) -> None:
    backend = scripted({"affordance": box_answer(scene_msgs.scene)})
    harness = harness_factory(backend, parameters={"max_instruction_chars": 500})
    started = time.monotonic()
    result, feedback = harness.send("pick up the green box " * 10_000)
    assert time.monotonic() - started < 1.0
    assert not result.success
    assert "instruction is 220000 characters, over the limit of 500 (max_instruction_chars)" in result.message
    assert feedback == [] and backend.calls == [], "nothing waited for a frame or reached the model"
    again, _ = harness.send("pick up the green box")
    assert again.success, again.message


def test_timeout_and_cancel_hold_during_a_long_prefill(harness_factory: Any) -> None:
    """The real model on a prompt whose first forward pass alone takes seconds."""
    from inference_support import tiny_engine
    from vla_r1_ros.action import Reason

    long_instruction = "pick up the red block next to the blue mug " * 1000  # ~23 000 tokens
    harness = harness_factory(
        tiny_engine(),
        parameters={
            "generation_timeout": 0.3,
            "max_instruction_chars": 100_000,
            "max_prompt_tokens": 30_000,
            "max_new_tokens": 8,
        },
    )
    engine = tiny_engine()
    started = time.perf_counter()
    full = engine.predict(np.zeros((240, 320, 3), np.uint8), long_instruction, "affordance", engine.settings.with_(
        max_new_tokens=1, max_instruction_chars=100_000, max_prompt_tokens=30_000))  # fmt: skip
    prefill = time.perf_counter() - started  # what the goal would take uninterrupted, on this machine now
    started = time.monotonic()
    result, _ = harness.send(long_instruction)
    elapsed = time.monotonic() - started
    assert not result.success and "model timed out after 0.3 s (0 tokens generated)" in result.message
    # Within the timeout plus one layer of the 3-layer model's prefill (on an idle machine ~1 s).
    assert full.predictions[0].generated_tokens == 1
    assert elapsed < 0.3 + max(1.0, prefill / 2), f"the goal took {elapsed:.2f} s (whole prefill {prefill:.2f} s)"

    # Cancel during the prefill (timeout out of the way).
    harness.node.settings = dataclasses.replace(harness.node.settings, generation_timeout=60.0)
    sent = harness.client.send_goal_async(Reason.Goal(instruction=long_instruction, task="affordance"))
    assert wait_for(sent.done)
    feedback_seen = wait_for(lambda: harness.node._busy.locked())
    assert feedback_seen
    time.sleep(0.2)  # inside the first forward pass by now
    cancelled_at = time.monotonic()
    assert wait_for(sent.result().cancel_goal_async().done)
    outcome = sent.result().get_result_async()
    assert wait_for(outcome.done, timeout=10.0)
    assert outcome.result().status == 5  # GoalStatus.STATUS_CANCELED
    assert time.monotonic() - cancelled_at < max(1.0, prefill / 2)


def test_concurrent_goals_one_is_served_the_others_are_refused_at_once(harness_factory: Any, scene_msgs: Any) -> None:
    from vla_r1_ros.action import Reason

    harness = harness_factory(scripted({"affordance": box_answer(scene_msgs.scene)}, delay_s=1.0))
    sent = [
        harness.client.send_goal_async(Reason.Goal(instruction=f"pick up box {i}", task="affordance")) for i in range(4)
    ]
    assert wait_for(lambda: all(s.done() for s in sent))
    started = time.monotonic()
    results = [s.result().get_result_async() for s in sent]
    busy_done: dict[int, float] = {}

    def record() -> bool:
        for i, r in enumerate(results):
            if r.done() and i not in busy_done:
                busy_done[i] = time.monotonic() - started
        return len(busy_done) == len(results)

    assert wait_for(record, timeout=10.0, period=0.002)
    messages = [r.result().result for r in results]
    served = [m for m in messages if m.success]
    refused = [i for i, m in enumerate(messages) if m.message.startswith("busy:")]
    assert len(served) == 1 and len(refused) == 3
    assert max(busy_done[i] for i in refused) < 0.3, busy_done


def test_cancel_while_waiting_for_a_frame_ends_the_goal_canceled(harness_factory: Any) -> None:
    from vla_r1_ros.action import Reason

    harness = harness_factory(
        scripted({"affordance": "unused"}), publish_depth=False, parameters={"frame_wait_timeout": 30.0}
    )
    sent = harness.client.send_goal_async(Reason.Goal(instruction="pick up the green box", task="affordance"))
    assert wait_for(sent.done)
    time.sleep(0.3)
    started = time.monotonic()
    assert wait_for(sent.result().cancel_goal_async().done)
    outcome = sent.result().get_result_async()
    assert wait_for(outcome.done, timeout=5.0)
    assert outcome.result().status == 5 and "canceled while waiting for a frame" in outcome.result().result.message
    assert time.monotonic() - started < 0.5


def test_both_goal_returns_the_half_that_worked_and_names_the_half_that_failed(
    harness_factory: Any, scene_msgs: Any
) -> None:
    broken_trajectory = "<think>around the box</think><output>[[0.85, 0.9], [0.7</output>"
    harness = harness_factory(scripted({"affordance": box_answer(scene_msgs.scene), "trajectory": broken_trajectory}))
    result, _ = harness.send("pick up the green box", task="both")
    assert not result.success
    assert result.message.startswith("trajectory failed: trajectory answer unusable (invalid_json)")
    assert result.message.endswith("(affordance succeeded and is returned)")
    affordance, trajectory = result.predictions
    assert affordance.affordance.is_lifted and len(affordance.waypoints.poses) >= 2
    assert trajectory.parse_status == "invalid_json" and not trajectory.waypoints.poses
    # The usable half is published as well: its approach path ends at its grasp.
    assert wait_for(lambda: len(harness.received["waypoints"]) > 0)
    end = harness.received["waypoints"][-1].poses[-1].pose.position
    grasp = affordance.affordance.pose.pose.position
    assert np.allclose([end.x, end.y, end.z], [grasp.x, grasp.y, grasp.z])

    # And the other way round: a trajectory that lifts on its own when the box does not parse.
    box = scene_msgs.scene.object("target").box_2d
    onto_box = f"<think>to the green box</think><output>[[0.85, 0.9], [0.7, 0.7], [{box.x:.3f}, {box.y:.3f}]]</output>"
    harness.node._backend = scripted({"affordance": "<think>x</think><output>{}</output>", "trajectory": onto_box})
    result, _ = harness.send("pick up the green box", task="both")
    assert not result.success and result.message.startswith("affordance failed:")
    assert result.message.endswith("(trajectory succeeded and is returned)")
    assert len(result.predictions[1].waypoints.poses) > 3
