"""A simulated RGB-D camera for ROS: a rendered tabletop as sensor_msgs messages, published live.

Used by the node demo (`python -m vla_r1_ros.demos.node_demo`), the node tests and the transport
benchmark, which runs it as a camera-driver process:

    python -m vla_r1_ros.ros.sim_camera --size 640x480 --rate 30 --depth-encoding 16UC1 --frames 300

Creates DDS participants: run it only inside a loopback-only network namespace (see
scripts/node_demo.sh).
"""

from __future__ import annotations

import argparse
import importlib.util
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import rclpy
import rclpy.utilities
from rclpy.duration import Duration
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from rclpy.signals import SignalHandlerOptions
from sensor_msgs.msg import CameraInfo, Image

from vla_r1_ros.core.geometry.depth import encode_depth
from vla_r1_ros.datagen.topdown_scenes import TopDownFrame
from vla_r1_ros.ros.images import rgb_to_image_fields
from vla_r1_ros.ros.loopback import loopback_only_reason
from vla_r1_ros.sim.scene import Intrinsics, RenderedScene, SceneObject, TabletopRenderer, look_at

__all__ = [
    "OPTICAL_FRAME",
    "BASE_FRAME",
    "SceneMessages",
    "render_tabletop",
    "scene_messages",
    "FakeCamera",
    "broadcast_static_pose",
]

OPTICAL_FRAME = "camera_color_optical_frame"
BASE_FRAME = "base_link"


@dataclass(frozen=True)
class SceneMessages:
    scene: RenderedScene | TopDownFrame
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


def render_top_down(seed: int = 1000, index: int = 0) -> TopDownFrame:
    """A scene of the training generator (seed 1000: its held-out stream) seen by a camera looking straight down."""
    from vla_r1_ros.datagen.topdown_scenes import TabletopGenerator, top_down_frame

    return top_down_frame(TabletopGenerator(seed=seed, cot="short").scene(index))


def scene_messages(scene: RenderedScene | TopDownFrame, depth_encoding: str = "32FC1") -> SceneMessages:
    """The colour, registered depth and CameraInfo messages of a simulated frame (pybullet or top-down)."""
    k = scene.intrinsics
    rgb = Image(**rgb_to_image_fields(np.asarray(scene.rgb, dtype=np.uint8)))
    rgb.header.frame_id = OPTICAL_FRAME
    values = encode_depth(scene.depth, depth_encoding)
    depth = Image(
        height=k.height, width=k.width, encoding=depth_encoding, is_bigendian=0, step=k.width * values.itemsize
    )
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
        wait_for_subscribers: bool = False,
        base_pose: np.ndarray | None = None,
        stamp_lag: float = 0.0,
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
        self.wait_for_subscribers = wait_for_subscribers
        # A camera's capture time comes before its messages go out: images carry that stamp.
        self.stamp_lag = stamp_lag
        if base_pose is not None:  # the mount on /tf_static, as a camera driver's launch file does
            self._static_tf = broadcast_static_pose(self, BASE_FRAME, OPTICAL_FRAME, base_pose)
        self.create_timer(1.0 / rate_hz, self._tick)

    def _tick(self) -> None:
        if self.wait_for_subscribers:  # measurements count only frames someone could receive
            publishers = (self._rgb, self._depth) if self.publish_depth else (self._rgb,)
            if any(p.get_subscription_count() == 0 for p in publishers):
                return
            self.wait_for_subscribers = False
        stamp = (self.get_clock().now() - Duration(nanoseconds=int(self.stamp_lag * 1e9))).to_msg()
        self.messages.rgb.header.stamp = stamp
        self._rgb.publish(self.messages.rgb)
        if self.publish_depth:
            self.messages.depth.header.stamp = stamp
            self._depth.publish(self.messages.depth)
        if self.publish_info:
            self.info.header.stamp = stamp
            self._info.publish(self.info)
        self.frames_sent += 1


def broadcast_static_pose(node: Node, parent: str, child: str, T_parent_child: np.ndarray) -> Any:
    """Publish ``T_parent_child`` on /tf_static (what static_transform_publisher does); keep the result."""
    from geometry_msgs.msg import TransformStamped
    from tf2_ros import StaticTransformBroadcaster

    from vla_r1_ros.ros.tf_adapter import transform_from_matrix

    stamped = TransformStamped(child_frame_id=child, transform=transform_from_matrix(T_parent_child))
    stamped.header.frame_id = parent
    stamped.header.stamp = node.get_clock().now().to_msg()
    broadcaster = StaticTransformBroadcaster(node)
    broadcaster.sendTransform(stamped)
    return broadcaster


def main(argv: list[str] | None = None) -> int:
    """Publish a rendered tabletop as a camera driver would, ``--frames`` times (0: until Ctrl-C)."""
    parser = argparse.ArgumentParser(prog="python -m vla_r1_ros.ros.sim_camera", description=main.__doc__)
    parser.add_argument("--size", default="640x480", help="image size WxH (default 640x480)")
    parser.add_argument("--rate", type=float, default=30.0, help="frames per second (default 30)")
    parser.add_argument("--depth-encoding", choices=("16UC1", "32FC1"), default="16UC1")
    parser.add_argument("--frames", type=int, default=0, help="stop after this many frames (0: never)")
    parser.add_argument("--namespace", default="camera")
    parser.add_argument(
        "--scene",
        choices=("topdown", "pybullet"),
        default="pybullet",
        help="topdown: a held-out scene of the training generator (what the embedded model knows); "
        "pybullet: an oblique rendered tabletop (default)",
    )
    parser.add_argument("--scene-index", type=int, default=0, help="which top-down scene (default 0)")
    parser.add_argument(
        "--wait-for-subscribers", action="store_true", help="start publishing once colour and depth are subscribed"
    )
    args = parser.parse_args(argv)
    refused = loopback_only_reason()
    if refused:
        parser.error(f"refusing to create DDS participants: {refused}")
    width, height = (int(v) for v in args.size.lower().split("x"))
    scene = render_top_down(index=args.scene_index) if args.scene == "topdown" else render_tabletop(width, height)
    messages = scene_messages(scene, depth_encoding=args.depth_encoding)
    if args.scene == "topdown":
        print(f"scene: {scene.scene.instruction!r}", flush=True)  # type: ignore[union-attr]
    # Ctrl-C ends the loop below; rclpy's own handler would shut the context down under a publish.
    rclpy.init(signal_handler_options=SignalHandlerOptions.NO)
    stop = threading.Event()
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda *_: stop.set())
    has_tf = importlib.util.find_spec("tf2_ros") is not None
    camera = FakeCamera(
        messages,
        rate_hz=args.rate,
        namespace=args.namespace,
        wait_for_subscribers=args.wait_for_subscribers,
        base_pose=scene.T_world_optical if has_tf else None,
    )
    if not has_tf:
        camera.get_logger().warning("tf2_ros is not installed: the camera mount is not published on /tf_static")
    try:
        while not stop.is_set() and (args.frames <= 0 or camera.frames_sent < args.frames):
            rclpy.spin_once(camera, timeout_sec=0.1)
        time.sleep(0.5)  # the last frames leave before the participant goes
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        camera.destroy_node()
        if rclpy.utilities.ok():
            rclpy.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
