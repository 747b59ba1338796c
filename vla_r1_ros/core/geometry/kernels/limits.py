"""The safety filter's acceptance test in compiled code: a path's extremes against the limits."""

from __future__ import annotations

import math

import numpy as np

from vla_r1_ros.core.geometry.kernels.jit import inner, jit

__all__ = ["pairwise_sum", "within_limits"]


@inner
def _block_sum(values: np.ndarray, start: int, n: int) -> float:
    """NumPy's pairwise summation of ``values[start:start + n]`` for n <= 128 (one block)."""
    total = 0.0
    if n < 8:
        for i in range(start, start + n):
            total += values[i]
        return total
    r = np.empty(8)
    for j in range(8):
        r[j] = values[start + j]
    i = 8
    while i < n - (n % 8):
        for j in range(8):
            r[j] += values[start + i + j]
        i += 8
    total = float(((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7])))
    while i < n:
        total += values[start + i]
        i += 1
    return total


@jit
def pairwise_sum(values: np.ndarray) -> float:
    """``np.add.reduce`` of a 1-D float array: NumPy's pairwise summation, to the bit.

    Blocks of up to 128 are summed with eight interleaved accumulators (fewer than 8 values one
    by one); a longer range is split in halves at a multiple of 8 and the halves' sums added,
    exactly as NumPy's float loop. The recursion runs on an explicit stack: numba's on-disk
    cache cannot hold a recursive function (it crashes when loaded).
    """
    starts = np.empty(64, np.int64)  # a frame per level: the range, its split, the left half's sum
    counts = np.empty(64, np.int64)
    lefts = np.empty(64)
    stages = np.empty(64, np.int64)
    starts[0], counts[0], stages[0] = 0, values.size, 0
    depth, result = 1, 0.0
    while depth:
        top = depth - 1
        n = counts[top]
        if n <= 128:
            result = _block_sum(values, starts[top], n)
            depth -= 1
            continue
        half = n // 2
        half -= half % 8
        if stages[top] == 0:  # descend into the left half
            stages[top] = 1
            starts[depth], counts[depth], stages[depth] = starts[top], half, 0
            depth += 1
        elif stages[top] == 1:  # the left half's sum is in: descend into the right half
            lefts[top] = result
            stages[top] = 2
            starts[depth], counts[depth], stages[depth] = starts[top] + half, n - half, 0
            depth += 1
        else:  # both halves in
            result = lefts[top] + result
            depth -= 1
    return result


@jit
def within_limits(points: np.ndarray, limits: np.ndarray) -> bool:
    """Whether a non-empty (N, 3) path violates no safety rule, from its extremes.

    ``limits``: workspace min (3), workspace max (3), the lowest allowed z, the reach centre (3),
    max reach, max segment length, max path length. Each comparison is the full check's
    per-waypoint one applied to the extreme, and the path length is NumPy's own sum, so this
    accepts exactly the paths :func:`~vla_r1_ros.core.geometry.safety.check_waypoints` accepts.
    """
    n = points.shape[0]
    farthest = 0.0
    for k in range(n):
        x, y, z = points[k, 0], points[k, 1], points[k, 2]
        if not (np.isfinite(x) and np.isfinite(y) and np.isfinite(z)):
            return False
        if x < limits[0] or y < limits[1] or z < limits[2] or x > limits[3] or y > limits[4] or z > limits[5]:
            return False
        if z < limits[6]:
            return False
        dx, dy, dz = x - limits[7], y - limits[8], z - limits[9]
        farthest = max(farthest, dx * dx + dy * dy + dz * dz)
    if not math.sqrt(farthest) <= limits[10]:
        return False
    if n > 1:
        lengths = np.empty(n - 1)
        longest = 0.0
        for k in range(n - 1):
            dx = points[k + 1, 0] - points[k, 0]
            dy = points[k + 1, 1] - points[k, 1]
            dz = points[k + 1, 2] - points[k, 2]
            lengths[k] = math.sqrt(dx * dx + dy * dy + dz * dz)
            longest = max(longest, lengths[k])
        if not longest <= limits[11]:
            return False
        if not pairwise_sum(lengths) <= limits[12]:
            return False
    return True
