"""What lifting returns: grasp poses, 3-D targets and waypoint paths in the base frame, or why there are none.

Frames follow REP 103; quaternions are ROS order (x, y, z, w). Arrays are read-only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike

from vla_r1_ros.core.geometry.transforms import matrix_from_quaternion

__all__ = ["GraspPose", "Target3D", "LiftResult", "WaypointPath", "PathResult", "freeze"]


def freeze(array: ArrayLike) -> np.ndarray:
    """A read-only float copy of ``array`` (results must not change under their holder)."""
    out = np.array(array, dtype=float)
    out.flags.writeable = False
    return out


@dataclass(frozen=True, eq=False)
class GraspPose:
    """A gripper pose in the base frame.

    Frame convention (MoveIt / Franka hand style): z is the approach direction (from the gripper
    into the object), y is the closing direction of the fingers, x = y cross z.
    """

    position: np.ndarray  # (3,)
    orientation: np.ndarray  # (4,) quaternion x, y, z, w

    @property
    def matrix(self) -> np.ndarray:
        """The 4x4 pose."""
        pose = np.eye(4)
        pose[:3, :3] = matrix_from_quaternion(self.orientation)
        pose[:3, 3] = self.position
        return pose

    @property
    def approach(self) -> np.ndarray:
        return self.matrix[:3, 2]

    @property
    def closing_axis(self) -> np.ndarray:
        return self.matrix[:3, 1]


@dataclass(frozen=True, eq=False)
class Target3D:
    """A lifted affordance box, in the base frame.

    ``position`` is the surface point seen through the box centre. ``axes`` columns are the long
    and short in-plane axes of the observed surface patch and its normal (towards the camera);
    ``extent`` is (long, short, height above the surface behind it), the last NaN when nothing
    behind the patch was observed.
    """

    position: np.ndarray
    normal: np.ndarray
    axes: np.ndarray
    extent: np.ndarray
    grasp: GraspPose
    confidence: float
    valid_points: int
    inlier_points: int
    sampled_points: int
    residual_rms: float
    frame_id: str
    note: str = ""


@dataclass(frozen=True, eq=False)
class LiftResult:
    """Either a target or the reason there is none (sparse depth, no surface in the box)."""

    target: Target3D | None
    confidence: float
    reason: str

    @property
    def ok(self) -> bool:
        return self.target is not None


@dataclass(frozen=True, eq=False)
class WaypointPath:
    """End-effector waypoints in the base frame, from the start to the end point on the target.

    ``approach_index`` is the first waypoint of the final straight approach (exempt from the
    clearance rule because it descends onto the target); ``surface_heights`` is the observed
    surface height (highest under the gripper footprint) beneath each waypoint.
    """

    positions: np.ndarray  # (N, 3)
    orientations: np.ndarray  # (N, 4) x, y, z, w
    frame_id: str
    approach_index: int
    surface_heights: np.ndarray  # (N,)
    end_target: Target3D | None
    end_source: str  # "target", "sensor" or "model"
    notes: tuple[str, ...] = field(default=())

    def __len__(self) -> int:
        return len(self.positions)

    @property
    def length(self) -> float:
        return float(np.linalg.norm(np.diff(self.positions, axis=0), axis=1).sum())


@dataclass(frozen=True, eq=False)
class PathResult:
    """Either a path or the reason there is none."""

    path: WaypointPath | None
    reason: str

    @property
    def ok(self) -> bool:
        return self.path is not None
