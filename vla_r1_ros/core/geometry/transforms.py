"""Rigid transforms and quaternions as plain NumPy (REP 103 frames, ROS x, y, z, w quaternions).

The ROS layer looks transforms up with tf2 and hands them over as 4x4 matrices; this module
checks they really are rigid (a scaled or sheared matrix from a bad calibration would otherwise
move every waypoint) and provides the few rotation utilities the lifting needs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = [
    "TransformError",
    "check_rigid_transform",
    "transform_points",
    "quaternion_from_matrix",
    "matrix_from_quaternion",
    "slerp",
    "frame_rows",
    "quaternion_from_rows",
    "pose_from_xyz_quaternion",
]


class TransformError(ValueError):
    """A 4x4 input that is not a finite rigid transform."""


def check_rigid_transform(matrix: np.ndarray, name: str = "transform", tolerance: float = 1e-6) -> np.ndarray:
    """Return ``matrix`` as a read-only float 4x4 after checking it is a proper rigid transform.

    The checks run on Python floats: sixteen numbers are checked faster that way than by a
    dozen small NumPy calls, and this runs for every frame.
    """
    t = np.array(matrix, dtype=float)
    if t.shape != (4, 4):
        raise TransformError(f"{name} must be a 4x4 matrix, got shape {t.shape}")
    rows = t.tolist()
    (a, b, c, x), (d, e, f, y), (g, h, i, z), last = rows
    if not all(map(math.isfinite, (a, b, c, x, d, e, f, y, g, h, i, z, *last))):
        raise TransformError(f"{name} holds a non-finite number")
    # np.allclose(t[3], (0, 0, 0, 1), atol=tolerance) spelled out (its rtol 1e-5 only widens the last entry)
    w = last[3]
    if not (abs(last[0]) <= tolerance and abs(last[1]) <= tolerance and abs(last[2]) <= tolerance
            and abs(w - 1.0) <= tolerance + 1e-5):
        raise TransformError(f"{name} last row must be [0, 0, 0, 1], got {last}")
    # max |R^T R - I|: the columns (a d g), (b e h), (c f i) must be orthonormal.
    deviation = max(
        abs(a * a + d * d + g * g - 1.0),
        abs(b * b + e * e + h * h - 1.0),
        abs(c * c + f * f + i * i - 1.0),
        abs(a * b + d * e + g * h),
        abs(a * c + d * f + g * i),
        abs(b * c + e * f + h * i),
    )
    if deviation > tolerance or _det3(((a, b, c), (d, e, f), (g, h, i))) < 0:
        raise TransformError(f"{name} rotation part is not a proper rotation (scaled, sheared or mirrored)")
    t.flags.writeable = False
    return t


def _det3(m: Sequence[Sequence[float]]) -> float:
    """Determinant of a 3x3 matrix given as rows of floats (rule of Sarrus; LAPACK costs more)."""
    (a, b, c), (d, e, f), (g, h, i) = m
    det: float = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g)
    return det


def transform_points(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a 4x4 transform to (N, 3) points."""
    pts = np.asarray(points, dtype=float).reshape(-1, 3)
    out: np.ndarray = pts @ matrix[:3, :3].T + matrix[:3, 3]
    return out


def quaternion_from_matrix(rot: np.ndarray) -> np.ndarray:
    """Unit quaternion (x, y, z, w), w >= 0, of a 3x3 rotation (Shepperd's method, stable)."""
    return np.array(quaternion_from_rows(np.asarray(rot, dtype=float)[:3, :3].tolist()))


def quaternion_from_rows(rows: Sequence[Sequence[float]]) -> list[float]:
    """:func:`quaternion_from_matrix` of a rotation given as three rows of floats."""
    (m00, m01, m02), (m10, m11, m12), (m20, m21, m22) = rows
    trace = m00 + m11 + m22
    if trace > 0:
        s = 2.0 * math.sqrt(trace + 1.0)
        q = [(m21 - m12) / s, (m02 - m20) / s, (m10 - m01) / s, 0.25 * s]
    elif m00 > m11 and m00 > m22:
        s = 2.0 * math.sqrt(1.0 + m00 - m11 - m22)
        q = [0.25 * s, (m01 + m10) / s, (m02 + m20) / s, (m21 - m12) / s]
    elif m11 > m22:
        s = 2.0 * math.sqrt(1.0 + m11 - m00 - m22)
        q = [(m01 + m10) / s, 0.25 * s, (m12 + m21) / s, (m02 - m20) / s]
    else:
        s = 2.0 * math.sqrt(1.0 + m22 - m00 - m11)
        q = [(m02 + m20) / s, (m12 + m21) / s, 0.25 * s, (m10 - m01) / s]
    norm = math.sqrt(sum(c * c for c in q))
    return [-c / norm for c in q] if q[3] < 0 else [c / norm for c in q]


def matrix_from_quaternion(q: np.ndarray) -> np.ndarray:
    """3x3 rotation of a quaternion (x, y, z, w); normalises the input."""
    x, y, z, w = np.asarray(q, dtype=float) / np.linalg.norm(q)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def pose_from_xyz_quaternion(values: Sequence[float]) -> np.ndarray:
    """4x4 pose from ``x y z qx qy qz qw`` (the order of ROS static transforms and parameters)."""
    if len(values) != 7:
        raise ValueError(f"a pose needs 7 numbers (x y z qx qy qz qw), got {len(values)}")
    pose = np.eye(4)
    pose[:3, :3] = matrix_from_quaternion(np.asarray(values[3:], dtype=float))
    pose[:3, 3] = values[:3]
    return pose


def slerp(q0: np.ndarray, q1: np.ndarray, fractions: np.ndarray) -> np.ndarray:
    """Quaternions (N, 4) interpolated along the shortest arc from q0 to q1 at ``fractions``."""
    a = np.asarray(q0, dtype=float) / np.linalg.norm(q0)
    b = np.asarray(q1, dtype=float) / np.linalg.norm(q1)
    f = np.clip(np.asarray(fractions, dtype=float).reshape(-1, 1), 0.0, 1.0)
    dot = float(a @ b)
    if dot < 0.0:
        b, dot = -b, -dot
    if np.array_equal(a, b):  # one orientation (no start pose given): every row is the same
        return np.repeat((a / np.linalg.norm(a))[None], len(f), axis=0)
    if dot > 0.9995:  # nearly equal: linear interpolation is exact enough and stable
        out = a + f * (b - a)
    else:
        theta = np.arccos(dot)
        out = (np.sin((1.0 - f) * theta) * a + np.sin(f * theta) * b) / np.sin(theta)
    unit: np.ndarray = out / np.linalg.norm(out, axis=1, keepdims=True)
    return unit


def frame_rows(z_axis: Sequence[float], y_hint: Sequence[float]) -> list[list[float]]:
    """Right-handed 3x3 frame with the given z axis and y as close as possible to ``y_hint``, as rows of floats.

    The frame's columns are x, y, z. Falls back to any perpendicular y when the hint is parallel to z.
    """
    z_norm = math.sqrt(_dot(z_axis, z_axis))
    z = [c / z_norm for c in z_axis]
    along = _dot(y_hint, z)
    y = [c - along * zc for c, zc in zip(y_hint, z)]
    if math.sqrt(_dot(y, y)) < 1e-6:
        helper = (1.0, 0.0, 0.0) if abs(z[0]) < 0.9 else (0.0, 1.0, 0.0)
        along = _dot(helper, z)
        y = [c - along * zc for c, zc in zip(helper, z)]
    y_norm = math.sqrt(_dot(y, y))
    y = [c / y_norm for c in y]
    x = [y[1] * z[2] - y[2] * z[1], y[2] * z[0] - y[0] * z[2], y[0] * z[1] - y[1] * z[0]]
    return [[x[i], y[i], z[i]] for i in range(3)]


def _dot(a: Sequence[float], b: Sequence[float]) -> float:
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
