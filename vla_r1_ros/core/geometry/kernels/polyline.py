"""Polyline passes in compiled code: arc length, resampling, smoothing and raising to a clearance.

Polylines are coordinate rows (3, N): x, y and z each contiguous.
"""

from __future__ import annotations

import math

import numpy as np

from vla_r1_ros.core.geometry.kernels.height_grid import HeightTable, heights_at
from vla_r1_ros.core.geometry.kernels.jit import copy_column, inner, jit, maximum, set_column

__all__ = ["arc_length_rows", "resample_rows", "segment_rows", "smooth_rows", "raise_rows"]


@inner
def _sample_count(total: float, spacing: float) -> int:
    """``max(2, math.ceil(total / spacing - 1e-9) + 1)``, raising as Python does for NaN and infinity."""
    x = total / spacing - 1e-9
    if x != x:
        raise ValueError("cannot convert float NaN to integer")
    if x == np.inf or x == -np.inf:
        raise OverflowError("cannot convert float infinity to integer")
    if x > 1e15:  # NumPy would refuse an array this long (and an int64 would overflow on the way)
        raise ValueError("Maximum allowed size exceeded")
    return max(2, math.ceil(x) + 1)  # numba's math.ceil gives an integer


@jit
def arc_length_rows(points: np.ndarray) -> np.ndarray:
    """Cumulative arc length along a polyline given as coordinate rows (3, N), starting at 0."""
    n = points.shape[1]
    s = np.empty(n)
    s[0] = 0.0
    for k in range(1, n):
        dx = points[0, k] - points[0, k - 1]
        dy = points[1, k] - points[1, k - 1]
        dz = points[2, k] - points[2, k - 1]
        s[k] = s[k - 1] + math.sqrt(dx * dx + dy * dy + dz * dz)
    return s


@jit
def resample_rows(points: np.ndarray, spacing: float) -> np.ndarray:
    """Points (3, N) evenly spaced by arc length (at most ``spacing`` apart), both ends kept exactly.

    Each coordinate is ``np.interp(targets, s, row)`` over the arc length s, with NumPy's rule:
    the last knot with s[j] <= target brackets it; past the ends and on a knot the knot's value
    is taken; a NaN from infinite values is retried from the right knot. The targets ascend, so
    one forward scan finds every bracket.
    """
    n = points.shape[1]
    if n < 2:
        return points.copy()
    s = arc_length_rows(points)
    total = s[n - 1]
    if total <= 1e-12:
        out = np.empty((3, 2))
        copy_column(out, 0, points, 0)
        copy_column(out, 1, points, n - 1)
        return out
    count = _sample_count(total, spacing)
    step = total / (count - 1)  # np.linspace's own formula
    out = np.empty((3, count))
    j = 0
    for k in range(count):
        x = k * step
        while j + 1 < n and s[j + 1] <= x:
            j += 1
        for i in range(3):
            fp = points[i]
            if j == n - 1 or s[j] == x:  # on (or, by rounding, past) the last knot, or on a knot
                value = fp[j]
            else:
                slope = (fp[j + 1] - fp[j]) / (s[j + 1] - s[j])
                value = slope * (x - s[j]) + fp[j]
                if value != value:
                    value = slope * (x - s[j + 1]) + fp[j + 1]
                    if value != value and fp[j] == fp[j + 1]:
                        value = fp[j]
            out[i, k] = value
    copy_column(out, 0, points, 0)  # both ends exactly
    copy_column(out, count - 1, points, n - 1)
    return out


@jit
def segment_rows(start: np.ndarray, end: np.ndarray, spacing: float) -> np.ndarray:
    """:func:`resample_rows` of the single segment ``start`` -> ``end`` (equal up to rounding)."""
    dx, dy, dz = end[0] - start[0], end[1] - start[1], end[2] - start[2]
    total = math.sqrt(dx * dx + dy * dy + dz * dz)
    if total <= 1e-12:
        out = np.empty((3, 2))
        set_column(out, 0, start)
        set_column(out, 1, end)
        return out
    count = _sample_count(total, spacing)
    step = total / (count - 1)
    direction = (dx / total, dy / total, dz / total)
    out = np.empty((3, count))
    for i in range(3):
        for k in range(count):
            out[i, k] = direction[i] * (k * step) + start[i]
    set_column(out, 0, start)
    set_column(out, count - 1, end)
    return out


@jit
def smooth_rows(points: np.ndarray, kernel: np.ndarray, iterations: int, weight: float) -> np.ndarray:
    """Laplacian smoothing (``iterations`` Jacobi steps of ``weight``) of a polyline (3, N), ends fixed.

    The steps are one convolution with ``kernel`` (the steps' combined kernel, 2 iterations + 1
    taps) over the polyline extended by its point reflection through each end; a polyline too
    short to reflect takes the steps one by one.
    """
    n = points.shape[1]
    out = points.copy()
    if n <= 2 or iterations == 0:
        return out
    if n - 1 < iterations:
        for _ in range(iterations):
            previous = out.copy()
            for i in range(3):
                for k in range(1, n - 1):
                    mean = 0.5 * (previous[i, k - 1] + previous[i, k + 1])
                    out[i, k] = previous[i, k] + weight * (mean - previous[i, k])
        return out
    m = iterations
    extended = np.empty(n + 2 * m)
    for i in range(3):
        row = points[i]
        for k in range(n):
            extended[m + k] = row[k]
        for k in range(m):
            extended[k] = 2.0 * row[0] - row[m - k]
            extended[m + n + k] = 2.0 * row[n - 1] - row[n - 2 - k]
        for k in range(1, n - 1):
            total = 0.0
            for tap in range(2 * m + 1):
                total += kernel[tap] * extended[k + tap]
            out[i, k] = total
    return out


@jit
def raise_rows(points: np.ndarray, table: HeightTable, clearance: float, slope: float, fixed_start: bool) -> None:
    """Lift points (3, N), in place and never lower, to ``clearance`` above the surface, along ramps.

    The required height spreads into ramps of at most ``slope`` (an upper envelope over arc
    length s), so a point before an obstacle starts climbing early instead of the path jumping
    straight up at its edge. The envelope ``max_j need_j - slope |s_i - s_j|`` splits at j = i
    into two running maxima over a non-decreasing s, one from each end: O(N) instead of an
    N x N table. It is taken with ``need`` itself so rounding can never put a point below its
    own requirement. A fixed start and the last point (the pre-approach) stay where they are.
    """
    n = points.shape[1]
    need = heights_at(table, points)
    ks = arc_length_rows(points)
    for k in range(n):
        need[k] += clearance
        if slope != 1.0:
            ks[k] *= slope
    envelope = np.empty(n)
    running = -np.inf
    for k in range(n):
        running = maximum(running, need[k] + ks[k]) if k else need[k] + ks[k]
        envelope[k] = running - ks[k]
    running = -np.inf
    for k in range(n - 1, -1, -1):
        running = maximum(running, need[k] - ks[k]) if k < n - 1 else need[k] - ks[k]
        envelope[k] = maximum(maximum(envelope[k], running + ks[k]), need[k])
    for k in range(1 if fixed_start else 0, n - 1):
        points[2, k] = maximum(points[2, k], envelope[k])
