"""From VLA-R1's 2-D answers to 3-D targets and waypoints in the robot's base frame.

Why each step is the way it is (numbers from ``reference/simulation.md``):

* **Never one pixel.** Edge pixels pick up background depth (one measured 105 mm error). A box is
  lifted by fitting a plane to the depth over its interior: a RANSAC seed on the central part of
  the box (the part most likely to be the target), refined by least squares over every pixel of the
  box that lies on that plane. Background, neighbouring faces and flying pixels fall out as
  outliers; sensor noise averages out over hundreds of pixels.
* **The target point is where the box centre's ray meets that plane**, so a lifted centre is
  exact on flat faces (0.002 mm on clean render depth) and unbiased under noise.
* **A 2-D trajectory is not a surface.** Lifting every trajectory point with depth would drag the
  gripper along the table. Only the end point uses depth (it lands on the target surface); every
  other point slides along its camera ray to the lowest position that keeps ``clearance`` above the
  highest observed surface within the gripper's footprint beneath it. A short straight approach
  along the grasp axis finishes the path.
* Frames follow REP 103; the camera optical frame -> base frame transform is a 4x4 input (the ROS
  layer gets it from tf2). Quaternions are ROS order (x, y, z, w).

Nothing here raises on bad *data* (sparse depth, an unreachable end point): those come back as a
result with a reason. Bad *inputs* (wrong shapes, unregistered depth, non-rigid transforms) raise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

import cv2
import numpy as np

from vla_r1_ros.core.geometry.camera import normalised_to_cv_pixels
from vla_r1_ros.core.geometry.depth import RegisteredDepth
from vla_r1_ros.core.geometry.transforms import (
    check_rigid_transform,
    frame_from_axes,
    quaternion_from_matrix,
    slerp,
    transform_points,
)
from vla_r1_ros.core.protocol import Box2D, Trajectory2D

__all__ = [
    "FrameMismatchError",
    "LiftingConfig",
    "TrajectoryConfig",
    "DepthScene",
    "HeightMap",
    "GraspPose",
    "Target3D",
    "LiftResult",
    "WaypointPath",
    "PathResult",
    "lift_box",
    "lift_trajectory",
    "resample_polyline",
    "smooth_polyline",
]

_UP = np.array([0.0, 0.0, 1.0])
_UNKNOWN = np.float32(-1e9)  # height-map cells without an observation


class FrameMismatchError(ValueError):
    """The transform given for the camera does not start at the depth image's frame."""


# ---------------------------------------------------------------------------------------------
# Configuration and results
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LiftingConfig:
    """How a box is lifted. Defaults suit a tabletop RGB-D camera 0.4-1.5 m from the objects."""

    approach: str = "top_down"  # "top_down" (gripper z = -base z) or "normal" (along -surface normal)
    min_valid_points: int = 20  # fewer valid depth pixels (or plane inliers) than this: no target
    min_valid_fraction: float = 0.05  # ... or a smaller share of the box with valid depth
    max_samples: int = 1600  # pixels sampled from the box (stride grows with the box)
    core_fraction: float = 0.5  # the central part of the box (per axis) that seeds the plane
    min_inlier_band: float = 0.002  # metres; the plane inlier band is max(this, 3 x depth noise)
    smoothing_noise: float = 0.0015  # metres of depth noise above which pixels are classified on a median-filtered copy
    ransac_iterations: int = 24
    grasp_depth: float = 0.0  # metres the grasp point sits below the surface along the approach

    def __post_init__(self) -> None:
        if self.approach not in ("top_down", "normal"):
            raise ValueError(f"approach must be 'top_down' or 'normal', got {self.approach!r}")
        if self.min_valid_points < 3 or self.max_samples < self.min_valid_points:
            raise ValueError("need min_valid_points >= 3 and max_samples >= min_valid_points")
        if not (0.0 < self.core_fraction <= 1.0 and 0.0 <= self.min_valid_fraction <= 1.0):
            raise ValueError("core_fraction must be in (0, 1] and min_valid_fraction in [0, 1]")
        if not (self.min_inlier_band > 0.0 and self.grasp_depth >= 0.0 and self.ransac_iterations >= 1):
            raise ValueError("min_inlier_band must be > 0, grasp_depth >= 0, ransac_iterations >= 1")


@dataclass(frozen=True)
class TrajectoryConfig:
    """How a 2-D trajectory becomes waypoints. Lengths in metres."""

    clearance: float = 0.05  # height kept above the observed surface under the gripper footprint
    footprint_radius: float = 0.04  # gripper radius used when looking for the surface beneath
    approach_height: float = 0.08  # length of the final straight approach onto the target
    spacing: float = 0.01  # arc-length spacing of the output waypoints
    smoothing_iterations: int = 4
    smoothing_weight: float = 0.5
    end_window_px: int = 9  # side of the pixel window that locates the end point's surface
    max_climb_slope: float = 1.0  # clearance is approached along ramps no steeper than this (dz / ds)
    use_model_depth: bool = True  # use per-point depth from the model (3-D traces) when given
    height_cell: float = 0.01  # height-map resolution
    cloud_points: int = 6000  # depth pixels (strided) that build the height map
    ray_samples: int = 48  # positions tried along each camera ray
    fill_radius: float = 0.10  # unobserved cells take the highest observed surface this close

    def __post_init__(self) -> None:
        for name in ("clearance", "footprint_radius", "fill_radius"):
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) >= 0.0):
                raise ValueError(f"{name} must be finite and >= 0")
        for name in ("approach_height", "spacing", "height_cell"):
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) > 0.0):
                raise ValueError(f"{name} must be finite and > 0")
        if self.approach_height < self.clearance:
            raise ValueError("approach_height must be >= clearance (the approach starts clear of the target)")
        if not (0.0 <= self.smoothing_weight <= 1.0 and self.smoothing_iterations >= 0):
            raise ValueError("smoothing_weight must be in [0, 1] and smoothing_iterations >= 0")
        if self.end_window_px < 3 or self.cloud_points < 100 or self.ray_samples < 4:
            raise ValueError("end_window_px >= 3, cloud_points >= 100 and ray_samples >= 4 are required")


def _freeze(array: np.ndarray) -> np.ndarray:
    out = np.array(array, dtype=float)
    out.flags.writeable = False
    return out


@dataclass(frozen=True, eq=False)
class GraspPose:
    """A gripper pose in the base frame.

    Frame convention (MoveIt / Franka hand style): z is the approach direction (from the gripper
    into the object), y is the closing direction of the fingers, x = y cross z.
    """

    position: np.ndarray  # (3,)
    orientation: np.ndarray  # (4,) quaternion x, y, z, w

    @property
    def matrix(self) -> np.ndarray:
        from vla_r1_ros.core.geometry.transforms import matrix_from_quaternion

        pose = np.eye(4)
        pose[:3, :3] = matrix_from_quaternion(self.orientation)
        pose[:3, 3] = self.position
        return pose

    @property
    def approach(self) -> np.ndarray:
        return self.matrix[:3, 2]

    @property
    def closing_axis(self) -> np.ndarray:
        return self.matrix[:3, 1]


@dataclass(frozen=True, eq=False)
class Target3D:
    """A lifted affordance box, in the base frame.

    ``position`` is the surface point seen through the box centre. ``axes`` columns are the long
    and short in-plane axes of the observed surface patch and its normal (towards the camera);
    ``extent`` is (long, short, height above the surface behind it), the last NaN when nothing
    behind the patch was observed.
    """

    position: np.ndarray
    normal: np.ndarray
    axes: np.ndarray
    extent: np.ndarray
    grasp: GraspPose
    confidence: float
    valid_points: int
    inlier_points: int
    sampled_points: int
    residual_rms: float
    frame_id: str
    note: str = ""


@dataclass(frozen=True, eq=False)
class LiftResult:
    """Either a target or the reason there is none (sparse depth, no surface in the box)."""

    target: Target3D | None
    confidence: float
    reason: str

    @property
    def ok(self) -> bool:
        return self.target is not None


@dataclass(frozen=True, eq=False)
class WaypointPath:
    """End-effector waypoints in the base frame, from the start to the end point on the target.

    ``approach_index`` is the first waypoint of the final straight approach (exempt from the
    clearance rule because it descends onto the target); ``surface_heights`` is the observed
    surface height (highest under the gripper footprint) beneath each waypoint.
    """

    positions: np.ndarray  # (N, 3)
    orientations: np.ndarray  # (N, 4) x, y, z, w
    frame_id: str
    approach_index: int
    surface_heights: np.ndarray  # (N,)
    end_target: Target3D | None
    end_source: str  # "target", "sensor" or "model"
    notes: tuple[str, ...] = field(default=())

    def __len__(self) -> int:
        return len(self.positions)

    @property
    def length(self) -> float:
        return float(np.linalg.norm(np.diff(self.positions, axis=0), axis=1).sum())

    def matrices(self) -> np.ndarray:
        """(N, 4, 4) poses."""
        from vla_r1_ros.core.geometry.transforms import matrix_from_quaternion

        out = np.tile(np.eye(4), (len(self.positions), 1, 1))
        for i, q in enumerate(self.orientations):
            out[i, :3, :3] = matrix_from_quaternion(q)
        out[:, :3, 3] = self.positions
        return out


@dataclass(frozen=True, eq=False)
class PathResult:
    path: WaypointPath | None
    reason: str

    @property
    def ok(self) -> bool:
        return self.path is not None


# ---------------------------------------------------------------------------------------------
# The scene: one registered depth frame seen from the base frame
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class HeightMap:
    """Highest observed surface per cell of a base-frame xy grid, grown by the gripper footprint.

    Cells never observed take the highest surface within ``fill_radius`` (occlusion shadows
    behind objects), and anything farther from every observation takes the highest observed
    surface in the frame: unknown space is assumed to be as tall as the tallest thing seen.
    """

    origin: tuple[float, float]
    cell: float
    raw: np.ndarray  # (ny, nx) float32, NaN where unobserved
    grown: np.ndarray  # (ny, nx) float32, footprint-dilated and filled
    fallback: float

    def query(self, xy: np.ndarray) -> np.ndarray:
        """Surface height under the gripper footprint at world (x, y) points."""
        pts = np.asarray(xy, dtype=float).reshape(-1, 2)
        ix = np.floor((pts[:, 0] - self.origin[0]) / self.cell).astype(np.int64)
        iy = np.floor((pts[:, 1] - self.origin[1]) / self.cell).astype(np.int64)
        ny, nx = self.grown.shape
        inside = (ix >= 0) & (ix < nx) & (iy >= 0) & (iy < ny)
        out = np.full(len(pts), self.fallback)
        out[inside] = self.grown[iy[inside], ix[inside]]
        out[~np.all(np.isfinite(pts), axis=1)] = np.nan
        return out


class DepthScene:
    """A registered depth frame plus the camera pose in the base frame.

    Create one per frame and lift every answer about that frame through it: the base-frame point
    cloud and the height map are computed once, on first use.
    """

    def __init__(
        self,
        depth: RegisteredDepth,
        T_base_optical: np.ndarray,
        base_frame: str = "base_link",
        optical_frame: str | None = None,
        pixels_rectified: bool = False,
    ) -> None:
        """``optical_frame``: the child frame of ``T_base_optical`` as tf2 named it, if known."""
        self.registered = depth
        self.camera = depth.camera
        self.depth = depth.depth.metres
        self.T = check_rigid_transform(T_base_optical, "T_base_optical")
        if optical_frame and depth.depth.frame_id and optical_frame != depth.depth.frame_id:
            raise FrameMismatchError(
                f"T_base_optical was looked up for frame {optical_frame!r} but the depth image is in "
                f"{depth.depth.frame_id!r}; look the transform up for the image's own frame"
            )
        self.base_frame = base_frame
        self.rectified = pixels_rectified
        self.height, self.width = self.depth.shape
        if (self.camera.width, self.camera.height) != (self.width, self.height):
            raise ValueError("registered depth and its camera disagree on the image size")

    @property
    def camera_origin(self) -> np.ndarray:
        return self.T[:3, 3]

    def rays_cv(self, pixels_cv: np.ndarray) -> np.ndarray:
        """Depth-scaled optical-frame rays through OpenCV pixels of the depth image."""
        return self.camera.pixel_rays(pixels_cv, self.rectified)

    def rays_at(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        return self.camera.rays_at(rows, cols, self.rectified)

    def to_base(self, points_optical: np.ndarray) -> np.ndarray:
        return transform_points(self.T, points_optical)

    def cloud(self, max_points: int) -> np.ndarray:
        """Base-frame points of a strided subset (about ``max_points``) of the valid depth pixels."""
        cache = self._clouds
        if max_points not in cache:
            stride = max(1, math.ceil(math.sqrt(self.width * self.height / max_points)))
            rows = np.arange(stride // 2, self.height, stride)
            cols = np.arange(stride // 2, self.width, stride)
            z = self.depth[np.ix_(rows, cols)]
            valid = np.isfinite(z)
            rr, cc = np.meshgrid(rows, cols, indexing="ij")
            rays = self.rays_at(rr[valid], cc[valid])
            points = self.to_base(rays * z[valid][:, None])
            points.flags.writeable = False
            cache[max_points] = points
        return cache[max_points]

    @cached_property
    def _clouds(self) -> dict[int, np.ndarray]:
        return {}

    def height_map(self, config: TrajectoryConfig, region: tuple[np.ndarray, np.ndarray] | None = None) -> HeightMap:
        """The height map of the whole frame, or only of the base-frame xy ``region`` (lo, hi).

        A region keeps the grid small (a camera sees metres of table; a path needs decimetres).
        Cells outside the grid read as the highest surface in the whole frame.
        """
        points = self.cloud(config.cloud_points)
        cell = config.height_cell
        if len(points) == 0:
            empty = np.full((1, 1), np.nan, np.float32)
            return HeightMap((0.0, 0.0), cell, empty, np.full((1, 1), np.inf, np.float32), math.inf)
        fallback = float(points[:, 2].max())
        pad = config.footprint_radius + config.fill_radius + 2.0 * cell
        if region is not None:
            lo, hi = np.asarray(region[0], float) - pad, np.asarray(region[1], float) + pad
            keep = np.all((points[:, :2] >= lo) & (points[:, :2] <= hi), axis=1)
            points = points[keep]
            if len(points) == 0:
                grown = np.full((1, 1), fallback, np.float32)
                return HeightMap((float(lo[0]), float(lo[1])), cell, np.full((1, 1), np.nan, np.float32), grown, fallback)
        else:
            lo = points[:, :2].min(axis=0) - pad
            hi = points[:, :2].max(axis=0) + pad
        size = np.ceil((hi - lo) / cell).astype(int) + 1
        if size.prod() > 4_000_000:  # a frame seeing very far: coarsen rather than run out of memory
            cell = float(cell * math.sqrt(size.prod() / 4_000_000.0))
            size = np.ceil((hi - lo) / cell).astype(int) + 1
        nx, ny = int(size[0]), int(size[1])
        ix = ((points[:, 0] - lo[0]) / cell).astype(np.int64)
        iy = ((points[:, 1] - lo[1]) / cell).astype(np.int64)
        flat = np.full(nx * ny, _UNKNOWN, np.float32)
        np.maximum.at(flat, iy * nx + ix, points[:, 2].astype(np.float32))
        raw = flat.reshape(ny, nx)
        # +1.5 cells: a point and an obstacle within the footprint can sit in cells whose centres
        # are up to sqrt(2) cells farther apart than they are.
        grown = cv2.dilate(raw, _disk(config.footprint_radius / cell + 1.5))
        # Filling unknown cells only needs to be conservative, not round: a square kernel is
        # separable and an order of magnitude faster than a large disk.
        side = 2 * math.ceil((config.footprint_radius + config.fill_radius) / cell + 1.5) + 1
        filled = cv2.dilate(raw, np.ones((side, side), np.uint8))
        grown = np.where(grown > _UNKNOWN / 2, grown, np.where(filled > _UNKNOWN / 2, filled, np.float32(fallback)))
        raw = np.where(raw > _UNKNOWN / 2, raw, np.nan).astype(np.float32)
        for array in (raw, grown):
            array.flags.writeable = False
        return HeightMap((float(lo[0]), float(lo[1])), cell, raw, grown.astype(np.float32), fallback)


def _disk(radius_cells: float) -> np.ndarray:
    r = max(0, math.ceil(radius_cells))
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    return ((xx * xx + yy * yy) <= radius_cells * radius_cells + 1e-9).astype(np.uint8)


# ---------------------------------------------------------------------------------------------
# Box lifting
# ---------------------------------------------------------------------------------------------


def _plane_fit(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Least-squares plane: centroid, unit normal, and eigen-pairs (ascending) of the scatter."""
    centroid = points.mean(axis=0)
    centred = points - centroid
    evals, evecs = np.linalg.eigh(centred.T @ centred)
    return centroid, evecs[:, 0], np.column_stack((evals, evecs.T))


def _depth_noise(z_grid: np.ndarray) -> float:
    """Robust depth-noise estimate from second differences along rows (planes cancel out)."""
    d2 = z_grid[:, :-2] - 2.0 * z_grid[:, 1:-1] + z_grid[:, 2:]
    d2 = np.abs(d2[np.isfinite(d2)])
    if d2.size < 8:
        return 0.0
    return float(1.4826 * np.median(d2) / math.sqrt(6.0))


def _nan_median_filter(grid: np.ndarray, size: int = 5) -> np.ndarray:
    """NaN-aware median filter of a small 2-D grid (edges padded with NaN)."""
    pad = size // 2
    padded = np.pad(grid, pad, constant_values=np.nan)
    windows = np.lib.stride_tricks.sliding_window_view(padded, (size, size)).reshape(grid.size, size * size)
    return _nan_median_rows(windows).reshape(grid.shape)


def lift_box(box: Box2D, scene: DepthScene, config: LiftingConfig = LiftingConfig()) -> LiftResult:
    """Lift an affordance box (normalised, VLA-R1 format) to a 3-D target and grasp pose."""
    w, h = scene.width, scene.height
    px = box.to_pixels(w, h)
    # Pixel i covers [i, i+1) in the protocol's corner convention; take pixels whose centre is inside.
    c0, c1 = math.ceil(px.x_min - 0.5), math.ceil(px.x_max - 0.5)
    r0, r1 = math.ceil(px.y_min - 0.5), math.ceil(px.y_max - 0.5)
    n_cols, n_rows = c1 - c0, r1 - r0
    if n_cols <= 0 or n_rows <= 0:
        return LiftResult(None, 0.0, f"box {box} covers no pixel of the {w}x{h} depth image")
    stride = max(1, math.ceil(math.sqrt(n_cols * n_rows / config.max_samples)))
    cols = np.arange(c0 + ((n_cols - 1) % stride) // 2, c1, stride)
    rows = np.arange(r0 + ((n_rows - 1) % stride) // 2, r1, stride)
    z_grid = scene.depth[np.ix_(rows, cols)]
    sampled = z_grid.size
    valid_grid = np.isfinite(z_grid)
    n_valid = int(valid_grid.sum())
    valid_fraction = n_valid / sampled
    if n_valid < config.min_valid_points or valid_fraction < config.min_valid_fraction:
        return LiftResult(
            None,
            0.0,
            f"depth too sparse in the box: {n_valid} valid of {sampled} sampled pixels "
            f"({100.0 * valid_fraction:.1f}%), need >= {config.min_valid_points} and "
            f">= {100.0 * config.min_valid_fraction:.0f}%",
        )
    rr, cc = np.meshgrid(rows, cols, indexing="ij")
    rr, cc = rr[valid_grid], cc[valid_grid]
    z = z_grid[valid_grid]

    cx_cv, cy_cv = box.x * w - 0.5, box.y * h - 0.5
    half_w = max(0.5, config.core_fraction * (px.x_max - px.x_min) / 2.0)
    half_h = max(0.5, config.core_fraction * (px.y_max - px.y_min) / 2.0)
    core = (np.abs(cc - cx_cv) <= half_w) & (np.abs(rr - cy_cv) <= half_h)
    if core.sum() < max(6, config.min_valid_points // 2):
        core = np.ones_like(core)

    rays = scene.rays_at(rr, cc)
    points = rays * z[:, None]
    noise = _depth_noise(z_grid)
    if noise > config.smoothing_noise:
        # Noisy sensor: decide which pixels belong to the surface on a 5x5 median-filtered copy
        # (noise / ~4, flying pixels gone), then fit the raw depths of those pixels (unbiased).
        smoothed = _nan_median_filter(z_grid)
        z_class = smoothed[valid_grid]
        # The filtered copy's own noise estimate is biased low (neighbouring medians share
        # pixels), so the band comes from the raw estimate.
        band = max(config.min_inlier_band, 0.75 * noise)  # ~3 sigma of a 5x5 median (sigma / 4)
    else:
        z_class = z
        band = max(config.min_inlier_band, 3.0 * noise)
    class_points = rays * np.where(np.isfinite(z_class), z_class, z)[:, None]
    normal, offset = _ransac_plane(class_points[core], band, config.ransac_iterations)
    member = np.abs(class_points @ normal - offset) <= band
    for _ in range(2):
        if member.sum() < 3:
            break
        centroid, normal, eig = _plane_fit(class_points[member])
        offset = float(normal @ centroid)
        member = np.abs(class_points @ normal - offset) <= band
    # Final fit on the raw depths of the member pixels, trimming symmetric outliers (3 x MAD).
    inliers = member.copy()
    for _ in range(3):
        if inliers.sum() < 3:
            break
        centroid, normal, eig = _plane_fit(points[inliers])
        offset = float(normal @ centroid)
        residual = np.abs(points @ normal - offset)
        scale = 1.4826 * float(np.median(residual[inliers]))
        inliers = member & (residual <= max(config.min_inlier_band / 4.0, 3.0 * scale, 1e-5))
    n_in = int(inliers.sum())
    if n_in < config.min_valid_points:
        return LiftResult(
            None,
            0.0,
            f"no surface in the box: only {n_in} of {n_valid} depth points lie on one plane "
            f"(band {1000.0 * band:.1f} mm), need >= {config.min_valid_points}",
        )
    centroid, normal, eig = _plane_fit(points[inliers])
    offset = float(normal @ centroid)
    if normal @ centroid > 0:  # orient towards the camera (the optical origin)
        normal, offset = -normal, -offset
    residuals = points @ normal - offset
    rms = float(np.sqrt(np.mean(residuals[inliers] ** 2)))

    note = ""
    ray = scene.rays_cv(np.array([[cx_cv, cy_cv]]))[0]
    denom = float(normal @ ray)
    centre = None
    if abs(denom) > 1e-9:
        t = offset / denom
        candidate = ray * t
        unit = ray / np.linalg.norm(ray)
        if t > 0 and abs(normal @ unit) > 0.15:
            # Accept when the hit lies within the observed patch (plus a margin), not off in space.
            rel = points[inliers] - candidate
            if np.min(np.einsum("ij,ij->i", rel, rel)) <= (0.02 + 4.0 * rms) ** 2:
                centre = candidate
    if centre is None:
        centre = centroid
        note = "box centre does not fall on the fitted surface; used the centre of the surface patch"

    long_axis, short_axis = eig[2, 1:], eig[1, 1:]
    in_plane = points[inliers] - centroid
    along_long, along_short = in_plane @ long_axis, in_plane @ short_axis
    long_len = float(np.percentile(along_long, 99) - np.percentile(along_long, 1))
    short_len = float(np.percentile(along_short, 99) - np.percentile(along_short, 1))
    behind = -residuals[residuals < -band]
    height = float(np.median(behind)) if behind.size >= config.min_valid_points // 2 else math.nan
    if eig[2, 0] < 1.15 * eig[1, 0]:
        # Near-square patch: the in-plane PCA axes are arbitrary, use the box's shorter image side.
        step = np.array([[cx_cv + 1.0, cy_cv]]) if px.x_max - px.x_min <= px.y_max - px.y_min else np.array([[cx_cv, cy_cv + 1.0]])
        ray2 = scene.rays_cv(step)[0]
        d2 = float(normal @ ray2)
        if abs(d2) > 1e-9:
            direction = ray2 * (offset / d2) - centre
            direction -= (direction @ normal) * normal
            if np.linalg.norm(direction) > 0:
                short_axis = direction / np.linalg.norm(direction)
                long_axis = np.cross(normal, short_axis)

    rot = scene.T[:3, :3]
    position_b = scene.to_base(centre[None])[0]
    normal_b = rot @ normal
    long_b, short_b = rot @ long_axis, rot @ short_axis
    if short_b[1] < -1e-9 or (abs(short_b[1]) <= 1e-9 and short_b[0] < 0):
        short_b = -short_b  # a fixed sign keeps the grasp yaw within +-90 degrees
    long_b = np.cross(short_b, normal_b)
    approach = -_UP if config.approach == "top_down" else -normal_b
    grasp_rot = frame_from_axes(approach, short_b)
    grasp = GraspPose(
        _freeze(position_b + approach * config.grasp_depth), _freeze(quaternion_from_matrix(grasp_rot))
    )
    confidence = min(1.0, valid_fraction / 0.5) * min(1.0, n_in / (4.0 * config.min_valid_points))
    target = Target3D(
        position=_freeze(position_b),
        normal=_freeze(normal_b),
        axes=_freeze(np.column_stack((long_b, short_b, normal_b))),
        extent=_freeze([long_len, short_len, height]),
        grasp=grasp,
        confidence=float(confidence),
        valid_points=n_valid,
        inlier_points=n_in,
        sampled_points=sampled,
        residual_rms=rms,
        frame_id=scene.base_frame,
        note=note,
    )
    return LiftResult(target, float(confidence), note or "ok")


_RANSAC_RNG_SEED = 0x5EED


def _ransac_plane(points: np.ndarray, band: float, iterations: int) -> tuple[np.ndarray, float]:
    """Best-supported plane (normal, offset) among random triplets; deterministic (fixed seed)."""
    n = len(points)
    if n < 3:
        centroid = points.mean(axis=0)
        return np.array([0.0, 0.0, 1.0]), float(centroid[2])
    rng = np.random.default_rng(_RANSAC_RNG_SEED)
    idx = rng.integers(0, n, size=(iterations, 3))
    a, b, c = points[idx[:, 0]], points[idx[:, 1]], points[idx[:, 2]]
    normals = np.cross(b - a, c - a)
    norms = np.linalg.norm(normals, axis=1)
    good = norms > 1e-12
    if not np.any(good):
        _, normal, _ = _plane_fit(points)
        return normal, float(normal @ points.mean(axis=0))
    normals = normals[good] / norms[good, None]
    offsets = np.einsum("ij,ij->i", normals, a[good])
    support = (np.abs(points @ normals.T - offsets) <= band).sum(axis=0)
    best = int(np.argmax(support))
    return normals[best], float(offsets[best])


# ---------------------------------------------------------------------------------------------
# Trajectory lifting
# ---------------------------------------------------------------------------------------------


def resample_polyline(points: np.ndarray, spacing: float) -> np.ndarray:
    """Points evenly spaced by arc length (at most ``spacing`` apart), both ends kept exactly."""
    pts = np.asarray(points, dtype=float).reshape(-1, 3)
    if len(pts) < 2:
        return pts.copy()
    seg = np.linalg.norm(np.diff(pts, axis=0), axis=1)
    s = np.concatenate(([0.0], np.cumsum(seg)))
    total = float(s[-1])
    if total <= 1e-12:
        return pts[[0, -1]].copy()
    count = max(2, math.ceil(total / spacing - 1e-9) + 1)
    targets = np.linspace(0.0, total, count)
    out = np.column_stack([np.interp(targets, s, pts[:, k]) for k in range(3)])
    out[0], out[-1] = pts[0], pts[-1]
    return out


def smooth_polyline(points: np.ndarray, iterations: int, weight: float) -> np.ndarray:
    """Laplacian smoothing with both ends fixed (removes the zig-zag of noisy 2-D answers)."""
    pts = np.array(points, dtype=float)
    for _ in range(iterations if len(pts) > 2 else 0):
        pts[1:-1] += weight * (0.5 * (pts[:-2] + pts[2:]) - pts[1:-1])
    return pts


def _nan_median_rows(values: np.ndarray) -> np.ndarray:
    """Row-wise median ignoring NaN (NaN where a row has none), without np.nanmedian's overhead."""
    ordered = np.sort(values, axis=1)  # NaN sorts last
    counts = np.isfinite(ordered).sum(axis=1)
    out = np.full(len(values), np.nan)
    has = counts > 0
    rows = np.nonzero(has)[0]
    lo = ordered[rows, (counts[has] - 1) // 2]
    hi = ordered[rows, counts[has] // 2]
    out[has] = 0.5 * (lo + hi)
    return out


def _start_pose(start: np.ndarray | None) -> tuple[np.ndarray | None, np.ndarray | None]:
    if start is None:
        return None, None
    arr = np.asarray(start, dtype=float)
    if arr.shape == (3,):
        if not np.all(np.isfinite(arr)):
            raise ValueError("start position holds a non-finite number")
        return arr, None
    pose = check_rigid_transform(arr, "start pose")
    return pose[:3, 3].copy(), quaternion_from_matrix(pose[:3, :3])


def lift_trajectory(
    trajectory: Trajectory2D,
    scene: DepthScene,
    config: TrajectoryConfig = TrajectoryConfig(),
    target: Target3D | None = None,
    start: np.ndarray | None = None,
    lifting: LiftingConfig = LiftingConfig(),
) -> PathResult:
    """Lift a normalised 2-D end-effector trajectory to base-frame waypoints.

    ``target``: a lifted affordance box; when given, the path ends at its grasp pose. Otherwise
    the end point is the surface seen at the trajectory's last point (depth there, or the model's
    own depth for 3-D traces when the sensor has none), approached as ``lifting.approach`` says.
    ``start``: the current end-effector pose (4x4) or position (3,) in the base frame; the path
    then begins exactly there.
    """
    n = len(trajectory)
    if n == 0:
        return PathResult(None, "trajectory has no points")
    if trajectory.depths is not None and len(trajectory.depths) != n:
        raise ValueError(f"trajectory has {n} points but {len(trajectory.depths)} depths")
    start_pos, start_quat = _start_pose(start)
    notes: list[str] = []
    w, h = scene.width, scene.height
    pix = normalised_to_cv_pixels(np.asarray(trajectory.points, dtype=float), w, h)

    # --- the end point: on the target surface -------------------------------------------------
    end_source = "target"
    end_target = target
    if end_target is None:
        ex, ey = trajectory.points[-1]
        window = Box2D(ex, ey, config.end_window_px / w, config.end_window_px / h)
        lifted = lift_box(window, scene, lifting)
        end_source = "sensor"
        if lifted.target is not None:
            end_target = lifted.target
        else:
            model_depth = trajectory.depths[-1] if trajectory.depths is not None else None
            if model_depth is None or not config.use_model_depth:
                return PathResult(None, f"cannot place the end point on a surface: {lifted.reason}")
            end_source = "model"
            notes.append(f"end point from the model's depth ({lifted.reason})")
            ray = scene.rays_cv(pix[-1:])
            point = scene.to_base(ray * float(model_depth))[0]
            rot = frame_from_axes(-_UP, np.array([0.0, 1.0, 0.0]))
            grasp = GraspPose(_freeze(point), _freeze(quaternion_from_matrix(rot)))
            end_position, end_quat = point, grasp.orientation
    if end_target is not None:
        end_position = np.asarray(end_target.grasp.position, dtype=float)
        end_quat = np.asarray(end_target.grasp.orientation, dtype=float)
    end_rot = GraspPose(_freeze(end_position), _freeze(end_quat)).matrix[:3, :3]
    approach = end_rot[:, 2]

    # --- camera rays of the transit points, and the region of the base frame the path can use ---
    # With a known start, the model's first point (where it sees the gripper now) is replaced by
    # the start itself, and the height above the surface falls from the start's to the clearance.
    first = 1 if start_pos is not None else 0
    n_mid = max(0, n - 1 - first)
    pix_mid = pix[first:-1] if n_mid else np.zeros((0, 2))
    rays = scene.rays_cv(pix_mid)
    ray_len = np.linalg.norm(rays, axis=1)
    dirs = (rays / ray_len[:, None]) @ scene.T[:3, :3].T
    t_hi = _surface_distance(scene, pix_mid) * ray_len
    if trajectory.depths is not None and config.use_model_depth:
        t_hi = np.asarray(trajectory.depths[first:-1], dtype=float) * ray_len
    missing = ~np.isfinite(t_hi)
    if np.any(missing):  # no depth under the point: go down to the lowest observed surface
        cloud = scene.cloud(config.cloud_points)
        floor = float(cloud[:, 2].min()) if len(cloud) else 0.0
        dz = dirs[missing, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            guess = (floor - scene.camera_origin[2]) / dz
        t_hi[missing] = np.where((dz < -1e-6) & np.isfinite(guess), guess, 1.0)
    fractions = np.linspace(1.0, 0.05, config.ray_samples)
    t = t_hi[:, None] * fractions[None, :]
    cand = scene.camera_origin + t[:, :, None] * dirs[:, None, :]
    corners = [end_position[None, :2], (end_position - approach * config.approach_height * 4.0)[None, :2]]
    corners += [cand[:, 0, :2], cand[:, -1, :2]]
    if start_pos is not None:
        corners.append(start_pos[None, :2])
    corners_xy = np.vstack(corners)
    hmap = scene.height_map(config, (corners_xy.min(axis=0), corners_xy.max(axis=0)))

    # --- pre-approach point: back off along the approach axis until clear ------------------------
    pre = end_position - approach * config.approach_height
    for factor in (1.0, 1.5, 2.0, 3.0, 4.0):
        pre = end_position - approach * config.approach_height * factor
        if pre[2] >= hmap.query(pre[None, :2])[0] + config.clearance:
            break
    else:
        notes.append("pre-approach point could not clear the observed surface")

    # --- transit points: slide each along its camera ray to the lowest clear position -----------
    mids = np.zeros((0, 3))
    if n_mid:
        fraction = (np.arange(first, n - 1) + 1.0) / n
        heights = np.full(n_mid, config.clearance)
        if start_pos is not None:
            start_above = float(start_pos[2] - hmap.query(start_pos[None, :2])[0])
            heights = np.maximum(heights, config.clearance + (start_above - config.clearance) * (1.0 - fraction))
        need = hmap.query(cand[:, :, :2].reshape(-1, 2)).reshape(t.shape) + heights[:, None]
        clear = cand[:, :, 2] >= need
        pick = np.argmax(clear, axis=1)
        mids = cand[np.arange(len(cand)), pick]
        stuck = ~clear[np.arange(len(cand)), pick]
        if np.any(stuck):  # the ray never clears (camera too low): go straight up instead
            surface = scene.camera_origin + t_hi[stuck, None] * dirs[stuck]
            surface[:, 2] = hmap.query(surface[:, :2]) + heights[stuck]
            mids[stuck] = surface
    transit = mids if start_pos is None else np.vstack((start_pos[None], mids))
    transit = np.vstack((transit, pre[None]))
    fixed_start = start_pos is not None

    transit = resample_polyline(transit, config.spacing / 2.0)
    transit = smooth_polyline(transit, config.smoothing_iterations, config.smoothing_weight)
    transit = _raise_to_clearance(transit, hmap, config, fixed_start)
    for _ in range(2):  # re-space, then re-check (linear interpolation can cut a ramp's corner)
        transit = resample_polyline(transit, config.spacing)
        transit = _raise_to_clearance(transit, hmap, config, fixed_start)
    descent = resample_polyline(np.vstack((transit[-1], end_position)), config.spacing)
    positions = np.vstack((transit, descent[1:]))
    approach_index = len(transit) - 1

    # --- orientations: slerp from the start to the grasp along the transit, then constant -------
    q_end = quaternion_from_matrix(end_rot)
    q_start = start_quat if start_quat is not None else q_end
    seg = np.linalg.norm(np.diff(transit, axis=0), axis=1)
    s = np.concatenate(([0.0], np.cumsum(seg)))
    frac = s / s[-1] if s[-1] > 0 else np.ones_like(s)
    orientations = np.vstack((slerp(q_start, q_end, frac), np.tile(q_end, (len(descent) - 1, 1))))

    if not np.all(np.isfinite(positions)) or not np.all(np.isfinite(orientations)):
        return PathResult(None, "lifting produced a non-finite waypoint (degenerate depth or transform)")
    return PathResult(
        WaypointPath(
            positions=_freeze(positions),
            orientations=_freeze(orientations),
            frame_id=scene.base_frame,
            approach_index=approach_index,
            surface_heights=_freeze(hmap.query(positions[:, :2])),
            end_target=end_target,
            end_source=end_source,
            notes=tuple(notes),
        ),
        "; ".join(notes) or "ok",
    )


def _surface_distance(scene: DepthScene, pix: np.ndarray) -> np.ndarray:
    """Robust depth (median of the valid 3x3 neighbourhood) at OpenCV pixels; NaN if none."""
    cols = np.clip(np.rint(pix[:, 0]).astype(np.int64), 0, scene.width - 1)
    rows = np.clip(np.rint(pix[:, 1]).astype(np.int64), 0, scene.height - 1)
    offsets = np.array([-1, 0, 1])
    rr = np.clip(rows[:, None, None] + offsets[None, :, None], 0, scene.height - 1)
    cc = np.clip(cols[:, None, None] + offsets[None, None, :], 0, scene.width - 1)
    windows = scene.depth[rr, cc].reshape(len(pix), -1)
    return _nan_median_rows(windows)


def _raise_to_clearance(points: np.ndarray, hmap: HeightMap, config: TrajectoryConfig, fixed_start: bool) -> np.ndarray:
    """Lift points (never lower them) to ``clearance`` above the surface beneath.

    The required height is spread into ramps of at most ``max_climb_slope`` (an upper envelope
    over arc length), so a point before an obstacle starts climbing early instead of the path
    jumping straight up at its edge. A fixed start and the last point (the pre-approach) stay.
    """
    out = points.copy()
    need = hmap.query(out[:, :2]) + config.clearance
    s = np.concatenate(([0.0], np.cumsum(np.linalg.norm(np.diff(out, axis=0), axis=1))))
    envelope = np.max(need[None, :] - config.max_climb_slope * np.abs(s[:, None] - s[None, :]), axis=1)
    lo = 1 if fixed_start else 0
    inner = slice(lo, len(out) - 1)
    out[inner, 2] = np.maximum(out[inner, 2], envelope[inner])
    return out
