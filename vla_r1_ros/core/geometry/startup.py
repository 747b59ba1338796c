"""Start-up: compile (or load) every compiled stage of lifting before the first request needs it."""

from __future__ import annotations

import numpy as np

from vla_r1_ros.core.geometry.box_lifting import lift_box
from vla_r1_ros.core.geometry.camera import CameraModel
from vla_r1_ros.core.geometry.depth import DepthImage, encode_depth
from vla_r1_ros.core.geometry.safety import SafetyLimits, check_waypoints
from vla_r1_ros.core.geometry.scene import scene_from_frame
from vla_r1_ros.core.geometry.trajectory_lifting import lift_trajectory
from vla_r1_ros.core.protocol import Box2D, Trajectory2D

__all__ = ["warm_up"]


def warm_up() -> None:
    """Compile (or load from numba's on-disk cache) every compiled stage lifting uses, now.

    Lifting compiles its stages on first use: under a minute on a fresh machine (per installed
    copy of the package: numba keys its cache by the source file's path), then about a second
    per process to load them. A ROS node calls this at start-up so that its first request does
    not pay that. Lifts a small synthetic frame through every path whose argument types differ:
    float32 and 16UC1 depth, quiet and noisy (median filter), with and without a start pose.
    """
    width, height = 64, 48
    camera = CameraModel.from_intrinsics(60.0, 60.0, 31.5, 23.5, width, height, "warm_up")
    rows, cols = np.mgrid[0:height, 0:width]
    depth = np.full((height, width), 0.8)
    depth[16:32, 20:44] = 0.7  # a box on a table
    pose = np.array([[1.0, 0.0, 0.0, 0.0], [0.0, -1.0, 0.0, 0.0], [0.0, 0.0, -1.0, 1.0], [0.0, 0.0, 0.0, 1.0]])
    trajectory = Trajectory2D(((0.1, 0.1), (0.3, 0.2), (0.4, 0.35), (0.5, 0.5)))
    for noise in (0.0, 0.01):
        noisy = depth + noise * np.sin(rows * 1.7 + cols * 2.3)
        for image in (DepthImage(noisy, "warm_up"), DepthImage.from_ros(encode_depth(noisy, "16UC1"), "16UC1")):
            scene = scene_from_frame(image, camera, pose, base_frame="base")
            lifted = lift_box(Box2D(0.5, 0.5, 0.3, 0.3), scene)
            lift_trajectory(trajectory, scene, target=lifted.target)
            path = lift_trajectory(trajectory, scene, start=np.array([0.0, 0.0, 0.5])).path
            if path is not None:  # the safety filter's acceptance is compiled too
                check_waypoints(path.positions, SafetyLimits())
