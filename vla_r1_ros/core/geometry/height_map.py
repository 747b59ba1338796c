"""The height map a lifted path keeps its clearance above: the highest observed surface per cell of an xy grid."""

from __future__ import annotations

import math
from dataclasses import InitVar, dataclass, field
from functools import lru_cache

import numpy as np
from numpy.typing import ArrayLike

from vla_r1_ros.core.geometry.kernels.height_grid import HeightTable, count_inside, height_grid
from vla_r1_ros.core.geometry.settings import TrajectorySettings

__all__ = ["HeightMap", "build_height_map"]


@dataclass(frozen=True, eq=False)
class HeightMap:
    """Highest observed surface per cell of a base-frame xy grid, grown by the gripper footprint.

    Cells never observed take the highest surface within ``fill_radius`` (occlusion shadows
    behind objects), and anything farther from every observation takes the highest observed
    surface in the frame: unknown space is assumed to be as tall as the tallest thing seen.
    ``table`` is the grid as the compiled kernels read it (``grown`` with a border of
    ``fallback``); a builder that has it already passes it as ``bordered``.
    """

    origin: tuple[float, float]
    cell: float
    raw: np.ndarray  # (ny, nx) float32, NaN where unobserved
    grown: np.ndarray  # (ny, nx) float32, footprint-dilated and filled
    fallback: float
    bordered: InitVar[np.ndarray | None] = None
    table: HeightTable = field(init=False, repr=False)

    def __post_init__(self, bordered: np.ndarray | None) -> None:
        if bordered is None:
            ny, nx = self.grown.shape
            bordered = np.full((ny + 2, nx + 2), self.fallback)
            bordered[1:-1, 1:-1] = self.grown
        bordered.flags.writeable = False
        rows, cols = bordered.shape
        origin_x, origin_y = float(self.origin[0]), float(self.origin[1])
        table = HeightTable(bordered.reshape(-1), rows, cols, origin_x, origin_y, float(self.cell))
        object.__setattr__(self, "table", table)  # a frozen dataclass sets its derived field this way

    def height_at(self, x: float, y: float) -> float:
        """The surface height under the gripper footprint at one base-frame point (``fallback`` off the grid).

        On Python floats: for a handful of points this costs less than a compiled call.
        """
        table = self.table
        column = min(max(math.floor((x - table.origin_x) / table.cell) + 1, 0), table.cols - 1)
        row = min(max(math.floor((y - table.origin_y) / table.cell) + 1, 0), table.rows - 1)
        return float(table.heights[row * table.cols + column])


def build_height_map(
    cloud: np.ndarray, highest: float, config: TrajectorySettings, region: tuple[ArrayLike, ArrayLike] | None = None
) -> HeightMap:
    """The height map of a base-frame cloud (3, N; NaN columns are gaps) over the xy ``region`` (lo, hi), or all of it.

    ``highest``: the cloud's highest z (NaN when it has no point), which every cell off the grid
    reads. A region keeps the grid small (a camera sees metres of table; a path needs decimetres).
    """
    cell = config.height_cell
    if math.isnan(highest):
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
    if not all(map(math.isfinite, bounds)) and count_inside(cloud, *bounds) == 0:
        # An unbounded region (an absurd model depth) has no grid size; without a point in
        # it the map is empty as for any other region (with points, the size below raises).
        return _empty_height_map(lo_x, lo_y, cell, highest)
    nx, ny = (math.ceil((hi - lo) / cell) + 1 for lo, hi in ((lo_x, hi_x), (lo_y, hi_y)))
    if nx * ny > 4_000_000:  # a frame seeing very far: coarsen rather than run out of memory
        cell = float(cell * math.sqrt(nx * ny / 4_000_000.0))
        nx, ny = (math.ceil((hi - lo) / cell) + 1 for lo, hi in ((lo_x, hi_x), (lo_y, hi_y)))
    # +1.5 cells: a point and an obstacle within the footprint can sit in cells whose centres
    # are up to sqrt(2) cells farther apart than they are. Filling unknown cells only needs
    # to be conservative, not round: a square.
    fill_half = math.ceil((config.footprint_radius + config.fill_radius) / cell + 1.5)
    count, raw, grown, table = height_grid(
        cloud, *bounds, cell, nx, ny, disk_half_widths(config.footprint_radius / cell + 1.5), fill_half, highest
    )
    if count == 0:
        return _empty_height_map(lo_x, lo_y, cell, highest)
    # The grids carry the lookup table's one-cell border (the dilations saw it as unobserved).
    raw, grown = raw[1:-1, 1:-1], grown[1:-1, 1:-1]
    for array in (raw, grown):
        array.flags.writeable = False
    return HeightMap((lo_x, lo_y), cell, raw, grown, highest, table.reshape(ny + 2, nx + 2))


def _empty_height_map(lo_x: float, lo_y: float, cell: float, fallback: float) -> HeightMap:
    """No observation in the region: every query reads the highest surface in the frame."""
    grown: np.ndarray = np.full((1, 1), fallback, np.float32)
    unobserved = np.full((1, 1), np.nan, np.float32)
    return HeightMap((lo_x, lo_y), cell, unobserved, grown, fallback)


@lru_cache(maxsize=16)
def disk(radius_cells: float) -> np.ndarray:
    """Disk-shaped dilation kernel (cached: it depends only on the configuration)."""
    r = max(0, math.floor(radius_cells + 1e-9))  # the rows and columns that can hold a cell of the disk
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    kernel: np.ndarray = ((xx * xx + yy * yy) <= radius_cells * radius_cells + 1e-9).astype(np.uint8)
    kernel.flags.writeable = False
    return kernel


@lru_cache(maxsize=16)
def disk_half_widths(radius_cells: float) -> np.ndarray:
    """Half the width of each row of :func:`disk` (its rows are centred runs of ones; a constant)."""
    widths: np.ndarray = disk(radius_cells).sum(axis=1).astype(np.int64) // 2
    widths.flags.writeable = False
    return widths
