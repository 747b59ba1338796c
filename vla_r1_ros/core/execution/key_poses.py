"""Key poses of a dense TCP path: the few poses a straight-line (Pilz LIN) planner needs.

A LIN planner moves the tool in a straight line between two poses and stops at each one, so the
dense path (one waypoint per centimetre) is reduced first: the ends are kept, and so is every pose
where the direction of travel turns more than ``turn_tolerance``, and, Douglas–Peucker style,
the pose that strays most from the straight line (more than ``distance_tolerance``) or from the
orientation interpolated along it (more than ``rotation_tolerance``) until none does. Straight
lines between the kept poses then stay within the tolerances of the dense path.
"""

from __future__ import annotations

import math

import numpy as np

from vla_r1_ros.core.execution.types import Poses
from vla_r1_ros.core.geometry.transforms import slerp

__all__ = ["key_pose_indices", "path_lengths"]

_TINY = 1e-9  # a leg shorter than this (m) has no direction


def path_lengths(positions: np.ndarray) -> np.ndarray:
    """Arc length from the first position to each one (N,), starting at 0."""
    points = np.asarray(positions, dtype=float).reshape(-1, 3)
    if len(points) == 0:
        return np.zeros(0)
    return np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))])


def _turns(positions: np.ndarray, tolerance: float) -> list[int]:
    """Interior indices where the direction of travel turns more than ``tolerance`` (rad)."""
    kept = []
    for k in range(1, len(positions) - 1):
        incoming, outgoing = positions[k] - positions[k - 1], positions[k + 1] - positions[k]
        a, b = float(np.linalg.norm(incoming)), float(np.linalg.norm(outgoing))
        if a < _TINY or b < _TINY:
            continue
        cosine = float(np.clip(incoming @ outgoing / (a * b), -1.0, 1.0))
        if math.acos(cosine) > tolerance:
            kept.append(k)
    return kept


def _worst(poses: Poses, i: int, j: int, distance_tolerance: float, rotation_tolerance: float) -> tuple[int, float]:
    """The pose between ``i`` and ``j`` that strays most from the straight motion i -> j, and by how
    much in units of its tolerance (> 1: it must be kept)."""
    p0, p1 = poses.positions[i], poses.positions[j]
    inner = poses.positions[i + 1 : j]
    chord = p1 - p0
    length2 = float(chord @ chord)
    if length2 > _TINY**2:
        t = np.clip((inner - p0) @ chord / length2, 0.0, 1.0)
    else:  # a turn on the spot: progress by the path travelled
        travelled = path_lengths(poses.positions[i : j + 1])
        t = travelled[1:-1] / travelled[-1] if travelled[-1] > _TINY else np.linspace(0, 1, j - i + 1)[1:-1]
    distance = np.linalg.norm(inner - (p0 + t[:, None] * chord), axis=1)
    expected = slerp(poses.orientations[i], poses.orientations[j], t)
    dots = np.clip(np.abs(np.einsum("ij,ij->i", expected, poses.orientations[i + 1 : j])), 0.0, 1.0)
    rotation = 2.0 * np.arccos(dots)
    excess = np.maximum(distance / distance_tolerance, rotation / rotation_tolerance)
    k = int(np.argmax(excess))
    return i + 1 + k, float(excess[k])


def key_pose_indices(
    poses: Poses,
    distance_tolerance: float = 0.003,
    turn_tolerance: float = 0.35,
    rotation_tolerance: float = 0.05,
) -> np.ndarray:
    """Sorted indices of the key poses of ``poses`` (always the first and the last).

    ``distance_tolerance`` (m) and ``rotation_tolerance`` (rad): how far the dense path may stray
    from the straight motion between two key poses; ``turn_tolerance`` (rad): a sharper change of
    travel direction is a key pose even where the excursion is small.
    """
    for name, value in (("distance_tolerance", distance_tolerance), ("turn_tolerance", turn_tolerance),
                        ("rotation_tolerance", rotation_tolerance)):  # fmt: skip
        if not (math.isfinite(value) and value > 0.0):
            raise ValueError(f"{name} must be a finite number > 0, got {value}")
    n = len(poses)
    if n <= 2:
        return np.arange(n)
    kept = {0, n - 1, *_turns(np.asarray(poses.positions), turn_tolerance)}
    stack = list(zip(sorted(kept)[:-1], sorted(kept)[1:]))
    while stack:
        i, j = stack.pop()
        if j - i < 2:
            continue
        k, excess = _worst(poses, i, j, distance_tolerance, rotation_tolerance)
        if excess > 1.0:
            kept.add(k)
            stack += [(i, k), (k, j)]
    return np.array(sorted(kept), dtype=int)
