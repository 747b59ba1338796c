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
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache

import numpy as np
from numpy.typing import ArrayLike

from vla_r1_ros.core.geometry import _compiled as compiled
from vla_r1_ros.core.geometry.depth import RegisteredDepth
from vla_r1_ros.core.geometry.transforms import (
    check_rigid_transform,
    frame_rows,
    matrix_from_quaternion,
    quaternion_from_matrix,
    quaternion_from_rows,
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
    "warm_up",
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
    def _table(self) -> tuple[np.ndarray, tuple[int, int]]:
        """``grown`` with a one-cell border holding ``fallback``, flattened, and its (rows, columns).

        Why: a query then needs no inside/outside masks. Cell indices are clamped into the
        border, so every point off the grid reads ``fallback`` and the lookup is one gather.
        """
        ny, nx = self.grown.shape
        table = np.full((ny + 2, nx + 2), self.fallback)
        table[1:-1, 1:-1] = self.grown
        return _frozen_table(table)

    def query(self, xy: np.ndarray) -> np.ndarray:
        """Surface height under the gripper footprint at world (x, y) points (NaN for NaN/inf input)."""
        pts = np.asarray(xy, dtype=float).reshape(-1, 2)
        table, (rows, cols) = self._table
        upper = np.array([cols - 1.0, rows - 1.0])
        # fmax/fmin (not clip) send NaN to the border cell too; the finite check below then
        # replaces it, so a huge or non-finite coordinate can never index outside the table.
        cells = np.fmin(np.fmax(np.floor((pts - self.origin) / self.cell) + 1.0, 0.0), upper)
        out = table[(cells[:, 1] * cols + cells[:, 0]).astype(np.intp)]
        finite = np.isfinite(pts[:, 0]) & np.isfinite(pts[:, 1])  # not .all(axis=1): slow on narrow arrays
        return np.where(finite, out, np.nan)

    def _heights(self, xy: np.ndarray) -> np.ndarray:
        """:meth:`query` for points given as coordinate rows (2, N): x, then y; compiled.

        Cell indices are clamped into the border, so every point off the grid reads
        ``fallback``; so does a NaN or a coordinate too large for an integer cell index (the
        lifting's own points are finite; :meth:`query` keeps NaN for NaN input).
        """
        table, (rows, cols) = self._table
        heights: np.ndarray = compiled.heights_at(
            table, rows, cols, float(self.origin[0]), float(self.origin[1]), float(self.cell), _rows(xy)
        )
        return heights

    def _height_at(self, x: float, y: float) -> float:
        """:meth:`_heights` of one point, on Python floats (a handful of points cost less this way)."""
        table, (rows, cols) = self._table
        column = min(max(math.floor((x - self.origin[0]) / self.cell) + 1, 0), cols - 1)
        row = min(max(math.floor((y - self.origin[1]) / self.cell) + 1, 0), rows - 1)
        return float(table[row * cols + column])


def _frozen_table(table: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
    table.flags.writeable = False
    rows, cols = table.shape
    return table.reshape(-1), (rows, cols)


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
        # The pose as Python floats, for the 3-vector arithmetic of single points.
        self.rotation_rows: list[list[float]] = self.T[:3, :3].tolist()
        self.translation: list[float] = self.T[:3, 3].tolist()
        # ... and as contiguous arrays for the compiled stages (a strided view of T would make
        # numba compile another version of each for that memory layout).
        self._rotation = np.ascontiguousarray(self.T[:3, :3])
        self._origin = np.array(self.translation)
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
        self._gappy_clouds: dict[int, tuple[np.ndarray, float, float]] = {}  # points, lowest and highest z

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
        """The points of :meth:`cloud` as coordinate rows (3, N): x, y and z each contiguous."""
        points = self._clouds.get(max_points)
        if points is None:
            gappy = self._cloud_with_gaps(max_points)
            points = np.compress(gappy[2] == gappy[2], gappy, axis=1)  # NaN != NaN: drops the gaps
            points.flags.writeable = False
            self._clouds[max_points] = points
        return points

    def _cloud_with_gaps(self, max_points: int) -> np.ndarray:
        """:meth:`cloud_planes` with a NaN column at every pixel without valid depth (grid order).

        Why: lifting only ever keeps points inside a region, and a comparison with NaN is False,
        so the region test drops the gaps for free; selecting the valid pixels first would be an
        extra pass over every pixel.
        """
        return self._gappy_cloud(max_points)[0]

    def _gappy_cloud(self, max_points: int) -> tuple[np.ndarray, float, float]:
        """:meth:`_cloud_with_gaps` and its lowest and highest z (NaN when no pixel has depth)."""
        cloud = self._gappy_clouds.get(max_points)
        if cloud is None:
            stride = max(1, math.ceil(math.sqrt(self.width * self.height / max_points)))
            rows = cols = slice(stride // 2, None, stride)
            z = np.require(self.image.window(rows, cols), np.float32, ["C", "W"])
            planes = self.camera.ray_planes(rows, cols, self.rectified)
            points, lowest, highest = compiled.gappy_cloud(z, planes, self._rotation, self._origin)
            points.flags.writeable = False
            cloud = self._gappy_clouds[max_points] = (points, float(lowest), float(highest))
        return cloud

    def height_map(self, config: TrajectoryConfig, region: tuple[ArrayLike, ArrayLike] | None = None) -> HeightMap:
        """The height map of the whole frame, or only of the base-frame xy ``region`` (lo, hi).

        A region keeps the grid small (a camera sees metres of table; a path needs decimetres).
        Cells outside the grid read as the highest surface in the whole frame.
        """
        cloud, _, fallback = self._gappy_cloud(config.cloud_points)  # the highest point; NaN: no valid pixel
        cell = config.height_cell
        if math.isnan(fallback):
            empty = np.full((1, 1), np.nan, np.float32)
            return HeightMap((0.0, 0.0), cell, empty, np.full((1, 1), np.inf, np.float32), math.inf)
        pad = config.footprint_radius + config.fill_radius + 2.0 * cell
        if region is not None:
            lo_x, lo_y = (float(v) - pad for v in np.asarray(region[0], float).tolist())
            hi_x, hi_y = (float(v) + pad for v in np.asarray(region[1], float).tolist())
        else:
            valid = np.compress(cloud[2] == cloud[2], cloud[:2], axis=1)
            (lo_x, lo_y), (hi_x, hi_y) = (valid.min(axis=1) - pad).tolist(), (valid.max(axis=1) + pad).tolist()
        bounds = (lo_x, lo_y, hi_x, hi_y)
        if not all(map(math.isfinite, bounds)) and compiled.count_inside(cloud, *bounds) == 0:
            # An unbounded region (an absurd model depth) has no grid size; without a point in
            # it the map is empty as for any other region (with points, the size below raises).
            return self._empty_height_map(lo_x, lo_y, cell, fallback)
        nx, ny = (math.ceil((hi - lo) / cell) + 1 for lo, hi in ((lo_x, hi_x), (lo_y, hi_y)))
        if nx * ny > 4_000_000:  # a frame seeing very far: coarsen rather than run out of memory
            cell = float(cell * math.sqrt(nx * ny / 4_000_000.0))
            nx, ny = (math.ceil((hi - lo) / cell) + 1 for lo, hi in ((lo_x, hi_x), (lo_y, hi_y)))
        # +1.5 cells: a point and an obstacle within the footprint can sit in cells whose centres
        # are up to sqrt(2) cells farther apart than they are. Filling unknown cells only needs
        # to be conservative, not round: a square.
        fill_half = math.ceil((config.footprint_radius + config.fill_radius) / cell + 1.5)
        count, raw, grown, table = compiled.height_grid(
            cloud, *bounds, cell, nx, ny, _disk_half_widths(config.footprint_radius / cell + 1.5), fill_half, fallback
        )
        if count == 0:
            return self._empty_height_map(lo_x, lo_y, cell, fallback)
        # The grids carry the query table's one-cell border (the dilations saw it as unobserved).
        raw, grown = raw[1:-1, 1:-1], grown[1:-1, 1:-1]
        for array in (raw, grown):
            array.flags.writeable = False
        hmap = HeightMap((lo_x, lo_y), cell, raw, grown, fallback)
        hmap.__dict__["_table"] = _frozen_table(table.reshape(ny + 2, nx + 2))  # the cached_property, already known
        return hmap

    @staticmethod
    def _empty_height_map(lo_x: float, lo_y: float, cell: float, fallback: float) -> HeightMap:
        """No observation in the region: every query reads the highest surface in the frame."""
        grown: np.ndarray = np.full((1, 1), fallback, np.float32)
        unobserved = np.full((1, 1), np.nan, np.float32)
        return HeightMap((lo_x, lo_y), cell, unobserved, grown, fallback)


@lru_cache(maxsize=16)
def _disk(radius_cells: float) -> np.ndarray:
    """Disk-shaped dilation kernel (cached: it depends only on the configuration)."""
    r = max(0, math.floor(radius_cells + 1e-9))  # the rows and columns that can hold a cell of the disk
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    kernel: np.ndarray = ((xx * xx + yy * yy) <= radius_cells * radius_cells + 1e-9).astype(np.uint8)
    kernel.flags.writeable = False
    return kernel


@lru_cache(maxsize=16)
def _disk_half_widths(radius_cells: float) -> np.ndarray:
    """Half the width of each row of :func:`_disk` (its rows are centred runs of ones; a constant)."""
    widths: np.ndarray = _disk(radius_cells).sum(axis=1).astype(np.int64) // 2
    widths.flags.writeable = False
    return widths


# ---------------------------------------------------------------------------------------------
# Box lifting
# ---------------------------------------------------------------------------------------------
#
# Cost model: a box holds a few hundred sampled pixels, so a NumPy call costs its fixed overhead
# (a few microseconds), not its arithmetic. The array work is therefore one compiled call
# (compiled.box_plane), and what is left, 3-vectors and 3x3 matrices, is Python floats.


def _dot3(a: Sequence[float], b: Sequence[float]) -> float:
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


def _cross3(a: Sequence[float], b: Sequence[float]) -> list[float]:
    return [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]]


def _rotate(rows: Sequence[Sequence[float]], v: Sequence[float]) -> list[float]:
    """A 3x3 matrix (rows of floats) times a 3-vector."""
    return [row[0] * v[0] + row[1] * v[1] + row[2] * v[2] for row in rows]


@lru_cache(maxsize=8)
def _sorting_network(inputs: int) -> np.ndarray:
    """The compare-exchange pairs that sort ``inputs`` values (a constant per window size)."""
    network = compiled.sorting_network(inputs)
    network.flags.writeable = False
    return network


def _pixel_corners(box: Box2D, width: int, height: int) -> tuple[float, float, float, float]:
    """``box.to_pixels(width, height)`` (clipped to the image) as four floats, without its objects."""
    half_w, half_h = abs(box.width) / 2.0, abs(box.height) / 2.0
    corners = ((box.x - half_w) * width, (box.y - half_h) * height, (box.x + half_w) * width, (box.y + half_h) * height)
    limits = (width, height, width, height)
    x0, y0, x1, y1 = (min(max(c, 0.0), limit) for c, limit in zip(corners, limits))
    return x0, y0, x1, y1


def _inside(positions: range, centre: float, half: float) -> slice:
    """The indices of ``positions`` within ``half`` of ``centre`` (an interval, as positions ascend).

    The interval comes from arithmetic, then each end is settled with the exact test
    ``abs(p - centre) <= half`` (the division can round across a boundary).
    """
    n, first, step = len(positions), positions.start, positions.step
    lo = max(0, math.ceil((centre - half - first) / step) - 1)
    while lo < n and not abs(first + lo * step - centre) <= half:
        lo += 1
    if lo >= n:
        return slice(0, 0)
    hi = max(lo, math.floor((centre + half - first) / step) + 1)
    while hi > lo and not (hi < n and abs(first + hi * step - centre) <= half):
        hi -= 1
    while hi + 1 < n and abs(first + (hi + 1) * step - centre) <= half:
        hi += 1
    return slice(lo, hi + 1)


def lift_box(box: Box2D, scene: DepthScene, config: LiftingConfig = LiftingConfig()) -> LiftResult:
    """Lift an affordance box (normalised, VLA-R1 format) to a 3-D target and grasp pose."""
    w, h = scene.width, scene.height
    x_min, y_min, x_max, y_max = _pixel_corners(box, w, h)
    # Pixel i covers [i, i+1) in the protocol's corner convention; take pixels whose centre is inside.
    c0, c1 = math.ceil(x_min - 0.5), math.ceil(x_max - 0.5)
    r0, r1 = math.ceil(y_min - 0.5), math.ceil(y_max - 0.5)
    n_cols, n_rows = c1 - c0, r1 - r0
    if n_cols <= 0 or n_rows <= 0:
        return LiftResult(None, 0.0, f"box {box} covers no pixel of the {w}x{h} depth image")
    stride = max(1, math.ceil(math.sqrt(n_cols * n_rows / config.max_samples)))
    rows = range(r0 + ((n_rows - 1) % stride) // 2, r1, stride)
    cols = range(c0 + ((n_cols - 1) % stride) // 2, c1, stride)
    row_slice, col_slice = slice(rows.start, r1, stride), slice(cols.start, c1, stride)
    # Decodes only the sampled pixels; a writeable C array, the one type box_plane is compiled for.
    z_grid = np.require(scene.image.window(row_slice, col_slice), np.float32, ["C", "W"])
    sampled = z_grid.size
    cx_cv, cy_cv = box.x * w - 0.5, box.y * h - 0.5
    half_w = max(0.5, config.core_fraction * (x_max - x_min) / 2.0)
    half_h = max(0.5, config.core_fraction * (y_max - y_min) / 2.0)
    core_rows, core_cols = _inside(rows, cy_cv, half_h), _inside(cols, cx_cv, half_w)
    ray = scene.camera.ray_through(cx_cv, cy_cv, scene.rectified)

    # The plane fit, one compiled call (see compiled.box_plane): the valid pixels' points, the
    # noise estimate (and for a noisy sensor, classification on a 5x5 median-filtered copy:
    # noise / ~4, flying pixels gone; the fit uses the raw depths, unbiased), a RANSAC seed on
    # the core of the box, two refits of the membership, three 3 x MAD trims of the final fit,
    # the centre ray's hit on the patch and the patch's extent.
    intrinsics = scene.camera.affine_rays(scene.rectified)
    if intrinsics is None:  # a ray table (distortion, rectification); else the kernel computes the rays
        rays = scene.camera.ray_window_planes(row_slice, col_slice, scene.rectified)
        intrinsics = (1.0, 0.0, 0.0, 1.0, 0.0)
    else:
        rays = _NO_RAYS

    def fit_plane(draws: np.ndarray) -> compiled.BoxFit:
        return compiled.box_plane(
            z_grid,
            rays,
            intrinsics,
            (rows.start, stride, cols.start, stride),
            (core_rows.start, core_rows.stop),
            (core_cols.start, core_cols.stop),
            (float(ray[0]), float(ray[1]), float(ray[2])),
            int(config.min_valid_points),
            float(config.min_valid_fraction),
            float(config.min_inlier_band),
            float(config.smoothing_noise),
            _ransac_stream(3 * config.ransac_iterations),
            draws,
            _sorting_network(25),
        )

    fit = fit_plane(_NO_DRAWS)
    if fit.status == compiled.NEED_DRAWS:  # the constant stream would reject a draw: NumPy's own draws
        fit = fit_plane(np.ascontiguousarray(_ransac_draws(fit.core_points, config.ransac_iterations), np.int64))
    n_valid, n_in, band = fit.valid_points, fit.inlier_points, fit.band
    valid_fraction = n_valid / sampled
    if fit.status == compiled.TOO_SPARSE:
        return LiftResult(
            None,
            0.0,
            f"depth too sparse in the box: {n_valid} valid of {sampled} sampled pixels "
            f"({100.0 * valid_fraction:.1f}%), need >= {config.min_valid_points} and "
            f">= {100.0 * config.min_valid_fraction:.0f}%",
        )
    if fit.status == compiled.NO_SURFACE:
        return LiftResult(
            None,
            0.0,
            f"no surface in the box: only {n_in} of {n_valid} depth points lie on one plane "
            f"(band {1000.0 * band:.1f} mm), need >= {config.min_valid_points}",
        )
    centroid, evals, normal, offset, rms = list(fit.centroid), fit.eigenvalues, list(fit.normal), fit.offset, fit.rms
    short_axis = list(fit.short_axis)
    long_len, short_len, height = fit.long_len, fit.short_len, fit.height
    note = ""
    if math.isnan(fit.centre[0]):  # the centre ray grazes the plane or meets it off the observed patch
        centre = centroid
        note = "box centre does not fall on the fitted surface; used the centre of the surface patch"
    else:
        centre = list(fit.centre)
    if evals[2] < 1.15 * evals[1]:
        # Near-square patch: the in-plane PCA axes are arbitrary, use the box's shorter image side:
        # the direction, within the plane, from the centre to where the ray one pixel over meets it.
        beside = (cx_cv + 1.0, cy_cv) if x_max - x_min <= y_max - y_min else (cx_cv, cy_cv + 1.0)
        ray2 = scene.camera.ray_through(*beside, scene.rectified)
        d2 = _dot3(normal, ray2)
        if abs(d2) > 1e-9:
            direction = [r * (offset / d2) - c for r, c in zip(ray2, centre)]
            along_normal = _dot3(direction, normal)
            direction = [d - along_normal * n for d, n in zip(direction, normal)]
            length = math.sqrt(_dot3(direction, direction))
            if length > 0:
                short_axis = [d / length for d in direction]

    rot = scene.rotation_rows
    position_b = [p + t for p, t in zip(_rotate(rot, centre), scene.translation)]
    normal_b = _rotate(rot, normal)
    short_b = _rotate(rot, short_axis)
    if short_b[1] < -1e-9 or (abs(short_b[1]) <= 1e-9 and short_b[0] < 0):
        short_b = [-c for c in short_b]  # a fixed sign keeps the grasp yaw within +-90 degrees
    long_b = _cross3(short_b, normal_b)
    approach = [0.0, 0.0, -1.0] if config.approach == "top_down" else [-c for c in normal_b]
    grasp_position = [p + a * config.grasp_depth for p, a in zip(position_b, approach)]
    grasp = GraspPose(_freeze(grasp_position), _freeze(quaternion_from_rows(frame_rows(approach, short_b))))
    confidence = min(1.0, valid_fraction / 0.5) * min(1.0, n_in / (4.0 * config.min_valid_points))
    target = Target3D(
        position=_freeze(position_b),
        normal=_freeze(normal_b),
        axes=_freeze(list(zip(long_b, short_b, normal_b))),
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


@lru_cache(maxsize=8)
def _ransac_stream(count: int) -> np.ndarray:
    """The first ``count`` 32-bit draws of ``default_rng(_RANSAC_RNG_SEED)``, as uint64 (a constant).

    NumPy's ``Generator.integers(0, n)`` for n <= 2**32 takes one 32-bit draw per number
    (PCG64 hands out the low then the high half of each 64-bit output) and scales it with
    Lemire's multiply-shift; only a rejected draw (probability below n / 2**32) takes another.
    """
    raw = np.random.PCG64(np.random.SeedSequence(_RANSAC_RNG_SEED)).random_raw((count + 1) // 2)
    stream = np.empty(2 * len(raw), np.uint64)
    stream[0::2] = raw & np.uint64(0xFFFFFFFF)
    stream[1::2] = raw >> np.uint64(32)
    stream = stream[:count]
    stream.flags.writeable = False
    return stream


def _ransac_draws(n: int, iterations: int) -> np.ndarray:
    """``np.random.default_rng(_RANSAC_RNG_SEED).integers(0, n, size=(iterations, 3))``, computed.

    Why: seeding a generator costs more than the rest of the draw; the draws themselves are
    Lemire's scaling of a constant stream. Where that stream would hit a rejection the
    generator is used after all, so the draws are always NumPy's own.
    """
    scaled = _ransac_stream(iterations * 3) * np.uint64(n)
    if int(scaled.astype(np.uint32).min()) < (2**32 - n) % n:  # the low half decides a rejection
        draws: np.ndarray = np.random.default_rng(_RANSAC_RNG_SEED).integers(0, n, size=(iterations, 3))
        return draws
    return (scaled >> np.uint64(32)).astype(np.intp).reshape(iterations, 3)


_NO_RAYS = np.empty((3, 0, 0))  # box_plane's "the rays are affine: compute them"
# box_plane's "draw from the stream yourself" (writeable like the draws it replaces: numba
# compiles a read-only array as another type)
_NO_DRAWS = np.empty((0, 3), np.int64)


# ---------------------------------------------------------------------------------------------
# Trajectory lifting
# ---------------------------------------------------------------------------------------------
#
# Polylines are kept as coordinate rows (3, N) inside the lifting, and every pass over them runs
# compiled (the passes are numba functions in compiled; these wrappers give them NumPy inputs
# of the layout they were compiled for).


def resample_polyline(points: np.ndarray, spacing: float) -> np.ndarray:
    """Points evenly spaced by arc length (at most ``spacing`` apart), both ends kept exactly."""
    pts = np.asarray(points, dtype=float).reshape(-1, 3)
    return _resample_rows(pts.T, spacing).T.copy()


def _rows(points: ArrayLike) -> np.ndarray:
    """A polyline's coordinate rows (3, N) as a C-contiguous float array (no copy when it is one)."""
    return np.ascontiguousarray(points, dtype=float)


def _resample_rows(points: np.ndarray, spacing: float) -> np.ndarray:
    """:func:`resample_polyline` of a polyline given as coordinate rows (3, N) (np.interp's rule per row)."""
    resampled: np.ndarray = compiled.resample_rows(_rows(points), float(spacing))
    return resampled


def _arc_length_rows(points: np.ndarray) -> np.ndarray:
    """Cumulative arc length along a polyline given as coordinate rows (3, N), starting at 0."""
    lengths: np.ndarray = compiled.arc_length_rows(_rows(points))
    return lengths


def smooth_polyline(points: np.ndarray, iterations: int, weight: float) -> np.ndarray:
    """Laplacian smoothing with both ends fixed (removes the zig-zag of noisy 2-D answers)."""
    return _smooth_rows(np.asarray(points, dtype=float).T, iterations, weight).T.copy()


def _smooth_rows(points: np.ndarray, iterations: int, weight: float) -> np.ndarray:
    """:func:`smooth_polyline` of a polyline given as coordinate rows (3, N).

    ``iterations`` Jacobi steps ``p += weight * (mean of the neighbours - p)`` with fixed ends are
    one convolution with the step's kernel taken ``iterations`` times, over the polyline
    extended by its point reflection through each end (the reflection keeps an end's
    neighbours' mean on the end, so it never moves, exactly as a fixed end); equal up to
    rounding. A polyline too short to reflect takes the steps one by one.
    """
    kernel = _smoothing_kernel(iterations, weight)
    smoothed: np.ndarray = compiled.smooth_rows(_rows(points), kernel, int(iterations), float(weight))
    return smoothed


@lru_cache(maxsize=8)
def _smoothing_kernel(iterations: int, weight: float) -> np.ndarray:
    """The (2 * iterations + 1) taps of ``iterations`` smoothing steps (a constant)."""
    kernel = np.ones(1)
    for _ in range(iterations):
        kernel = np.convolve(kernel, [0.5 * weight, 1.0 - weight, 0.5 * weight])
    kernel.flags.writeable = False
    return kernel


def _start_pose(start: np.ndarray | None) -> tuple[np.ndarray | None, np.ndarray | None]:
    if start is None:
        return None, None
    arr = np.array(start, dtype=float)  # our own contiguous copy (the compiled path stage takes it)
    if arr.shape == (3,):
        if not all(math.isfinite(value) for value in arr.tolist()):
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
    # One error state for the whole lift (a context switch per height lookup costs more than
    # the lookup): an absurd model depth may put points where no integer cell index reaches.
    with np.errstate(invalid="ignore", divide="ignore"):
        return _lift_trajectory(trajectory, scene, config, target, start, lifting)


def _lift_trajectory(
    trajectory: Trajectory2D,
    scene: DepthScene,
    config: TrajectoryConfig,
    target: Target3D | None,
    start: np.ndarray | None,
    lifting: LiftingConfig,
) -> PathResult:
    n = len(trajectory)
    if n == 0:
        return PathResult(None, "trajectory has no points")
    if trajectory.depths is not None and len(trajectory.depths) != n:
        raise ValueError(f"trajectory has {n} points but {len(trajectory.depths)} depths")
    start_pos, start_quat = _start_pose(start)
    notes: list[str] = []
    w, h = scene.width, scene.height
    # OpenCV pixels as rows (2, n): u, v (normalised_to_cv_pixels, transposed).
    uv = np.array(trajectory.points, dtype=float).T * np.array([[w], [h]]) - 0.5

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
            ray = scene.rays_cv(uv[:, -1:].T)
            end_position = scene.to_base(ray * float(model_depth))[0].tolist()
            end_quat = quaternion_from_rows(frame_rows([0.0, 0.0, -1.0], [0.0, 1.0, 0.0]))
    if end_target is not None:
        end_position = np.asarray(end_target.grasp.position, dtype=float).tolist()
        end_quat = np.asarray(end_target.grasp.orientation, dtype=float).tolist()
    end_rot = _rows_from_quaternion(end_quat)
    approach = [row[2] for row in end_rot]

    # --- camera rays of the transit points, and the region of the base frame the path can use ---
    # With a known start, the model's first point (where it sees the gripper now) is replaced by
    # the start itself, and the height above the surface falls from the start's to the clearance.
    first = 1 if start_pos is not None else 0
    n_mid = max(0, n - 1 - first)
    uv_mid = np.ascontiguousarray(uv[:, first:-1]) if n_mid else np.zeros((2, 0))
    intrinsics = scene.camera.affine_rays(scene.rectified)
    if intrinsics is None:  # the camera's own rays (distortion, rectification); else the kernel's
        rays, intrinsics = scene.camera.pixel_ray_rows(uv_mid, scene.rectified), (1.0, 0.0, 0.0, 1.0, 0.0)
    else:
        rays = _NO_RAY_ROWS
    if trajectory.depths is not None and config.use_model_depth:
        depths, windows = np.array(trajectory.depths[first:-1], dtype=float), _NO_WINDOWS
    else:  # the sensor's depth around each point (decoded on demand)
        depths, windows = _NO_DEPTHS, scene.image._pixels_flat(*compiled.window_pixels(uv_mid, w, h)).reshape(n_mid, 9)
    # Unit directions in the base frame (3, n_mid), the distance along each ray to the surface
    # (where no depth was seen: down to the lowest observed surface), and positions along the
    # rays from the surface towards the camera.
    lowest = scene._gappy_cloud(config.cloud_points)[1]
    dirs, t_hi, candidates, ray_bounds = compiled.transit_rays(
        uv_mid,
        intrinsics,
        rays,
        scene._rotation,
        scene._origin,
        depths,
        np.ascontiguousarray(windows),
        _sorting_network(9),
        0.0 if math.isnan(lowest) else lowest,
        _ray_fractions(config.ray_samples),
    )
    # The region: the end, the farthest pre-approach point, the start and both ends of every ray.
    far_pre = [e - a * config.approach_height * 4.0 for e, a in zip(end_position, approach)]
    corners = [end_position[:2], far_pre[:2]] + ([start_pos[:2]] if start_pos is not None else [])
    lo_xy = [min(c[i] for c in corners) for i in range(2)]
    hi_xy = [max(c[i] for c in corners) for i in range(2)]
    if n_mid:
        lo_xy = [min(a, b) for a, b in zip(lo_xy, ray_bounds[:2])]
        hi_xy = [max(a, b) for a, b in zip(hi_xy, ray_bounds[2:])]
    hmap = scene.height_map(config, (lo_xy, hi_xy))

    # --- pre-approach point: back off along the approach axis until clear ------------------------
    pre = None
    for factor in _PRE_APPROACH_FACTORS:
        candidate = [e - a * config.approach_height * factor for e, a in zip(end_position, approach)]
        if candidate[2] >= hmap._height_at(candidate[0], candidate[1]) + config.clearance:
            pre = candidate
            break
    if pre is None:
        pre = candidate
        notes.append("pre-approach point could not clear the observed surface")

    # --- transit points and the final descent, one compiled call (see compiled.transit_path):
    # each transit point slides along its camera ray to the lowest clear position; start,
    # transit and pre-approach are resampled, smoothed, raised to the clearance along ramps,
    # re-spaced and re-checked; the straight descent onto the end point follows.
    start_above = 0.0  # the start's height above the surface, spread down to the clearance
    if start_pos is not None:
        start_above = float(start_pos[2]) - hmap._height_at(float(start_pos[0]), float(start_pos[1]))
    table, (rows, cols) = hmap._table
    positions, surface_heights, approach_index, finite = compiled.transit_path(
        candidates,
        scene._origin,
        dirs,
        t_hi,
        start_pos if start_pos is not None else _NO_POINT,
        start_above,
        n,
        np.array(pre, dtype=float),
        np.array(end_position, dtype=float),
        table,
        rows,
        cols,
        float(hmap.origin[0]),
        float(hmap.origin[1]),
        float(hmap.cell),
        float(config.clearance),
        float(config.max_climb_slope),
        float(config.spacing),
        _smoothing_kernel(config.smoothing_iterations, config.smoothing_weight),
        int(config.smoothing_iterations),
        float(config.smoothing_weight),
    )
    n_transit = approach_index + 1

    # --- orientations: slerp from the start to the grasp along the transit, then constant -------
    q_end = quaternion_from_rows(end_rot)
    orientations = np.empty((len(positions), 4))
    if start_quat is None:  # one orientation throughout: what slerp gives for equal ends
        orientations[:n_transit] = _unit(_unit(q_end))
    else:
        s = _arc_length_rows(positions[:n_transit].T)
        frac = s / s[-1] if s[-1] > 0 else np.ones_like(s)
        orientations[:n_transit] = slerp(start_quat, np.array(q_end), frac)
    orientations[n_transit:] = q_end

    if not (finite and np.isfinite(orientations).all()):
        return PathResult(None, "lifting produced a non-finite waypoint (degenerate depth or transform)")
    for array in (positions, orientations, surface_heights):
        array.flags.writeable = False
    return PathResult(
        WaypointPath(
            positions=positions,
            orientations=orientations,
            frame_id=scene.base_frame,
            approach_index=approach_index,
            surface_heights=surface_heights,
            end_target=end_target,
            end_source=end_source,
            notes=tuple(notes),
        ),
        "; ".join(notes) or "ok",
    )


def _unit(q: Sequence[float]) -> list[float]:
    norm = math.sqrt(sum(c * c for c in q))
    return [c / norm for c in q]


def _rows_from_quaternion(q: Sequence[float]) -> list[list[float]]:
    """:func:`matrix_from_quaternion` on Python floats: the rows of the 3x3 rotation."""
    x, y, z, w = _unit(q)
    return [
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ]


def _raise_rows(points: np.ndarray, hmap: HeightMap, config: TrajectoryConfig, fixed_start: bool) -> np.ndarray:
    """Lift points (coordinate rows, 3 x N; raised in place, never lowered) to ``clearance`` above the surface beneath.

    The required height is spread into ramps of at most ``max_climb_slope`` (an upper envelope
    over arc length), so a point before an obstacle starts climbing early instead of the path
    jumping straight up at its edge. A fixed start and the last point (the pre-approach) stay.

    The envelope ``max_j need_j - k |s_i - s_j|`` splits at j = i into two running maxima over a
    non-decreasing s, ``max_{j<=i} (need_j + k s_j) - k s_i`` and ``max_{j>=i} (need_j - k s_j) + k s_i``:
    O(N) instead of an N x N table. It is taken with ``need`` itself so rounding can never put a
    point below its own requirement.
    """
    out = _rows(points)  # callers hand over an array of their own (contiguous: raised in place)
    table, (rows, cols) = hmap._table
    ox, oy = hmap.origin
    compiled.raise_rows(
        out, table, rows, cols, float(ox), float(oy), float(hmap.cell), float(config.clearance),
        float(config.max_climb_slope), bool(fixed_start),
    )  # fmt: skip
    return out


_NO_POINT = np.empty(0)  # transit_path's "no start position"
_NO_RAY_ROWS = np.empty((3, 0))  # transit_rays' "the rays are affine: compute them"
_NO_DEPTHS = np.empty(0)  # transit_rays' "no model depths: read the sensor's"
_NO_WINDOWS = np.empty((0, 9), np.float32)  # ... and "no sensor windows: the model's depths"


def warm_up() -> None:
    """Compile (or load from numba's on-disk cache) every compiled stage lifting uses, now.

    Lifting compiles its stages on first use: some 30 s on a fresh machine (per installed copy
    of the package: numba keys its cache by the source file's path), then well under a second
    per process to load them. A ROS node calls this at start-up so that its first request does
    not pay that. Lifts a small synthetic frame through every path whose argument types differ:
    float32 and 16UC1 depth, quiet and noisy (median filter), with and without a start pose.
    """
    from vla_r1_ros.core.geometry.camera import CameraModel
    from vla_r1_ros.core.geometry.depth import DepthImage, encode_depth, register_depth
    from vla_r1_ros.core.geometry.safety import SafetyLimits, check_waypoints

    width, height = 64, 48
    camera = CameraModel.from_intrinsics(60.0, 60.0, 31.5, 23.5, width, height, "warm_up")
    rows, cols = np.mgrid[0:height, 0:width]
    depth = np.full((height, width), 0.8)
    depth[16:32, 20:44] = 0.7  # a box on a table
    pose = np.array([[1.0, 0.0, 0.0, 0.0], [0.0, -1.0, 0.0, 0.0], [0.0, 0.0, -1.0, 1.0], [0.0, 0.0, 0.0, 1.0]])
    trajectory = Trajectory2D(((0.1, 0.1), (0.3, 0.2), (0.4, 0.35), (0.5, 0.5)))
    for noise in (0.0, 0.01):
        noisy = depth + noise * np.sin(rows * 1.7 + cols * 2.3)
        for image in (DepthImage(noisy, "warm_up"), DepthImage.from_ros(encode_depth(noisy, "16UC1"), "16UC1")):
            scene = DepthScene(register_depth(image, camera), pose, base_frame="base")
            lifted = lift_box(Box2D(0.5, 0.5, 0.3, 0.3), scene)
            lift_trajectory(trajectory, scene, target=lifted.target)
            path = lift_trajectory(trajectory, scene, start=np.array([0.0, 0.0, 0.5])).path
            if path is not None:  # the safety filter's acceptance is compiled too
                check_waypoints(path.positions, SafetyLimits())
