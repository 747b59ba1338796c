"""The one place that talks to tf2: camera optical frame -> target frame as a 4x4 matrix.

tf2_ros is not installable everywhere this package runs (it is on every ROS 2 install, not on
PyPI), so the node sees only :class:`TransformSource`. :class:`Tf2TransformSource` wraps anything
with tf2_ros.Buffer's ``lookup_transform(target_frame, source_frame, time, timeout)``: the real
Buffer (with a TransformListener) on robots, :class:`StaticTransformBuffer` for a fixed camera
mount given as a parameter, and tests.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
from builtin_interfaces.msg import Time as TimeMsg
from geometry_msgs.msg import Transform, TransformStamped
from numpy.typing import NDArray
from rclpy.duration import Duration
from rclpy.time import Time

from vla_r1_ros.core.geometry.transforms import matrix_from_quaternion, quaternion_from_matrix

__all__ = [
    "TransformUnavailable",
    "TransformSource",
    "Tf2TransformSource",
    "StaticTransformBuffer",
    "matrix_from_transform",
    "transform_from_matrix",
    "make_tf2_buffer",
]


class TransformUnavailable(RuntimeError):
    """No transform between the two frames at the requested time (within the timeout)."""


class TransformSource(Protocol):
    def lookup(self, target_frame: str, source_frame: str, stamp: Time, timeout_s: float) -> NDArray[np.float64]:
        """T_target_source (4x4): maps points in ``source_frame`` to ``target_frame`` at ``stamp``."""
        ...


def matrix_from_transform(transform: Transform) -> NDArray[np.float64]:
    rotation = transform.rotation
    matrix = np.eye(4)
    matrix[:3, :3] = matrix_from_quaternion(np.array([rotation.x, rotation.y, rotation.z, rotation.w]))
    translation = transform.translation
    matrix[:3, 3] = (translation.x, translation.y, translation.z)
    return matrix


def transform_from_matrix(matrix: NDArray[np.float64]) -> Transform:
    transform = Transform()
    transform.translation.x, transform.translation.y, transform.translation.z = (float(v) for v in matrix[:3, 3])
    qx, qy, qz, qw = (float(v) for v in quaternion_from_matrix(matrix[:3, :3]))
    transform.rotation.x, transform.rotation.y, transform.rotation.z, transform.rotation.w = qx, qy, qz, qw
    return transform


class Tf2TransformSource:
    """Adapts a tf2_ros.Buffer-like object; every lookup failure becomes TransformUnavailable."""

    def __init__(self, buffer: Any) -> None:
        self._buffer = buffer

    def lookup(self, target_frame: str, source_frame: str, stamp: Time, timeout_s: float) -> NDArray[np.float64]:
        if not source_frame:
            raise TransformUnavailable("the image has no frame_id, so its pose cannot be looked up")
        try:
            stamped = self._buffer.lookup_transform(
                target_frame, source_frame, stamp, timeout=Duration(nanoseconds=int(timeout_s * 1e9))
            )
        except Exception as err:  # tf2's Lookup/Connectivity/Extrapolation/InvalidArgument exceptions
            raise TransformUnavailable(
                f"no transform {source_frame} -> {target_frame} at t={stamp.nanoseconds * 1e-9:.3f} s "
                f"within {timeout_s:.2f} s: {err}"
            ) from err
        return matrix_from_transform(stamped.transform)


class StaticTransformBuffer:
    """A fixed set of transforms with tf2_ros.Buffer's ``lookup_transform`` signature.

    For a camera rigidly mounted with a known extrinsic calibration (no TF tree needed) and for
    tests. Transforms compose along a chain of registered parent -> child edges in either
    direction; identical frames give the identity.
    """

    class LookupError(Exception):  # shadows the builtin on purpose: mirrors tf2_ros.LookupException's role
        pass

    def __init__(self) -> None:
        self._edges: dict[tuple[str, str], NDArray[np.float64]] = {}

    def set_transform(self, parent: str, child: str, T_parent_child: NDArray[np.float64]) -> None:
        matrix = np.asarray(T_parent_child, dtype=np.float64)
        if matrix.shape != (4, 4):
            raise ValueError(f"transform must be 4x4, got {matrix.shape}")
        self._edges[(parent, child)] = matrix
        self._edges[(child, parent)] = np.asarray(np.linalg.inv(matrix), dtype=np.float64)

    def _chain(self, target: str, source: str) -> NDArray[np.float64] | None:
        frontier: list[tuple[str, NDArray[np.float64]]] = [(source, np.eye(4))]
        seen = {source}
        while frontier:
            frame, T_frame_source = frontier.pop()
            if frame == target:
                return T_frame_source
            for (parent, child), T_parent_child in self._edges.items():
                if child == frame and parent not in seen:
                    seen.add(parent)
                    frontier.append((parent, T_parent_child @ T_frame_source))
        return None

    def lookup_transform(
        self, target_frame: str, source_frame: str, time: Time | TimeMsg, timeout: Duration | None = None
    ) -> TransformStamped:
        matrix = self._chain(target_frame, source_frame)
        if matrix is None:
            raise StaticTransformBuffer.LookupError(
                f'"{target_frame}" passed to lookupTransform argument target_frame does not exist or is not '
                f'connected to "{source_frame}"'
            )
        stamped = TransformStamped()
        stamped.header.frame_id = target_frame
        stamped.child_frame_id = source_frame
        stamped.header.stamp = time.to_msg() if isinstance(time, Time) else time
        stamped.transform = transform_from_matrix(matrix)
        return stamped


def make_tf2_buffer(node: Any) -> tuple[Any, Any] | None:
    """A real tf2_ros Buffer and TransformListener for ``node``, or None where tf2_ros is missing."""
    try:
        import tf2_ros
    except ImportError:
        return None
    buffer = tf2_ros.Buffer()
    return buffer, tf2_ros.TransformListener(buffer, node)
