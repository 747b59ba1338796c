"""Plans and trajectories between the execution core's arrays and ROS messages, and waiting on rclpy futures.

One home for the conversions both executor backends (a joint trajectory controller, MoveIt's
move_group) and the executor node's previews use.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
from builtin_interfaces.msg import Duration as DurationMsg
from geometry_msgs.msg import Pose, PoseStamped
from nav_msgs.msg import Path
from std_msgs.msg import Header
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from vla_r1_ros.core.execution.types import CartesianPlan, Poses

__all__ = [
    "joint_trajectory_msg",
    "trajectory_arrays",
    "poses_from_path",
    "path_from_positions",
    "pose_msgs",
    "wait_for",
]


def _duration(seconds: float) -> DurationMsg:
    whole = int(np.floor(seconds))
    return DurationMsg(sec=whole, nanosec=round((seconds - whole) * 1e9) % 1_000_000_000)


def joint_trajectory_msg(plan: CartesianPlan, header: Header | None = None) -> JointTrajectory:
    """The plan as a trajectory_msgs/JointTrajectory (positions, velocities, time from start)."""
    trajectory = JointTrajectory(joint_names=list(plan.joint_names))
    if header is not None:
        trajectory.header = header
    for q, v, t in zip(plan.positions, plan.velocities, plan.times):
        trajectory.points.append(
            JointTrajectoryPoint(positions=q.tolist(), velocities=v.tolist(), time_from_start=_duration(float(t)))
        )
    return trajectory


def trajectory_arrays(
    trajectory: JointTrajectory, joint_names: tuple[str, ...]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Times (N,), positions and velocities (N, J) of ``trajectory`` in ``joint_names``' order.

    ValueError when a joint is missing or a point lacks positions.
    """
    names = list(trajectory.joint_names)
    missing = [name for name in joint_names if name not in names]
    if missing:
        raise ValueError(f"the trajectory lacks joints {missing} (it has {names})")
    order = [names.index(name) for name in joint_names]
    times, positions, velocities = [], [], []
    for point in trajectory.points:
        if len(point.positions) != len(names):
            raise ValueError("a trajectory point has no position for every joint")
        times.append(point.time_from_start.sec + point.time_from_start.nanosec * 1e-9)
        positions.append([point.positions[i] for i in order])
        velocities.append(
            [point.velocities[i] for i in order] if len(point.velocities) == len(names) else [0.0] * len(order)
        )
    return (
        np.array(times, dtype=float),
        np.array(positions, dtype=float).reshape(-1, len(order)),
        np.array(velocities, dtype=float).reshape(-1, len(order)),
    )


def poses_from_path(path: Path) -> Poses:
    """The poses of a nav_msgs/Path (in its header's frame)."""
    positions = [[p.pose.position.x, p.pose.position.y, p.pose.position.z] for p in path.poses]
    quaternions = [
        [p.pose.orientation.x, p.pose.orientation.y, p.pose.orientation.z, p.pose.orientation.w] for p in path.poses
    ]
    return Poses(np.reshape(positions, (-1, 3)), np.reshape(quaternions, (-1, 4)))


def pose_msgs(poses: Poses) -> list[Pose]:
    out = []
    for position, quaternion in zip(poses.positions, poses.orientations):
        pose = Pose()
        pose.position.x, pose.position.y, pose.position.z = (float(v) for v in position)
        pose.orientation.x, pose.orientation.y, pose.orientation.z, pose.orientation.w = (float(v) for v in quaternion)
        out.append(pose)
    return out


def path_from_positions(positions: np.ndarray, header: Header) -> Path:
    """A nav_msgs/Path through ``positions`` (N, 3), orientation left as identity."""
    path = Path(header=header)
    for position in np.asarray(positions, dtype=float).reshape(-1, 3):
        stamped = PoseStamped(header=header)
        stamped.pose.position.x, stamped.pose.position.y, stamped.pose.position.z = (float(v) for v in position)
        stamped.pose.orientation.w = 1.0
        path.poses.append(stamped)
    return path


def wait_for(
    future: Any, timeout_s: float, should_stop: Callable[[], bool] | None = None, period: float = 0.01
) -> bool:
    """Wait (on a thread the executor does not spin) until ``future`` is done; False on timeout or stop."""
    deadline = time.monotonic() + timeout_s
    while not future.done():
        if time.monotonic() > deadline or (should_stop is not None and should_stop()):
            return False
        time.sleep(period)
    return True
