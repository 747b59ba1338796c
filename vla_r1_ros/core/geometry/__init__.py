"""Geometry for acting on VLA-R1's answers: camera model, depth, lifting to 3-D, safety filter.

Pure core: NumPy, OpenCV and dataclasses only (no rclpy, no ROS message imports). The ROS layer
converts CameraInfo / Image / tf2 transforms into the plain inputs these modules take.
"""

from vla_r1_ros.core.geometry.camera import (
    CameraModel,
    CameraModelError,
    DistortionModel,
    Roi,
    cv_pixels_to_normalised,
    normalised_to_cv_pixels,
)
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
from vla_r1_ros.core.geometry.lifting import (
    DepthScene,
    FrameMismatchError,
    GraspPose,
    HeightMap,
    LiftingConfig,
    LiftResult,
    PathResult,
    Target3D,
    TrajectoryConfig,
    WaypointPath,
    lift_box,
    lift_trajectory,
    resample_polyline,
    smooth_polyline,
    warm_up,
)
from vla_r1_ros.core.geometry.safety import SafetyLimits, SafetyResult, SafetyRule, Violation, check_waypoints
from vla_r1_ros.core.geometry.transforms import TransformError, check_rigid_transform, quaternion_from_matrix

__all__ = [
    "CameraModel",
    "CameraModelError",
    "DistortionModel",
    "Roi",
    "cv_pixels_to_normalised",
    "normalised_to_cv_pixels",
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
    "GraspPose",
    "HeightMap",
    "LiftingConfig",
    "LiftResult",
    "PathResult",
    "Target3D",
    "TrajectoryConfig",
    "WaypointPath",
    "lift_box",
    "lift_trajectory",
    "resample_polyline",
    "smooth_polyline",
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
