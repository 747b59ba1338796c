"""Rays through a camera's pixels in its optical frame, and their tables: what depth lifting reads depth along.

A depth-scaled ray is the 3-D point of a pixel at depth 1 (point = ray * depth). For a raw
image the pixels are undistorted with K and D and the ray's z component is 1, so multiplying by
a z-depth gives the point; for the rectified image they go through P, then R^T back into the
camera frame.

Why a class of its own: lifting asks for rays in several shapes (single pixels, rows of pixels,
strided windows), each fastest computed its own way, and keeps per-camera tables (the
full-frame grids of a distorted camera, the point cloud's strided window). Those tables belong
to lifting, not to the camera model (:mod:`.camera` stays image_geometry-sized);
:func:`rays_of` keeps one :class:`CameraRays` per camera for as long as the camera lives, so a
node that reuses its ``CameraModel`` reuses its tables.
"""

from __future__ import annotations

import weakref
from functools import cached_property

import numpy as np

from vla_r1_ros.core.geometry.camera import CameraModel

__all__ = ["CameraRays", "rays_of"]

_BY_CAMERA: weakref.WeakKeyDictionary[CameraModel, CameraRays] = weakref.WeakKeyDictionary()


def rays_of(camera: CameraModel) -> CameraRays:
    """The :class:`CameraRays` of ``camera``, one per camera (cameras are immutable)."""
    rays = _BY_CAMERA.get(camera)
    if rays is None:
        rays = _BY_CAMERA[camera] = CameraRays(camera)
    return rays


class CameraRays:
    """Depth-scaled optical-frame rays of one camera's pixels; ``rectified`` says which image they belong to."""

    def __init__(self, camera: CameraModel) -> None:
        self.camera = camera
        self._k_rows: list[list[float]] = camera.K.tolist()
        self._plane_cache: dict[tuple[int | None, ...], np.ndarray] = {}

    def pixel_rays(self, uv: np.ndarray, rectified: bool = False) -> np.ndarray:
        """Depth-scaled rays (N, 3) through OpenCV pixels (N, 2) of the raw or the rectified image."""
        cam = self.camera
        uv_arr = np.asarray(uv, dtype=float).reshape(-1, 2)
        if rectified:
            x = (uv_arr[:, 0] - cam.cx) / cam.fx
            y = (uv_arr[:, 1] - cam.cy) / cam.fy
            rays = np.column_stack((x, y, np.ones_like(x)))
            return rays if np.array_equal(cam.R, np.eye(3)) else rays @ cam.R
        if not cam.is_distorted:
            x = (uv_arr[:, 0] - cam.K[0, 2]) / cam.K[0, 0]
            y = (uv_arr[:, 1] - cam.K[1, 2]) / cam.K[1, 1]
            if cam.K[0, 1] != 0.0:
                x = x - cam.K[0, 1] * y / cam.K[0, 0]
            return np.column_stack((x, y, np.ones_like(x)))
        xy = cam.undistort_points(uv_arr)
        return np.column_stack((xy, np.ones(len(xy))))

    def ray_through(self, u: float, v: float, rectified: bool = False) -> tuple[float, float, float]:
        """:meth:`pixel_rays` of one pixel, as three floats.

        Why: lifting needs rays through a handful of single pixels, and for a distortion-free
        raw image that is three divisions, a hundredth of the cost of the array path (which the
        other cases still take).
        """
        if rectified or self.camera.is_distorted:
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
        if rectified or self.camera.is_distorted:
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

    def affine_rays(self, rectified: bool = False) -> tuple[float, float, float, float, float] | None:
        """(fx, skew, cx, fy, cy) when rays are affine in the pixel (a distortion-free raw image), else None.

        Then :meth:`ray_window`'s rays are ``y = (v - cy) / fy``, ``x = (u - cx) / fx - skew * y / fx``,
        ``z = 1``: compiled lifting computes them itself instead of reading a table.
        """
        if rectified or self.camera.is_distorted:
            return None
        (fx, skew, cx), (_, fy, cy), _ = self._k_rows
        return float(fx), float(skew), float(cx), float(fy), float(cy)

    @cached_property
    def ray_grid(self) -> np.ndarray:
        """Depth-scaled rays for every pixel of the raw image, (H, W, 3), computed once.

        Undistorting every pixel costs tens of milliseconds; doing it once per camera keeps depth
        lifting well under a millisecond per request.
        """
        return self._grid(rectified=False)

    @cached_property
    def rectified_ray_grid(self) -> np.ndarray:
        """Like :attr:`ray_grid` for the rectified image."""
        return self._grid(rectified=True)

    def _grid(self, rectified: bool) -> np.ndarray:
        width, height = self.camera.width, self.camera.height
        cols, rows = np.meshgrid(np.arange(width, dtype=float), np.arange(height, dtype=float))
        rays = self.pixel_rays(np.column_stack((cols.ravel(), rows.ravel())), rectified)
        grid = rays.reshape(height, width, 3)
        grid.flags.writeable = False
        return grid

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
        if rectified or self.camera.is_distorted:
            grid = self.rectified_ray_grid if rectified else self.ray_grid
            window = grid[rows, cols]
            return window[:, :, 0], window[:, :, 1], window[:, :, 2]
        k = self.camera.K
        cols_px = np.arange(self.camera.width, dtype=float)[cols]
        rows_px = np.arange(self.camera.height, dtype=float)[rows]
        y = (rows_px - k[1, 2]) / k[1, 1]
        x = (cols_px - k[0, 2]) / k[0, 0]
        if k[0, 1] != 0.0:
            x = x[None, :] - (k[0, 1] * y / k[0, 0])[:, None]
        return x, y[:, None], 1.0

    def ray_window_planes(self, rows: slice, cols: slice, rectified: bool = False) -> np.ndarray:
        """:meth:`ray_window` as a new C-contiguous (3, h, w) array (not cached: a box's window changes per request)."""
        components = self.ray_window(rows, cols, rectified)
        shape = (len(range(self.camera.height)[rows]), len(range(self.camera.width)[cols]))
        planes = np.empty((3, *shape))
        for plane, component in zip(planes, components):
            plane[...] = component
        return planes

    def ray_planes(self, rows: slice, cols: slice, rectified: bool = False) -> np.ndarray:
        """:meth:`ray_window` as one read-only (3, h, w) array, cached per window.

        Why a cache: the depth-frame point cloud is read on the same strided grid for every
        frame (its stride depends only on the configuration), and multiplying a ready table by
        the depth is one operation instead of one per component. The camera is immutable, so
        the table stays valid for as long as the camera does.
        """
        key = (rows.start, rows.stop, rows.step, cols.start, cols.stop, cols.step, rectified)
        cache = self._plane_cache
        planes = cache.get(key)
        if planes is None:
            planes = self.ray_window_planes(rows, cols, rectified)
            planes.flags.writeable = False
            if len(cache) >= 8:  # a handful of configurations at most; never grow without bound
                cache.clear()
            cache[key] = planes
        return planes
