"""Executing lifted waypoints: plan types, TCP offsets, densifying, key poses, scaling, timing, plan checks.

Pure core: NumPy and dataclasses only (no rclpy, no pybullet, no torch). The ROS executor node
and the simulated arm build on these; a motion backend implements :class:`MotionBackend`.
"""

from vla_r1_ros.core.execution.backend import MotionBackend
from vla_r1_ros.core.execution.densify import DensePath, covered_fraction, densify_path
from vla_r1_ros.core.execution.executor import (
    Approval,
    ExecuteRequest,
    ExecutionReport,
    ExecutorHooks,
    ExecutorSettings,
    Outcome,
    execute_waypoints,
)
from vla_r1_ros.core.execution.key_poses import key_pose_indices, path_lengths
from vla_r1_ros.core.execution.limits import PANDA_ARM_JOINTS, PANDA_ARM_LIMITS, PANDA_FINGER_JOINTS
from vla_r1_ros.core.execution.plan_checks import (
    PlanCheckLimits,
    PlanCheckResult,
    PlanRule,
    PlanViolation,
    check_plan,
    polyline_distances,
)
from vla_r1_ros.core.execution.scaling import ResolvedScaling, resolve_scaling
from vla_r1_ros.core.execution.tcp import (
    FRANKA_HAND_TCP_OFFSET,
    link_poses_from_tcp,
    tcp_offset_matrix,
    tcp_poses_from_link,
)
from vla_r1_ros.core.execution.timing import TimedPath, time_parameterize
from vla_r1_ros.core.execution.types import (
    CartesianPlan,
    CartesianSettings,
    ExecutionOutcome,
    ExecutionResult,
    GripperResult,
    JointLimits,
    Poses,
)

__all__ = [
    "Approval",
    "ExecuteRequest",
    "ExecutionReport",
    "ExecutorHooks",
    "ExecutorSettings",
    "Outcome",
    "execute_waypoints",
    "MotionBackend",
    "DensePath",
    "covered_fraction",
    "densify_path",
    "key_pose_indices",
    "path_lengths",
    "PANDA_ARM_JOINTS",
    "PANDA_ARM_LIMITS",
    "PANDA_FINGER_JOINTS",
    "PlanCheckLimits",
    "PlanCheckResult",
    "PlanRule",
    "PlanViolation",
    "check_plan",
    "polyline_distances",
    "ResolvedScaling",
    "resolve_scaling",
    "FRANKA_HAND_TCP_OFFSET",
    "link_poses_from_tcp",
    "tcp_offset_matrix",
    "tcp_poses_from_link",
    "TimedPath",
    "time_parameterize",
    "CartesianPlan",
    "CartesianSettings",
    "ExecutionOutcome",
    "ExecutionResult",
    "GripperResult",
    "JointLimits",
    "Poses",
]
