"""Cut a waypoint path into small steps, the way MoveIt's compute_cartesian_path does.

The path starts at the current TCP pose and runs through every waypoint in order. Each leg (from
one pose to the next) is cut into the fewest equal steps that move the TCP at most ``max_step``
and turn it at most ``max_rotation_step``: positions are interpolated linearly, orientations by
slerp. Each sample remembers its leg and how far along it is, so a planner that stops at a
sample can report MoveIt's ``fraction``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from vla_r1_ros.core.execution.types import Poses
from vla_r1_ros.core.geometry.transforms import slerp

__all__ = ["DensePath", "densify_path", "covered_fraction"]


@dataclass(frozen=True, eq=False)
class DensePath:
    """Samples of a Cartesian path. Sample 0 is the start pose (leg -1, progress 1).

    ``leg[i]`` is the index of the waypoint sample ``i`` heads to, ``progress[i]`` how far along
    that leg it is (the sample of progress 1 is the waypoint itself).
    """

    poses: Poses
    leg: np.ndarray  # (M,) int
    progress: np.ndarray  # (M,) float in (0, 1]
    waypoint_count: int

    def __len__(self) -> int:
        return len(self.poses)


def _angle_between(q0: np.ndarray, q1: np.ndarray) -> float:
    """Rotation angle between two unit quaternions (shortest arc)."""
    return 2.0 * math.acos(min(1.0, abs(float(np.dot(q0, q1)))))


def densify_path(start: Poses, waypoints: Poses, max_step: float, max_rotation_step: float) -> DensePath:
    """Samples from ``start`` (one pose) through ``waypoints``, no step longer than the limits."""
    if len(start) != 1:
        raise ValueError(f"start must be exactly one pose, got {len(start)}")
    if not (max_step > 0.0 and max_rotation_step > 0.0):
        raise ValueError("max_step and max_rotation_step must be > 0")
    positions, orientations = [start.positions], [start.orientations]
    legs, progress = [np.array([-1])], [np.array([1.0])]
    p0, q0 = start.positions[0], start.orientations[0]
    for index, (p1, q1) in enumerate(zip(waypoints.positions, waypoints.orientations)):
        distance = float(np.linalg.norm(p1 - p0))
        turn = _angle_between(q0, q1)
        steps = max(1, math.ceil(distance / max_step - 1e-9), math.ceil(turn / max_rotation_step - 1e-9))
        fractions = np.arange(1, steps + 1) / steps
        positions.append(p0 + fractions[:, None] * (p1 - p0))
        orientations.append(slerp(q0, q1, fractions))
        legs.append(np.full(steps, index))
        progress.append(fractions)
        p0, q0 = p1, q1
    return DensePath(
        Poses(np.concatenate(positions), np.concatenate(orientations)),
        np.concatenate(legs),
        np.concatenate(progress),
        len(waypoints),
    )


def covered_fraction(path: DensePath, reached: int) -> float:
    """MoveIt's ``fraction`` when samples ``0 .. reached - 1`` were planned (``reached`` >= 1).

    Whole waypoints reached count 1 each, the leg the planner stopped in counts the progress of
    its last planned sample; the sum is divided by the number of waypoints.
    """
    if path.waypoint_count == 0:
        return 1.0
    if reached >= len(path):
        return 1.0
    last = reached - 1
    leg, done = int(path.leg[last]), float(path.progress[last])
    if leg < 0:  # only the start pose
        return 0.0
    whole = leg + 1 if done >= 1.0 else leg
    partial = 0.0 if done >= 1.0 else done
    return (whole + partial) / path.waypoint_count
