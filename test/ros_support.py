"""Shared pieces of the ROS node tests: a rendered RGB-D scene as ROS messages and a fake camera.

Only imported by tests that run inside the loopback-only namespace (conftest.ros_sandbox).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import rclpy
from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image

from vla_r1_ros.sim.scene import Intrinsics, RenderedScene, SceneObject, TabletopRenderer, look_at

OPTICAL_FRAME = "camera_color_optical_frame"
BASE_FRAME = "base_link"


@dataclass(frozen=True)
class SceneMessages:
    scene: RenderedScene
    rgb: Image
    depth: Image
    info: CameraInfo


def render_tabletop(width: int = 320, height: int = 240) -> RenderedScene:
    objects = [
        SceneObject("target", "box", (0.06, 0.04, 0.09), (0.52, 0.12), yaw=0.4, rgba=(0.2, 0.7, 0.2, 1.0)),
        SceneObject("obstacle", "box", (0.08, 0.08, 0.15), (0.45, -0.05), rgba=(0.2, 0.3, 0.9, 1.0)),
    ]
    with TabletopRenderer() as renderer:
        return renderer.render(
            objects, Intrinsics.from_vertical_fov(width, height, 50.0), look_at((0.05, 0.05, 0.85), (0.5, 0.02, 0.0))
        )


def scene_messages(scene: RenderedScene, depth_encoding: str = "32FC1") -> SceneMessages:
    k = scene.intrinsics
    rgb = Image(height=k.height, width=k.width, encoding="rgb8", is_bigendian=0, step=k.width * 3)
    rgb.data = np.ascontiguousarray(scene.rgb, dtype=np.uint8).tobytes()
    rgb.header.frame_id = OPTICAL_FRAME
    if depth_encoding == "16UC1":
        values = np.where(np.isfinite(scene.depth), np.round(scene.depth * 1000.0), 0).astype(np.uint16)
        depth = Image(height=k.height, width=k.width, encoding="16UC1", is_bigendian=0, step=k.width * 2)
    else:
        values = scene.depth.astype(np.float32)
        depth = Image(height=k.height, width=k.width, encoding="32FC1", is_bigendian=0, step=k.width * 4)
    depth.data = values.tobytes()
    depth.header.frame_id = OPTICAL_FRAME
    info = CameraInfo(width=k.width, height=k.height, distortion_model="plumb_bob")
    info.header.frame_id = OPTICAL_FRAME
    info.d = [0.0] * 5
    info.k = [k.fx, 0.0, k.cx, 0.0, k.fy, k.cy, 0.0, 0.0, 1.0]
    info.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    info.p = [k.fx, 0.0, k.cx, 0.0, 0.0, k.fy, k.cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    return SceneMessages(scene, rgb, depth, info)


class FakeCamera(Node):
    """Publishes the same RGB-D frame with fresh stamps at ``rate_hz`` (sensor-data QoS)."""

    def __init__(
        self,
        messages: SceneMessages,
        rate_hz: float = 30.0,
        namespace: str = "camera",
        publish_depth: bool = True,
        publish_info: bool = True,
        info_override: Callable[[CameraInfo], CameraInfo] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__("fake_camera", **kwargs)
        self.messages = messages
        self.publish_depth, self.publish_info = publish_depth, publish_info
        self.info = info_override(messages.info) if info_override else messages.info
        self._rgb = self.create_publisher(Image, f"/{namespace}/color/image_raw", qos_profile_sensor_data)
        self._depth = self.create_publisher(
            Image, f"/{namespace}/aligned_depth_to_color/image_raw", qos_profile_sensor_data
        )
        self._info = self.create_publisher(CameraInfo, f"/{namespace}/color/camera_info", qos_profile_sensor_data)
        self.frames_sent = 0
        self.create_timer(1.0 / rate_hz, self._tick)

    def _tick(self) -> None:
        stamp = self.get_clock().now().to_msg()
        self.messages.rgb.header.stamp = stamp
        self._rgb.publish(self.messages.rgb)
        if self.publish_depth:
            self.messages.depth.header.stamp = stamp
            self._depth.publish(self.messages.depth)
        if self.publish_info:
            self.info.header.stamp = stamp
            self._info.publish(self.info)
        self.frames_sent += 1


@contextmanager
def spinning(context: Any, *nodes: Node, threads: int = 4) -> Iterator[MultiThreadedExecutor]:
    """Spin ``nodes`` on a multi-threaded executor in the background; shut down cleanly."""
    executor = MultiThreadedExecutor(num_threads=threads, context=context)
    for node in nodes:
        executor.add_node(node)
    thread = threading.Thread(target=executor.spin, daemon=True)
    thread.start()
    try:
        yield executor
    finally:
        executor.shutdown(timeout_sec=5.0)
        thread.join(timeout=10.0)
        for node in nodes:
            executor.remove_node(node)


def wait_for(condition: Callable[[], bool], timeout: float = 15.0, period: float = 0.01) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(period)
    return condition()


@contextmanager
def ros_context() -> Iterator[Any]:
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        yield context
    finally:
        rclpy.shutdown(context=context)


TRAJECTORY_TEXT = "<think>go around the blue box</think><output>[[0.85, 0.9], [0.7, 0.7], [0.45, 0.5]]</output>"


def box_answer(scene: Any) -> str:
    box = scene.object("target").box_2d
    return format_box(box.x, box.y, box.width, box.height)


def format_box(x: float, y: float, w: float, h: float) -> str:
    payload = json.dumps({"x": x, "y": y, "width": w, "height": h})
    return f"<think>the green box is left of the blue one</think> so, the answer is <output>{payload}</output>"


@dataclass
class Harness:
    """A running node under test, a fake camera and an action client."""

    context: Any
    node: Any
    camera: Any
    client_node: Any
    client: Any
    received: dict[str, list[Any]] = field(default_factory=dict)

    def send(self, instruction: str, task: str = "affordance", timeout: float = 30.0) -> tuple[Any, list[Any]]:
        from vla_r1_ros.action import Reason

        feedback: list[Any] = []
        goal = Reason.Goal(instruction=instruction, task=task)
        sent = self.client.send_goal_async(
            goal, feedback_callback=lambda m: feedback.append((time.monotonic(), m.feedback))
        )
        assert wait_for(sent.done, timeout), "goal was never answered"
        handle = sent.result()
        assert handle.accepted
        result = handle.get_result_async()
        assert wait_for(result.done, timeout), "goal never finished"
        return result.result().result, feedback


def scripted(answer: Any, delay_s: float = 0.0) -> Any:
    from vla_r1_ros.model.backends import ScriptedBackend

    return ScriptedBackend(answer, delay_s=delay_s)
