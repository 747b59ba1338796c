"""Rigid transforms and quaternions as plain NumPy (REP 103 frames, ROS x, y, z, w quaternions).

The ROS layer looks transforms up with tf2 and hands them over as 4x4 matrices; this module
checks they really are rigid (a scaled or sheared matrix from a bad calibration would otherwise
move every waypoint) and provides the few rotation utilities the lifting needs.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "TransformError",
    "check_rigid_transform",
    "transform_points",
    "quaternion_from_matrix",
    "matrix_from_quaternion",
    "slerp",
    "frame_from_axes",
]


class TransformError(ValueError):
    """A 4x4 input that is not a finite rigid transform."""


def check_rigid_transform(matrix: np.ndarray, name: str = "transform", tolerance: float = 1e-6) -> np.ndarray:
    """Return ``matrix`` as a read-only float 4x4 after checking it is a proper rigid transform."""
    t = np.array(matrix, dtype=float)
    if t.shape != (4, 4):
        raise TransformError(f"{name} must be a 4x4 matrix, got shape {t.shape}")
    if not np.all(np.isfinite(t)):
        raise TransformError(f"{name} holds a non-finite number")
    if not np.allclose(t[3], (0.0, 0.0, 0.0, 1.0), atol=tolerance):
        raise TransformError(f"{name} last row must be [0, 0, 0, 1], got {t[3].tolist()}")
    rot = t[:3, :3]
    if np.abs(rot.T @ rot - np.eye(3)).max() > tolerance or np.linalg.det(rot) < 0:
        raise TransformError(f"{name} rotation part is not a proper rotation (scaled, sheared or mirrored)")
    t.flags.writeable = False
    return t


def transform_points(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a 4x4 transform to (N, 3) points."""
    pts = np.asarray(points, dtype=float).reshape(-1, 3)
    return pts @ matrix[:3, :3].T + matrix[:3, 3]


def quaternion_from_matrix(rot: np.ndarray) -> np.ndarray:
    """Unit quaternion (x, y, z, w), w >= 0, of a 3x3 rotation (Shepperd's method, stable)."""
    m = np.asarray(rot, dtype=float)[:3, :3]
    trace = m[0, 0] + m[1, 1] + m[2, 2]
    if trace > 0:
        s = 2.0 * np.sqrt(trace + 1.0)
        q = np.array([(m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s, 0.25 * s])
    elif m[0, 0] > m[1, 1] and m[0, 0] > m[2, 2]:
        s = 2.0 * np.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2])
        q = np.array([0.25 * s, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s, (m[2, 1] - m[1, 2]) / s])
    elif m[1, 1] > m[2, 2]:
        s = 2.0 * np.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2])
        q = np.array([(m[0, 1] + m[1, 0]) / s, 0.25 * s, (m[1, 2] + m[2, 1]) / s, (m[0, 2] - m[2, 0]) / s])
    else:
        s = 2.0 * np.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1])
        q = np.array([(m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, 0.25 * s, (m[1, 0] - m[0, 1]) / s])
    q /= np.linalg.norm(q)
    return -q if q[3] < 0 else q


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


def slerp(q0: np.ndarray, q1: np.ndarray, fractions: np.ndarray) -> np.ndarray:
    """Quaternions (N, 4) interpolated along the shortest arc from q0 to q1 at ``fractions``."""
    a = np.asarray(q0, dtype=float) / np.linalg.norm(q0)
    b = np.asarray(q1, dtype=float) / np.linalg.norm(q1)
    f = np.clip(np.asarray(fractions, dtype=float).reshape(-1, 1), 0.0, 1.0)
    dot = float(a @ b)
    if dot < 0.0:
        b, dot = -b, -dot
    if dot > 0.9995:  # nearly equal: linear interpolation is exact enough and stable
        out = a + f * (b - a)
    else:
        theta = np.arccos(dot)
        out = (np.sin((1.0 - f) * theta) * a + np.sin(f * theta) * b) / np.sin(theta)
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def frame_from_axes(z_axis: np.ndarray, y_hint: np.ndarray) -> np.ndarray:
    """Right-handed 3x3 frame with the given z axis and y as close as possible to ``y_hint``.

    Falls back to any perpendicular y when the hint is parallel to z.
    """
    z = np.asarray(z_axis, dtype=float)
    z = z / np.linalg.norm(z)
    y = np.asarray(y_hint, dtype=float)
    y = y - (y @ z) * z
    if np.linalg.norm(y) < 1e-6:
        helper = np.array([1.0, 0.0, 0.0]) if abs(z[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
        y = helper - (helper @ z) * z
    y /= np.linalg.norm(y)
    x = np.cross(y, z)
    return np.column_stack((x, y, z))
