"""Geometric measures shared by the rewards (training) and the paper's metrics (evaluation).

Everything here is vectorised NumPy over batches of pairs; trajectories of different lengths are
padded internally. The discrete Fréchet dynamic program is one vectorised sweep over anti-diagonals per chunk of
pairs, without recursion; memory is bounded by chunking the padded cost tensor.

Boxes are corner arrays ``[..., 4] = (x_min, y_min, x_max, y_max)``; trajectories are
``(n_points, 2)`` arrays. Units are the caller's: the rewards use normalised [0, 1] coordinates,
the paper's metrics the [0, 1000) scale (:data:`PAPER_SCALE`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

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
    "hausdorff",
    "resample_by_arc_length",
    "rmse_aligned",
    "TrajectoryMetrics",
    "trajectory_metrics",
]

FloatArray = NDArray[np.float64]
#: One trajectory: an (n, 2) array or a sequence of (x, y) pairs.
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


def _pad_columns(trajectories: Sequence[Trajectory]) -> tuple[FloatArray, FloatArray, NDArray[np.int64]]:
    """(L, B) x and y columns of a batch, each trajectory padded with its last point."""
    counts = np.fromiter((len(t) for t in trajectories), dtype=np.int64, count=len(trajectories))
    if len(counts) == 0:
        return np.zeros((1, 0)), np.zeros((1, 0)), counts
    if counts.min() < 1:
        raise ValueError("every trajectory needs at least one point")
    flat = np.asarray(np.concatenate(trajectories), dtype=np.float64)
    if flat.ndim != 2 or flat.shape[1] != 2 or len(flat) != counts.sum():
        raise ValueError("trajectories must be sequences of (x, y) points")
    starts = np.cumsum(counts) - counts
    index = np.minimum(np.arange(int(counts.max()))[:, None], counts[None, :] - 1) + starts[None, :]
    return flat[index, 0], flat[index, 1], counts


def trajectory_features(trajectories: Sequence[Trajectory]) -> TrajectoryFeatures:
    """Tangents and lengths per point, exactly as the VLA-R1 release defines them.

    Tangent: the unit direction of the first segment at the first point, of the last segment at
    the last point, and in between the normalised sum of the unit directions of the two adjacent
    segments (the incoming direction when that sum is ~0). A single point has a zero tangent.
    Length: the distance to the next point (to the previous one for the last point).
    """
    x, y, counts = _pad_columns(trajectories)
    width, batch = x.shape
    tangent_x, tangent_y, length = np.zeros((width, batch)), np.zeros((width, batch)), np.zeros((width, batch))
    if width == 1:
        return TrajectoryFeatures(counts, x, y, tangent_x, tangent_y, length)
    dx, dy = x[1:] - x[:-1], y[1:] - y[:-1]  # segment i joins points i and i+1
    segment = np.hypot(dx, dy)
    zero = segment < EPS
    safe = np.where(zero, 1.0, segment)
    ux, uy = dx / safe, dy / safe
    ux[zero] = 0.0
    uy[zero] = 0.0
    # Interior points: normalised sum of incoming (segment i-1) and outgoing (segment i) units.
    sum_x, sum_y = ux[:-1] + ux[1:], uy[:-1] + uy[1:]
    sum_norm = np.hypot(sum_x, sum_y)
    usable = sum_norm >= EPS
    sum_norm[~usable] = 1.0
    tangent_x[1:-1] = np.where(usable, sum_x / sum_norm, ux[:-1])
    tangent_y[1:-1] = np.where(usable, sum_y / sum_norm, uy[:-1])
    tangent_x[0], tangent_y[0] = ux[0], uy[0]
    length[:-1] = segment
    # Each trajectory's last point looks back along its last segment.
    ends = np.flatnonzero(counts > 1)
    last = counts[ends] - 1
    tangent_x[last, ends], tangent_y[last, ends] = ux[last - 1, ends], uy[last - 1, ends]
    length[last, ends] = segment[last - 1, ends]
    single = counts == 1
    tangent_x[:, single] = tangent_y[:, single] = length[:, single] = 0.0
    return TrajectoryFeatures(counts, x, y, tangent_x, tangent_y, length)


#: ``fill(pairs, out, scratch)`` writes the cost grid of the batch's pairs ``pairs`` into ``out``,
#: shaped (M, N, len(pairs)) with M, N the largest reference and candidate lengths among them:
#: out[i, j, k] is the cost of matching point i of the reference with point j of the candidate
#: for pair ``pairs[k]`` (cells beyond a pair's own lengths may hold anything finite).
#: ``scratch`` is two work arrays of out's shape.
CostFill = Callable[[NDArray[np.intp], FloatArray, tuple[FloatArray, FloatArray]], None]

#: Cells of one padded cost grid (8 bytes each).
_MAX_CELLS_PER_GRID = 4_000_000
#: Pairs are grouped by size so that padding wastes little work; groups below this size cost
#: more in per-call overhead than they save.
_MIN_GROUP = 48


def _size_groups(rows: NDArray[np.int64], cols: NDArray[np.int64]) -> list[NDArray[np.intp]]:
    """Pair indices grouped by (reference length, candidate length)."""
    splits = max(1, int(np.sqrt(len(rows) / _MIN_GROUP)))
    groups: list[NDArray[np.intp]] = []
    for by_rows in np.array_split(np.argsort(rows, kind="stable"), splits):
        by_both = by_rows[np.argsort(cols[by_rows], kind="stable")]
        groups.extend(group for group in np.array_split(by_both, splits) if group.size)
    return groups


def _frechet_dp(rows: NDArray[np.int64], cols: NDArray[np.int64], fill: CostFill) -> FloatArray:
    """Discrete Fréchet coupling value ``C(m-1, n-1)`` for every pair of a batch.

    C(i, j) = max(cost(i, j), min(C(i-1, j), C(i-1, j-1), C(i, j-1))). The pairs share one grid
    with a border row and column of +inf (and -inf in the corner, so that C(0, 0) = cost(0, 0)),
    pairs on the last, contiguous axis. Costs are filled per group of similar-size pairs (little
    padding); the sweep then runs once over the whole grid, where an anti-diagonal and its three
    neighbours are strided views: three in-place NumPy operations per diagonal, no recursion, no
    Python loop over cells. Cells beyond a pair's own lengths never feed its answer.
    """
    result = np.empty(len(rows), dtype=np.float64)
    if len(rows) == 0:
        return result
    for chunk in _chunk_pairs(rows, cols):
        result[chunk] = _frechet_chunk(rows[chunk], cols[chunk], chunk, fill)
    return result


def _chunk_pairs(rows: NDArray[np.int64], cols: NDArray[np.int64]) -> list[NDArray[np.intp]]:
    """Pairs in size order, cut into runs whose shared padded grid fits the cell budget."""
    order = np.lexsort((cols, rows))
    if (int(rows.max()) + 1) * (int(cols.max()) + 1) * len(rows) <= _MAX_CELLS_PER_GRID:
        return [order]
    chunks, start, width = [], 0, 0
    for position, pair in enumerate(order.tolist()):
        height = int(rows[pair]) + 1  # rows ascend along `order`
        width = max(width, int(cols[pair]) + 1)
        if position > start and height * width * (position + 1 - start) > _MAX_CELLS_PER_GRID:
            chunks.append(order[start:position])
            start, width = position, int(cols[pair]) + 1
    chunks.append(order[start:])
    return chunks


def _frechet_chunk(
    rows: NDArray[np.int64], cols: NDArray[np.int64], pairs: NDArray[np.intp], fill: CostFill
) -> FloatArray:
    height, width, count = int(rows.max()), int(cols.max()), len(rows)
    grid = np.zeros((height + 1, width + 1, count), dtype=np.float64)
    grid[0, :, :] = np.inf
    grid[:, 0, :] = np.inf
    grid[0, 0, :] = -np.inf
    groups = _size_groups(rows, cols)
    # Regroup the grid's pairs so that each size group is one contiguous run of the last axis.
    order = np.concatenate(groups)
    rows, cols, pairs = rows[order], cols[order], pairs[order]
    largest = max(int(rows[g].max()) * int(cols[g].max()) * g.size for g in groups)
    scratch_a, scratch_b = np.empty(largest), np.empty(largest)
    start = 0
    for group in groups:
        stop = start + group.size
        h, w = int(rows[start:stop].max()), int(cols[start:stop].max())
        size = h * w * group.size
        scratch = (scratch_a[:size].reshape(h, w, group.size), scratch_b[:size].reshape(h, w, group.size))
        fill(pairs[start:stop], grid[1 : h + 1, 1 : w + 1, start:stop], scratch)
        start = stop
    _sweep_anti_diagonals(grid)
    values = np.empty(count)
    values[order] = grid[rows, cols, np.arange(count)]
    return values


def _sweep_anti_diagonals(grid: FloatArray) -> None:
    padded_height, padded_width, batch = grid.shape
    height, width = padded_height - 1, padded_width - 1
    cells = grid.reshape(padded_height * padded_width, batch)
    scratch = np.empty((min(height, width), batch))
    step = max(width, 1)
    # Padded cell (r, c) is row r * (width + 1) + c of `cells`; along an anti-diagonal r + c = k
    # the row index moves by `width` per grid row.
    for k in range(2, height + width + 1):
        r_first, r_last = max(1, k - width), min(height, k - 1)
        count = r_last - r_first + 1
        first = r_first * padded_width + (k - r_first)
        span = (count - 1) * step + 1
        best = scratch[:count]
        up, left, up_left = first - padded_width, first - 1, first - padded_width - 1
        np.minimum(cells[up : up + span : step], cells[left : left + span : step], out=best)
        np.minimum(best, cells[up_left : up_left + span : step], out=best)
        here = cells[first : first + span : step]
        np.maximum(best, here, out=here)


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
    p = _CostColumns.of(trajectory_features(reference), lambda_ratio)
    q = _CostColumns.of(trajectory_features(candidate), lambda_ratio)

    def fill(pairs: NDArray[np.intp], out: FloatArray, scratch: tuple[FloatArray, FloatArray]) -> None:
        height, width = out.shape[:2]
        pc, qc = p.take(pairs, height), q.take(pairs, width)
        work, other = scratch
        np.subtract(pc.x[:, None], qc.x[None, :], out=work)
        np.multiply(work, work, out=work)
        np.subtract(pc.y[:, None], qc.y[None, :], out=other)
        np.multiply(other, other, out=other)
        work += other
        np.sqrt(work, out=out)
        # The release divides the tangents' dot product by the product of their norms (angle 0
        # if either is ~0); the same operations in the same order keep every bit.
        np.multiply(pc.tangent_x[:, None], qc.tangent_x[None, :], out=work)
        np.multiply(pc.tangent_y[:, None], qc.tangent_y[None, :], out=other)
        work += other
        np.multiply(pc.tangent_norm[:, None], qc.tangent_norm[None, :], out=other)
        degenerate = None
        if pc.any_flat or qc.any_flat:
            degenerate = pc.flat_tangent[:, None] | qc.flat_tangent[None, :]
            other[degenerate] = 1.0
        work /= other
        np.clip(work, -1.0, 1.0, out=work)
        np.arccos(work, out=work)
        if degenerate is not None:
            work[degenerate] = 0.0
        work *= lambda_theta
        out += work
        # lambda_ratio * |ln(l_i / l_j)| as |lambda_ratio ln l_i - lambda_ratio ln l_j| when both
        # lengths exceed 1e-12, else the release's (l + 1e-12) form; equal to ~1 ulp.
        np.subtract(pc.log_length[:, None], qc.log_length[None, :], out=work)
        if pc.any_short or qc.any_short:
            short = pc.short[:, None] | qc.short[None, :]
            work[short] = np.broadcast_to(pc.log_length_eps[:, None] - qc.log_length_eps[None, :], work.shape)[short]
        np.abs(work, out=work)
        out += work

    return _frechet_dp(p.counts, q.counts, fill)


@dataclass(frozen=True)
class _CostColumns:
    """The (L, B) per-point inputs of the oriented cost, precomputed once per batch.

    ``log_length`` and ``log_length_eps`` are already multiplied by lambda_ratio.
    """

    counts: NDArray[np.int64]
    x: FloatArray
    y: FloatArray
    tangent_x: FloatArray
    tangent_y: FloatArray
    tangent_norm: FloatArray
    flat_tangent: NDArray[np.bool_]
    short: NDArray[np.bool_]
    log_length: FloatArray
    log_length_eps: FloatArray
    any_flat: bool = False
    any_short: bool = False

    @classmethod
    def of(cls, features: TrajectoryFeatures, lambda_ratio: float) -> _CostColumns:
        tangent_norm = np.hypot(features.tangent_x, features.tangent_y)
        short = features.length <= EPS
        return cls(
            counts=features.counts,
            x=features.x,
            y=features.y,
            tangent_x=features.tangent_x,
            tangent_y=features.tangent_y,
            tangent_norm=tangent_norm,
            flat_tangent=tangent_norm < EPS,
            short=short,
            log_length=lambda_ratio * np.log(np.where(short, 1.0, features.length)),
            log_length_eps=lambda_ratio * np.log(features.length + EPS),
        )

    def take(self, pairs: NDArray[np.intp], points: int) -> _CostColumns:
        """The first ``points`` rows of the given pairs' columns."""

        def sub(column: NDArray[Any]) -> NDArray[Any]:
            return column[:points, pairs]

        flat, short = sub(self.flat_tangent), sub(self.short)
        return _CostColumns(
            counts=self.counts[pairs],
            x=sub(self.x),
            y=sub(self.y),
            tangent_x=sub(self.tangent_x),
            tangent_y=sub(self.tangent_y),
            tangent_norm=sub(self.tangent_norm),
            flat_tangent=flat,
            short=short,
            log_length=sub(self.log_length),
            log_length_eps=sub(self.log_length_eps),
            any_flat=bool(flat.any()),
            any_short=bool(short.any()),
        )


def frechet_batch(reference: Sequence[Trajectory], candidate: Sequence[Trajectory]) -> FloatArray:
    """Plain discrete Fréchet distance (Euclidean cost) per pair of trajectories."""
    if len(reference) != len(candidate):
        raise ValueError(f"{len(reference)} reference trajectories but {len(candidate)} candidates")
    px, py, p_counts = _pad_columns(reference)
    qx, qy, q_counts = _pad_columns(candidate)

    def fill(pairs: NDArray[np.intp], out: FloatArray, scratch: tuple[FloatArray, FloatArray]) -> None:
        height, width = out.shape[:2]
        work = scratch[0]
        # Squared distances: max/min commute with the square root, taken once per pair below.
        np.subtract(px[:height, pairs][:, None], qx[:width, pairs][None, :], out=out)
        np.multiply(out, out, out=out)
        np.subtract(py[:height, pairs][:, None], qy[:width, pairs][None, :], out=work)
        np.multiply(work, work, out=work)
        out += work

    return np.sqrt(_frechet_dp(p_counts, q_counts, fill))


def hausdorff(a: ArrayLike, b: ArrayLike, chunk_cells: int = 4_000_000) -> float:
    """Symmetric Hausdorff distance between two point sets, in bounded memory."""
    pa = np.asarray(a, dtype=np.float64).reshape(-1, 2)
    pb = np.asarray(b, dtype=np.float64).reshape(-1, 2)
    if len(pa) == 0 or len(pb) == 0:
        raise ValueError("Hausdorff distance needs two non-empty point sets")
    return max(_directed_hausdorff(pa, pb, chunk_cells), _directed_hausdorff(pb, pa, chunk_cells))


def _directed_hausdorff(pa: FloatArray, pb: FloatArray, chunk_cells: int) -> float:
    rows = max(1, chunk_cells // len(pb))
    worst_squared = 0.0
    for start in range(0, len(pa), rows):
        dx = pa[start : start + rows, 0, None] - pb[None, :, 0]
        dy = pa[start : start + rows, 1, None] - pb[None, :, 1]
        nearest_squared = (dx * dx + dy * dy).min(axis=1)
        worst_squared = max(worst_squared, float(nearest_squared.max()))
    return float(np.sqrt(worst_squared))


def resample_by_arc_length(points: ArrayLike, count: int) -> FloatArray:
    """``count`` points evenly spaced along the polyline's arc length (ends included)."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if len(pts) == 0 or count < 1:
        raise ValueError("resampling needs at least one point and a positive count")
    if count == 1:
        return pts[:1].copy()
    steps = np.hypot(*np.diff(pts, axis=0).T) if len(pts) > 1 else np.zeros(0)
    travelled = np.concatenate([[0.0], np.cumsum(steps)])
    if travelled[-1] <= 0.0:
        return np.repeat(pts[:1], count, axis=0)
    stations = np.linspace(0.0, travelled[-1], count)
    return np.stack([np.interp(stations, travelled, pts[:, 0]), np.interp(stations, travelled, pts[:, 1])], axis=1)


def rmse_aligned(prediction: ArrayLike, reference: ArrayLike) -> float:
    """Root-mean-square point error after aligning unequal lengths.

    The paper does not say how it aligns trajectories of different lengths. We resample both
    polylines by arc length to ``max(len(prediction), len(reference))`` points and compare them
    index by index; equal-length inputs are compared as given, without resampling.
    """
    pred = np.asarray(prediction, dtype=np.float64).reshape(-1, 2)
    ref = np.asarray(reference, dtype=np.float64).reshape(-1, 2)
    if len(pred) == 0 or len(ref) == 0:
        raise ValueError("RMSE needs two non-empty trajectories")
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
