"""The one place that talks to tf2: camera optical frame -> target frame as a 4x4 matrix.

The node sees only :class:`TransformSource`:

* :class:`Tf2TransformSource` — a real ``tf2_ros.Buffer`` with a ``TransformListener`` on the
  node (``/tf`` and ``/tf_static``), looked up at the image's stamp. Every ROS 2 install has
  tf2_ros; here it comes from the vendored Jazzy sources (scripts/setup_env.sh).
* :class:`StaticTransformSource` — for a user with no TF tree at all: the camera mount given as
  the ``static_camera_transform`` parameter, returned as is for whatever optical frame the images
  name.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
from geometry_msgs.msg import Transform
from numpy.typing import NDArray
from rclpy.duration import Duration
from rclpy.time import Time

from vla_r1_ros.core.geometry.transforms import matrix_from_quaternion, quaternion_from_matrix

__all__ = [
    "TransformUnavailable",
    "TransformSource",
    "Tf2TransformSource",
    "StaticTransformSource",
    "matrix_from_transform",
    "transform_from_matrix",
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
    """tf2_ros's Buffer and TransformListener on ``node``; every lookup failure becomes TransformUnavailable.

    Raises ImportError (with what to install) where tf2_ros is missing.
    """

    def __init__(self, node: Any) -> None:
        try:
            import tf2_ros
        except ImportError as err:
            raise ImportError(
                f"tf2_ros is not installed ({err}): source your ROS 2 setup (or scripts/env.sh after "
                "scripts/setup_env.sh), or give the camera pose with the static_camera_transform parameter"
            ) from None
        self.buffer = tf2_ros.Buffer(node=node)
        self.listener = tf2_ros.TransformListener(self.buffer, node)

    def lookup(self, target_frame: str, source_frame: str, stamp: Time, timeout_s: float) -> NDArray[np.float64]:
        if not source_frame:
            raise TransformUnavailable("the image has no frame_id, so its pose cannot be looked up")
        try:
            stamped = self.buffer.lookup_transform(
                target_frame, source_frame, stamp, timeout=Duration(nanoseconds=int(timeout_s * 1e9))
            )
        except Exception as err:  # tf2's Lookup/Connectivity/Extrapolation/InvalidArgument exceptions
            raise TransformUnavailable(
                f"no transform {source_frame} -> {target_frame} at t={stamp.nanoseconds * 1e-9:.3f} s "
                f"within {timeout_s:.2f} s: {err}"
            ) from err
        return matrix_from_transform(stamped.transform)


class StaticTransformSource:
    """A fixed camera mount without a TF tree: ``T_target_camera`` for any optical frame, at any time."""

    def __init__(self, target_frame: str, T_target_camera: NDArray[np.float64]) -> None:
        matrix = np.asarray(T_target_camera, dtype=np.float64)
        if matrix.shape != (4, 4):
            raise ValueError(f"transform must be 4x4, got {matrix.shape}")
        self.target_frame = target_frame
        self._matrix = matrix

    def lookup(self, target_frame: str, source_frame: str, stamp: Time, timeout_s: float) -> NDArray[np.float64]:
        if target_frame != self.target_frame:
            raise TransformUnavailable(
                f"static_camera_transform gives the camera in {self.target_frame!r}, not {target_frame!r}"
            )
        return self._matrix.copy()
