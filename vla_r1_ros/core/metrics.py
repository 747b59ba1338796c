"""Geometric measures shared by the rewards (training) and the paper's metrics (evaluation).

Boxes are vectorised NumPy over batches. The trajectory couplings (discrete Fréchet, the reward's
oriented Fréchet, DTW) run compiled (numba) pair by pair over the flat points of a batch, one grid
row in memory, without recursion.

Boxes are corner arrays ``[..., 4] = (x_min, y_min, x_max, y_max)``; trajectories are
``(n_points, 2)`` arrays. The plain distances (:func:`frechet_batch`, :func:`dtw_batch`,
:func:`hausdorff`, :func:`resample_by_arc_length`, :func:`rmse_aligned`) take points of any
dimension ``(n_points, d)``, e.g. 3-D tool paths; the reward's oriented Fréchet is 2-D only.
Units are the caller's: the rewards use normalised [0, 1] coordinates, the paper's metrics the
[0, 1000) scale (:data:`PAPER_SCALE`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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

    Every array is (L, B): point index first, trajectory index on the last axis. Each trajectory
    is padded by repeating its last point; ``counts`` holds the true lengths, and the tangents
    and lengths are defined for the first ``counts[b]`` points of trajectory b.
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


@dataclass(frozen=True)
class _FlatFeatures:
    """Points, tangents and lengths of a batch, flat (one row per point), with counts and starts."""

    points: FloatArray
    tangents: FloatArray
    lengths: FloatArray
    counts: NDArray[np.int64]
    starts: NDArray[np.int64]


def _flat_features(trajectories: Sequence[Trajectory]) -> _FlatFeatures:
    """Tangent and length of every point, exactly as the VLA-R1 release defines them.

    Tangent: the unit direction of the first segment at the first point, of the last segment at
    the last point, and in between the normalised sum of the unit directions of the two adjacent
    segments (the incoming direction when that sum is ~0). A single point has a zero tangent.
    Length: the distance to the next point (to the previous one for the last point).
    """
    flat, counts, starts = _flatten(trajectories)
    tangents, lengths = np.zeros_like(flat), np.zeros(len(flat))
    if len(counts):
        _tangents_and_lengths(flat, starts, counts, tangents, lengths)
    return _FlatFeatures(flat, tangents, lengths, counts, starts)


@numba.njit(cache=True, nogil=True)
def _tangents_and_lengths(  # pragma: no cover - compiled
    points: FloatArray, starts: NDArray[np.int64], counts: NDArray[np.int64], tangents: FloatArray, lengths: FloatArray
) -> None:
    for t in range(len(counts)):
        first, n = starts[t], counts[t]
        if n < 2:
            continue  # a single point: zero tangent, zero length
        previous_x = previous_y = 0.0
        for k in range(first, first + n - 1):
            dx, dy = points[k + 1, 0] - points[k, 0], points[k + 1, 1] - points[k, 1]
            segment = np.hypot(dx, dy)
            ux, uy = (0.0, 0.0) if segment < EPS else (dx / segment, dy / segment)
            lengths[k] = segment
            if k == first:
                tangents[k, 0], tangents[k, 1] = ux, uy
            else:  # interior point k: the incoming (previous) and outgoing (u) directions
                sum_x, sum_y = previous_x + ux, previous_y + uy
                norm = np.hypot(sum_x, sum_y)
                if norm >= EPS:
                    tangents[k, 0], tangents[k, 1] = sum_x / norm, sum_y / norm
                else:
                    tangents[k, 0], tangents[k, 1] = previous_x, previous_y
            previous_x, previous_y = ux, uy
        last = first + n - 1
        tangents[last, 0], tangents[last, 1] = previous_x, previous_y
        lengths[last] = lengths[last - 1]


def trajectory_features(trajectories: Sequence[Trajectory]) -> TrajectoryFeatures:
    """The per-point tangents and lengths of a batch (see :func:`_flat_features`), padded to (L, B)."""
    f = _flat_features(trajectories)
    if len(f.counts) == 0:
        empty = np.zeros((1, 0))
        return TrajectoryFeatures(f.counts, empty, empty, empty, empty, empty)
    index = np.minimum(np.arange(int(f.counts.max()))[:, None], f.counts[None, :] - 1) + f.starts[None, :]
    return TrajectoryFeatures(
        f.counts, f.points[:, 0][index], f.points[:, 1][index], f.tangents[:, 0][index], f.tangents[:, 1][index],
        f.lengths[index],
    )  # fmt: skip


# The coupling recurrence, compiled. C(i, j) = combine(cost(i, j), min(C(i-1, j), C(i-1, j-1),
# C(i, j-1))) with combine max (discrete Fréchet: the worst cell of the best coupling) or a sum
# (dynamic time warping: the cheapest sum); C(0, 0) = cost(0, 0). One grid row is kept per pair:
# every cell is computed once, in compiled code, straight from the flat points (the vectorised
# NumPy sweep it replaces spent most of its time in per-call overhead on short strided views).


def _oriented_columns(f: _FlatFeatures, lambda_ratio: float) -> FloatArray:
    """Per point: x, y, unit tangent x, y (0, 0 when the tangent is ~0), lambda_ratio ln(l), and
    lambda_ratio ln(l + 1e-12): everything a cell cost needs that depends on one point only."""
    norm = np.hypot(f.tangents[:, 0], f.tangents[:, 1])
    flat = norm < EPS
    unit = f.tangents / np.where(flat, 1.0, norm)[:, None]
    unit[flat] = 0.0
    short = f.lengths <= EPS
    log_length = lambda_ratio * np.log(np.where(short, 1.0, f.lengths))
    log_length[short] = np.nan  # marks the release's (l + 1e-12) case
    return np.column_stack([f.points, unit, log_length, lambda_ratio * np.log(f.lengths + EPS)])


@numba.njit(cache=True, nogil=True)
def _oriented_cells(  # pragma: no cover - compiled
    a: FloatArray, starts_a: NDArray[np.int64], counts_a: NDArray[np.int64],
    b: FloatArray, starts_b: NDArray[np.int64], counts_b: NDArray[np.int64],
    base: FloatArray, cosine: FloatArray,
) -> None:  # fmt: skip
    """Per cell of every pair (row-major, pairs one after another): |P_i - Q_j| plus the length
    term, and the tangents' cosine clipped to [-1, 1] (1 when either tangent is ~0: angle 0)."""
    cell = 0
    for p in range(len(counts_a)):
        for i in range(starts_a[p], starts_a[p] + counts_a[p]):
            for q in range(starts_b[p], starts_b[p] + counts_b[p]):
                dx, dy = a[i, 0] - b[q, 0], a[i, 1] - b[q, 1]
                ratio = a[i, 4] - b[q, 4]
                base[cell] = np.sqrt(dx * dx + dy * dy) + (abs(ratio) if ratio == ratio else abs(a[i, 5] - b[q, 5]))
                turning = (a[i, 2] != 0.0 or a[i, 3] != 0.0) and (b[q, 2] != 0.0 or b[q, 3] != 0.0)
                dot = a[i, 2] * b[q, 2] + a[i, 3] * b[q, 3]
                cosine[cell] = min(1.0, max(-1.0, dot)) if turning else 1.0
                cell += 1


@numba.njit(cache=True, nogil=True)
def _frechet_of_cells(  # pragma: no cover - compiled
    base: FloatArray, angle: FloatArray, lambda_theta: float,
    counts_a: NDArray[np.int64], counts_b: NDArray[np.int64], out: FloatArray,
) -> None:  # fmt: skip
    """The discrete Fréchet recurrence over precomputed cells (row-major per pair): cost =
    base + lambda_theta * angle."""
    row = np.empty(int(counts_b.max()) + 1)
    cell = 0
    for p in range(len(counts_a)):
        n, m = counts_a[p], counts_b[p]
        row[0] = -np.inf
        row[1 : m + 1] = np.inf
        for _ in range(n):
            diagonal, row[0] = row[0], np.inf
            for j in range(1, m + 1):
                best = min(row[j], row[j - 1], diagonal)
                diagonal = row[j]
                row[j] = max(base[cell] + lambda_theta * angle[cell], best)
                cell += 1
        out[p] = row[m]


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
    a, b = _flat_features(reference), _flat_features(candidate)
    out = np.empty(len(a.counts), dtype=np.float64)
    if len(out) == 0:
        return out
    # Three steps: the per-cell parts in compiled loops, the arccos of every cell in one
    # vectorised NumPy call (a compiled scalar arccos per cell cost three times the whole rest),
    # the recurrence in a compiled loop.
    cells = int(np.dot(a.counts, b.counts))
    base, cosine = np.empty(cells), np.empty(cells)
    columns_a, columns_b = _oriented_columns(a, lambda_ratio), _oriented_columns(b, lambda_ratio)
    _oriented_cells(columns_a, a.starts, a.counts, columns_b, b.starts, b.counts, base, cosine)
    np.arccos(cosine, out=cosine)
    _frechet_of_cells(base, cosine, float(lambda_theta), a.counts, b.counts, out)
    return out


def _euclidean_dp(reference: Sequence[Trajectory], candidate: Sequence[Trajectory], add: bool) -> FloatArray:
    """The coupling value of every pair under Euclidean point distances (squared for max)."""
    if len(reference) != len(candidate):
        raise ValueError(f"{len(reference)} reference trajectories but {len(candidate)} candidates")
    points_a, counts_a, starts_a = _flatten(reference, None, dim=None)
    points_b, counts_b, starts_b = _flatten(candidate, None, dim=None)
    if len(counts_a) and points_a.shape[1] != points_b.shape[1]:
        raise ValueError(f"trajectories of {points_a.shape[1]} and {points_b.shape[1]} dimensions cannot be compared")
    out = np.empty(len(counts_a), dtype=np.float64)
    if len(out):
        _euclidean_pairs(points_a, starts_a, counts_a, points_b, starts_b, counts_b, add, out)
    return out


@numba.njit(cache=True, nogil=True)
def _euclidean_pairs(  # pragma: no cover - compiled
    points_a: FloatArray, starts_a: NDArray[np.int64], counts_a: NDArray[np.int64],
    points_b: FloatArray, starts_b: NDArray[np.int64], counts_b: NDArray[np.int64],
    add: bool, out: FloatArray,
) -> None:  # fmt: skip
    """Squared distances for max (the square root commutes with it), distances for sums."""
    dim = points_a.shape[1]
    row = np.empty(int(counts_b.max()) + 1)
    for p in range(len(counts_a)):
        a0, n, b0, m = starts_a[p], counts_a[p], starts_b[p], counts_b[p]
        row[0] = 0.0 if add else -np.inf
        row[1 : m + 1] = np.inf
        for i in range(n):
            diagonal, row[0] = row[0], np.inf
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
    return np.sqrt(_euclidean_dp(reference, candidate, add=False))


def dtw_batch(reference: Sequence[Trajectory], candidate: Sequence[Trajectory]) -> FloatArray:
    """Dynamic time warping distance per pair: the least sum of Euclidean point distances over a coupling.

    Same couplings as the discrete Fréchet distance (both ends matched, monotone, steps of one
    point on either or both sides), summed instead of maximised; points are (n, d) as in
    :func:`frechet_batch`. The sum grows with the number of points: compare paths resampled to
    the same count, or divide by it.
    """
    return _euclidean_dp(reference, candidate, add=True)


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
