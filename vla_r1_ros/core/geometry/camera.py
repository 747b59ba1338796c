"""A pinhole camera model built from the fields of a ``sensor_msgs/CameraInfo``.

Why not ``image_geometry``: it ships with ROS (not on PyPI), drags in ``cv_bridge`` and NumPy-1
builds on Humble, and the pure core must run without ROS. This module reproduces its
``PinholeCameraModel`` (the same K/P adjustment for binning and ROI; :meth:`CameraModel.undistort_points`
with R and P is its ``rectifyPoint``) on top of OpenCV, vectorised over many pixels. The rays that
depth lifting needs (optical-frame rays of raw, distorted pixels and their tables) live in
:mod:`vla_r1_ros.core.geometry.rays`.

Pixel convention: OpenCV / ROS, i.e. integer coordinates at pixel centres (K's ``cx`` is in that
convention). The VLA-R1 protocol's normalised coordinates use corners: protocol pixel
``x * W`` equals OpenCV pixel ``x * W - 0.5`` (lifting converts with that half pixel).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

__all__ = ["DistortionModel", "Roi", "CameraModel", "CameraModelError", "focal_scale_consistent"]

# Iterative undistortion runs to convergence (OpenCV's default is 5 iterations, which leaves
# up to ~0.1 px of error for strong lenses; image_geometry inherits that default).
_UNDISTORT_CRITERIA = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 200, 1e-14)


class CameraModelError(ValueError):
    """A CameraInfo that cannot describe a usable camera (bad sizes, K, distortion model...)."""


class DistortionModel(str, enum.Enum):
    """The distortion models of ``sensor_msgs/distortion_models.hpp`` that OpenCV implements."""

    PLUMB_BOB = "plumb_bob"
    RATIONAL_POLYNOMIAL = "rational_polynomial"
    EQUIDISTANT = "equidistant"


# Coefficient counts each model accepts (ROS publishes 5, 8 and 4; OpenCV also takes 4 for
# plumb_bob and 12/14 for the extended rational model).
_ALLOWED_D_LENGTHS = {
    DistortionModel.PLUMB_BOB: (4, 5),
    DistortionModel.RATIONAL_POLYNOMIAL: (5, 8, 12, 14),
    DistortionModel.EQUIDISTANT: (4,),
}


@dataclass(frozen=True)
class Roi:
    """``sensor_msgs/RegionOfInterest``: the window of the full sensor the image shows."""

    x_offset: int = 0
    y_offset: int = 0
    width: int = 0
    height: int = 0

    @property
    def is_full(self) -> bool:
        return self.x_offset == 0 and self.y_offset == 0 and self.width == 0 and self.height == 0


def _matrix(values: Sequence[float] | np.ndarray, rows: int, cols: int, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=float).reshape(-1)
    if array.size != rows * cols:
        raise CameraModelError(f"CameraInfo {name} must hold {rows * cols} numbers, got {array.size}")
    if not np.all(np.isfinite(array)):
        raise CameraModelError(f"CameraInfo {name} holds a non-finite number")
    return array.reshape(rows, cols)


class CameraModel:
    """A camera as ``image_geometry.PinholeCameraModel`` sees it, built from CameraInfo fields.

    ``K``, ``P`` are adjusted for ROI and binning exactly as image_geometry does (offset the
    principal point by the ROI, then scale by 1/binning), so they describe the image that actually
    arrives (``width`` x ``height``). ``full_K`` / ``full_P`` keep the published values.
    Instances are immutable (lifting caches ray tables per camera: see ``rays.rays_of``).
    """

    def __init__(
        self,
        k: Sequence[float] | np.ndarray,
        d: Sequence[float] | np.ndarray,
        r: Sequence[float] | np.ndarray,
        p: Sequence[float] | np.ndarray,
        width: int,
        height: int,
        distortion_model: str = "plumb_bob",
        binning_x: int = 0,
        binning_y: int = 0,
        roi: Roi | None = None,
        frame_id: str = "",
    ) -> None:
        if int(width) <= 0 or int(height) <= 0:
            raise CameraModelError(f"CameraInfo size must be positive, got {width}x{height}")
        self.full_width, self.full_height = int(width), int(height)
        full_k, r_mat, full_p = _calibration(k, r, p)
        self.distortion_model, self.D = _distortion(d, distortion_model)
        self._distorted = bool(self.D.size and np.any(self.D))
        self.binning_x, self.binning_y = max(1, int(binning_x)), max(1, int(binning_y))
        self.roi = _checked_roi(roi or Roi(), self.full_width, self.full_height)
        self.width = self.roi.width // self.binning_x
        self.height = self.roi.height // self.binning_y
        k_adj, p_adj = _adjusted(full_k, full_p, self.roi, self.binning_x, self.binning_y)
        self.full_K, self.full_P, self.K, self.R, self.P = full_k, full_p, k_adj, r_mat, p_adj
        for array in (self.full_K, self.full_P, self.K, self.R, self.P, self.D):
            array.flags.writeable = False
        self.frame_id = frame_id

    # ------------------------------------------------------------------ construction helpers

    @classmethod
    def from_camera_info(cls, msg: Any) -> CameraModel:
        """Build from anything shaped like ``sensor_msgs/msg/CameraInfo`` (ROS 2 lower-case fields).

        Duck-typed on purpose: the core must not import ROS messages.
        """
        roi_msg = getattr(msg, "roi", None)
        roi = None
        if roi_msg is not None:
            roi = Roi(int(roi_msg.x_offset), int(roi_msg.y_offset), int(roi_msg.width), int(roi_msg.height))
        header = getattr(msg, "header", None)
        return cls(
            msg.k, msg.d, msg.r, msg.p, msg.width, msg.height,
            distortion_model=msg.distortion_model,
            binning_x=getattr(msg, "binning_x", 0),
            binning_y=getattr(msg, "binning_y", 0),
            roi=roi,
            frame_id=getattr(header, "frame_id", "") if header is not None else "",
        )

    @classmethod
    def from_intrinsics(
        cls, fx: float, fy: float, cx: float, cy: float, width: int, height: int, frame_id: str = ""
    ) -> CameraModel:
        """A distortion-free camera with P = [K | 0] (e.g. a rectified or simulated image)."""
        k = [fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0]
        p = [fx, 0.0, cx, 0.0, 0.0, fy, cy, 0.0, 0.0, 0.0, 1.0, 0.0]
        return cls(k, [], np.eye(3).reshape(-1), p, width, height, "plumb_bob", frame_id=frame_id)

    # ------------------------------------------------------------------ image_geometry accessors

    @property
    def fx(self) -> float:
        return float(self.P[0, 0])

    @property
    def fy(self) -> float:
        return float(self.P[1, 1])

    @property
    def cx(self) -> float:
        return float(self.P[0, 2])

    @property
    def cy(self) -> float:
        return float(self.P[1, 2])

    @property
    def is_distorted(self) -> bool:
        """Whether D holds a non-zero coefficient (raw pixels then need undistorting)."""
        return self._distorted

    def __repr__(self) -> str:
        model = self.distortion_model.value if self.distortion_model else "none"
        return (
            f"CameraModel({self.width}x{self.height}, fx={self.K[0, 0]:.3f}, fy={self.K[1, 1]:.3f}, "
            f"cx={self.K[0, 2]:.3f}, cy={self.K[1, 2]:.3f}, distortion={model}, frame={self.frame_id!r})"
        )

    # ------------------------------------------------------------------ image_geometry semantics

    def undistort_points(
        self, uv_raw: np.ndarray, R: np.ndarray | None = None, P: np.ndarray | None = None
    ) -> np.ndarray:
        """Raw (distorted) pixels (N, 2) -> undistorted points (N, 2), as ``cv2.undistortPoints``.

        Without R and P: normalised image coordinates (x, y of the ray with z = 1). With this
        camera's R and P: rectified pixels, i.e. image_geometry's ``rectifyPoint``.
        """
        pts = _as_points(uv_raw)
        if len(pts) == 0:
            return np.zeros((0, 2))
        src = pts.reshape(-1, 1, 2)
        d = self.D if self._distorted else np.zeros(5)
        if self.distortion_model is DistortionModel.EQUIDISTANT and self._distorted:
            out = cv2.fisheye.undistortPoints(src, self.K, d, R=R, P=P, criteria=_UNDISTORT_CRITERIA)
        else:
            out = cv2.undistortPoints(src, self.K, d, R=R, P=P, criteria=_UNDISTORT_CRITERIA)
        return out.reshape(-1, 2)

    def same_intrinsics(self, other: CameraModel, tolerance: float = 1e-6) -> bool:
        """True when both describe the same image geometry (size, K, D, R, P)."""
        return (
            self.width == other.width
            and self.height == other.height
            and self.D.shape == other.D.shape
            and all(
                np.allclose(a, b, rtol=0.0, atol=tolerance * max(1.0, float(np.abs(a).max())))
                for a, b in ((self.K, other.K), (self.P, other.P), (self.R, other.R), (self.D, other.D))
            )
        )


def _calibration(
    k: Sequence[float] | np.ndarray, r: Sequence[float] | np.ndarray, p: Sequence[float] | np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CameraInfo's K, R and P as matrices, checked; zeros for R or P mean what drivers mean by them."""
    full_k = _matrix(k, 3, 3, "K")
    if full_k[0, 0] <= 0 or full_k[1, 1] <= 0 or full_k[2, 2] != 1.0:
        raise CameraModelError(f"CameraInfo K is not a calibrated camera matrix: {full_k.tolist()}")
    r_mat = _matrix(r, 3, 3, "R")
    if not np.any(r_mat):  # some drivers publish zeros for a monocular camera
        r_mat = np.eye(3)
    if np.abs(r_mat.T @ r_mat - np.eye(3)).max() > 1e-6 or np.linalg.det(r_mat) < 0:
        raise CameraModelError("CameraInfo R is not a rotation matrix")
    full_p = _matrix(p, 3, 4, "P")
    if not np.any(full_p):  # uncalibrated rectification: behave like image_proc (P = [K | 0])
        full_p = np.hstack((full_k, np.zeros((3, 1))))
    if full_p[0, 0] <= 0 or full_p[1, 1] <= 0:
        raise CameraModelError(f"CameraInfo P has a non-positive focal length: {full_p.tolist()}")
    return full_k, r_mat, full_p


def _distortion(d: Sequence[float] | np.ndarray, distortion_model: str) -> tuple[DistortionModel | None, np.ndarray]:
    """The distortion model and coefficients, checked; an all-zero D needs no model, whatever its name."""
    d_arr = np.asarray(d, dtype=float).reshape(-1)
    if not np.all(np.isfinite(d_arr)):
        raise CameraModelError("CameraInfo D holds a non-finite number")
    name = (distortion_model or "").strip().lower()
    if d_arr.size == 0 or not np.any(d_arr):
        try:
            return (DistortionModel(name) if name else None), d_arr
        except ValueError:
            return None, d_arr
    try:
        model = DistortionModel(name)
    except ValueError:
        valid = ", ".join(m.value for m in DistortionModel)
        raise CameraModelError(
            f"unsupported distortion model {distortion_model!r} with non-zero D; expected one of: {valid}"
        ) from None
    if d_arr.size not in _ALLOWED_D_LENGTHS[model]:
        raise CameraModelError(
            f"distortion model {model.value} takes {_ALLOWED_D_LENGTHS[model]} coefficients, got {d_arr.size}"
        )
    return model, d_arr


def _checked_roi(roi: Roi, full_width: int, full_height: int) -> Roi:
    """The ROI as a window of the sensor (an all-zero ROI is the full sensor)."""
    if roi.is_full:
        roi = Roi(0, 0, full_width, full_height)
    if roi.x_offset < 0 or roi.y_offset < 0 or roi.width <= 0 or roi.height <= 0 or (
        roi.x_offset + roi.width > full_width or roi.y_offset + roi.height > full_height
    ):
        raise CameraModelError(f"ROI {roi} does not fit a {full_width}x{full_height} sensor")
    return roi


def _adjusted(
    full_k: np.ndarray, full_p: np.ndarray, roi: Roi, binning_x: int, binning_y: int
) -> tuple[np.ndarray, np.ndarray]:
    """K and P of the image that arrives: as image_geometry, the principal point shifted by the ROI, then 1/binning."""
    k_adj, p_adj = full_k.copy(), full_p.copy()
    k_adj[0, 2] -= roi.x_offset
    k_adj[1, 2] -= roi.y_offset
    p_adj[0, 2] -= roi.x_offset
    p_adj[1, 2] -= roi.y_offset
    for axis, binning in ((0, binning_x), (1, binning_y)):
        if binning > 1:
            scale = 1.0 / binning
            k_adj[axis, axis] *= scale
            k_adj[axis, 2] *= scale
            p_adj[axis, axis] *= scale
            p_adj[axis, 2] *= scale
            p_adj[axis, 3] *= scale
    return k_adj, p_adj


def _as_points(uv: np.ndarray) -> np.ndarray:
    return np.asarray(uv, dtype=float).reshape(-1, 2)


def focal_scale_consistent(a: CameraModel, b: CameraModel, tolerance_px: float = 0.6) -> bool:
    """True when ``b``'s intrinsics are ``a``'s scaled to ``b``'s image size (corner-aligned).

    This is what resizing an image does: pixel corners scale, so ``cx + 0.5`` scales with the
    size ratio. Distortion coefficients are scale-free and must match.
    """
    sx, sy = b.width / a.width, b.height / a.height
    fx_ok = math.isclose(b.K[0, 0], a.K[0, 0] * sx, rel_tol=5e-3)
    fy_ok = math.isclose(b.K[1, 1], a.K[1, 1] * sy, rel_tol=5e-3)
    cx_ok = abs((b.K[0, 2] + 0.5) - (a.K[0, 2] + 0.5) * sx) <= tolerance_px
    cy_ok = abs((b.K[1, 2] + 0.5) - (a.K[1, 2] + 0.5) * sy) <= tolerance_px
    d_ok = a.D.shape == b.D.shape and np.allclose(a.D, b.D, atol=1e-6)
    return fx_ok and fy_ok and cx_ok and cy_ok and d_ok
