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
from functools import cached_property, lru_cache

import cv2
import numpy as np
from numpy.typing import ArrayLike

from vla_r1_ros.core.geometry.camera import normalised_to_cv_pixels
from vla_r1_ros.core.geometry.depth import RegisteredDepth
from vla_r1_ros.core.geometry.transforms import (
    check_rigid_transform,
    cross3,
    frame_from_axes,
    matrix_from_quaternion,
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


def _freeze(array: ArrayLike) -> np.ndarray:
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

    @cached_property
    def _table(self) -> tuple[np.ndarray, np.ndarray, float]:
        """``grown`` with a one-cell border holding ``fallback``, flattened; the largest cell index; the row length.

        Why: a query then needs no inside/outside masks. Cell indices are clamped into the
        border, so every point off the grid reads ``fallback`` and the lookup is one gather.
        """
        ny, nx = self.grown.shape
        table = np.full((ny + 2, nx + 2), self.fallback)
        table[1:-1, 1:-1] = self.grown
        table.flags.writeable = False
        return table.reshape(-1), np.array([nx + 1.0, ny + 1.0]), float(nx + 2)

    def query(self, xy: np.ndarray) -> np.ndarray:
        """Surface height under the gripper footprint at world (x, y) points (NaN for NaN/inf input)."""
        pts = np.asarray(xy, dtype=float).reshape(-1, 2)
        table, upper, row_length = self._table
        # fmax/fmin (not clip) send NaN to the border cell too; the finite check below then
        # replaces it, so a huge or non-finite coordinate can never index outside the table.
        cells = np.fmin(np.fmax(np.floor((pts - self.origin) / self.cell) + 1.0, 0.0), upper)
        out = table[(cells[:, 1] * row_length + cells[:, 0]).astype(np.intp)]
        finite = np.isfinite(pts[:, 0]) & np.isfinite(pts[:, 1])  # not .all(axis=1): slow on narrow arrays
        return np.where(finite, out, np.nan)


class DepthScene:
    """A registered depth frame plus the camera pose in the base frame.

    Create one per frame and lift every answer about that frame through it: the base-frame point
    cloud and the height map are computed once, on first use. Depth is read through the
    :class:`DepthImage`, which decodes only the pixels a request touches.
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
        self.image = depth.depth
        self.T = check_rigid_transform(T_base_optical, "T_base_optical")
        if optical_frame and depth.depth.frame_id and optical_frame != depth.depth.frame_id:
            raise FrameMismatchError(
                f"T_base_optical was looked up for frame {optical_frame!r} but the depth image is in "
                f"{depth.depth.frame_id!r}; look the transform up for the image's own frame"
            )
        self.base_frame = base_frame
        self.rectified = pixels_rectified
        self.height, self.width = self.image.height, self.image.width
        if (self.camera.width, self.camera.height) != (self.width, self.height):
            raise ValueError("registered depth and its camera disagree on the image size")
        self._clouds: dict[int, np.ndarray] = {}

    @property
    def depth(self) -> np.ndarray:
        """The whole depth frame in metres (NaN = invalid), decoded on first access."""
        return self.image.metres

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
        """Base-frame points (N, 3) of a strided subset (about ``max_points``) of the valid depth pixels."""
        return self.cloud_planes(max_points).T

    def cloud_planes(self, max_points: int) -> np.ndarray:
        """The points of :meth:`cloud` as coordinate rows (3, N): x, y and z each contiguous.

        Lifting works on this layout: NumPy is slow at reducing or masking along a short axis
        (a row-wise ``all`` over (N, 2) costs more than the whole height map built from rows).
        """
        cache = self._clouds
        if max_points not in cache:
            stride = max(1, math.ceil(math.sqrt(self.width * self.height / max_points)))
            rows = cols = slice(stride // 2, None, stride)
            z = self.image.window(rows, cols)
            optical = _window_points(z, np.isfinite(z), self.camera.ray_window(rows, cols, self.rectified))
            points = self.T[:3, :3] @ optical + self.T[:3, 3:]
            points.flags.writeable = False
            cache[max_points] = points
        return cache[max_points]

    def height_map(self, config: TrajectoryConfig, region: tuple[np.ndarray, np.ndarray] | None = None) -> HeightMap:
        """The height map of the whole frame, or only of the base-frame xy ``region`` (lo, hi).

        A region keeps the grid small (a camera sees metres of table; a path needs decimetres).
        Cells outside the grid read as the highest surface in the whole frame.
        """
        points = self.cloud_planes(config.cloud_points)
        cell = config.height_cell
        if points.shape[1] == 0:
            empty = np.full((1, 1), np.nan, np.float32)
            return HeightMap((0.0, 0.0), cell, empty, np.full((1, 1), np.inf, np.float32), math.inf)
        fallback = float(points[2].max())
        pad = config.footprint_radius + config.fill_radius + 2.0 * cell
        if region is not None:
            lo, hi = np.asarray(region[0], float) - pad, np.asarray(region[1], float) + pad
            x, y = points[0], points[1]
            keep = (x >= lo[0]) & (x <= hi[0]) & (y >= lo[1]) & (y <= hi[1])
            points = np.compress(keep, points, axis=1)
            if points.shape[1] == 0:
                grown: np.ndarray = np.full((1, 1), fallback, np.float32)
                unobserved = np.full((1, 1), np.nan, np.float32)
                return HeightMap((float(lo[0]), float(lo[1])), cell, unobserved, grown, fallback)
        else:
            lo = points[:2].min(axis=1) - pad
            hi = points[:2].max(axis=1) + pad
        size = np.ceil((hi - lo) / cell).astype(int) + 1
        if size.prod() > 4_000_000:  # a frame seeing very far: coarsen rather than run out of memory
            cell = float(cell * math.sqrt(size.prod() / 4_000_000.0))
            size = np.ceil((hi - lo) / cell).astype(int) + 1
        nx, ny = int(size[0]), int(size[1])
        ix = ((points[0] - lo[0]) / cell).astype(np.int64)
        iy = ((points[1] - lo[1]) / cell).astype(np.int64)
        flat = np.full(nx * ny, _UNKNOWN, np.float32)
        np.maximum.at(flat, iy * nx + ix, points[2].astype(np.float32))
        raw = flat.reshape(ny, nx)
        # +1.5 cells: a point and an obstacle within the footprint can sit in cells whose centres
        # are up to sqrt(2) cells farther apart than they are.
        grown = cv2.dilate(raw, _disk(config.footprint_radius / cell + 1.5))
        # Filling unknown cells only needs to be conservative, not round: a square kernel is
        # separable and an order of magnitude faster than a large disk.
        side = 2 * math.ceil((config.footprint_radius + config.fill_radius) / cell + 1.5) + 1
        filled = cv2.dilate(raw, _square(side))
        known = np.float32(_UNKNOWN / 2)
        grown = np.where(grown > known, grown, np.where(filled > known, filled, np.float32(fallback)))
        raw = np.where(raw > known, raw, np.float32(np.nan))
        for array in (raw, grown):
            array.flags.writeable = False
        return HeightMap((float(lo[0]), float(lo[1])), cell, raw, grown, fallback)


def _window_points(
    z: np.ndarray, valid: np.ndarray, rays: tuple[np.ndarray | float, np.ndarray | float, np.ndarray | float]
) -> np.ndarray:
    """Optical-frame points (3, n) of the ``valid`` pixels of a depth window: ray * depth."""
    z_valid = z[valid]
    points = np.empty((3, len(z_valid)))
    for row, component in zip(points, rays):
        if isinstance(component, float):
            np.multiply(z_valid, component, out=row)
        else:
            row[:] = (component * z)[valid]
    return points


@lru_cache(maxsize=16)
def _disk(radius_cells: float) -> np.ndarray:
    """Disk-shaped dilation kernel (cached: it depends only on the configuration)."""
    r = max(0, math.ceil(radius_cells))
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    kernel: np.ndarray = ((xx * xx + yy * yy) <= radius_cells * radius_cells + 1e-9).astype(np.uint8)
    kernel.flags.writeable = False
    return kernel


@lru_cache(maxsize=16)
def _square(side: int) -> np.ndarray:
    kernel = np.ones((side, side), np.uint8)
    kernel.flags.writeable = False
    return kernel


# ---------------------------------------------------------------------------------------------
# Box lifting
# ---------------------------------------------------------------------------------------------


class _PlaneFitter:
    """Least-squares planes through subsets (boolean masks) of one point set (3, N).

    Why a class: lifting refits the plane several times on shrinking subsets. The points are
    stored once, relative to a reference point among them and with a row of ones, so each fit
    is one masked 4x4 Gram product (sums of q q^T, of q, and the count) and a 3x3 eigh, instead
    of a gather, a mean (a slow reduction over a short axis), a subtraction and a product.
    Centring on a nearby reference keeps the moment form as accurate as explicit centring.
    """

    def __init__(self, points: np.ndarray) -> None:
        self.points = points
        self.reference = points[:, points.shape[1] // 2].copy()
        self._augmented = np.ones((4, points.shape[1]))
        np.subtract(points, self.reference[:, None], out=self._augmented[:3])

    def fit(self, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        """Centroid, eigenvalues (ascending) and eigenvectors (columns) of the scatter of the
        masked points, and the offset of the plane ``normal . p = offset`` whose normal is the
        first eigenvector."""
        gram = (self._augmented * mask) @ self._augmented.T
        count = gram[3, 3]
        sums = gram[:3, 3]
        scatter = gram[:3, :3] - sums[:, None] * (sums / count)
        # cv2.eigen (Jacobi, descending) costs a third of np.linalg.eigh's wrapper on a 3x3.
        _, values, vectors = cv2.eigen(scatter)
        evals, evecs = values[::-1, 0], vectors[::-1].T
        centroid = self.reference + sums / count
        return centroid, evals, evecs, float(evecs[:, 0] @ centroid)

    def residuals(self, normal: np.ndarray, offset: float) -> np.ndarray:
        """Signed distances of every point from the plane ``normal . p = offset``."""
        distances: np.ndarray = normal @ self.points - offset
        return distances


def _median(values: np.ndarray) -> float:
    """Median of a non-empty 1-D array without NaN (np.median's bookkeeping costs ~20 us a call)."""
    n = values.size
    lo, hi = (n - 1) // 2, n // 2
    part = np.partition(values, (lo, hi))
    return float(0.5 * (part[lo] + part[hi]))


def _spans(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """Per row of a (k, n) array: ``percentile(row, high) - percentile(row, low)``.

    NumPy's default (linear) percentile, computed with one partition for every row and both
    percentiles; np.percentile costs ~40 us a call, and lifting needs four.
    """
    n = values.shape[1]
    picks = []  # (index below, index above, fraction) of each percentile's virtual index
    for q in (low, high):
        position = q / 100.0 * (n - 1)
        below = math.floor(position)
        picks.append((below, min(below + 1, n - 1), position - below))
    part = np.partition(values, sorted({k for pick in picks for k in pick[:2]}), axis=1)
    (i0, j0, f0), (i1, j1, f1) = picks
    q_low = part[:, i0] + (part[:, j0] - part[:, i0]) * f0
    q_high = part[:, i1] + (part[:, j1] - part[:, i1]) * f1
    spans: np.ndarray = q_high - q_low
    return spans


def _depth_noise(z_grid: np.ndarray) -> float:
    """Robust depth-noise estimate from second differences along rows (planes cancel out)."""
    d2 = z_grid[:, :-2] - 2.0 * z_grid[:, 1:-1] + z_grid[:, 2:]
    d2 = np.abs(d2[np.isfinite(d2)])
    if d2.size < 8:
        return 0.0
    return float(1.4826 * _median(d2) / math.sqrt(6.0))


def _nan_median_filter_at(grid: np.ndarray, mask: np.ndarray, size: int = 5) -> np.ndarray:
    """NaN-aware ``size`` x ``size`` median filter of a small depth grid, evaluated where ``mask``.

    Edges are padded with NaN. Only the pixels that are used get a window, gathered with one
    flat index (a boolean mask over a 4-D sliding-window view is several times slower).
    """
    pad = size // 2
    h, w = grid.shape
    row_length = w + 2 * pad
    padded = np.full((h + 2 * pad, row_length), np.nan, grid.dtype)
    padded[pad : pad + h, pad : pad + w] = grid
    flat = np.flatnonzero(mask)  # r * w + c
    centres = flat + (flat // w) * (2 * pad) + pad * row_length + pad  # (r + pad) * row_length + c + pad
    offsets = (np.arange(-pad, pad + 1)[:, None] * row_length + np.arange(-pad, pad + 1)[None, :]).reshape(-1)
    return _nan_median_rows(padded.reshape(-1)[centres[:, None] + offsets[None, :]])


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
    rows = slice(r0 + ((n_rows - 1) % stride) // 2, r1, stride)
    cols = slice(c0 + ((n_cols - 1) % stride) // 2, c1, stride)
    z_grid = scene.image.window(rows, cols)  # decodes only the sampled pixels
    sampled = z_grid.size
    valid_grid = np.isfinite(z_grid)
    n_valid = int(np.count_nonzero(valid_grid))
    valid_fraction = n_valid / sampled
    if n_valid < config.min_valid_points or valid_fraction < config.min_valid_fraction:
        return LiftResult(
            None,
            0.0,
            f"depth too sparse in the box: {n_valid} valid of {sampled} sampled pixels "
            f"({100.0 * valid_fraction:.1f}%), need >= {config.min_valid_points} and "
            f">= {100.0 * config.min_valid_fraction:.0f}%",
        )
    # Points as coordinate rows (3, n_valid) in the optical frame, in row-major pixel order.
    rays = scene.camera.ray_window(rows, cols, scene.rectified)
    points = _window_points(z_grid, valid_grid, rays)

    cx_cv, cy_cv = box.x * w - 0.5, box.y * h - 0.5
    half_w = max(0.5, config.core_fraction * (px.x_max - px.x_min) / 2.0)
    half_h = max(0.5, config.core_fraction * (px.y_max - px.y_min) / 2.0)
    core_rows = np.abs(np.arange(rows.start, r1, stride) - cy_cv) <= half_h
    core_cols = np.abs(np.arange(cols.start, c1, stride) - cx_cv) <= half_w
    core = (core_rows[:, None] & core_cols[None, :])[valid_grid]
    if np.count_nonzero(core) < max(6, config.min_valid_points // 2):
        core = np.ones_like(core)

    noise = _depth_noise(z_grid)
    fitter = _PlaneFitter(points)
    if noise > config.smoothing_noise:
        # Noisy sensor: decide which pixels belong to the surface on a 5x5 median-filtered copy
        # (noise / ~4, flying pixels gone), then fit the raw depths of those pixels (unbiased).
        smoothed = z_grid.copy()
        smoothed[valid_grid] = _nan_median_filter_at(z_grid, valid_grid)  # a valid pixel keeps a finite median
        # The filtered copy's own noise estimate is biased low (neighbouring medians share
        # pixels), so the band comes from the raw estimate.
        band = max(config.min_inlier_band, 0.75 * noise)  # ~3 sigma of a 5x5 median (sigma / 4)
        classify = _PlaneFitter(_window_points(smoothed, valid_grid, rays))
    else:
        band = max(config.min_inlier_band, 3.0 * noise)
        classify = fitter

    # Membership on the classification depths: a RANSAC seed on the core, then two refits.
    # A refit whose membership does not change is a fixed point, so the loops stop there.
    normal, offset = _ransac_plane(np.compress(core, classify.points, axis=1), band, config.ransac_iterations)
    member = np.abs(classify.residuals(normal, offset)) <= band
    for _ in range(2):
        if np.count_nonzero(member) < 3:
            break
        _, _, evecs, offset = classify.fit(member)
        updated = np.abs(classify.residuals(evecs[:, 0], offset)) <= band
        converged = np.array_equal(updated, member)
        member = updated
        if converged:
            break
    # Final fit on the raw depths of the member pixels, trimming symmetric outliers (3 x MAD).
    inliers, fitted_on, fit = member, None, None
    for _ in range(3):
        if np.count_nonzero(inliers) < 3:
            break
        fit, fitted_on = fitter.fit(inliers), inliers
        residual = np.abs(fitter.residuals(fit[2][:, 0], fit[3]))
        scale = 1.4826 * _median(residual[inliers])
        inliers = member & (residual <= max(config.min_inlier_band / 4.0, 3.0 * scale, 1e-5))
        if np.array_equal(inliers, fitted_on):
            break
    n_in = int(np.count_nonzero(inliers))
    if n_in < config.min_valid_points:
        return LiftResult(
            None,
            0.0,
            f"no surface in the box: only {n_in} of {n_valid} depth points lie on one plane "
            f"(band {1000.0 * band:.1f} mm), need >= {config.min_valid_points}",
        )
    if fit is None or fitted_on is None or not np.array_equal(inliers, fitted_on):
        fit = fitter.fit(inliers)
    centroid, evals, evecs, offset = fit
    normal = evecs[:, 0]
    if offset > 0:  # orient towards the camera (the optical origin)
        normal, offset = -normal, -offset
    residuals = fitter.residuals(normal, offset)
    inlier_residuals = residuals[inliers]
    rms = math.sqrt(float(inlier_residuals @ inlier_residuals) / n_in)

    # Rays through the box centre and one pixel right / down of it (for near-square patches).
    note = ""
    ray, ray_right, ray_down = scene.rays_cv(np.array([[cx_cv, cy_cv], [cx_cv + 1.0, cy_cv], [cx_cv, cy_cv + 1.0]]))
    denom = float(normal @ ray)
    centre = None
    inlier_points = np.compress(inliers, points, axis=1)
    if abs(denom) > 1e-9:
        t = offset / denom
        candidate = ray * t
        if t > 0 and abs(denom) > 0.15 * math.sqrt(ray @ ray):
            # Accept when the hit lies within the observed patch (plus a margin), not off in space.
            rel = inlier_points - candidate[:, None]
            if (rel * rel).sum(axis=0).min() <= (0.02 + 4.0 * rms) ** 2:
                centre = candidate
    if centre is None:
        centre = centroid
        note = "box centre does not fall on the fitted surface; used the centre of the surface patch"

    # Extent along the in-plane axes (long: largest eigenvalue, short: the middle one).
    along = evecs[:, 2:0:-1].T @ (inlier_points - centroid[:, None])
    long_len, short_len = (float(v) for v in _spans(along, 1.0, 99.0))
    behind = -residuals[residuals < -band]
    height = _median(behind) if behind.size >= config.min_valid_points // 2 else math.nan
    short_axis = evecs[:, 1]
    if evals[2] < 1.15 * evals[1]:
        # Near-square patch: the in-plane PCA axes are arbitrary, use the box's shorter image side.
        ray2 = ray_right if px.x_max - px.x_min <= px.y_max - px.y_min else ray_down
        d2 = float(normal @ ray2)
        if abs(d2) > 1e-9:
            direction = ray2 * (offset / d2) - centre
            direction -= (direction @ normal) * normal
            length = math.sqrt(direction @ direction)
            if length > 0:
                short_axis = direction / length

    rot = scene.T[:3, :3]
    position_b = rot @ centre + scene.T[:3, 3]
    normal_b = rot @ normal
    short_b = rot @ short_axis
    if short_b[1] < -1e-9 or (abs(short_b[1]) <= 1e-9 and short_b[0] < 0):
        short_b = -short_b  # a fixed sign keeps the grasp yaw within +-90 degrees
    long_b = cross3(short_b, normal_b)
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
_CROSS_A, _CROSS_B = np.array([1, 2, 0]), np.array([2, 0, 1])


def _ransac_plane(points: np.ndarray, band: float, iterations: int) -> tuple[np.ndarray, float]:
    """Best-supported plane (normal, offset) among random triplets of points (3, n); deterministic.

    The draws must stay exactly these (fixed seed): 24 triplets are few, and another set of them
    picks a side face instead of the top on one of the test boxes.
    """
    n = points.shape[1]
    if n < 3:
        centroid = points.mean(axis=1)
        return np.array([0.0, 0.0, 1.0]), float(centroid[2])
    idx = np.random.default_rng(_RANSAC_RNG_SEED).integers(0, n, size=(iterations, 3))
    a, b, c = points[:, idx[:, 0]], points[:, idx[:, 1]], points[:, idx[:, 2]]
    u, v = b - a, c - a
    normals = u[_CROSS_A] * v[_CROSS_B] - u[_CROSS_B] * v[_CROSS_A]  # column-wise u x v, (3, iterations)
    norms = np.sqrt((normals * normals).sum(axis=0))
    good = norms > 1e-12
    if not good.any():
        fit = _PlaneFitter(points).fit(np.ones(n, dtype=bool))
        return fit[2][:, 0], fit[3]
    normals = np.compress(good, normals, axis=1) / norms[good]
    offsets = (normals * np.compress(good, a, axis=1)).sum(axis=0)
    support = np.count_nonzero(np.abs(normals.T @ points - offsets[:, None]) <= band, axis=1)
    best = int(np.argmax(support))
    return normals[:, best], float(offsets[best])


# ---------------------------------------------------------------------------------------------
# Trajectory lifting
# ---------------------------------------------------------------------------------------------


def resample_polyline(points: np.ndarray, spacing: float) -> np.ndarray:
    """Points evenly spaced by arc length (at most ``spacing`` apart), both ends kept exactly."""
    pts = np.asarray(points, dtype=float).reshape(-1, 3)
    if len(pts) < 2:
        return pts.copy()
    s = _arc_length(pts)
    total = float(s[-1])
    if total <= 1e-12:
        return pts[[0, -1]].copy()
    count = max(2, math.ceil(total / spacing - 1e-9) + 1)
    targets = np.arange(count) * (total / (count - 1))  # np.linspace's own formula; both ends are set below
    out = np.empty((count, 3))
    for k in range(3):
        out[:, k] = np.interp(targets, s, pts[:, k])
    out[0], out[-1] = pts[0], pts[-1]
    return out


def _arc_length(points: np.ndarray) -> np.ndarray:
    """Cumulative arc length along an (N, 3) polyline, starting at 0."""
    s = np.empty(len(points))
    s[0] = 0.0
    diff = points[1:] - points[:-1]
    np.cumsum(np.sqrt(np.einsum("ij,ij->i", diff, diff)), out=s[1:])
    return s


def smooth_polyline(points: np.ndarray, iterations: int, weight: float) -> np.ndarray:
    """Laplacian smoothing with both ends fixed (removes the zig-zag of noisy 2-D answers)."""
    pts = np.array(points, dtype=float)
    for _ in range(iterations if len(pts) > 2 else 0):
        pts[1:-1] += weight * (0.5 * (pts[:-2] + pts[2:]) - pts[1:-1])
    return pts


def _nan_median_rows(values: np.ndarray) -> np.ndarray:
    """Row-wise median of depth values (n, k) ignoring NaN (NaN where a row has none).

    Depth is positive, and positive IEEE-754 floats order exactly like their bit patterns read as
    unsigned integers; NumPy sorts those about twice as fast as floats (no NaN handling), and the
    row sort is most of a noisy box lift. Invalid entries become +inf so they sort last. Counting
    per row is a matrix-vector product (a row-wise reduction over k columns is slower).
    """
    n, k = values.shape
    valid = np.isfinite(values)
    keys = np.where(valid, values, np.inf)  # any NaN, whatever its sign bit, becomes +inf
    ordered = np.sort(keys.view(np.dtype(f"u{keys.dtype.itemsize}")), axis=1).view(keys.dtype).reshape(-1)
    counts = (valid @ np.ones(k)).astype(np.intp)
    starts = np.arange(0, n * k, k)
    lo = ordered[starts + np.maximum(counts - 1, 0) // 2]
    hi = ordered[starts + counts // 2]
    return np.where(counts > 0, 0.5 * (lo + hi), np.nan)


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


@lru_cache(maxsize=8)
def _ray_fractions(samples: int) -> np.ndarray:
    """Positions tried along a camera ray, as fractions of the distance to the surface (a constant)."""
    fractions = np.linspace(1.0, 0.05, samples)
    fractions.flags.writeable = False
    return fractions


_PRE_APPROACH_FACTORS = np.array([1.0, 1.5, 2.0, 3.0, 4.0])  # multiples of approach_height tried, in order


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
            end_position = scene.to_base(ray * float(model_depth))[0]
            end_quat = quaternion_from_matrix(frame_from_axes(-_UP, np.array([0.0, 1.0, 0.0])))
    if end_target is not None:
        end_position = np.asarray(end_target.grasp.position, dtype=float)
        end_quat = np.asarray(end_target.grasp.orientation, dtype=float)
    end_rot = matrix_from_quaternion(end_quat)
    approach = end_rot[:, 2]

    # --- camera rays of the transit points, and the region of the base frame the path can use ---
    # With a known start, the model's first point (where it sees the gripper now) is replaced by
    # the start itself, and the height above the surface falls from the start's to the clearance.
    first = 1 if start_pos is not None else 0
    n_mid = max(0, n - 1 - first)
    pix_mid = pix[first:-1] if n_mid else np.zeros((0, 2))
    rays = scene.rays_cv(pix_mid)
    ray_len = np.sqrt(np.einsum("ij,ij->i", rays, rays))
    dirs = (rays / ray_len[:, None]) @ scene.T[:3, :3].T
    if trajectory.depths is not None and config.use_model_depth:
        t_hi = np.asarray(trajectory.depths[first:-1], dtype=float) * ray_len
    else:
        t_hi = _surface_distance(scene, pix_mid) * ray_len
    missing = ~np.isfinite(t_hi)
    if missing.any():  # no depth under the point: go down to the lowest observed surface
        cloud = scene.cloud(config.cloud_points)
        floor = float(cloud[:, 2].min()) if len(cloud) else 0.0
        dz = dirs[missing, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            guess = (floor - scene.camera_origin[2]) / dz
        t_hi[missing] = np.where((dz < -1e-6) & np.isfinite(guess), guess, 1.0)
    t = t_hi[:, None] * _ray_fractions(config.ray_samples)[None, :]
    cand = scene.camera_origin + t[:, :, None] * dirs[:, None, :]
    corners = [end_position[None, :2], (end_position - approach * config.approach_height * 4.0)[None, :2]]
    corners += [cand[:, 0, :2], cand[:, -1, :2]]
    if start_pos is not None:
        corners.append(start_pos[None, :2])
    corners_xy = np.concatenate(corners)
    hmap = scene.height_map(config, (corners_xy.min(axis=0), corners_xy.max(axis=0)))

    # --- pre-approach point: back off along the approach axis until clear ------------------------
    # Every candidate (and the start) is looked up in one height-map query.
    pres = end_position - approach * config.approach_height * _PRE_APPROACH_FACTORS[:, None]
    probes = pres if start_pos is None else np.vstack((pres, start_pos[None]))
    surface = hmap.query(probes[:, :2])
    clear_pre = pres[:, 2] >= surface[: len(pres)] + config.clearance
    if clear_pre.any():
        pre = pres[int(np.argmax(clear_pre))]
    else:
        pre = pres[-1]
        notes.append("pre-approach point could not clear the observed surface")

    # --- transit points: slide each along its camera ray to the lowest clear position -----------
    mids = np.zeros((0, 3))
    if n_mid:
        heights = np.full(n_mid, config.clearance)
        if start_pos is not None:
            fraction = (np.arange(first, n - 1) + 1.0) / n
            start_above = float(start_pos[2] - surface[-1])
            heights = np.maximum(heights, config.clearance + (start_above - config.clearance) * (1.0 - fraction))
        need = hmap.query(cand[:, :, :2].reshape(-1, 2)).reshape(t.shape) + heights[:, None]
        clear = cand[:, :, 2] >= need
        pick = np.argmax(clear, axis=1)
        every = np.arange(len(cand))
        mids = cand[every, pick]
        stuck = ~clear[every, pick]
        if stuck.any():  # the ray never clears (camera too low): go straight up instead
            below = scene.camera_origin + t_hi[stuck, None] * dirs[stuck]
            below[:, 2] = hmap.query(below[:, :2]) + heights[stuck]
            mids[stuck] = below
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
    s = _arc_length(transit)
    frac = s / s[-1] if s[-1] > 0 else np.ones_like(s)
    orientations = np.empty((len(positions), 4))
    orientations[: len(transit)] = slerp(q_start, q_end, frac)
    orientations[len(transit) :] = q_end

    if not (np.isfinite(positions).all() and np.isfinite(orientations).all()):
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


_WINDOW_OFFSETS = np.array([-1.0, 0.0, 1.0])


def _surface_distance(scene: DepthScene, pix: np.ndarray) -> np.ndarray:
    """Robust depth (median of the valid 3x3 neighbourhood) at OpenCV pixels; NaN if none.

    Windows are clamped at the image border (edge pixels repeat). fmax/fmin rather than clip:
    they are plain ufuncs (no wrapper cost) and send a NaN coordinate to the border, not to an
    arbitrary integer.
    """
    limits = np.array([scene.width - 1.0, scene.height - 1.0])
    centres = np.fmin(np.fmax(np.rint(pix), 0.0), limits)  # (n, 2): column, row
    around = np.fmin(np.fmax(centres[:, :, None] + _WINDOW_OFFSETS, 0.0), limits[:, None]).astype(np.intp)
    windows = scene.image.pixels(around[:, 1, :, None], around[:, 0, None, :])  # (n, 3, 3), decoded on demand
    return _nan_median_rows(windows.reshape(len(pix), -1))


def _raise_to_clearance(points: np.ndarray, hmap: HeightMap, config: TrajectoryConfig, fixed_start: bool) -> np.ndarray:
    """Lift points (never lower them) to ``clearance`` above the surface beneath.

    The required height is spread into ramps of at most ``max_climb_slope`` (an upper envelope
    over arc length), so a point before an obstacle starts climbing early instead of the path
    jumping straight up at its edge. A fixed start and the last point (the pre-approach) stay.

    The envelope ``max_j need_j - k |s_i - s_j|`` splits at j = i into two running maxima over a
    non-decreasing s, ``max_{j<=i} (need_j + k s_j) - k s_i`` and ``max_{j>=i} (need_j - k s_j) + k s_i``:
    O(N) instead of an N x N table. It is taken with ``need`` itself so rounding can never put a
    point below its own requirement.
    """
    out = points.copy()
    need = hmap.query(out[:, :2]) + config.clearance
    ks = config.max_climb_slope * _arc_length(out)
    forward = np.maximum.accumulate(need + ks) - ks
    backward = np.maximum.accumulate((need - ks)[::-1])[::-1] + ks
    envelope = np.maximum(np.maximum(forward, backward), need)
    lo = 1 if fixed_start else 0
    inner = slice(lo, len(out) - 1)
    out[inner, 2] = np.maximum(out[inner, 2], envelope[inner])
    return out
