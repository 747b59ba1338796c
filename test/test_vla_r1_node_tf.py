"""vla_r1_node's camera pose from real tf2: /tf and /tf_static from real broadcasters.

A moving camera mount (the pose must be the one at the image's stamp, not the newest), a
transform that arrives after the goal, one that never arrives and one that is too old. Runs only
inside a loopback-only network namespace (conftest.ros_sandbox) and needs tf2_ros.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest

pytest.importorskip("rclpy", reason="rclpy is not installed; run scripts/run_tests.sh")
pytestmark = pytest.mark.usefixtures("ros_sandbox", "tf2_installed")

from ros_support import BASE_FRAME, OPTICAL_FRAME, box_answer, scripted, wait_for  # noqa: E402

CAMERA_LATENCY = 0.3  # seconds between an image's capture stamp and its publication
SPEED = 0.3  # m/s of the moving mount along the base frame's y axis


@contextmanager
def broadcasting(node: Any, pose_at: Callable[[float], np.ndarray | None], rate_hz: float = 100.0) -> Iterator[None]:
    """Publish T_base_optical = pose_at(t) on /tf from ``node`` at ``rate_hz`` (None: skip that tick)."""
    from geometry_msgs.msg import TransformStamped
    from tf2_ros import TransformBroadcaster

    from vla_r1_ros.ros.tf_adapter import transform_from_matrix

    broadcaster = TransformBroadcaster(node)
    stop = threading.Event()

    def run() -> None:
        while not stop.wait(1.0 / rate_hz):
            now = node.get_clock().now()
            pose = pose_at(now.nanoseconds * 1e-9)
            if pose is None:
                continue
            stamped = TransformStamped(child_frame_id=OPTICAL_FRAME, transform=transform_from_matrix(pose))
            stamped.header.frame_id = BASE_FRAME
            stamped.header.stamp = now.to_msg()
            broadcaster.sendTransform(stamped)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=2.0)


def _shifted(pose: np.ndarray, dy: float) -> np.ndarray:
    moved = pose.copy()
    moved[1, 3] += dy
    return moved


def _lifted(result: Any) -> np.ndarray:
    position = result.predictions[0].affordance.pose.pose.position
    return np.array([position.x, position.y, position.z])


def test_a_moving_mount_is_looked_up_at_the_image_stamp(harness_factory: Any, scene_msgs: Any) -> None:
    """The mount slides along y; images are stamped 0.3 s before they arrive, so 'newest' would be 9 cm off."""
    scene = scene_msgs.scene
    origin = time.time()
    harness = harness_factory(
        scripted({"affordance": box_answer(scene)}),
        with_tf=False,
        stamp_lag=CAMERA_LATENCY,
        parameters={"max_frame_age": 1.0, "tf_timeout": 0.5},
    )
    true_pose = scene.T_world_optical
    with broadcasting(harness.client_node, lambda t: _shifted(true_pose, SPEED * (t - origin))):
        time.sleep(0.5)
        result, _ = harness.send("pick up the green box")
    assert result.success, result.message
    stamp = result.predictions[0].header.stamp
    image_time = stamp.sec + stamp.nanosec * 1e-9
    box = scene.object("target").box_2d
    k = scene.intrinsics
    hit = scene.true_hit(box.x * k.width - 0.5, box.y * k.height - 0.5)
    assert hit is not None
    # The lifted point moves with the mount: the truth shifted by where the mount was at the stamp.
    expected = hit[0] + np.array([0.0, SPEED * (image_time - origin), 0.0])
    error = float(np.linalg.norm(_lifted(result) - expected))
    assert error < 0.01, f"{error * 1000:.1f} mm from the pose at the image stamp"


def test_a_transform_that_arrives_late_is_waited_for(harness_factory: Any, scene_msgs: Any) -> None:
    scene = scene_msgs.scene
    harness = harness_factory(
        scripted({"affordance": box_answer(scene)}), with_tf=False, parameters={"tf_timeout": 2.0}
    )
    from vla_r1_ros.ros.sim_camera import broadcast_static_pose

    timer = threading.Timer(
        0.6, lambda: broadcast_static_pose(harness.client_node, BASE_FRAME, OPTICAL_FRAME, scene.T_world_optical)
    )
    started = time.monotonic()
    timer.start()
    result, _ = harness.send("pick up the green box")
    timer.join()
    assert result.success, result.message
    assert time.monotonic() - started > 0.5  # it did wait


def test_a_transform_that_never_arrives_aborts_naming_the_frames_and_the_timeout(
    harness_factory: Any, scene_msgs: Any
) -> None:
    harness = harness_factory(scripted({"affordance": box_answer(scene_msgs.scene)}), with_tf=False)
    started = time.monotonic()
    result, _ = harness.send("pick up the green box")
    assert not result.success
    assert "TF unavailable: no transform camera_color_optical_frame -> base_link" in result.message
    assert "within 0.20 s" in result.message
    assert time.monotonic() - started < 2.0


def test_a_transform_that_is_too_old_aborts_with_tf2s_reason(harness_factory: Any, scene_msgs: Any) -> None:
    """The mount was broadcast for a while and then stopped: images newer than it cannot be placed."""
    scene = scene_msgs.scene
    harness = harness_factory(scripted({"affordance": box_answer(scene)}), with_tf=False)
    with broadcasting(harness.client_node, lambda t: scene.T_world_optical):
        assert wait_for(lambda: True, timeout=0.3)
        time.sleep(0.3)
    time.sleep(1.0)  # the newest transform is now a second older than any new image
    result, _ = harness.send("pick up the green box")
    assert not result.success
    assert "TF unavailable" in result.message and "extrapolation into the future" in result.message
