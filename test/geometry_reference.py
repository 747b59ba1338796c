"""References the geometry tests check the package against; none of this is package code.

* image_geometry's ``PinholeCameraModel`` maths on a :class:`CameraModel` (``rectifyPoint``,
  ``unrectifyPoint``, ``projectPixelTo3dRay``, ``project3dToPixel``, and their raw-image
  counterparts), for the parity tests of the camera model and the lifting rays;
* plain NumPy formulations of what the compiled kernels compute (the height-map lookup), and
  adapters that call the kernels with plain arguments (smoothing, raising to a clearance);
* the protocol's half-pixel conversion and small conveniences (the share of valid depth).
"""

from __future__ import annotations

import cv2
import numpy as np

from vla_r1_ros.core.geometry.camera import CameraModel, DistortionModel
from vla_r1_ros.core.geometry.depth import DepthImage
from vla_r1_ros.core.geometry.height_map import HeightMap
from vla_r1_ros.core.geometry.kernels.polyline import raise_rows, smooth_rows
from vla_r1_ros.core.geometry.rays import rays_of
from vla_r1_ros.core.geometry.settings import TrajectorySettings
from vla_r1_ros.core.geometry.trajectory_lifting import smoothing_kernel

# ---------------------------------------------------------------------------------------------
# image_geometry parity
# ---------------------------------------------------------------------------------------------


def rectify_points(cam: CameraModel, uv_raw: np.ndarray) -> np.ndarray:
    """Raw (distorted) pixels -> rectified pixels, as image_geometry's ``rectifyPoint``."""
    return cam.undistort_points(uv_raw, cam.R, cam.P)


def unrectify_points(cam: CameraModel, uv_rect: np.ndarray) -> np.ndarray:
    """Rectified pixels -> raw pixels, as image_geometry's ``unrectifyPoint``."""
    rays = project_pixel_to_3d_ray(cam, uv_rect)
    points = rays @ cam.R  # R^T applied to each ray: rectified frame -> camera frame
    return _project_camera_points(cam, points)


def project_pixel_to_3d_ray(cam: CameraModel, uv_rect: np.ndarray) -> np.ndarray:
    """Unit rays (N, 3) in the rectified frame through rectified pixels (image_geometry maths)."""
    uv = np.asarray(uv_rect, dtype=float).reshape(-1, 2)
    x = (uv[:, 0] - cam.cx) / cam.fx
    y = (uv[:, 1] - cam.cy) / cam.fy
    rays = np.column_stack((x, y, np.ones_like(x)))
    unit: np.ndarray = rays / np.linalg.norm(rays, axis=1, keepdims=True)
    return unit


def project_3d_to_pixel(cam: CameraModel, points: np.ndarray) -> np.ndarray:
    """Rectified-frame points (N, 3) -> rectified pixels through P (NaN where w == 0)."""
    pts = np.asarray(points, dtype=float).reshape(-1, 3)
    homog = np.column_stack((pts, np.ones(len(pts)))) @ cam.P.T
    with np.errstate(divide="ignore", invalid="ignore"):
        uv: np.ndarray = homog[:, :2] / homog[:, 2:3]
    uv[homog[:, 2] == 0] = np.nan
    return uv


def pixel_to_ray(cam: CameraModel, uv: np.ndarray, rectified: bool = False) -> np.ndarray:
    """Unit rays (N, 3) in the camera optical frame through pixels of the raw/rectified image."""
    rays = rays_of(cam).pixel_rays(uv, rectified)
    unit: np.ndarray = rays / np.linalg.norm(rays, axis=1, keepdims=True)
    return unit


def point_to_pixel(cam: CameraModel, points: np.ndarray, rectified: bool = False) -> np.ndarray:
    """Optical-frame points (N, 3) -> pixels of the raw (distorted) or rectified image."""
    pts = np.asarray(points, dtype=float).reshape(-1, 3)
    if rectified:
        return project_3d_to_pixel(cam, pts @ cam.R.T)
    return _project_camera_points(cam, pts)


def _project_camera_points(cam: CameraModel, points: np.ndarray) -> np.ndarray:
    pts = np.asarray(points, dtype=float).reshape(-1, 3)
    if len(pts) == 0:
        return np.zeros((0, 2))
    zero = np.zeros(3)
    if cam.distortion_model is DistortionModel.EQUIDISTANT and cam.is_distorted:
        out, _ = cv2.fisheye.projectPoints(pts.reshape(-1, 1, 3), zero, zero, cam.K, cam.D)
    else:
        out, _ = cv2.projectPoints(pts, zero, zero, cam.K, cam.D if cam.is_distorted else np.zeros(5))
    uv: np.ndarray = out.reshape(-1, 2)
    uv[pts[:, 2] <= 0] = np.nan  # behind the camera: no pixel
    return uv


def rays_at(cam: CameraModel, rows: np.ndarray, cols: np.ndarray, rectified: bool = False) -> np.ndarray:
    """Depth-scaled rays at integer pixel indices: the affine formula, or a lookup in the ray grid."""
    if not rectified and not cam.is_distorted:
        x = (cols - cam.K[0, 2]) / cam.K[0, 0]
        y = (rows - cam.K[1, 2]) / cam.K[1, 1]
        if cam.K[0, 1] != 0.0:
            x = x - cam.K[0, 1] * y / cam.K[0, 0]
        return np.stack((x, y, np.ones(np.shape(x))), axis=-1)
    rays = rays_of(cam)
    grid = rays.rectified_ray_grid if rectified else rays.ray_grid
    found: np.ndarray = grid[rows, cols]
    return found


# ---------------------------------------------------------------------------------------------
# Pixels and depth
# ---------------------------------------------------------------------------------------------


def normalised_to_cv_pixels(points: np.ndarray, width: int, height: int) -> np.ndarray:
    """VLA-R1 normalised (x, y) (corner convention) -> OpenCV pixel (u, v) of a W x H image."""
    pts = np.asarray(points, dtype=float).reshape(-1, 2)
    return np.column_stack((pts[:, 0] * width - 0.5, pts[:, 1] * height - 0.5))


def cv_pixels_to_normalised(pixels: np.ndarray, width: int, height: int) -> np.ndarray:
    """Inverse of :func:`normalised_to_cv_pixels`."""
    px = np.asarray(pixels, dtype=float).reshape(-1, 2)
    return np.column_stack(((px[:, 0] + 0.5) / width, (px[:, 1] + 0.5) / height))


def valid_fraction(image: DepthImage) -> float:
    """Share of the whole frame with a valid reading (decodes the full frame)."""
    return float(np.isfinite(image.metres).mean())


# ---------------------------------------------------------------------------------------------
# Height map and polylines
# ---------------------------------------------------------------------------------------------


def height_query(hmap: HeightMap, xy: np.ndarray) -> np.ndarray:
    """Surface height under the gripper footprint at world (x, y) points (N, 2), NaN for NaN/inf input.

    The NumPy lookup: cell indices clamped into the table's border (fmax/fmin, not clip, send
    NaN there too; the finite check then replaces it), one gather.
    """
    pts = np.asarray(xy, dtype=float).reshape(-1, 2)
    table = hmap.table
    upper = np.array([table.cols - 1.0, table.rows - 1.0])
    cells = np.fmin(np.fmax(np.floor((pts - hmap.origin) / hmap.cell) + 1.0, 0.0), upper)
    out = table.heights[(cells[:, 1] * table.cols + cells[:, 0]).astype(np.intp)]
    finite = np.isfinite(pts[:, 0]) & np.isfinite(pts[:, 1])
    return np.where(finite, out, np.nan)


def smooth_polyline(points: np.ndarray, iterations: int, weight: float) -> np.ndarray:
    """Laplacian smoothing of an (N, 3) polyline with both ends fixed, through the compiled kernel."""
    rows = np.ascontiguousarray(np.asarray(points, dtype=float).T)
    smoothed: np.ndarray = smooth_rows(rows, smoothing_kernel(iterations, weight), int(iterations), float(weight))
    return smoothed.T.copy()


def raise_to_clearance(
    points: np.ndarray, hmap: HeightMap, config: TrajectorySettings, fixed_start: bool
) -> np.ndarray:
    """An (N, 3) polyline raised to ``config.clearance`` above ``hmap`` along ramps, through the compiled kernel."""
    rows = np.array(points, dtype=float).T.copy()
    raise_rows(rows, hmap.table, float(config.clearance), float(config.max_climb_slope), bool(fixed_start))
    return rows.T.copy()
