"""Geometry for acting on VLA-R1's answers: camera model, depth, lifting to 3-D, safety filter.

Pure core: NumPy, OpenCV and numba (the compiled inner loops in :mod:`.kernels`), no rclpy and
no ROS message imports. The ROS layer converts CameraInfo / Image / tf2 transforms into the
plain inputs these modules take.

Modules, from the camera to the waypoints: :mod:`.camera` (CameraInfo), :mod:`.rays` (pixel rays
for lifting), :mod:`.depth` (ROS depth encodings, registration), :mod:`.transforms`,
:mod:`.scene` (a depth frame seen from the base frame), :mod:`.height_map`, :mod:`.config`,
:mod:`.results`, :mod:`.box_lifting`, :mod:`.trajectory_lifting`, :mod:`.safety`, and
:mod:`.startup` (``warm_up``).

Frames follow REP 103; the camera optical frame -> base frame transform is a 4x4 input (the ROS
layer gets it from tf2). Quaternions are ROS order (x, y, z, w). Nothing in lifting raises on bad
*data* (sparse depth, an unreachable end point): those come back as a result with a reason. Bad
*inputs* (wrong shapes, unregistered depth, non-rigid transforms) raise.
"""

from vla_r1_ros.core.geometry.box_lifting import lift_box
from vla_r1_ros.core.geometry.camera import CameraModel, CameraModelError, DistortionModel, Roi
from vla_r1_ros.core.geometry.depth import (
    DepthEncodingError,
    DepthImage,
    DepthRange,
    DepthRegistrationError,
    RegisteredDepth,
    decode_depth,
    depth_from_buffer,
    encode_depth,
    register_depth,
)
from vla_r1_ros.core.geometry.height_map import HeightMap
from vla_r1_ros.core.geometry.results import GraspPose, LiftResult, PathResult, Target3D, WaypointPath
from vla_r1_ros.core.geometry.safety import SafetyLimits, SafetyResult, SafetyRule, Violation, check_waypoints
from vla_r1_ros.core.geometry.scene import (
    DepthScene,
    FrameMismatchError,
    ImageSizeError,
    check_colour_size,
    scene_from_frame,
)
from vla_r1_ros.core.geometry.settings import BoxLiftSettings, TrajectorySettings
from vla_r1_ros.core.geometry.startup import warm_up
from vla_r1_ros.core.geometry.trajectory_lifting import lift_trajectory, resample_polyline
from vla_r1_ros.core.geometry.transforms import TransformError, check_rigid_transform, quaternion_from_matrix

__all__ = [
    "CameraModel",
    "CameraModelError",
    "DistortionModel",
    "Roi",
    "DepthEncodingError",
    "DepthImage",
    "DepthRange",
    "DepthRegistrationError",
    "RegisteredDepth",
    "decode_depth",
    "depth_from_buffer",
    "encode_depth",
    "register_depth",
    "DepthScene",
    "FrameMismatchError",
    "ImageSizeError",
    "check_colour_size",
    "scene_from_frame",
    "GraspPose",
    "HeightMap",
    "BoxLiftSettings",
    "LiftResult",
    "PathResult",
    "Target3D",
    "TrajectorySettings",
    "WaypointPath",
    "lift_box",
    "lift_trajectory",
    "resample_polyline",
    "warm_up",
    "SafetyLimits",
    "SafetyResult",
    "SafetyRule",
    "Violation",
    "check_waypoints",
    "TransformError",
    "check_rigid_transform",
    "quaternion_from_matrix",
]
