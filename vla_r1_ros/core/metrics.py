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
    """A batch of padded trajectories with the per-point tangent and length of the reward.

    ``points`` is (B, L, 2), padded by repeating each trajectory's last point; ``counts`` holds
    the true lengths. ``tangents`` (B, L, 2) and ``lengths`` (B, L) are defined for the first
    ``counts[b]`` points of each trajectory.
    """

    points: FloatArray
    counts: NDArray[np.int64]
    tangents: FloatArray
    lengths: FloatArray


def _unit(vectors: FloatArray) -> tuple[FloatArray, FloatArray]:
    norms = np.hypot(vectors[..., 0], vectors[..., 1])
    safe = np.where(norms < EPS, 1.0, norms)
    units = np.where((norms < EPS)[..., None], 0.0, vectors / safe[..., None])
    return units, norms


def _pad(trajectories: Sequence[ArrayLike]) -> tuple[FloatArray, NDArray[np.int64]]:
    arrays = [np.asarray(t, dtype=np.float64).reshape(-1, 2) for t in trajectories]
    counts = np.array([len(a) for a in arrays], dtype=np.int64)
    if len(arrays) == 0:
        return np.zeros((0, 1, 2)), counts
    if counts.min() < 1:
        raise ValueError("every trajectory needs at least one point")
    width = int(counts.max())
    padded = np.empty((len(arrays), width, 2), dtype=np.float64)
    for row, array in enumerate(arrays):
        padded[row, : len(array)] = array
        padded[row, len(array) :] = array[-1]
    return padded, counts


def trajectory_features(trajectories: Sequence[ArrayLike]) -> TrajectoryFeatures:
    """Tangents and lengths per point, exactly as the VLA-R1 release defines them.

    Tangent: the unit direction of the first segment at the first point, of the last segment at
    the last point, and in between the normalised sum of the unit directions of the two adjacent
    segments (the incoming direction when that sum is ~0). A single point has a zero tangent.
    Length: the distance to the next point (to the previous one for the last point).
    """
    points, counts = _pad(trajectories)
    batch, width = points.shape[:2]
    index = np.arange(width)[None, :]
    last = counts[:, None] - 1

    segments = np.diff(points, axis=1)  # (B, L-1, 2)
    seg_units, seg_norms = _unit(segments)
    zeros2 = np.zeros((batch, 1, 2))
    incoming = np.concatenate([zeros2, seg_units], axis=1)  # unit(p_i - p_{i-1}); 0 at i = 0
    outgoing = np.concatenate([seg_units, zeros2], axis=1)  # unit(p_{i+1} - p_i); 0 at i = L-1
    summed = incoming + outgoing
    summed_norm = np.hypot(summed[..., 0], summed[..., 1])
    middle = np.where(
        (summed_norm >= EPS)[..., None],
        summed / np.where(summed_norm >= EPS, summed_norm, 1.0)[..., None],
        incoming,
    )
    tangents = np.where(
        (index == 0)[..., None], outgoing, np.where((index == last)[..., None], incoming, middle)
    )
    tangents = np.where((counts[:, None, None] == 1), 0.0, tangents)

    lengths_next = np.concatenate([seg_norms, np.zeros((batch, 1))], axis=1)
    lengths_prev = np.concatenate([np.zeros((batch, 1)), seg_norms], axis=1)
    lengths = np.where(index == last, lengths_prev, lengths_next)
    lengths = np.where(counts[:, None] == 1, 0.0, lengths)
    return TrajectoryFeatures(points, counts, tangents, lengths)


#: ``cost(pair, i, j)`` for flat arrays of cells: the cost of matching point i of the pair's
#: reference with point j of its candidate.
CellCost = Callable[[NDArray[np.intp], NDArray[np.intp], NDArray[np.intp]], FloatArray]

#: Cells of the diagonal table held at once (8 bytes each).
_MAX_CELLS_PER_CHUNK = 8_000_000


def _frechet_dp(rows: NDArray[np.int64], cols: NDArray[np.int64], cost: CellCost) -> FloatArray:
    """Discrete Fréchet coupling ``C(m-1, n-1)`` for every pair of a batch.

    The batch is processed in chunks whose diagonal table stays below ``_MAX_CELLS_PER_CHUNK``
    cells; each chunk is one vectorised sweep over anti-diagonals.
    """
    batch = len(rows)
    result = np.empty(batch, dtype=np.float64)
    if batch == 0:
        return result
    height, width = int(rows.max()), int(cols.max())
    per_pair = (height + width - 1) * (height + 1)
    chunk = max(1, _MAX_CELLS_PER_CHUNK // per_pair)
    for start in range(0, batch, chunk):
        stop = min(batch, start + chunk)
        result[start:stop] = _frechet_chunk(np.arange(start, stop), rows[start:stop], cols[start:stop], cost)
    return result


def _frechet_chunk(
    pairs: NDArray[np.intp], rows: NDArray[np.int64], cols: NDArray[np.int64], cost: CellCost
) -> FloatArray:
    batch, height, width = len(pairs), int(rows.max()), int(cols.max())
    diagonals = height + width - 1
    # The table is stored by anti-diagonal: table[d, pair, i + 1] is cell (i, d - i). Column 0 and
    # every slot that is not a real cell of its pair hold +inf, which reads as "no such cell" in
    # min() and keeps max() at +inf, so each diagonal is three whole-array operations.
    cells = rows * cols
    local_pair = np.repeat(np.arange(batch), cells)
    flat = np.arange(int(cells.sum())) - np.repeat(np.cumsum(cells) - cells, cells)
    pair_cols = cols[local_pair]
    i = flat // pair_cols
    j = flat - i * pair_cols
    table = np.full((diagonals, batch, height + 1), np.inf)
    table.ravel()[((i + j) * batch + local_pair) * (height + 1) + i + 1] = cost(pairs[local_pair], i, j)

    scratch = np.empty((batch, height))
    for diagonal in range(1, diagonals):
        previous = table[diagonal - 1]
        np.minimum(previous[:, :-1], previous[:, 1:], out=scratch)  # C(i-1, j), C(i, j-1)
        if diagonal >= 2:
            np.minimum(scratch, table[diagonal - 2, :, :-1], out=scratch)  # C(i-1, j-1)
        np.maximum(scratch, table[diagonal, :, 1:], out=table[diagonal, :, 1:])
    return np.asarray(table[rows + cols - 2, np.arange(batch), rows], dtype=np.float64)


def _columns(features: TrajectoryFeatures) -> tuple[FloatArray, ...]:
    """x, y, tangent x, tangent y and length of every padded point, each as a flat array."""
    return (
        features.points[..., 0].ravel(),
        features.points[..., 1].ravel(),
        features.tangents[..., 0].ravel(),
        features.tangents[..., 1].ravel(),
        features.lengths.ravel(),
    )


def oriented_frechet_batch(
    reference: Sequence[ArrayLike],
    candidate: Sequence[ArrayLike],
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
    p = trajectory_features(reference)
    q = trajectory_features(candidate)
    p_width, q_width = p.points.shape[1], q.points.shape[1]
    # Flat per-point columns: np.take on 1-D arrays is the fastest gather for ragged cells.
    px, py, ptx, pty, p_len = _columns(p)
    qx, qy, qtx, qty, q_len = _columns(q)
    pt_norm, qt_norm = np.hypot(ptx, pty), np.hypot(qtx, qty)

    def cost(pair: NDArray[np.intp], i: NDArray[np.intp], j: NDArray[np.intp]) -> FloatArray:
        pi, qj = pair * p_width + i, pair * q_width + j
        dx, dy = px.take(pi) - qx.take(qj), py.take(pi) - qy.take(qj)
        distance = np.sqrt(dx * dx + dy * dy)
        tp_len, tq_len = pt_norm.take(pi), qt_norm.take(qj)
        degenerate = (tp_len < EPS) | (tq_len < EPS)
        dot = ptx.take(pi) * qtx.take(qj) + pty.take(pi) * qty.take(qj)
        dot /= np.where(degenerate, 1.0, tp_len * tq_len)
        angle = np.arccos(np.clip(dot, -1.0, 1.0))
        angle[degenerate] = 0.0
        lp, lq = p_len.take(pi), q_len.take(qj)
        both_positive = (lp > EPS) & (lq > EPS)
        with np.errstate(divide="ignore"):
            ratio = np.abs(
                np.log(np.where(both_positive, lp / np.where(both_positive, lq, 1.0), (lp + EPS) / (lq + EPS)))
            )
        return distance + lambda_theta * angle + lambda_ratio * ratio

    return _frechet_dp(p.counts, q.counts, cost)


def frechet_batch(reference: Sequence[ArrayLike], candidate: Sequence[ArrayLike]) -> FloatArray:
    """Plain discrete Fréchet distance (Euclidean cost) per pair of trajectories."""
    if len(reference) != len(candidate):
        raise ValueError(f"{len(reference)} reference trajectories but {len(candidate)} candidates")
    p_points, p_counts = _pad(reference)
    q_points, q_counts = _pad(candidate)

    p_width, q_width = p_points.shape[1], q_points.shape[1]
    px, py = p_points[..., 0].ravel(), p_points[..., 1].ravel()
    qx, qy = q_points[..., 0].ravel(), q_points[..., 1].ravel()

    def cost(pair: NDArray[np.intp], i: NDArray[np.intp], j: NDArray[np.intp]) -> FloatArray:
        pi, qj = pair * p_width + i, pair * q_width + j
        dx, dy = px.take(pi) - qx.take(qj), py.take(pi) - qy.take(qj)
        return np.sqrt(dx * dx + dy * dy)

    return _frechet_dp(p_counts, q_counts, cost)


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


def trajectory_metrics(
    prediction: ArrayLike, reference: ArrayLike, scale: float = PAPER_SCALE
) -> TrajectoryMetrics:
    """DFD, HD and RMSE of normalised trajectories, reported on ``scale`` (paper: 1000)."""
    pred = np.asarray(prediction, dtype=np.float64).reshape(-1, 2) * scale
    ref = np.asarray(reference, dtype=np.float64).reshape(-1, 2) * scale
    dfd = float(frechet_batch([ref], [pred])[0])
    return TrajectoryMetrics(dfd=dfd, hd=hausdorff(pred, ref), rmse=rmse_aligned(pred, ref))
