"""A pinhole camera model built from the fields of a ``sensor_msgs/CameraInfo``.

Why not ``image_geometry``: it ships with ROS (not on PyPI), drags in ``cv_bridge`` and NumPy-1
builds on Humble, and the pure core must run without ROS. This module reproduces its semantics
(same K/P adjustment for binning and ROI, same ``rectify_point`` / ``project_pixel_to_3d_ray`` /
``project_3d_to_pixel`` maths) on top of OpenCV, vectorised over many pixels, and adds what depth
lifting needs: rays in the camera *optical* frame for raw (distorted) pixels.

Pixel convention: OpenCV / ROS, i.e. integer coordinates at pixel centres (K's ``cx`` is in that
convention). The VLA-R1 protocol's normalised coordinates use corners: protocol pixel
``x * W`` equals OpenCV pixel ``x * W - 0.5``; :func:`normalised_to_cv_pixels` does the conversion
so that nobody else has to remember the half pixel.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import cv2
import numpy as np

__all__ = [
    "DistortionModel",
    "Roi",
    "CameraModel",
    "CameraModelError",
    "normalised_to_cv_pixels",
    "cv_pixels_to_normalised",
]

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


def normalised_to_cv_pixels(points: np.ndarray, width: int, height: int) -> np.ndarray:
    """VLA-R1 normalised (x, y) (corner convention) -> OpenCV pixel (u, v) of a W x H image."""
    pts = np.asarray(points, dtype=float).reshape(-1, 2)
    return np.column_stack((pts[:, 0] * width - 0.5, pts[:, 1] * height - 0.5))


def cv_pixels_to_normalised(pixels: np.ndarray, width: int, height: int) -> np.ndarray:
    """Inverse of :func:`normalised_to_cv_pixels`."""
    px = np.asarray(pixels, dtype=float).reshape(-1, 2)
    return np.column_stack(((px[:, 0] + 0.5) / width, (px[:, 1] + 0.5) / height))


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
    Instances are immutable; derived per-pixel tables are computed once and cached.
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

        d_arr = np.asarray(d, dtype=float).reshape(-1)
        if not np.all(np.isfinite(d_arr)):
            raise CameraModelError("CameraInfo D holds a non-finite number")
        name = (distortion_model or "").strip().lower()
        if d_arr.size == 0 or not np.any(d_arr):
            model: DistortionModel | None = None  # nothing to undo, whatever the name says
            try:
                model = DistortionModel(name) if name else None
            except ValueError:
                model = None
        else:
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
        self.distortion_model = model
        self.D = d_arr
        self._distorted = bool(d_arr.size and np.any(d_arr))

        self.binning_x, self.binning_y = max(1, int(binning_x)), max(1, int(binning_y))
        roi = roi or Roi()
        if roi.is_full:
            roi = Roi(0, 0, self.full_width, self.full_height)
        if roi.x_offset < 0 or roi.y_offset < 0 or roi.width <= 0 or roi.height <= 0 or (
            roi.x_offset + roi.width > self.full_width or roi.y_offset + roi.height > self.full_height
        ):
            raise CameraModelError(f"ROI {roi} does not fit a {self.full_width}x{self.full_height} sensor")
        self.roi = roi
        self.width = roi.width // self.binning_x
        self.height = roi.height // self.binning_y

        # image_geometry: shift the principal point by the ROI, then scale by 1/binning.
        k_adj, p_adj = full_k.copy(), full_p.copy()
        k_adj[0, 2] -= roi.x_offset
        k_adj[1, 2] -= roi.y_offset
        p_adj[0, 2] -= roi.x_offset
        p_adj[1, 2] -= roi.y_offset
        if self.binning_x > 1:
            sx = 1.0 / self.binning_x
            k_adj[0, 0] *= sx
            k_adj[0, 2] *= sx
            p_adj[0, 0] *= sx
            p_adj[0, 2] *= sx
            p_adj[0, 3] *= sx
        if self.binning_y > 1:
            sy = 1.0 / self.binning_y
            k_adj[1, 1] *= sy
            k_adj[1, 2] *= sy
            p_adj[1, 1] *= sy
            p_adj[1, 2] *= sy
            p_adj[1, 3] *= sy
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
    def Tx(self) -> float:
        return float(self.P[0, 3])

    @property
    def Ty(self) -> float:
        return float(self.P[1, 3])

    @property
    def is_distorted(self) -> bool:
        return self._distorted

    def __repr__(self) -> str:
        model = self.distortion_model.value if self.distortion_model else "none"
        return (
            f"CameraModel({self.width}x{self.height}, fx={self.K[0, 0]:.3f}, fy={self.K[1, 1]:.3f}, "
            f"cx={self.K[0, 2]:.3f}, cy={self.K[1, 2]:.3f}, distortion={model}, frame={self.frame_id!r})"
        )

    # ------------------------------------------------------------------ image_geometry semantics

    def rectify_points(self, uv_raw: np.ndarray) -> np.ndarray:
        """Raw (distorted) pixels -> rectified pixels, as ``image_geometry`` ``rectify_point``."""
        return self._undistort(uv_raw, self.R, self.P)

    def unrectify_points(self, uv_rect: np.ndarray) -> np.ndarray:
        """Rectified pixels -> raw pixels, as ``image_geometry`` ``unrectifyPoint``."""
        rays = self.project_pixel_to_3d_ray(uv_rect)
        points = rays @ self.R  # R^T applied to each ray: rectified frame -> camera frame
        return self._project_camera_points(points)

    def project_pixel_to_3d_ray(self, uv_rect: np.ndarray) -> np.ndarray:
        """Unit rays (N, 3) in the rectified frame through rectified pixels (image_geometry maths)."""
        uv = _as_points(uv_rect)
        x = (uv[:, 0] - self.cx) / self.fx
        y = (uv[:, 1] - self.cy) / self.fy
        rays = np.column_stack((x, y, np.ones_like(x)))
        unit: np.ndarray = rays / np.linalg.norm(rays, axis=1, keepdims=True)
        return unit

    def project_3d_to_pixel(self, points: np.ndarray) -> np.ndarray:
        """Rectified-frame points (N, 3) -> rectified pixels through P (NaN where w == 0)."""
        pts = np.asarray(points, dtype=float).reshape(-1, 3)
        homog = np.column_stack((pts, np.ones(len(pts)))) @ self.P.T
        with np.errstate(divide="ignore", invalid="ignore"):
            uv: np.ndarray = homog[:, :2] / homog[:, 2:3]
        uv[homog[:, 2] == 0] = np.nan
        return uv

    # ------------------------------------------------------------------ optical-frame geometry

    def pixel_rays(self, uv: np.ndarray, rectified: bool = False) -> np.ndarray:
        """Depth-scaled rays (N, 3) in the camera optical frame: point = ray * depth.

        ``rectified`` says which image the pixels belong to: the raw one (undistorted with K, D)
        or the rectified one (through P, then R^T back into the camera frame). For a raw image
        the ray's z component is 1, so multiplying by a z-depth gives the 3-D point.
        """
        uv_arr = _as_points(uv)
        if rectified:
            x = (uv_arr[:, 0] - self.cx) / self.fx
            y = (uv_arr[:, 1] - self.cy) / self.fy
            rays = np.column_stack((x, y, np.ones_like(x)))
            return rays if _is_identity(self.R) else rays @ self.R
        if not self._distorted:
            x = (uv_arr[:, 0] - self.K[0, 2]) / self.K[0, 0]
            y = (uv_arr[:, 1] - self.K[1, 2]) / self.K[1, 1]
            if self.K[0, 1] != 0.0:
                x = x - self.K[0, 1] * y / self.K[0, 0]
            return np.column_stack((x, y, np.ones_like(x)))
        xy = self._undistort(uv_arr, None, None)
        return np.column_stack((xy, np.ones(len(xy))))

    def ray_through(self, u: float, v: float, rectified: bool = False) -> tuple[float, float, float]:
        """:meth:`pixel_rays` of one pixel, as three floats.

        Why: lifting needs rays through a handful of single pixels, and for a distortion-free
        raw image that is three divisions, a hundredth of the cost of the array path (which the
        other cases still take).
        """
        if rectified or self._distorted:
            x, y, z = self.pixel_rays(np.array([[u, v]]), rectified)[0].tolist()
            return x, y, z
        (fx, skew, cx), (_, fy, cy), _ = self._k_rows
        y = (v - cy) / fy
        x = (u - cx) / fx
        if skew != 0.0:
            x = x - skew * y / fx
        return x, y, 1.0

    def pixel_ray_rows(self, uv: np.ndarray, rectified: bool = False) -> np.ndarray:
        """:meth:`pixel_rays` of pixels given as rows (2, N): u, v; the rays as rows (3, N)."""
        if rectified or self._distorted:
            return self.pixel_rays(uv.T, rectified).T.copy()
        (fx, skew, cx), (_, fy, cy), _ = self._k_rows
        rays = np.empty((3, uv.shape[1]))
        np.subtract(uv, [[cx], [cy]], out=rays[:2])
        rays[0] /= fx
        rays[1] /= fy
        if skew != 0.0:
            rays[0] -= skew * rays[1] / fx
        rays[2] = 1.0
        return rays

    @cached_property
    def _k_rows(self) -> list[list[float]]:
        return self.K.tolist()  # type: ignore[no-any-return]

    def pixel_to_ray(self, uv: np.ndarray, rectified: bool = False) -> np.ndarray:
        """Unit rays (N, 3) in the camera optical frame through pixels of the raw/rectified image."""
        rays = self.pixel_rays(uv, rectified)
        unit: np.ndarray = rays / np.linalg.norm(rays, axis=1, keepdims=True)
        return unit

    def point_to_pixel(self, points: np.ndarray, rectified: bool = False) -> np.ndarray:
        """Optical-frame points (N, 3) -> pixels of the raw (distorted) or rectified image."""
        pts = np.asarray(points, dtype=float).reshape(-1, 3)
        if rectified:
            return self.project_3d_to_pixel(pts @ self.R.T)
        return self._project_camera_points(pts)

    @cached_property
    def ray_grid(self) -> np.ndarray:
        """Depth-scaled rays for every pixel of the raw image, (H, W, 3), computed once.

        Undistorting every pixel costs tens of milliseconds; doing it once per camera keeps depth
        lifting well under a millisecond per request.
        """
        cols, rows = np.meshgrid(np.arange(self.width, dtype=float), np.arange(self.height, dtype=float))
        rays = self.pixel_rays(np.column_stack((cols.ravel(), rows.ravel())), rectified=False)
        grid = rays.reshape(self.height, self.width, 3)
        grid.flags.writeable = False
        return grid

    @cached_property
    def rectified_ray_grid(self) -> np.ndarray:
        """Like :attr:`ray_grid` for the rectified image."""
        cols, rows = np.meshgrid(np.arange(self.width, dtype=float), np.arange(self.height, dtype=float))
        rays = self.pixel_rays(np.column_stack((cols.ravel(), rows.ravel())), rectified=True)
        grid = rays.reshape(self.height, self.width, 3)
        grid.flags.writeable = False
        return grid

    def rays_at(self, rows: np.ndarray, cols: np.ndarray, rectified: bool = False) -> np.ndarray:
        """Depth-scaled rays at integer pixel indices (fast path for lifting)."""
        if not rectified and not self._distorted:
            x = (cols - self.K[0, 2]) / self.K[0, 0]
            y = (rows - self.K[1, 2]) / self.K[1, 1]
            if self.K[0, 1] != 0.0:
                x = x - self.K[0, 1] * y / self.K[0, 0]
            return np.stack((x, y, np.ones(np.shape(x))), axis=-1)
        grid = self.rectified_ray_grid if rectified else self.ray_grid
        rays: np.ndarray = grid[rows, cols]
        return rays

    def ray_window(
        self, rows: slice, cols: slice, rectified: bool = False
    ) -> tuple[np.ndarray | float, np.ndarray | float, np.ndarray | float]:
        """Depth-scaled rays of a (possibly strided) pixel sub-grid, as three components.

        Each component broadcasts to the window's (h, w) shape; together they equal
        ``ray_grid[rows, cols]``. Why components: lifting works on coordinate planes (x, y, z
        arrays), and a distortion-free raw image needs no table at all (a ray is affine in the
        pixel: x depends on the column, y on the row, z is 1), so small windows never pay for
        building or reading the full-frame table.
        """
        if rectified or self._distorted:
            grid = self.rectified_ray_grid if rectified else self.ray_grid
            window = grid[rows, cols]
            return window[:, :, 0], window[:, :, 1], window[:, :, 2]
        k = self.K
        cols_px = np.arange(self.width, dtype=float)[cols]
        rows_px = np.arange(self.height, dtype=float)[rows]
        y = (rows_px - k[1, 2]) / k[1, 1]
        x = (cols_px - k[0, 2]) / k[0, 0]
        if k[0, 1] != 0.0:
            x = x[None, :] - (k[0, 1] * y / k[0, 0])[:, None]
        return x, y[:, None], 1.0

    def ray_planes(self, rows: slice, cols: slice, rectified: bool = False) -> np.ndarray:
        """:meth:`ray_window` as one read-only (3, h, w) array, cached per window.

        Why a cache: the depth-frame point cloud is read on the same strided grid for every
        frame (its stride depends only on the configuration), and multiplying a ready table by
        the depth is one operation instead of one per component. The camera is immutable, so
        the table stays valid for as long as the camera does.
        """
        key = (rows.start, rows.stop, rows.step, cols.start, cols.stop, cols.step, rectified)
        cache = self._ray_plane_cache
        planes = cache.get(key)
        if planes is None:
            planes = self.ray_window_planes(rows, cols, rectified)
            planes.flags.writeable = False
            if len(cache) >= 8:  # a handful of configurations at most; never grow without bound
                cache.clear()
            cache[key] = planes
        return planes

    def affine_rays(self, rectified: bool = False) -> tuple[float, float, float, float, float] | None:
        """(fx, skew, cx, fy, cy) when rays are affine in the pixel (a distortion-free raw image), else None.

        Then :meth:`ray_window`'s rays are ``y = (v - cy) / fy``, ``x = (u - cx) / fx - skew * y / fx``,
        ``z = 1``: compiled lifting computes them itself instead of reading a table.
        """
        if rectified or self._distorted:
            return None
        (fx, skew, cx), (_, fy, cy), _ = self._k_rows
        return float(fx), float(skew), float(cx), float(fy), float(cy)

    def ray_window_planes(self, rows: slice, cols: slice, rectified: bool = False) -> np.ndarray:
        """:meth:`ray_window` as a new C-contiguous (3, h, w) array (not cached: a box's window changes per request)."""
        components = self.ray_window(rows, cols, rectified)
        shape = (len(range(self.height)[rows]), len(range(self.width)[cols]))
        planes = np.empty((3, *shape))
        for plane, component in zip(planes, components):
            plane[...] = component
        return planes

    @cached_property
    def _ray_plane_cache(self) -> dict[tuple[int | None, ...], np.ndarray]:
        return {}

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

    # ------------------------------------------------------------------ internals

    def _undistort(self, uv: np.ndarray, r: np.ndarray | None, p: np.ndarray | None) -> np.ndarray:
        pts = _as_points(uv)
        if len(pts) == 0:
            return np.zeros((0, 2))
        src = pts.reshape(-1, 1, 2)
        d = self.D if self._distorted else np.zeros(5)
        if self.distortion_model is DistortionModel.EQUIDISTANT and self._distorted:
            out = cv2.fisheye.undistortPoints(src, self.K, d, R=r, P=p, criteria=_UNDISTORT_CRITERIA)
        else:
            out = cv2.undistortPoints(src, self.K, d, R=r, P=p, criteria=_UNDISTORT_CRITERIA)
        return out.reshape(-1, 2)

    def _project_camera_points(self, points: np.ndarray) -> np.ndarray:
        pts = np.asarray(points, dtype=float).reshape(-1, 3)
        if len(pts) == 0:
            return np.zeros((0, 2))
        zero = np.zeros(3)
        if self.distortion_model is DistortionModel.EQUIDISTANT and self._distorted:
            out, _ = cv2.fisheye.projectPoints(pts.reshape(-1, 1, 3), zero, zero, self.K, self.D)
        else:
            out, _ = cv2.projectPoints(pts, zero, zero, self.K, self.D if self._distorted else np.zeros(5))
        uv = out.reshape(-1, 2)
        uv[pts[:, 2] <= 0] = np.nan  # behind the camera: no pixel
        return uv


def _as_points(uv: np.ndarray) -> np.ndarray:
    return np.asarray(uv, dtype=float).reshape(-1, 2)


def _is_identity(matrix: np.ndarray) -> bool:
    return bool(np.array_equal(matrix, np.eye(3)))


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
