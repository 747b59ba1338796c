"""The transit of a lifted trajectory in compiled code: camera rays, the clear positions along them, the path.

Each transit point slides along its camera ray to the lowest position that clears the height
map; start, transit points and pre-approach are then resampled, smoothed and raised to the
clearance along ramps, and the straight descent onto the end point follows.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from vla_r1_ros.core.geometry.kernels.height_grid import HeightTable, height_at
from vla_r1_ros.core.geometry.kernels.jit import copy_column, inner, jit, maximum, minimum, set_column
from vla_r1_ros.core.geometry.kernels.medians import nan_median_rows
from vla_r1_ros.core.geometry.kernels.polyline import raise_rows, resample_rows, segment_rows, smooth_rows

__all__ = ["RayFan", "PathShape", "window_pixels", "transit_rays", "ray_samples", "transit_path"]


class RayFan(NamedTuple):
    """The camera rays of the transit points, in the base frame (what :func:`transit_rays` returns)."""

    directions: np.ndarray  # (3, n) unit directions from the camera origin
    reach: np.ndarray  # (n,) distance along each ray to the surface
    candidates: np.ndarray  # (3, n, samples) positions tried, from the surface towards the camera
    bounds: tuple[float, float, float, float]  # lo x, lo y, hi x, hi y of every ray's two ends


class PathShape(NamedTuple):
    """How :func:`transit_path` shapes the path (from ``TrajectorySettings``)."""

    clearance: float  # metres kept above the height map
    slope: float  # the steepest climb towards the clearance (dz / ds)
    spacing: float  # arc-length spacing of the waypoints
    kernel: np.ndarray  # the smoothing steps' combined taps (see smooth_rows)
    iterations: int  # smoothing steps
    weight: float  # ... and their weight


@jit
def window_pixels(uv: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """The 3x3 pixel windows around OpenCV pixels (2, n), as flat row and column indices (9 n).

    Window k holds entries 9 k .. 9 k + 8, row-major. Centres are rounded half to even
    (np.rint) and windows clamped at the image border (edge pixels repeat); a NaN coordinate
    goes to the border, as NumPy's fmax/fmin send it.
    """
    n = uv.shape[1]
    rows = np.empty(9 * n, np.int64)
    cols = np.empty(9 * n, np.int64)
    for i in range(n):
        for axis in range(2):
            limit = (width if axis == 0 else height) - 1.0
            centre = np.rint(uv[axis, i])
            centre = min(centre if centre >= 0.0 else 0.0, limit)  # NaN fails >= 0: the border
            for k in range(3):
                index = int(min(max(centre + (k - 1.0), 0.0), limit))
                for m in range(3):
                    if axis == 0:
                        cols[9 * i + 3 * m + k] = index
                    else:
                        rows[9 * i + 3 * k + m] = index
    return rows, cols


@jit
def transit_rays(
    uv: np.ndarray,
    intrinsics: tuple[float, float, float, float, float],
    rays: np.ndarray,
    rotation: np.ndarray,
    origin: np.ndarray,
    depths: np.ndarray,
    windows: np.ndarray,
    network: np.ndarray,
    floor: float,
    fractions: np.ndarray,
) -> RayFan:
    """Camera rays of the transit points in the base frame and the positions tried along them.

    The optical-frame rays through the OpenCV pixels ``uv`` (2, n) are ``rays`` (3, n), or,
    when that is empty (a distortion-free raw image), come from ``intrinsics`` (fx, skew, cx,
    fy, cy) as :meth:`CameraRays.pixel_ray_rows` computes them. Their reach (the distance to
    the surface) is ``depths`` (the model's, along the optical axis) when given (n entries),
    else the median of the valid depths in ``windows`` (n, 9; float32, NaN = none). A point
    with no depth reaches down to ``floor`` (the lowest observed surface), or 1 m when its ray
    does not descend. The positions tried are at ``fractions`` of the reach (see
    :func:`ray_samples`).
    """
    n = uv.shape[1]
    directions = np.empty((3, n))
    reach = np.empty(n)
    use_depths = depths.size > 0
    medians = nan_median_rows(windows, network)  # none when ``windows`` is empty
    fx, skew, cx, fy, cy = intrinsics
    for i in range(n):
        if rays.shape[1] == n:
            rx, ry, rz = rays[0, i], rays[1, i], rays[2, i]
        else:
            rx, ry, rz = (uv[0, i] - cx) / fx, (uv[1, i] - cy) / fy, 1.0
            if skew != 0.0:
                rx -= skew * ry / fx
        length = math.sqrt(rx * rx + ry * ry + rz * rz)
        ux, uy, uz = rx / length, ry / length, rz / length
        for c in range(3):
            directions[c, i] = rotation[c, 0] * ux + rotation[c, 1] * uy + rotation[c, 2] * uz
        reach[i] = (depths[i] if use_depths else np.float64(medians[i])) * length
        if not np.isfinite(reach[i]):  # no depth under the point: down to the lowest observed surface
            dz = directions[2, i]
            guess = (floor - origin[2]) / dz
            reach[i] = guess if dz < -1e-6 and np.isfinite(guess) else 1.0
    candidates, bounds = ray_samples(origin, directions, reach, fractions)
    return RayFan(directions, reach, candidates, bounds)


@jit
def ray_samples(
    origin: np.ndarray, directions: np.ndarray, reach: np.ndarray, fractions: np.ndarray
) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """Positions along camera rays (3, n, samples) and the xy bounds of every ray's two ends.

    Ray i starts at ``origin`` along the unit ``directions[:, i]``; sample k lies
    ``reach[i] * fractions[k]`` along it.
    """
    n, samples = directions.shape[1], fractions.size
    out = np.empty((3, n, samples))
    lo_x = lo_y = np.inf
    hi_x = hi_y = -np.inf
    for i in range(n):
        for k in range(samples):
            t = reach[i] * fractions[k]
            for c in range(3):
                out[c, i, k] = origin[c] + t * directions[c, i]
        for k in (0, samples - 1):
            lo_x, hi_x = minimum(lo_x, out[0, i, k]), maximum(hi_x, out[0, i, k])
            lo_y, hi_y = minimum(lo_y, out[1, i, k]), maximum(hi_y, out[1, i, k])
    return out, (lo_x, lo_y, hi_x, hi_y)


@inner
def _heights_above(n_mid: int, has_start: bool, start_above: float, n_points: int, clearance: float) -> np.ndarray:
    """The height above the surface each transit point must clear.

    The clearance; with a start, that height falls from the start's height above the surface
    to the clearance over the trajectory's ``n_points``.
    """
    heights = np.empty(n_mid)
    for i in range(n_mid):
        height = clearance
        if has_start:
            fraction = (i + 2.0) / n_points
            height = maximum(clearance, clearance + (start_above - clearance) * (1.0 - fraction))
        heights[i] = height
    return heights


@inner
def _clear_positions(fan: RayFan, origin: np.ndarray, heights: np.ndarray, table: HeightTable) -> np.ndarray:
    """The first position along each ray that clears the surface by its height, as rows (3, n).

    The samples run from the surface towards the camera; a ray that never clears (camera too
    low) goes straight up from its surface point instead.
    """
    candidates = fan.candidates
    n_mid, samples = candidates.shape[1], candidates.shape[2]
    out = np.empty((3, n_mid))
    for i in range(n_mid):
        pick = -1
        for k in range(samples):
            x, y = candidates[0, i, k], candidates[1, i, k]
            if candidates[2, i, k] >= height_at(table, x, y) + heights[i]:
                pick = k
                break
        if pick >= 0:
            for c in range(3):
                out[c, i] = candidates[c, i, pick]
        else:
            x = origin[0] + fan.reach[i] * fan.directions[0, i]
            y = origin[1] + fan.reach[i] * fan.directions[1, i]
            out[0, i], out[1, i] = x, y
            out[2, i] = height_at(table, x, y) + heights[i]
    return out


@inner
def _bracketed(start: np.ndarray, mids: np.ndarray, pre: np.ndarray) -> np.ndarray:
    """The start (when it has 3 entries), the transit points and the pre-approach, as rows (3, m)."""
    first = 1 if start.size == 3 else 0
    n_mid = mids.shape[1]
    transit = np.empty((3, n_mid + first + 1))
    if first:
        set_column(transit, 0, start)
    for i in range(n_mid):
        copy_column(transit, first + i, mids, i)
    set_column(transit, n_mid + first, pre)
    return transit


@inner
def _shaped(transit: np.ndarray, table: HeightTable, shape: PathShape, fixed_start: bool) -> np.ndarray:
    """Resampled at half spacing, smoothed, raised, then twice re-spaced and raised again.

    Why twice: linear interpolation between raised points can cut a ramp's corner.
    """
    transit = resample_rows(transit, shape.spacing / 2.0)
    transit = smooth_rows(transit, shape.kernel, shape.iterations, shape.weight)
    raise_rows(transit, table, shape.clearance, shape.slope, fixed_start)
    for _ in range(2):
        transit = resample_rows(transit, shape.spacing)
        raise_rows(transit, table, shape.clearance, shape.slope, fixed_start)
    return transit


@inner
def _with_descent(transit: np.ndarray, end: np.ndarray, spacing: float) -> np.ndarray:
    """The transit (3, m) followed by the straight descent from its last point to ``end``, as (N, 3) positions."""
    n_transit = transit.shape[1]
    last = np.empty(3)
    for c in range(3):
        last[c] = transit[c, n_transit - 1]
    descent = segment_rows(last, end, spacing)
    total = n_transit + descent.shape[1] - 1
    positions = np.empty((total, 3))
    for k in range(total):
        for c in range(3):
            positions[k, c] = transit[c, k] if k < n_transit else descent[c, k - n_transit + 1]
    return positions


@inner
def _surface_under(positions: np.ndarray, table: HeightTable) -> tuple[np.ndarray, bool]:
    """The surface height under each position (N, 3), and whether every position is finite."""
    total = positions.shape[0]
    surface = np.empty(total)
    finite = True
    for k in range(total):
        surface[k] = height_at(table, positions[k, 0], positions[k, 1])
        for c in range(3):
            finite = finite and np.isfinite(positions[k, c])
    return surface, finite


@jit
def transit_path(
    fan: RayFan,
    origin: np.ndarray,
    start: np.ndarray,
    start_above: float,
    n_points: int,
    pre: np.ndarray,
    end: np.ndarray,
    table: HeightTable,
    shape: PathShape,
) -> tuple[np.ndarray, np.ndarray, int, bool]:
    """The waypoints of a lifted trajectory from its rays on.

    Returns (positions (N, 3), surface heights, approach index, whether every position is finite).

    ``fan``: the transit points' rays from ``origin`` (:func:`transit_rays`); ``start``: the
    start position (3 entries; it then stays fixed) or empty, and ``start_above`` its height
    above the surface; ``n_points``: the trajectory's length; ``pre``: the pre-approach point
    and ``end`` the end point, reached by a straight descent. The steps: each point's height to
    clear, the clear positions along the rays, start and pre-approach around them, the shaping
    (:func:`_shaped`), the descent and the surface under every position.
    """
    has_start = start.size == 3
    heights = _heights_above(fan.reach.size, has_start, start_above, n_points, shape.clearance)
    mids = _clear_positions(fan, origin, heights, table)
    transit = _shaped(_bracketed(start, mids, pre), table, shape, has_start)
    positions = _with_descent(transit, end, shape.spacing)
    surface, finite = _surface_under(positions, table)
    return positions, surface, transit.shape[1] - 1, finite
