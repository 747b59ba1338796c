"""The height map in compiled code: the base-frame point cloud, the grid and its dilations, and lookups."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from vla_r1_ros.core.geometry.kernels.jit import inner, jit

__all__ = [
    "HeightTable",
    "base_frame_cloud",
    "count_inside",
    "dilate_disk",
    "dilate_square",
    "height_grid",
    "height_at",
    "heights_at",
]

_UNKNOWN = np.float32(-1e9)  # height-grid cells without an observation
_KNOWN = np.float32(-5e8)  # above this a cell holds an observation


class HeightTable(NamedTuple):
    """A height map as the kernels read it: the grown grid with a one-cell border of the fallback height.

    Why a border: a lookup then needs no inside/outside test. Cell indices are clamped into the
    border, so every point off the grid reads the fallback and the lookup is one gather.
    """

    heights: np.ndarray  # (rows * cols,) float64, row-major, read-only
    rows: int  # the grid's rows plus the border
    cols: int
    origin_x: float  # base-frame x and y of the grid's first cell's corner
    origin_y: float
    cell: float  # metres per cell


@jit
def base_frame_cloud(
    z: np.ndarray, planes: np.ndarray, rotation: np.ndarray, translation: np.ndarray
) -> tuple[np.ndarray, float, float]:
    """Base-frame points (3, h * w) of depths ``z`` (float32, h x w) along rays ``planes`` (3, h, w).

    A pixel without depth gives a NaN column (the gaps fail every region test downstream).
    Also the lowest and highest point's z (NaN when no pixel has depth), as np.fmin/np.fmax
    reductions give them.
    """
    h, w = z.shape
    out = np.empty((3, h * w))
    for i in range(3):  # one output row at a time: contiguous loops that vectorise
        r0, r1, r2, t = rotation[i, 0], rotation[i, 1], rotation[i, 2], translation[i]
        for r in range(h):
            for c in range(w):
                depth = np.float64(z[r, c])
                ox, oy, oz = planes[0, r, c] * depth, planes[1, r, c] * depth, planes[2, r, c] * depth
                out[i, r * w + c] = r0 * ox + r1 * oy + r2 * oz + t
    lowest, highest = np.inf, -np.inf
    for k in range(h * w):
        height = out[2, k]
        if height < lowest:  # NaN (a gap) never compares
            lowest = height
        if height > highest:
            highest = height
    if lowest == np.inf:  # no point at all
        lowest = highest = np.nan
    return out, lowest, highest


@jit
def count_inside(cloud: np.ndarray, lo_x: float, lo_y: float, hi_x: float, hi_y: float) -> int:
    """How many of the cloud's points (3, N) lie within [lo, hi] in x and y (inclusive; NaN never does)."""
    count = 0
    for k in range(cloud.shape[1]):
        x, y = cloud[0, k], cloud[1, k]
        if x >= lo_x and x <= hi_x and y >= lo_y and y <= hi_y:
            count += 1
    return count


@jit
def dilate_disk(grid: np.ndarray, half_widths: np.ndarray) -> np.ndarray:
    """Grey dilation of a float32 grid by a symmetric convex kernel, cells outside ignored.

    ``half_widths[r + dy]`` is the kernel's half width in row ``dy`` (-r..r): the dilation is the
    maximum, over the kernel's rows, of row-wise running maxima of that half width, and the
    running maxima of every width come one from the other (two comparisons per cell each).
    """
    ny, nx = grid.shape
    r = (half_widths.size - 1) // 2
    widest = 0
    for i in range(half_widths.size):
        widest = max(widest, half_widths[i])
    running = np.empty((widest + 1, ny, nx), np.float32)
    for y in range(ny):
        for x in range(nx):
            running[0, y, x] = grid[y, x]
    for k in range(1, widest + 1):
        for y in range(ny):  # three contiguous passes per row (branch-free selects: they vectorise)
            for x in range(nx):
                running[k, y, x] = running[k - 1, y, x]
            for x in range(k, nx):
                v, m = grid[y, x - k], running[k, y, x]
                running[k, y, x] = v if v > m else m
            for x in range(nx - k):
                v, m = grid[y, x + k], running[k, y, x]
                running[k, y, x] = v if v > m else m
    out = np.empty((ny, nx), np.float32)
    centre = half_widths[r]
    for y in range(ny):
        for x in range(nx):
            out[y, x] = running[centre, y, x]
    for dy in range(-r, r + 1):
        if dy == 0:
            continue
        k = half_widths[r + dy]
        for y in range(max(0, -dy), min(ny, ny - dy)):
            for x in range(nx):
                v, o = running[k, y + dy, x], out[y, x]
                out[y, x] = v if v > o else o
    return out


@inner
def _running_max_columns(grid: np.ndarray, half: int) -> np.ndarray:
    """Maximum over rows [y - half, y + half] of each column (rows outside ignored): van Herk / Gil-Werman.

    The grid, padded by ``half`` rows of -inf above and below, is cut into blocks of the
    window's height; a window then spans at most two blocks, and its maximum is the suffix
    maximum of the first and the prefix maximum of the second: three comparisons per cell for
    any window. Whole rows at a time, so the inner loops vectorise.
    """
    ny, nx = grid.shape
    size = 2 * half + 1
    length = ny + 2 * half
    low = np.float32(-np.inf)
    prefix = np.empty((length, nx), np.float32)
    suffix = np.empty((length, nx), np.float32)
    for i in range(length):
        y = i - half  # the grid row of padded row i
        inside = 0 <= y < ny
        if i % size == 0:
            for x in range(nx):
                prefix[i, x] = grid[y, x] if inside else low
        else:
            for x in range(nx):
                v = grid[y, x] if inside else low
                p = prefix[i - 1, x]
                prefix[i, x] = v if v > p else p
    for i in range(length - 1, -1, -1):
        y = i - half
        inside = 0 <= y < ny
        if (i + 1) % size == 0 or i == length - 1:
            for x in range(nx):
                suffix[i, x] = grid[y, x] if inside else low
        else:
            for x in range(nx):
                v = grid[y, x] if inside else low
                q = suffix[i + 1, x]
                suffix[i, x] = v if v > q else q
    out = np.empty((ny, nx), np.float32)
    for y in range(ny):
        for x in range(nx):
            a, b = suffix[y, x], prefix[y + 2 * half, x]
            out[y, x] = a if a > b else b
    return out


@inner
def _transposed(grid: np.ndarray) -> np.ndarray:
    ny, nx = grid.shape
    out = np.empty((nx, ny), grid.dtype)
    for y in range(ny):
        for x in range(nx):
            out[x, y] = grid[y, x]
    return out


@jit
def dilate_square(grid: np.ndarray, half: int) -> np.ndarray:
    """Grey dilation of a float32 grid by the (2 half + 1) square, cells outside ignored (separable)."""
    columns = _running_max_columns(grid, half)
    return _transposed(_running_max_columns(_transposed(columns), half))


@jit
def height_grid(
    cloud: np.ndarray,
    lo_x: float,
    lo_y: float,
    hi_x: float,
    hi_y: float,
    cell: float,
    nx: int,
    ny: int,
    half_widths: np.ndarray,
    fill_half: int,
    fallback: float,
) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    """The height map of the cloud's points within [lo, hi] (inclusive), on ``nx`` x ``ny`` cells.

    Returns (points inside, raw, grown, table). ``raw``: highest point per cell (float32, NaN
    unobserved); ``grown``: dilated by the footprint disk (``half_widths``), else by the fill
    square (``fill_half``), else ``fallback``; ``table``: ``grown`` in float64, flattened, with
    a border of ``fallback``. ``raw`` and ``grown`` also carry that one-cell border (the
    dilations treat it as unobserved, like their own image border). Nothing is built when no
    point is inside.
    """
    count = count_inside(cloud, lo_x, lo_y, hi_x, hi_y)
    empty = np.empty((0, 0), np.float32)
    if count == 0:
        return 0, empty, empty, np.empty(0)
    raw = np.full((ny + 2, nx + 2), _UNKNOWN, np.float32)
    for k in range(cloud.shape[1]):
        x, y = cloud[0, k], cloud[1, k]
        if x >= lo_x and x <= hi_x and y >= lo_y and y <= hi_y:
            column = int((x - lo_x) / cell) + 1
            row = int((y - lo_y) / cell) + 1
            z = np.float32(cloud[2, k])
            if z > raw[row, column]:
                raw[row, column] = z
    grown = dilate_disk(raw, half_widths)
    filled = dilate_square(raw, fill_half)
    fill = np.float32(fallback)
    table = np.empty((ny + 2) * (nx + 2))
    for y in range(ny + 2):
        for x in range(nx + 2):
            g = grown[y, x]
            if not g > _KNOWN:
                g = filled[y, x]
                if not g > _KNOWN:
                    g = fill
                grown[y, x] = g
            border = y == 0 or x == 0 or y == ny + 1 or x == nx + 1
            table[y * (nx + 2) + x] = fallback if border else np.float64(g)
            if not raw[y, x] > _KNOWN:
                raw[y, x] = np.nan
    return count, raw, grown, table


@inner
def height_at(table: HeightTable, x: float, y: float) -> float:
    """The height under one point, finite or not: its cell index clamped into the border.

    A NaN or huge coordinate lands in the border (NumPy's cast gives it some integer that the
    clip then sends there), which holds the fallback height either way.
    """
    rows, cols, cell = table.rows, table.cols, table.cell
    column = np.floor((x - table.origin_x) / cell) + 1.0  # np.floor: a float, also for NaN and huge values
    row = np.floor((y - table.origin_y) / cell) + 1.0
    c = int(column) if 0.0 <= column <= cols - 1 else (cols - 1 if column > cols - 1 else 0)
    r = int(row) if 0.0 <= row <= rows - 1 else (rows - 1 if row > rows - 1 else 0)
    height: float = table.heights[r * cols + c]
    return height


@jit
def heights_at(table: HeightTable, xy: np.ndarray) -> np.ndarray:
    """:func:`height_at` of points given as coordinate rows (2 or more, N): x, y (and anything else)."""
    n = xy.shape[1]
    out = np.empty(n)
    for k in range(n):
        out[k] = height_at(table, xy[0, k], xy[1, k])
    return out
