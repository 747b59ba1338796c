"""Waypoints are tool-centre-point (TCP) poses; planners want poses of a link of the arm.

``tcp_offset`` is the TCP's pose in the planning link's frame as ``x y z qx qy qz qw`` (the
order of ROS static transforms and parameters). The Franka hand's TCP sits 0.1034 m along the
hand's z axis; pybullet's Panda model puts its ``panda_grasptarget`` at 0.105 m.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from vla_r1_ros.core.execution.types import Poses
from vla_r1_ros.core.geometry.transforms import matrix_from_quaternion, pose_from_xyz_quaternion, quaternion_from_rows

__all__ = ["FRANKA_HAND_TCP_OFFSET", "tcp_offset_matrix", "link_poses_from_tcp", "tcp_poses_from_link"]

FRANKA_HAND_TCP_OFFSET = (0.0, 0.0, 0.1034, 0.0, 0.0, 0.0, 1.0)


def tcp_offset_matrix(offset: Sequence[float]) -> np.ndarray:
    """The 4x4 pose of the TCP in the link frame, from ``x y z qx qy qz qw`` (finite, non-zero quaternion)."""
    values = np.asarray(offset, dtype=float)
    if values.shape != (7,) or not np.all(np.isfinite(values)) or np.linalg.norm(values[3:]) < 1e-9:
        raise ValueError(f"tcp_offset must be 7 finite numbers x y z qx qy qz qw (non-zero quaternion), got {offset}")
    return pose_from_xyz_quaternion(values.tolist())


def _compose(poses: Poses, transform: np.ndarray) -> Poses:
    """Each pose multiplied on the right by ``transform`` (a pose expressed in the posed frame)."""
    rotations = np.stack([matrix_from_quaternion(q) for q in poses.orientations]) if len(poses) else np.zeros((0, 3, 3))
    positions = poses.positions + rotations @ transform[:3, 3]
    combined = rotations @ transform[:3, :3]
    orientations = [quaternion_from_rows(r.tolist()) for r in combined]
    return Poses(positions, np.reshape(orientations, (-1, 4)))


def link_poses_from_tcp(tcp: Poses, offset: Sequence[float]) -> Poses:
    """The planning link's poses that put the TCP at ``tcp`` (T_link = T_tcp · offset⁻¹)."""
    return _compose(tcp, np.linalg.inv(tcp_offset_matrix(offset)))


def tcp_poses_from_link(link: Poses, offset: Sequence[float]) -> Poses:
    """The TCP poses of the planning link's poses ``link`` (T_tcp = T_link · offset)."""
    return _compose(link, tcp_offset_matrix(offset))
