"""vla_r1_node end to end with real rclpy: rendered RGB-D in, ~/reason goals, every fault path.

Runs only inside a loopback-only network namespace (conftest.ros_sandbox).
"""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np
import pytest

pytest.importorskip("rclpy", reason="rclpy is not installed; run scripts/run_tests.sh")
pytestmark = pytest.mark.usefixtures("ros_sandbox")

from ros_support import TRAJECTORY_TEXT, box_answer, scripted  # noqa: E402


def test_affordance_goal_lifts_the_true_box_within_a_centimetre(harness_factory: Any, scene_msgs: Any) -> None:
    from ros_support import wait_for

    scene = scene_msgs.scene
    harness = harness_factory(scripted({"affordance": box_answer(scene), "trajectory": TRAJECTORY_TEXT}))
    result, feedback = harness.send("pick up the green box")
    assert result.success, result.message
    prediction = result.predictions[0]
    assert prediction.parse_status == prediction.PARSE_OK and prediction.has_affordance
    region = prediction.affordance
    assert region.is_lifted and region.pose.header.frame_id == "base_link"
    box = scene.object("target").box_2d
    k = scene.intrinsics
    hit = scene.true_hit(box.x * k.width - 0.5, box.y * k.height - 0.5)
    assert hit is not None and hit[2] == "target"
    lifted = np.array([region.pose.pose.position.x, region.pose.pose.position.y, region.pose.pose.position.z])
    error = float(np.linalg.norm(lifted - hit[0]))
    assert error < 0.01, f"lifted target is {error * 1000:.1f} mm from the true surface point"
    stages = [f.stage_name for _, f in feedback]
    assert stages == ["waiting for frame", "generating", "parsing", "lifting"]
    assert [lat.stage for lat in prediction.latencies][:2] == ["frame_age", "preprocess"]
    assert wait_for(lambda: all(harness.received[k] for k in ("prediction", "markers", "waypoints", "image")))
    markers = harness.received["markers"][-1].markers
    assert {m.type for m in markers} >= {1, 0, 4, 7}  # cube, arrow, line strip, sphere list
    path = harness.received["waypoints"][-1]
    assert path.header.frame_id == "base_link" and len(path.poses) >= 2
    end = path.poses[-1].pose.position
    assert np.linalg.norm(np.array([end.x, end.y, end.z]) - lifted) < 1e-6  # the path ends at the grasp
    image = harness.received["image"][-1]
    assert (image.width, image.height, image.encoding) == (k.width, k.height, "rgb8")


def test_both_tasks_give_a_trajectory_ending_at_the_grasp(harness_factory: Any, scene_msgs: Any) -> None:
    harness = harness_factory(scripted({"affordance": box_answer(scene_msgs.scene), "trajectory": TRAJECTORY_TEXT}))
    result, _ = harness.send("move the gripper to the green box", task="both")
    assert result.success, result.message
    affordance, trajectory = result.predictions
    assert (affordance.task, trajectory.task) == ("affordance", "trajectory")
    assert trajectory.has_trajectory and len(trajectory.waypoints.poses) > 3
    grasp = affordance.affordance.pose.pose.position
    end = trajectory.waypoints.poses[-1].pose.position
    assert np.linalg.norm([end.x - grasp.x, end.y - grasp.y, end.z - grasp.z]) < 1e-6
    heights = [p.pose.position.z for p in trajectory.waypoints.poses]
    assert min(heights) > 0.0  # never below the table


def test_real_tiny_checkpoint_answers_in_format(harness_factory: Any, tmp_path_factory: Any) -> None:
    """The real model path end to end; a random tiny model cannot be right, only well-formed."""
    from vla_r1_ros.model.backends import make_backend
    from vla_r1_ros.model.tiny import build_tiny_model

    folder = tmp_path_factory.mktemp("tiny")
    build_tiny_model(folder, seed=0)
    harness = harness_factory(make_backend(str(folder), device="cpu"), parameters={"max_new_tokens": 24})
    result, feedback = harness.send("pick up the green box")
    assert [f.stage_name for _, f in feedback][:2] == ["waiting for frame", "generating"]
    assert len(result.predictions) == 1
    prediction = result.predictions[0]
    assert prediction.raw_output and prediction.model_id == str(folder)
    assert prediction.parse_status in {getattr(prediction, n) for n in dir(prediction) if n.startswith("PARSE_")}
    assert result.success == (prediction.parse_status == "ok" and prediction.affordance.is_lifted)
    if not result.success:
        assert prediction.parse_error and "affordance answer unusable" in result.message


@pytest.mark.parametrize(
    ("case", "fragment"),
    [
        ("no_camera_info", "no CameraInfo received"),
        ("no_depth", "no depth image received yet"),
        ("size_mismatch", "colour image is 320x240 but CameraInfo describes 640x480"),
        ("tf_unavailable", "TF unavailable: no transform camera_color_optical_frame -> base_link"),
        ("empty_instruction", "empty instruction"),
        ("model_error", "model error: server unreachable"),
        ("model_timeout", "model timed out after 0.3 s"),
        ("unparsable", "affordance answer unusable (invalid_json)"),
        ("unknown_task", "unknown task 'grasp'"),
        ("outside_workspace", "refused by the safety filter"),
    ],
)
def test_faults_abort_with_a_reason_and_the_node_keeps_serving(
    harness_factory: Any, scene_msgs: Any, case: str, fragment: str
) -> None:
    from vla_r1_ros.model.backends import Backend, BackendError

    good = box_answer(scene_msgs.scene)
    answers = {"affordance": good}
    backend: Any = scripted(answers)
    options: dict[str, Any] = {}
    parameters: dict[str, Any] = {}
    instruction, task = "pick up the green box", "affordance"
    if case == "no_camera_info":
        options["publish_info"] = False
    elif case == "no_depth":
        options["publish_depth"] = False
    elif case == "size_mismatch":

        def bigger(info: Any) -> Any:
            from sensor_msgs.msg import CameraInfo

            wrong = CameraInfo(
                width=640, height=480, distortion_model="plumb_bob", k=info.k, r=info.r, p=info.p, d=info.d
            )
            wrong.header.frame_id = info.header.frame_id
            return wrong

        options["info_override"] = bigger
    elif case == "tf_unavailable":
        options["with_tf"] = False
    elif case == "empty_instruction":
        instruction = "   "
    elif case == "model_error":

        class Unreachable(Backend):
            name, model_id = "remote", "http://127.0.0.1:9/v1"

            def complete(self, question: Any) -> Any:
                raise BackendError("server unreachable")

        backend = Unreachable()
    elif case == "model_timeout":
        backend = scripted(answers, delay_s=2.0)
        parameters["generation_timeout"] = 0.3
    elif case == "unparsable":
        backend = scripted({"affordance": '<think>x</think><output>{"x": 0.5, "y"</output>'})
    elif case == "unknown_task":
        task = "grasp"
    elif case == "outside_workspace":
        parameters["workspace_max"] = [0.3, 0.8, 1.0]  # the target at x = 0.52 m lies outside
    with_tf = options.pop("with_tf", True)
    harness = harness_factory(backend, with_tf=with_tf, parameters=parameters, **options)
    result, _ = harness.send(instruction, task=task)
    assert not result.success
    assert fragment in result.message
    if case in ("model_timeout", "unparsable", "outside_workspace"):
        assert result.predictions, "the model's answer is still reported"
    # The node keeps serving: the next goal is answered (and succeeds once the fault is gone).
    harness.node._backend = scripted(answers)
    retry = "pick up the green box" if case != "unknown_task" else instruction
    again, _ = harness.send(retry, task="affordance")
    if case in ("tf_unavailable", "size_mismatch", "no_camera_info", "no_depth", "outside_workspace"):
        assert not again.success and fragment in again.message
    else:
        assert again.success, again.message


def test_second_goal_is_refused_while_busy_and_cancel_stops_generation(harness_factory: Any, scene_msgs: Any) -> None:
    from ros_support import wait_for
    from vla_r1_ros.action import Reason

    harness = harness_factory(scripted({"affordance": box_answer(scene_msgs.scene)}, delay_s=3.0))
    first = harness.client.send_goal_async(Reason.Goal(instruction="pick up the green box", task="affordance"))
    assert wait_for(first.done)
    first_handle = first.result()
    assert wait_for(lambda: harness.node._busy.locked())
    second, _ = harness.send("pick up the blue box")
    assert not second.success and second.message.startswith("busy:")
    started = time.monotonic()
    cancel = first_handle.cancel_goal_async()
    assert wait_for(cancel.done)
    outcome = first_handle.get_result_async()
    assert wait_for(outcome.done, timeout=10.0)
    assert outcome.result().status == 5  # GoalStatus.STATUS_CANCELED
    assert time.monotonic() - started < 1.5, "cancel did not interrupt generation"
    again, _ = harness.send("pick up the green box")  # free again
    assert not again.message.startswith("busy:")


def test_instruction_topic_runs_the_default_task(harness_factory: Any, scene_msgs: Any) -> None:
    from ros_support import wait_for
    from std_msgs.msg import String

    harness = harness_factory(scripted({"affordance": box_answer(scene_msgs.scene)}))
    publisher = harness.client_node.create_publisher(String, "/vla_r1_node/instruction", 10)
    assert wait_for(lambda: publisher.get_subscription_count() > 0)
    publisher.publish(String(data="pick up the green box"))
    assert wait_for(lambda: len(harness.received["prediction"]) > 0)
    assert harness.received["prediction"][-1].instruction == "pick up the green box"


def test_instruction_outcomes_alternating_failure_and_success_are_all_logged(
    harness_factory: Any, scene_msgs: Any, capfd: Any, monkeypatch: Any
) -> None:
    """rclpy refuses a change of severity at one logging call site; the worker must not die of it."""
    import threading

    from ros_support import wait_for
    from std_msgs.msg import String

    crashes: list[Any] = []
    monkeypatch.setattr(threading, "excepthook", crashes.append)
    harness = harness_factory(scripted({"affordance": box_answer(scene_msgs.scene)}))
    publisher = harness.client_node.create_publisher(String, "/vla_r1_node/instruction", 10)
    assert wait_for(lambda: publisher.get_subscription_count() > 0)
    for text in ("   ", "pick up the green box", "   ", "pick up the green box"):
        served = harness.node._goals_served
        publisher.publish(String(data=text))
        if text.strip():
            assert wait_for(lambda before=served: harness.node._goals_served > before)
        time.sleep(0.3)
    assert crashes == [], [c.exc_value for c in crashes]
    logged = capfd.readouterr().err
    assert logged.count("~/instruction 'pick up the green box': done") == 2
    assert logged.count("~/instruction '   ': empty instruction") == 2
    assert "Logger severity" not in logged


def test_node_demo_with_a_model_folder_asks_the_affordance_question_by_default(tmp_path: Any) -> None:
    """Given the shipped weights as a folder (not by name), the demo asks what the model answers."""
    pytest.importorskip("transformers")
    from vla_r1_ros.demos.node_demo import main
    from vla_r1_ros.model.backends import EMBEDDED_MODEL_DIR

    assert main(["--out", str(tmp_path), "--model", str(EMBEDDED_MODEL_DIR), "--scene-index", "4"]) == 0
    summary = json.loads((tmp_path / "node_demo.json").read_text())
    assert summary["success"] and summary["box_iou_with_truth"] > 0.5


def test_node_demo_saves_a_picture_of_what_the_node_published(tmp_path: Any) -> None:
    import cv2

    from vla_r1_ros.demos.node_demo import main

    assert main(["--out", str(tmp_path), "--model", "oracle", "--scene", "pybullet", "--task", "both"]) == 0
    summary = json.loads((tmp_path / "node_demo.json").read_text())
    assert summary["success"] and summary["scene"] == "pybullet" and summary["true_surface_hit"] == "target"
    assert summary["lift_error_mm"] < 10.0 and summary["waypoints"] > 3
    picture = cv2.imread(str(tmp_path / "node_demo.png"))
    assert picture is not None and picture.shape[0] == 480 and picture.shape[1] > 1200


def test_node_demo_top_down_scene_lifts_the_grasp_onto_the_true_object(tmp_path: Any) -> None:
    """The training generator's scene seen by a top-down camera, answered by its truth: grasp on the top face."""
    import cv2

    from vla_r1_ros.demos.node_demo import main

    assert main(["--out", str(tmp_path), "--model", "oracle", "--scene", "topdown", "--task", "both"]) == 0
    summary = json.loads((tmp_path / "node_demo.json").read_text())
    assert summary["success"] and summary["scene"] == "topdown" and summary["box_iou_with_truth"] == 1.0
    assert summary["grasp_to_true_top_mm"] < 3.0 and abs(summary["grasp_height_error_mm"]) < 1.0
    picture = cv2.imread(str(tmp_path / "node_demo.png"))
    assert picture is not None and picture.shape == (480, 960, 3)


def test_node_demo_default_is_the_embedded_model_on_a_held_out_top_down_scene(tmp_path: Any) -> None:
    """The shipped model answers inside the node; its box, lifted with depth, becomes a grasp on the named object."""
    pytest.importorskip("transformers")
    from vla_r1_ros.demos.node_demo import main

    # held-out scene 4: three objects, "pick up the red square"
    assert main(["--out", str(tmp_path), "--task", "affordance", "--scene-index", "4"]) == 0
    summary = json.loads((tmp_path / "node_demo.json").read_text())
    assert summary["model"] == "embedded" and summary["scene"] == "topdown" and summary["success"]
    assert "red square" in summary["reasoning"]
    assert summary["box_iou_with_truth"] > 0.5 and summary["grasp_to_true_top_mm"] < 15.0


def test_static_camera_transform_parameter_replaces_tf(harness_factory: Any, scene_msgs: Any) -> None:
    """A fixed camera and no TF tree at all: the mount comes from the parameter, nothing is on /tf."""
    from vla_r1_ros.core.geometry.transforms import quaternion_from_matrix

    pose = scene_msgs.scene.T_world_optical
    static = [*pose[:3, 3].tolist(), *quaternion_from_matrix(pose[:3, :3]).tolist()]
    harness = harness_factory(
        scripted({"affordance": box_answer(scene_msgs.scene)}),
        parameters={"static_camera_transform": static},
        with_tf=False,
    )
    result, _ = harness.send("pick up the green box")
    assert result.success, result.message
    region = result.predictions[0].affordance
    box = scene_msgs.scene.object("target").box_2d
    k = scene_msgs.scene.intrinsics
    hit = scene_msgs.scene.true_hit(box.x * k.width - 0.5, box.y * k.height - 0.5)
    lifted = np.array([region.pose.pose.position.x, region.pose.pose.position.y, region.pose.pose.position.z])
    assert hit is not None and np.linalg.norm(lifted - hit[0]) < 0.01
