"""A parallel-jaw grasp is the same grasp turned half a turn about its approach axis.

Why it matters: lifting fixes the sign of the closing axis by a world-frame convention, which
can ask the hand to turn up to 270 degrees away from where it is, past the wrist's joint limit
(the Panda's ready pose holds the hand's closing axis along -y, and the lifted convention points
it along +y). Of the two equivalent grasps the executor tries the one nearer the current hand
orientation first, so the hand turns at most a quarter turn; the shoulder's own turn towards the
object adds to the wrist's, so that one can still end past the wrist's limit, and then the other
is planned.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from vla_r1_ros.core.execution.types import Poses
from vla_r1_ros.core.geometry.transforms import matrix_from_quaternion, quaternion_from_rows

__all__ = ["turned_half_about_approach", "equivalent_grasps"]


def turned_half_about_approach(poses: Poses) -> Poses:
    """Each pose turned by pi about its own z (approach) axis: x and y flip, z stays."""
    turned = []
    for q in poses.orientations:
        rotation = matrix_from_quaternion(q) * np.array([-1.0, -1.0, 1.0])  # negate the x and y columns
        turned.append(quaternion_from_rows(rotation.tolist()))
    return Poses(poses.positions, np.reshape(turned, (-1, 4)))


def _angle(q0: ArrayLike, q1: ArrayLike) -> float:
    a, b = np.asarray(q0, dtype=float), np.asarray(q1, dtype=float)
    return 2.0 * math.acos(min(1.0, abs(float(a @ b)) / float(np.linalg.norm(a) * np.linalg.norm(b))))


def equivalent_grasps(waypoints: Poses, current_orientation: ArrayLike) -> tuple[Poses, Poses]:
    """``waypoints`` and the same path turned half about the approach axis, the one whose first
    orientation is nearer ``current_orientation`` (x y z w) first; ties put ``waypoints`` first."""
    turned = turned_half_about_approach(waypoints)
    if len(waypoints) == 0:
        return waypoints, turned
    as_given = _angle(waypoints.orientations[0], current_orientation)
    if _angle(turned.orientations[0], current_orientation) < as_given - 1e-9:
        return turned, waypoints
    return waypoints, turned
