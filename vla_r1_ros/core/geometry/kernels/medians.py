"""Order statistics in compiled code: quickselect medians, percentile spans and sorting-network medians."""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from vla_r1_ros.core.geometry.kernels.jit import inner, jit

__all__ = ["median_of", "percentile_spans", "sorting_network", "nan_median_rows", "nan_median_filter_at_valid"]


@inner
def _select(values: np.ndarray, lo: int, hi: int, k: int) -> float:
    """Quickselect: reorder ``values[lo:hi + 1]`` (no NaN) so that ``values[k]`` is its sorted value.

    Afterwards nothing before k is larger and nothing after k smaller. Median-of-three pivots
    and Hoare partitioning (equal values stop both scans, so runs of ties split evenly). Why
    not np.partition: it is no faster here and takes numba ten times as long to compile.
    """
    while lo < hi:
        mid = (lo + hi) >> 1
        if values[mid] < values[lo]:
            values[mid], values[lo] = values[lo], values[mid]
        if values[hi] < values[lo]:
            values[hi], values[lo] = values[lo], values[hi]
        if values[hi] < values[mid]:
            values[hi], values[mid] = values[mid], values[hi]
        pivot = values[mid]
        i, j = lo, hi
        while i <= j:
            while values[i] < pivot:
                i += 1
            while values[j] > pivot:
                j -= 1
            if i <= j:
                values[i], values[j] = values[j], values[i]
                i += 1
                j -= 1
        if k <= j:
            hi = j
        elif k >= i:
            lo = i
        else:  # j < k < i: values[k] equals the pivot and is in place
            break
    selected: float = values[k]  # in the array's dtype (float32 stays float32)
    return selected


@inner
def _next_value(values: np.ndarray, k: int, end: int) -> float:
    """After :func:`_select` put ``values[k]`` in place among ``values[:end]``: the next sorted value."""
    smallest: float = values[k + 1]
    for i in range(k + 2, end):
        if values[i] < smallest:
            smallest = values[i]
    return smallest


@inner
def _median_of_first(values: np.ndarray, count: int) -> float:
    """Median of ``values[:count]`` (count >= 1, no NaN), which it reorders.

    The middle pair is added in the array's dtype (float32 depth stays float32, as NumPy
    computes it); halving is exact, so the float64 result equals NumPy's median in that dtype
    (and stored back into a float32 it loses nothing).
    """
    k = (count - 1) // 2
    lower = _select(values, 0, count - 1, k)
    upper = lower if count % 2 else _next_value(values, k, count)
    total = lower + upper  # in the dtype of ``values``
    return 0.5 * float(total)


@jit
def median_of(values: np.ndarray) -> float:
    """Median of a non-empty 1-D array without NaN: ``0.5 * (lower middle + upper middle)``.

    Reorders ``values``. The middle pair is added in the array's dtype (float32 depth stays
    float32, as NumPy computes it); halving is exact, so the float64 result equals NumPy's
    median in that dtype.
    """
    return _median_of_first(values, values.size)


@jit
def percentile_spans(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """Per row of a (k, n) array: ``np.percentile(row, high) - np.percentile(row, low)`` (linear).

    Reorders each row. Each percentile interpolates between the order statistics around its
    virtual index ``q / 100 * (n - 1)``, as NumPy's default method does.
    """
    rows, n = values.shape
    out = np.empty(rows)
    for r in range(rows):
        row = values[r]
        quantiles = np.empty(2)
        for p in range(2):
            position = (low if p == 0 else high) / 100.0 * (n - 1)
            below = math.floor(position)
            fraction = position - below
            start = 0 if p == 0 else math.floor(low / 100.0 * (n - 1)) + 1  # past the low percentile's pair
            start = min(start, below)
            a = _select(row, start, n - 1, below)
            b = _next_value(row, below, n) if below + 1 < n else a
            quantiles[p] = a + (b - a) * fraction
        out[r] = quantiles[1] - quantiles[0]
    return out


@lru_cache(maxsize=8)
def sorting_network(inputs: int) -> np.ndarray:
    """Compare-exchange pairs (a < b) that sort ``inputs`` values: Batcher's odd-even merge sort.

    Built for the next power of two and pruned of the pairs that only ever meet the padding
    (+inf, which the sorted order keeps at the end). 140 pairs for 25 inputs, 28 for 9.
    Plain Python, built once per size (cached, read-only: a constant of the window size).
    """
    size = 1
    while size < inputs:
        size *= 2
    pairs: list[tuple[int, int]] = []

    def merge(lo: int, hi: int, r: int) -> None:
        step = r * 2
        if step < hi - lo:
            merge(lo, hi, step)
            merge(lo + r, hi, step)
            pairs.extend((i, i + r) for i in range(lo + r, hi - r, step))
        else:
            pairs.append((lo, lo + r))

    def sort(lo: int, hi: int) -> None:
        if hi - lo >= 1:
            mid = lo + (hi - lo) // 2
            sort(lo, mid)
            sort(mid + 1, hi)
            merge(lo, hi, 1)

    sort(0, size - 1)
    # A pair whose larger slot holds padding cannot change anything, and padding never moves.
    kept = [(a, b) for a, b in pairs if b < inputs]
    network = np.array(kept, np.int64).reshape(-1, 2)
    network.flags.writeable = False
    return network


@inner
def _column_medians(columns: np.ndarray, counts: np.ndarray, used: int, network: np.ndarray, out: np.ndarray) -> None:
    """Medians of the first ``used`` columns of ``columns`` (k, n), each holding ``counts`` valid values then +inf.

    The sorting network runs across columns (a compare-exchange is a minimum and a maximum of
    two rows), so there are no data-dependent branches and the loops vectorise: an order of
    magnitude faster than a quickselect per column, whose comparisons the CPU cannot predict.
    The middle pair is added and halved in the values' dtype, as NumPy computes a median.
    """
    for q in range(network.shape[0]):
        a, b = network[q, 0], network[q, 1]
        for i in range(used):
            x, y = columns[a, i], columns[b, i]
            columns[a, i] = x if x < y else y
            columns[b, i] = y if x < y else x
    for i in range(used):
        m = counts[i]
        if m == 0:
            out[i] = np.nan
        else:
            middle = columns[(m - 1) // 2, i] + columns[m // 2, i]  # in the values' dtype
            out[i] = 0.5 * float(middle)


# Windows sorted at once: a (25, 256) float32 block (25 KB) stays in the L1 cache, and each
# compare-exchange's loop runs long enough to pay for its set-up (2.3x faster than 64).
_BLOCK = 256


@jit
def nan_median_rows(values: np.ndarray, network: np.ndarray) -> np.ndarray:
    """Row-wise median of depth values (n, k) ignoring NaN, in their dtype; NaN where a row has none.

    ``network``: :func:`sorting_network` of k.
    """
    n, k = values.shape
    out = np.empty(n, values.dtype)
    columns = np.empty((k, _BLOCK), values.dtype)
    counts = np.empty(_BLOCK, np.int64)
    for start in range(0, n, _BLOCK):
        used = min(_BLOCK, n - start)
        for i in range(used):
            m = 0
            for j in range(k):
                v = values[start + i, j]
                if v == v:  # valid values first, then +inf: they sort after every valid one
                    columns[m, i] = v
                    m += 1
            for j in range(m, k):
                columns[j, i] = np.inf
            counts[i] = m
        _column_medians(columns, counts, used, network, out[start : start + used])
    return out


@jit
def nan_median_filter_at_valid(grid: np.ndarray, size: int, network: np.ndarray) -> np.ndarray:
    """NaN-aware ``size`` x ``size`` median filter of a float32 grid at its finite pixels (row-major).

    Pixels outside the grid count as NaN. One float32 median per finite pixel. ``network``:
    :func:`sorting_network` of size * size.
    """
    h, w = grid.shape
    pad = size // 2
    padded = np.full((h + 2 * pad, w + 2 * pad), np.nan, np.float32)  # no bounds checks per read
    count = 0
    for r in range(h):
        for c in range(w):
            padded[r + pad, c + pad] = grid[r, c]
            if np.isfinite(grid[r, c]):
                count += 1
    out = np.empty(count, np.float32)
    columns = np.empty((size * size, _BLOCK), np.float32)
    counts = np.empty(_BLOCK, np.int64)
    used = done = 0
    for r in range(h):
        for c in range(w):
            if not np.isfinite(grid[r, c]):
                continue
            m = j = 0
            for rr in range(r, r + size):
                for cc in range(c, c + size):
                    v = padded[rr, cc]
                    valid = v == v  # branch-free: a NaN becomes +inf, which sorts after every depth
                    columns[j, used] = v if valid else np.inf
                    m += valid
                    j += 1
            counts[used] = m
            used += 1
            if used == _BLOCK:
                _column_medians(columns, counts, used, network, out[done : done + used])
                done += used
                used = 0
    _column_medians(columns, counts, used, network, out[done : done + used])
    return out
