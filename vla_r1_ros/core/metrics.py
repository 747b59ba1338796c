"""Geometric measures shared by the rewards (training) and the paper's metrics (evaluation).

Everything here is vectorised NumPy over batches of pairs; trajectories of different lengths are
padded internally. The discrete Fréchet dynamic program is one vectorised sweep over anti-diagonals per chunk of
pairs, without recursion; memory is bounded by chunking the padded cost tensor.

Boxes are corner arrays ``[..., 4] = (x_min, y_min, x_max, y_max)``; trajectories are
``(n_points, 2)`` arrays. The plain distances (:func:`frechet_batch`, :func:`dtw_batch`,
:func:`hausdorff`, :func:`resample_by_arc_length`, :func:`rmse_aligned`) take points of any
dimension ``(n_points, d)``, e.g. 3-D tool paths; the reward's oriented Fréchet is 2-D only.
Units are the caller's: the rewards use normalised [0, 1] coordinates, the paper's metrics the
[0, 1000) scale (:data:`PAPER_SCALE`).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, Protocol

import numba
import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "EPS",
    "PAPER_SCALE",
    "box_iou_giou",
    "TrajectoryFeatures",
    "trajectory_features",
    "oriented_frechet_batch",
    "frechet_batch",
    "dtw_batch",
    "hausdorff",
    "resample_by_arc_length",
    "rmse_aligned",
    "TrajectoryMetrics",
    "trajectory_metrics",
]

FloatArray = NDArray[np.float64]
#: One trajectory: an (n, 2) array or a sequence of (x, y) pairs ((n, d) where a function says so).
Trajectory = NDArray[np.float64] | Sequence[Sequence[float]]

#: The release's epsilon for "zero" vectors and lengths.
EPS = 1e-12
#: The paper reports trajectory errors with waypoints scaled to [0, 1000).
PAPER_SCALE = 1000.0


def _area(x_min: FloatArray, y_min: FloatArray, x_max: FloatArray, y_max: FloatArray) -> FloatArray:
    return np.maximum(0.0, x_max - x_min) * np.maximum(0.0, y_max - y_min)


def box_iou_giou(boxes_a: ArrayLike, boxes_b: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """IoU and generalised IoU of corner boxes, broadcast over leading dimensions.

    Degenerate cases follow the VLA-R1 release: IoU is 0 when the union has no area, the
    enclosing area falls back to 1e-12 when it is 0, the union is floored at 1e-12, and GIoU is
    clipped to [-1, 1].
    """
    a = np.asarray(boxes_a, dtype=np.float64)
    b = np.asarray(boxes_b, dtype=np.float64)
    ax0, ay0, ax1, ay1 = np.moveaxis(a, -1, 0)
    bx0, by0, bx1, by1 = np.moveaxis(b, -1, 0)
    inter = _area(np.maximum(ax0, bx0), np.maximum(ay0, by0), np.minimum(ax1, bx1), np.minimum(ay1, by1))
    area_sum = _area(ax0, ay0, ax1, ay1) + _area(bx0, by0, bx1, by1)
    denominator = area_sum - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where(denominator > 0.0, inter / np.where(denominator > 0.0, denominator, 1.0), 0.0)
    enclosing = _area(np.minimum(ax0, bx0), np.minimum(ay0, by0), np.maximum(ax1, bx1), np.maximum(ay1, by1))
    enclosing = np.where(enclosing == 0.0, EPS, enclosing)
    union = np.maximum(EPS, denominator)
    giou = np.clip(iou - (enclosing - union) / enclosing, -1.0, 1.0)
    return np.asarray(iou, dtype=np.float64), np.asarray(giou, dtype=np.float64)


# --------------------------------------------------------------------------------------------
# Trajectories
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrajectoryFeatures:
    """A padded batch of trajectories with the reward's per-point tangent and length.

    Every array is (L, B): point index first, trajectory index on the contiguous last axis, so
    that (M, N, B) cost grids broadcast without copies. Each trajectory is padded by repeating
    its last point; ``counts`` holds the true lengths, and the tangents and lengths are defined
    for the first ``counts[b]`` points of trajectory b.
    """

    counts: NDArray[np.int64]
    x: FloatArray
    y: FloatArray
    tangent_x: FloatArray
    tangent_y: FloatArray
    length: FloatArray


def _flatten(
    trajectories: Sequence[Trajectory], counts: NDArray[np.int64] | None = None, dim: int | None = 2
) -> tuple[FloatArray, NDArray[np.int64], NDArray[np.int64]]:
    """All points of a batch in one (N, d) array, each trajectory's point count and first index.

    ``dim``: the required point dimension, or None for any one dimension shared by the batch.
    """
    if counts is None:
        counts = np.fromiter((len(t) for t in trajectories), dtype=np.int64, count=len(trajectories))
    if len(counts) == 0:
        return np.zeros((0, dim or 2)), counts, counts
    if counts.min() < 1:
        raise ValueError("every trajectory needs at least one point")
    what = "(x, y) points" if dim == 2 else "points of one dimension"
    try:
        flat = np.asarray(np.concatenate(trajectories), dtype=np.float64)
    except ValueError:  # trajectories whose points differ in dimension
        raise ValueError(f"trajectories must be sequences of {what}") from None
    if flat.ndim != 2 or (dim is not None and flat.shape[1] != dim) or flat.shape[1] < 1 or len(flat) != counts.sum():
        raise ValueError(f"trajectories must be sequences of {what}")
    return flat, counts, np.cumsum(counts) - counts


def _padding_index(counts: NDArray[np.int64], starts: NDArray[np.int64]) -> NDArray[np.int64]:
    """(L, B) indices into the flat points that lay a batch out padded by its last points."""
    if len(counts) == 0:
        return np.zeros((1, 0), dtype=np.int64)
    return np.minimum(np.arange(int(counts.max()))[:, None], counts[None, :] - 1) + starts[None, :]


def _pad_columns(
    trajectories: Sequence[Trajectory], counts: NDArray[np.int64] | None = None
) -> tuple[tuple[FloatArray, ...], NDArray[np.int64]]:
    """(L, B) columns of a batch, one per coordinate, each trajectory padded with its last point."""
    flat, counts, starts = _flatten(trajectories, counts, dim=None)
    index = _padding_index(counts, starts)
    return tuple(flat[:, axis][index] for axis in range(flat.shape[1])), counts


def trajectory_features(
    trajectories: Sequence[Trajectory], counts: NDArray[np.int64] | None = None
) -> TrajectoryFeatures:
    """Tangents and lengths per point, exactly as the VLA-R1 release defines them.

    Tangent: the unit direction of the first segment at the first point, of the last segment at
    the last point, and in between the normalised sum of the unit directions of the two adjacent
    segments (the incoming direction when that sum is ~0). A single point has a zero tangent.
    Length: the distance to the next point (to the previous one for the last point).
    ``counts``: the trajectories' lengths, when the caller already has them.
    """
    flat, counts, starts = _flatten(trajectories, counts)
    # Computed on the flat points (no padding work); segments across two trajectories are
    # garbage but only ever read at points where the rules below replace them.
    x, y = flat[:, 0], flat[:, 1]
    dx, dy = x[1:] - x[:-1], y[1:] - y[:-1]  # segment k joins points k and k+1
    segment = np.hypot(dx, dy)
    zero = segment < EPS
    segment_safe = np.where(zero, 1.0, segment)
    ux, uy = dx / segment_safe, dy / segment_safe
    ux[zero] = 0.0
    uy[zero] = 0.0
    total = len(x)
    tangent_x, tangent_y, length = np.empty(total), np.empty(total), np.empty(total)
    # Interior points: the normalised sum of the incoming (k-1) and outgoing (k) unit vectors.
    sum_x, sum_y = ux[:-1] + ux[1:], uy[:-1] + uy[1:]
    sum_norm = np.hypot(sum_x, sum_y)
    usable = sum_norm >= EPS
    sum_norm[~usable] = 1.0
    tangent_x[1:-1] = np.where(usable, sum_x / sum_norm, ux[:-1])
    tangent_y[1:-1] = np.where(usable, sum_y / sum_norm, uy[:-1])
    length[:-1] = segment
    # First points look along their first segment, last points back along their last one.
    first, last = starts, starts + counts - 1
    several = counts > 1
    heads, ends = first[several], last[several]
    tangent_x[heads], tangent_y[heads] = ux[heads], uy[heads]
    tangent_x[ends], tangent_y[ends] = ux[ends - 1], uy[ends - 1]
    length[ends] = segment[ends - 1]
    single = first[~several]
    tangent_x[single] = tangent_y[single] = length[single] = 0.0
    index = _padding_index(counts, starts)
    return TrajectoryFeatures(counts, x[index], y[index], tangent_x[index], tangent_y[index], length[index])


class _CostModel(Protocol):
    """Per-point inputs of a cell cost, as (L, B) columns with the pairs on the last axis."""

    def fill(self, pairs: slice, out: FloatArray, scratch: tuple[FloatArray, FloatArray]) -> None:
        """Write out[i, j, k] = cost of reference point i against candidate point j of pair
        ``pairs.start + k``. ``out`` is (M, N, count) for the pairs' largest lengths M, N (cells
        beyond a pair's own lengths may hold anything finite); ``scratch`` is two arrays of
        out's shape."""
        ...


#: Builds the cost model of a batch with its pairs permuted into ``order`` (group order).
ModelFactory = Callable[[NDArray[np.intp]], _CostModel]


#: Cells of one padded cost grid (8 bytes each).
_MAX_CELLS_PER_GRID = 4_000_000
#: Pairs are grouped by size so that padding wastes little work; groups below this size cost
#: more in per-call overhead than they save.
_MIN_GROUP = 48
#: Batches with at least this many grid cells are split across the cores (one thread each).
_PARALLEL_CELLS = 200_000
_WORKERS = max(1, min(2, os.cpu_count() or 1))
_POOL: tuple[int, ThreadPoolExecutor] | None = None
_POOL_LOCK = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    """The worker threads of this process (a forked child gets its own: threads do not survive fork)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None or _POOL[0] != os.getpid():
            _POOL = (os.getpid(), ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="frechet"))
        return _POOL[1]


def _size_groups(rows: NDArray[np.int64], cols: NDArray[np.int64]) -> list[NDArray[np.intp]]:
    """Pair indices grouped by (reference length, candidate length), rows ascending."""
    splits = max(1, int(np.sqrt(len(rows) / _MIN_GROUP)))
    groups: list[NDArray[np.intp]] = []
    for by_rows in np.array_split(np.argsort(rows, kind="stable"), splits):
        by_both = by_rows[np.argsort(cols[by_rows], kind="stable")]
        groups.extend(group for group in np.array_split(by_both, splits) if group.size)
    return groups


def _coupling_dp(
    rows: NDArray[np.int64], cols: NDArray[np.int64], make_model: ModelFactory, combine: np.ufunc = np.maximum
) -> FloatArray:
    """Coupling value ``C(m-1, n-1)`` for every pair of a batch: discrete Fréchet or DTW.

    C(i, j) = combine(cost(i, j), min(C(i-1, j), C(i-1, j-1), C(i, j-1))), with ``combine``
    np.maximum (discrete Fréchet: the worst cell of the best coupling) or np.add (dynamic time
    warping: the cheapest sum). Pairs are sorted into groups of similar size and share grids with
    a border row and column of +inf (and in the corner the identity of ``combine``, -inf or 0, so
    that C(0, 0) = cost(0, 0)), pairs on the last, contiguous axis. Costs are filled
    group by group (little padding); the sweep runs once per grid, where an anti-diagonal and its
    three neighbours are strided views: three in-place NumPy operations per diagonal, no
    recursion, no Python loop over cells. Cells beyond a pair's own lengths never feed its answer.
    """
    result = np.empty(len(rows), dtype=np.float64)
    if len(rows) == 0:
        return result
    groups = _size_groups(rows, cols)
    order = np.concatenate(groups)
    model = make_model(order)  # built in group order: each group is a contiguous run of pairs
    rows, cols = rows[order], cols[order]
    bounds = [0, *np.cumsum([g.size for g in groups]).tolist()]
    heights = [int(rows[a:b].max()) for a, b in pairwise(bounds)]
    widths = [int(cols[a:b].max()) for a, b in pairwise(bounds)]
    # Consecutive groups share a grid while it fits the cell budget. A large batch is first cut
    # into one part per core (balanced by cells), since NumPy releases the GIL inside its loops.
    cells = [(h + 1) * (w + 1) * (b - a) for h, w, (a, b) in zip(heights, widths, pairwise(bounds))]
    workers = _WORKERS if sum(cells) >= _PARALLEL_CELLS else 1
    cumulative = np.cumsum(cells)
    shares = (int(np.searchsorted(cumulative, cumulative[-1] * k / workers)) + 1 for k in range(1, workers))
    cuts = [0, *shares, len(groups)]
    runs: list[tuple[int, int]] = []
    for part_first, part_end in pairwise(sorted(set(cuts))):
        first = part_first
        while first < part_end:
            last, height, width = first, heights[first], widths[first]
            while last + 1 < part_end:
                h, w = max(height, heights[last + 1]), max(width, widths[last + 1])
                if (h + 1) * (w + 1) * (bounds[last + 2] - bounds[first]) > _MAX_CELLS_PER_GRID:
                    break
                last, height, width = last + 1, h, w
            runs.append((first, last))
            first = last + 1
    values = np.empty(len(rows))

    def solve(run: tuple[int, int]) -> None:
        first, last = run
        start, stop = bounds[first], bounds[last + 1]
        height, width = max(heights[first : last + 1]), max(widths[first : last + 1])
        grid = np.zeros((height + 1, width + 1, stop - start), dtype=np.float64)
        grid[0, :, :] = np.inf
        grid[:, 0, :] = np.inf
        grid[0, 0, :] = -np.inf if combine is np.maximum else 0.0
        largest = max(heights[g] * widths[g] * (bounds[g + 1] - bounds[g]) for g in range(first, last + 1))
        scratch_a, scratch_b = np.empty(largest), np.empty(largest)
        for group in range(first, last + 1):
            a, b, h, w = bounds[group], bounds[group + 1], heights[group], widths[group]
            size = h * w * (b - a)
            scratch = (scratch_a[:size].reshape(h, w, b - a), scratch_b[:size].reshape(h, w, b - a))
            model.fill(slice(a, b), grid[1 : h + 1, 1 : w + 1, a - start : b - start], scratch)
        _sweep_anti_diagonals(grid, combine)
        values[start:stop] = grid[rows[start:stop], cols[start:stop], np.arange(stop - start)]

    if workers > 1 and len(runs) > 1:
        list(_pool().map(solve, runs))
    else:
        for run in runs:
            solve(run)
    result[order] = values
    return result


def _sweep_anti_diagonals(grid: FloatArray, combine: np.ufunc) -> None:
    _sweep(grid, combine is np.add)


@numba.njit(cache=True, nogil=True)
def _sweep(grid: FloatArray, add: bool) -> None:  # pragma: no cover - compiled
    """The coupling recurrence over a padded (height + 1, width + 1, batch) grid, in place.

    Compiled: the pure NumPy sweep spent its time in per-diagonal call overhead (three ufunc calls
    on short strided views per anti-diagonal), which capped it near 20x the pure-Python program;
    the pairs on the last axis keep the inner loop contiguous. Releases the GIL (``nogil``), so the
    thread pool still splits a large batch over the cores.
    """
    height, width, batch = grid.shape[0] - 1, grid.shape[1] - 1, grid.shape[2]
    for i in range(1, height + 1):
        for j in range(1, width + 1):
            for b in range(batch):
                best = min(grid[i - 1, j, b], grid[i, j - 1, b], grid[i - 1, j - 1, b])
                here = grid[i, j, b]
                grid[i, j, b] = here + best if add else max(here, best)


@dataclass(frozen=True)
class _OrientedCost:
    """The release's cell cost, with both trajectories' per-point inputs as (L, B) columns.

    ``log_length`` and ``log_length_eps`` are already multiplied by lambda_ratio.
    """

    lambda_theta: float
    reference: dict[str, NDArray[Any]]
    candidate: dict[str, NDArray[Any]]

    @staticmethod
    def columns(features: TrajectoryFeatures, lambda_ratio: float) -> dict[str, NDArray[Any]]:
        tangent_norm = np.hypot(features.tangent_x, features.tangent_y)
        short = features.length <= EPS
        flat = tangent_norm < EPS
        # Padding rows never feed a pair's answer; mark them regular (unit norm, not short) so
        # that the masked branches of the cost only run for batches that really need them.
        padding = np.arange(len(features.x))[:, None] >= features.counts[None, :]
        tangent_norm[padding] = 1.0
        short[padding] = False
        flat[padding] = False
        return {
            "x": features.x,
            "y": features.y,
            "tangent_x": features.tangent_x,
            "tangent_y": features.tangent_y,
            "tangent_norm": tangent_norm,
            "flat_tangent": flat,
            "short": short,
            "log_length": lambda_ratio * np.log(np.where(short | padding, 1.0, features.length)),
            "log_length_eps": lambda_ratio * np.log(features.length + EPS),
        }

    def fill(self, pairs: slice, out: FloatArray, scratch: tuple[FloatArray, FloatArray]) -> None:
        height, width = out.shape[:2]

        def outer(name: str) -> tuple[NDArray[Any], NDArray[Any]]:
            return self.reference[name][:height, None, pairs], self.candidate[name][None, :width, pairs]

        work, other = scratch
        (px, qx), (py, qy) = outer("x"), outer("y")
        np.subtract(px, qx, out=work)
        np.multiply(work, work, out=work)
        np.subtract(py, qy, out=other)
        np.multiply(other, other, out=other)
        work += other
        np.sqrt(work, out=out)
        # The release divides the tangents' dot product by the product of their norms (angle 0
        # if either is ~0); the same operations in the same order keep every bit.
        (ptx, qtx), (pty, qty), (p_norm, q_norm) = outer("tangent_x"), outer("tangent_y"), outer("tangent_norm")
        np.multiply(ptx, qtx, out=work)
        np.multiply(pty, qty, out=other)
        work += other
        np.multiply(p_norm, q_norm, out=other)
        p_flat, q_flat = outer("flat_tangent")
        degenerate = p_flat | q_flat if p_flat.any() or q_flat.any() else None
        if degenerate is not None:
            other[degenerate] = 1.0
        work /= other
        np.clip(work, -1.0, 1.0, out=work)
        np.arccos(work, out=work)
        if degenerate is not None:
            work[degenerate] = 0.0
        work *= self.lambda_theta
        out += work
        # lambda_ratio * |ln(l_i / l_j)| as |lambda_ratio ln l_i - lambda_ratio ln l_j| when both
        # lengths exceed 1e-12, else the release's (l + 1e-12) form; equal to ~1 ulp.
        p_log, q_log = outer("log_length")
        np.subtract(p_log, q_log, out=work)
        p_short, q_short = outer("short")
        if p_short.any() or q_short.any():
            short = p_short | q_short
            p_eps, q_eps = outer("log_length_eps")
            work[short] = np.broadcast_to(p_eps - q_eps, work.shape)[short]
        np.abs(work, out=work)
        out += work


@dataclass(frozen=True)
class _EuclideanCost:
    """Point distances over any number of coordinates (one (L, B) column each).

    Squared unless ``root``: max/min commute with the square root, so Fréchet takes it once per
    pair at the end; sums do not, so DTW needs the distances themselves.
    """

    reference: tuple[FloatArray, ...]
    candidate: tuple[FloatArray, ...]
    root: bool = False

    def fill(self, pairs: slice, out: FloatArray, scratch: tuple[FloatArray, FloatArray]) -> None:
        height, width = out.shape[:2]
        work = scratch[0]
        for axis, (p, q) in enumerate(zip(self.reference, self.candidate)):
            target = out if axis == 0 else work
            np.subtract(p[:height, None, pairs], q[None, :width, pairs], out=target)
            np.multiply(target, target, out=target)
            if axis:
                out += work
        if self.root:
            np.sqrt(out, out=out)


def oriented_frechet_batch(
    reference: Sequence[Trajectory],
    candidate: Sequence[Trajectory],
    lambda_theta: float = 0.25,
    lambda_ratio: float = 0.10,
) -> FloatArray:
    """The release's orientation- and length-aware discrete Fréchet distance, per pair.

    cost(i, j) = |P_i - Q_j| + lambda_theta * angle(t_i, t_j) + lambda_ratio * |ln(l_i / l_j)|,
    with the angle 0 when either tangent is zero and (l + 1e-12) in the ratio when either
    length is below 1e-12. ``reference`` is P (ground truth), ``candidate`` Q (prediction).
    """
    if len(reference) != len(candidate):
        raise ValueError(f"{len(reference)} reference trajectories but {len(candidate)} candidates")
    rows, cols = _lengths(reference), _lengths(candidate)

    def make_model(order: NDArray[np.intp]) -> _CostModel:
        # One feature pass over both sides, already in group order: half the NumPy calls of two
        # passes, and no permutation of the columns afterwards.
        ordered = [reference[i] for i in order.tolist()] + [candidate[i] for i in order.tolist()]
        counts = np.concatenate([rows[order], cols[order]])
        both = _OrientedCost.columns(trajectory_features(ordered, counts), lambda_ratio)
        count = len(order)
        return _OrientedCost(
            lambda_theta,
            {name: column[:, :count] for name, column in both.items()},
            {name: column[:, count:] for name, column in both.items()},
        )

    return _coupling_dp(rows, cols, make_model)


def _lengths(trajectories: Sequence[Trajectory]) -> NDArray[np.int64]:
    counts = np.fromiter((len(t) for t in trajectories), dtype=np.int64, count=len(trajectories))
    if len(counts) and counts.min() < 1:
        raise ValueError("every trajectory needs at least one point")
    return counts


def _euclidean_dp(
    reference: Sequence[Trajectory], candidate: Sequence[Trajectory], combine: np.ufunc
) -> FloatArray:
    """The coupling value of every pair under Euclidean point distances (squared for max)."""
    if len(reference) != len(candidate):
        raise ValueError(f"{len(reference)} reference trajectories but {len(candidate)} candidates")
    points_a, counts_a, starts_a = _flatten(reference, None, dim=None)
    points_b, counts_b, starts_b = _flatten(candidate, None, dim=None)
    if len(counts_a) and points_a.shape[1] != points_b.shape[1]:
        raise ValueError(f"trajectories of {points_a.shape[1]} and {points_b.shape[1]} dimensions cannot be compared")
    out = np.empty(len(counts_a), dtype=np.float64)
    if len(out):
        _couple_pairs(points_a, starts_a, counts_a, points_b, starts_b, counts_b, combine is np.add, out)
    return out


@numba.njit(cache=True, nogil=True)
def _couple_pairs(  # pragma: no cover - compiled
    points_a: FloatArray,
    starts_a: NDArray[np.int64],
    counts_a: NDArray[np.int64],
    points_b: FloatArray,
    starts_b: NDArray[np.int64],
    counts_b: NDArray[np.int64],
    add: bool,
    out: FloatArray,
) -> None:
    """C(m-1, n-1) of each pair, straight from the flat points: one row of the grid at a time.

    Plain Euclidean costs need no per-point features, so the whole recurrence (costs included)
    runs compiled pair by pair; squared distances for max (the square root commutes with it),
    distances for sums.
    """
    dim = points_a.shape[1]
    row = np.empty(int(counts_b.max()) + 1)
    for p in range(len(counts_a)):
        a0, n, b0, m = starts_a[p], counts_a[p], starts_b[p], counts_b[p]
        row[0] = -np.inf if not add else 0.0
        for j in range(1, m + 1):
            row[j] = np.inf
        for i in range(n):
            diagonal = row[0]
            row[0] = np.inf
            for j in range(1, m + 1):
                cost = 0.0
                for d in range(dim):
                    delta = points_a[a0 + i, d] - points_b[b0 + j - 1, d]
                    cost += delta * delta
                if add:
                    cost = np.sqrt(cost)
                best = min(row[j], row[j - 1], diagonal)
                diagonal = row[j]
                row[j] = cost + best if add else max(cost, best)
        out[p] = row[m]


def frechet_batch(reference: Sequence[Trajectory], candidate: Sequence[Trajectory]) -> FloatArray:
    """Plain discrete Fréchet distance (Euclidean cost) per pair of trajectories of (n, d) points.

    Every trajectory of a batch has the same point dimension d (2 for image paths, 3 for tool paths).
    """
    return np.sqrt(_euclidean_dp(reference, candidate, np.maximum))


def dtw_batch(reference: Sequence[Trajectory], candidate: Sequence[Trajectory]) -> FloatArray:
    """Dynamic time warping distance per pair: the least sum of Euclidean point distances over a coupling.

    Same couplings as the discrete Fréchet distance (both ends matched, monotone, steps of one
    point on either or both sides), summed instead of maximised; points are (n, d) as in
    :func:`frechet_batch`. The sum grows with the number of points: compare paths resampled to
    the same count, or divide by it.
    """
    return _euclidean_dp(reference, candidate, np.add)


def _point_rows(points: ArrayLike) -> FloatArray:
    """(n, d) points as given; any other shape (flat, empty, nested) read as (x, y) pairs, as before."""
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2:
        return pts.reshape(-1, 2)
    if pts.shape[1] < 1:
        raise ValueError(f"points must be an (n, d) array with d >= 1, got shape {pts.shape}")
    return pts


def _same_dimension(pa: FloatArray, pb: FloatArray, what: str) -> None:
    if pa.shape[1] != pb.shape[1]:
        raise ValueError(f"{what} needs points of one dimension, got {pa.shape[1]}-D and {pb.shape[1]}-D")


def hausdorff(a: ArrayLike, b: ArrayLike, chunk_cells: int = 4_000_000) -> float:
    """Symmetric Hausdorff distance between two point sets of (n, d) points, in bounded memory."""
    pa, pb = _point_rows(a), _point_rows(b)
    if len(pa) == 0 or len(pb) == 0:
        raise ValueError("Hausdorff distance needs two non-empty point sets")
    _same_dimension(pa, pb, "Hausdorff distance")
    return max(_directed_hausdorff(pa, pb, chunk_cells), _directed_hausdorff(pb, pa, chunk_cells))


def _directed_hausdorff(pa: FloatArray, pb: FloatArray, chunk_cells: int) -> float:
    rows = max(1, chunk_cells // len(pb))
    worst_squared = 0.0
    for start in range(0, len(pa), rows):
        d = pa[start : start + rows, 0, None] - pb[None, :, 0]
        squared = d * d
        for axis in range(1, pa.shape[1]):
            d = pa[start : start + rows, axis, None] - pb[None, :, axis]
            squared += d * d
        worst_squared = max(worst_squared, float(squared.min(axis=1).max()))
    return float(np.sqrt(worst_squared))


def resample_by_arc_length(points: ArrayLike, count: int) -> FloatArray:
    """``count`` points evenly spaced along the polyline's arc length (ends included), (n, d) points."""
    pts = _point_rows(points)
    if len(pts) == 0 or count < 1:
        raise ValueError("resampling needs at least one point and a positive count")
    if count == 1:
        return pts[:1].copy()
    # Segment lengths as hypot folded over the coordinates (2-D: np.hypot(dx, dy), as always).
    deltas = np.diff(pts, axis=0)
    steps = np.abs(deltas[:, 0]) if pts.shape[1] == 1 else np.hypot(deltas[:, 0], deltas[:, 1])
    for axis in range(2, pts.shape[1]):
        steps = np.hypot(steps, deltas[:, axis])
    travelled = np.concatenate([[0.0], np.cumsum(steps)])
    if travelled[-1] <= 0.0:
        return np.repeat(pts[:1], count, axis=0)
    stations = np.linspace(0.0, travelled[-1], count)
    return np.stack([np.interp(stations, travelled, pts[:, axis]) for axis in range(pts.shape[1])], axis=1)


def rmse_aligned(prediction: ArrayLike, reference: ArrayLike) -> float:
    """Root-mean-square point error after aligning unequal lengths, (n, d) points.

    The paper does not say how it aligns trajectories of different lengths. We resample both
    polylines by arc length to ``max(len(prediction), len(reference))`` points and compare them
    index by index; equal-length inputs are compared as given, without resampling.
    """
    pred, ref = _point_rows(prediction), _point_rows(reference)
    if len(pred) == 0 or len(ref) == 0:
        raise ValueError("RMSE needs two non-empty trajectories")
    _same_dimension(pred, ref, "RMSE")
    if len(pred) != len(ref):
        count = max(len(pred), len(ref))
        pred, ref = resample_by_arc_length(pred, count), resample_by_arc_length(ref, count)
    return float(np.sqrt(np.mean(np.sum((pred - ref) ** 2, axis=1))))


@dataclass(frozen=True)
class TrajectoryMetrics:
    """The paper's trajectory errors for one pair, on the [0, 1000) scale; lower is better."""

    dfd: float
    hd: float
    rmse: float

    @property
    def avg(self) -> float:
        return (self.dfd + self.hd + self.rmse) / 3.0


def trajectory_metrics(prediction: ArrayLike, reference: ArrayLike, scale: float = PAPER_SCALE) -> TrajectoryMetrics:
    """DFD, HD and RMSE of normalised trajectories, reported on ``scale`` (paper: 1000)."""
    pred = np.asarray(prediction, dtype=np.float64).reshape(-1, 2) * scale
    ref = np.asarray(reference, dtype=np.float64).reshape(-1, 2) * scale
    dfd = float(frechet_batch([ref], [pred])[0])
    return TrajectoryMetrics(dfd=dfd, hd=hausdorff(pred, ref), rmse=rmse_aligned(pred, ref))
