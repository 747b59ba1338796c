"""Compiled inner loops of the geometry core: whole stages of a lifting request, with numba.

Why: a lifting request touches a few thousand numbers, so in NumPy nearly all of its cost was
the fixed overhead of some 750 small calls (2-5 us each), not arithmetic. Each entry point here
runs one stage as a single compiled call: the plane fit of a box (:func:`box_plane`), the
point cloud and the height map (:func:`gappy_cloud`, :func:`height_grid`), and the path through
the height map (:func:`ray_samples`, :func:`transit_path`). Small helpers are compiled too; a
call from one compiled function to another costs nothing.

Results are those of the NumPy code these replaced: float32 depth arithmetic stays float32,
medians and percentiles pick the same order statistics, np.interp's bracketing rule is kept,
and Python's exceptions for a non-finite length are raised. Only the summation order of a few
sums differs (BLAS vs a loop), a few units in the last place.
``test/test_geometry_fastpaths.py`` checks every routine against its plain NumPy formulation.

Compilation: ``cache=True`` keeps the machine code in ``__pycache__`` beside this file (or in
``NUMBA_CACHE_DIR``), so a machine compiles once (about 30 s on two busy cores) and later
processes load it in well under a second. ``lifting.warm_up`` loads or compiles everything up
front; the ROS node calls it at start-up.
``fastmath`` stays off: it would let LLVM reassociate and fuse the arithmetic above.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol, TypeVar, cast

import numba
import numpy as np

__all__ = [
    "BoxFit",
    "box_plane",
    "count_inside",
    "decode_pixels",
    "decode_window",
    "dilate_disk",
    "dilate_square",
    "gappy_cloud",
    "height_grid",
    "heights_at",
    "median_of",
    "nan_median_filter_at_valid",
    "nan_median_rows",
    "plane_fit",
    "arc_length_rows",
    "raise_rows",
    "ray_samples",
    "transit_rays",
    "window_pixels",
    "within_limits",
    "resample_rows",
    "segment_rows",
    "smooth_rows",
    "sorting_network",
    "spans",
    "symmetric_eigen3",
    "transit_path",
]

# error_model="numpy": a division by zero gives inf/NaN as in NumPy instead of raising (and
# costs no check); nogil: the ROS node may lift on another thread than the one receiving images.
_jit = numba.njit(cache=True, nogil=True, error_model="numpy")
_F = TypeVar("_F", bound=Callable[..., Any])


class _Decorator(Protocol):
    def __call__(self, function: _F, /) -> _F: ...


# Helpers only ever called from compiled code need no CPython entry point (less to compile).
# numba's type stubs leave that option out; numba.njit passes it on to the dispatcher.
_inner = cast(
    _Decorator,
    numba.njit(cache=True, nogil=True, error_model="numpy", no_cpython_wrapper=True),  # type: ignore[call-overload]
)

_UNKNOWN = np.float32(-1e9)  # height-grid cells without an observation (as lifting._UNKNOWN)
_KNOWN = np.float32(-5e8)  # above this a cell holds an observation

# box_plane's status codes
OK, TOO_SPARSE, NO_SURFACE, NEED_DRAWS = 0, 1, 2, 3


# ---------------------------------------------------------------------------------------------
# Scalar helpers
# ---------------------------------------------------------------------------------------------


@_inner
def _max(a: float, b: float) -> float:
    """``np.maximum`` of two scalars: NaN when either is NaN (Python's ``max`` is order-dependent)."""
    return a if (a >= b or a != a) else b


@_inner
def _min(a: float, b: float) -> float:
    """``np.minimum`` of two scalars (NaN propagates)."""
    return a if (a <= b or a != a) else b


@_inner
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


@_inner
def _copy_column(target: np.ndarray, j: int, source: np.ndarray, k: int) -> None:
    """``target[:, j] = source[:, k]`` for (3, N) arrays (a loop compiles faster than a slice assignment)."""
    for i in range(3):
        target[i, j] = source[i, k]


@_inner
def _set_column(target: np.ndarray, j: int, point: np.ndarray) -> None:
    """``target[:, j] = point`` for a (3, N) array and a 3-vector."""
    for i in range(3):
        target[i, j] = point[i]


# ---------------------------------------------------------------------------------------------
# Depth decoding
# ---------------------------------------------------------------------------------------------


@_inner
def _decoded(
    value: float, scale: np.float32, low: np.float32, low_mode: int, high: np.float32, high_mode: int
) -> np.float32:
    """One source pixel in float32 metres, NaN when invalid: ``depth._decode``'s rule.

    Scaled in float32 (when ``scale`` is not 1); invalid below the range (``low_mode`` 0:
    zero and negatives, 1: below ``low``) or above it (``high_mode`` 0: +inf, 1: above
    ``high``), compared in float32 as NumPy compares a float32 array with a Python float.
    """
    metres = np.float32(value)
    if scale != np.float32(1.0):
        metres = metres * scale
    bad = metres <= np.float32(0.0) if low_mode == 0 else metres < low
    if high_mode == 0:
        bad = bad or metres == np.float32(np.inf)
    else:
        bad = bad or metres > high
    return np.float32(np.nan) if bad else metres


@_jit
def decode_window(
    source: np.ndarray,
    rows: tuple[int, int, int],
    cols: tuple[int, int, int],
    scale: np.float32,
    low: np.float32,
    low_mode: int,
    high: np.float32,
    high_mode: int,
) -> np.ndarray:
    """The pixels ``source[rows, cols]`` (each a start, step and count) decoded to float32 metres."""
    out = np.empty((rows[2], cols[2]), np.float32)
    for i in range(rows[2]):
        r = rows[0] + i * rows[1]
        for j in range(cols[2]):
            out[i, j] = _decoded(source[r, cols[0] + j * cols[1]], scale, low, low_mode, high, high_mode)
    return out


@_jit
def decode_pixels(
    source: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    scale: np.float32,
    low: np.float32,
    low_mode: int,
    high: np.float32,
    high_mode: int,
) -> np.ndarray:
    """The pixels ``source[rows[k], cols[k]]`` (1-D index arrays, in range) decoded to float32 metres."""
    out = np.empty(rows.size, np.float32)
    for k in range(rows.size):
        out[k] = _decoded(source[rows[k], cols[k]], scale, low, low_mode, high, high_mode)
    return out


# ---------------------------------------------------------------------------------------------
# Order statistics
# ---------------------------------------------------------------------------------------------


@_inner
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


@_inner
def _next_value(values: np.ndarray, k: int, end: int) -> float:
    """After :func:`_select` put ``values[k]`` in place among ``values[:end]``: the next sorted value."""
    smallest: float = values[k + 1]
    for i in range(k + 2, end):
        if values[i] < smallest:
            smallest = values[i]
    return smallest


@_inner
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


@_jit
def median_of(values: np.ndarray) -> float:
    """Median of a non-empty 1-D array without NaN: ``0.5 * (lower middle + upper middle)``.

    Reorders ``values``. The middle pair is added in the array's dtype (float32 depth stays
    float32, as NumPy computes it); halving is exact, so the float64 result equals NumPy's
    median in that dtype.
    """
    return _median_of_first(values, values.size)


@_jit
def spans(values: np.ndarray, low: float, high: float) -> np.ndarray:
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


def sorting_network(inputs: int) -> np.ndarray:
    """Compare-exchange pairs (a < b) that sort ``inputs`` values: Batcher's odd-even merge sort.

    Built for the next power of two and pruned of the pairs that only ever meet the padding
    (+inf, which the sorted order keeps at the end). 140 pairs for 25 inputs, 28 for 9.
    Plain Python (it runs once per size; callers cache it).
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
    return np.array(kept, np.int64).reshape(-1, 2)


@_inner
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


@_jit
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


@_jit
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


# ---------------------------------------------------------------------------------------------
# Plane fitting
# ---------------------------------------------------------------------------------------------


@_jit
def symmetric_eigen3(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (ascending) and unit eigenvectors (columns) of a symmetric 3x3 matrix.

    Cyclic Jacobi rotations (what cv2.eigen does): accurate to rounding even for the tiny
    smallest eigenvalue of a plane's scatter, which a closed-form cubic solution is not.
    Only the upper triangle is read.
    """
    m = np.empty((3, 3))
    for i in range(3):
        for j in range(i, 3):
            m[i, j] = a[i, j]
            m[j, i] = a[i, j]
    v = np.zeros((3, 3))
    for i in range(3):
        v[i, i] = 1.0
    for _ in range(64):
        if m[0, 1] == 0.0 and m[0, 2] == 0.0 and m[1, 2] == 0.0:
            break
        for p, q in ((0, 1), (0, 2), (1, 2)):
            apq = m[p, q]
            if apq == 0.0:
                continue
            app, aqq = m[p, p], m[q, q]
            if abs(app) + 1e3 * abs(apq) == abs(app) and abs(aqq) + 1e3 * abs(apq) == abs(aqq):
                m[p, q] = m[q, p] = 0.0  # below rounding of both diagonal entries
                continue
            theta = (aqq - app) / (2.0 * apq)
            if abs(theta) > 1e150:
                t = 0.5 / theta
            else:
                t = 1.0 / (abs(theta) + math.sqrt(theta * theta + 1.0))
                if theta < 0.0:
                    t = -t
            c = 1.0 / math.sqrt(t * t + 1.0)
            s = t * c
            m[p, p] = app - t * apq
            m[q, q] = aqq + t * apq
            m[p, q] = m[q, p] = 0.0
            r = 3 - p - q  # the third index
            arp, arq = m[r, p], m[r, q]
            m[r, p] = m[p, r] = c * arp - s * arq
            m[r, q] = m[q, r] = s * arp + c * arq
            for k in range(3):
                vkp, vkq = v[k, p], v[k, q]
                v[k, p] = c * vkp - s * vkq
                v[k, q] = s * vkp + c * vkq
    # Ascending order (a three-element insertion sort; ties keep their order).
    order = [0, 1, 2]
    for i in range(1, 3):
        j = i
        while j > 0 and m[order[j], order[j]] < m[order[j - 1], order[j - 1]]:
            order[j], order[j - 1] = order[j - 1], order[j]
            j -= 1
    values = np.empty(3)
    vectors = np.empty((3, 3))
    for k in range(3):
        values[k] = m[order[k], order[k]]
        for i in range(3):
            vectors[i, k] = v[i, order[k]]
    return values, vectors


@_jit
def plane_fit(
    points: np.ndarray, mask: np.ndarray
) -> tuple[tuple[float, float, float], tuple[float, float, float], np.ndarray, float]:
    """Least-squares plane through the masked columns of ``points`` (3, N).

    Returns the centroid, the scatter's eigenvalues ascending, its unit eigenvectors as rows
    (normal = smallest first) and the offset ``normal . centroid``. The moments are taken
    relative to the middle point (as accurate as explicit centring, one pass).
    """
    n = points.shape[1]
    middle = n // 2
    rx, ry, rz = points[0, middle], points[1, middle], points[2, middle]
    sxx = sxy = sxz = syy = syz = szz = sx = sy = sz = count = 0.0
    for k in range(n):
        if mask[k]:
            x, y, z = points[0, k] - rx, points[1, k] - ry, points[2, k] - rz
            sxx += x * x
            sxy += x * y
            sxz += x * z
            syy += y * y
            syz += y * z
            szz += z * z
            sx += x
            sy += y
            sz += z
            count += 1.0
    scatter = np.empty((3, 3))  # only the upper triangle is read
    scatter[0, 0] = sxx - sx * (sx / count)
    scatter[0, 1] = sxy - sx * (sy / count)
    scatter[0, 2] = sxz - sx * (sz / count)
    scatter[1, 1] = syy - sy * (sy / count)
    scatter[1, 2] = syz - sy * (sz / count)
    scatter[2, 2] = szz - sz * (sz / count)
    values, vectors = symmetric_eigen3(scatter)
    centroid = (rx + sx / count, ry + sy / count, rz + sz / count)
    axes = np.empty((3, 3))
    for i in range(3):
        for j in range(3):
            axes[i, j] = vectors[j, i]
    offset = axes[0, 0] * centroid[0] + axes[0, 1] * centroid[1] + axes[0, 2] * centroid[2]
    return centroid, (values[0], values[1], values[2]), axes, offset


@_inner
def _residuals(points: np.ndarray, nx: float, ny: float, nz: float, offset: float) -> np.ndarray:
    """Signed distances of the columns of ``points`` from the plane ``n . p = offset``."""
    n = points.shape[1]
    out = np.empty(n)
    for k in range(n):
        out[k] = nx * points[0, k] + ny * points[1, k] + nz * points[2, k] - offset
    return out


@_inner
def _within(points: np.ndarray, nx: float, ny: float, nz: float, offset: float, band: float) -> np.ndarray:
    """Which columns of ``points`` lie within ``band`` of the plane ``n . p = offset``."""
    n = points.shape[1]
    out = np.empty(n, np.bool_)
    for k in range(n):
        out[k] = abs(nx * points[0, k] + ny * points[1, k] + nz * points[2, k] - offset) <= band
    return out


@_inner
def _count(mask: np.ndarray) -> int:
    count = 0
    for k in range(mask.size):
        if mask[k]:
            count += 1
    return count


@_inner
def _same(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two masks of one length are equal."""
    for k in range(a.size):
        if a[k] != b[k]:
            return False
    return True


@_inner
def _ransac_plane(points: np.ndarray, band: float, draws: np.ndarray) -> tuple[float, float, float, float]:
    """Best-supported plane (nx, ny, nz, offset) among the triplets ``draws`` (iterations, 3) of ``points``.

    Degenerate triplets (collinear, norm <= 1e-12) are skipped; when all are, the plane is the
    least-squares one. Ties go to the first triplet drawn, as np.argmax picks.
    """
    n = points.shape[1]
    if n < 3:
        total = 0.0
        for k in range(n):
            total += points[2, k]
        return 0.0, 0.0, 1.0, total / n
    best_support, best = -1, (0.0, 0.0, 1.0, 0.0)
    for i in range(draws.shape[0]):
        a, b, c = draws[i, 0], draws[i, 1], draws[i, 2]
        ux, uy, uz = points[0, b] - points[0, a], points[1, b] - points[1, a], points[2, b] - points[2, a]
        vx, vy, vz = points[0, c] - points[0, a], points[1, c] - points[1, a], points[2, c] - points[2, a]
        nx, ny, nz = uy * vz - vy * uz, uz * vx - vz * ux, ux * vy - vx * uy
        norm = math.sqrt(nx * nx + ny * ny + nz * nz)
        if not norm > 1e-12:
            continue
        nx, ny, nz = nx / norm, ny / norm, nz / norm
        offset = nx * points[0, a] + ny * points[1, a] + nz * points[2, a]
        support = 0
        for k in range(n):
            if abs(nx * points[0, k] + ny * points[1, k] + nz * points[2, k] - offset) <= band:
                support += 1
        if support > best_support:
            best_support, best = support, (nx, ny, nz, offset)
    if best_support < 0:  # every triplet degenerate
        _, _, axes, offset = plane_fit(points, np.ones(n, np.bool_))
        return axes[0, 0], axes[0, 1], axes[0, 2], offset
    return best


@_jit
def _lemire_draws(n: int, iterations: int, stream: np.ndarray) -> np.ndarray:
    """``default_rng(seed).integers(0, n, (iterations, 3))`` from the generator's 32-bit ``stream``.

    Lemire's multiply-shift; an empty array where the generator would reject a draw (the
    caller then asks NumPy for the draws: a probability of about n / 2**32 per draw).
    """
    nn = np.uint64(n)
    threshold = np.uint64((4294967296 - n) % n)
    draws = np.empty((iterations, 3), np.int64)
    for k in range(iterations * 3):
        scaled = stream[k] * nn
        if (scaled & np.uint64(0xFFFFFFFF)) < threshold:
            return np.empty((0, 3), np.int64)
        draws[k // 3, k % 3] = np.int64(scaled >> np.uint64(32))
    return draws


@_jit
def _depth_noise(z: np.ndarray) -> float:
    """Robust depth-noise estimate from float32 second differences along rows (planes cancel out)."""
    h, w = z.shape
    d2 = np.empty(h * max(w - 2, 0), np.float32)
    m = 0
    two = np.float32(2.0)
    for r in range(h):
        for c in range(w - 2):
            d = z[r, c] - two * z[r, c + 1] + z[r, c + 2]
            if np.isfinite(d):
                d2[m] = abs(d)
                m += 1
    if m < 8:
        return 0.0
    return 1.4826 * median_of(d2[:m]) / math.sqrt(6.0)


class BoxFit(NamedTuple):
    """What :func:`box_plane` found; vectors in the optical frame, lengths in metres."""

    status: int  # OK, TOO_SPARSE, NO_SURFACE or NEED_DRAWS
    valid_points: int  # finite depth pixels in the grid
    inlier_points: int
    core_points: int  # the RANSAC seed's points (what NEED_DRAWS needs draws for)
    band: float  # the plane's inlier band
    centroid: tuple[float, float, float]
    eigenvalues: tuple[float, float, float]  # ascending
    normal: tuple[float, float, float]  # towards the camera
    short_axis: tuple[float, float, float]  # the middle eigenvector
    long_axis: tuple[float, float, float]  # the largest
    offset: float  # normal . p = offset on the plane
    rms: float
    centre: tuple[float, float, float]  # where the centre ray meets the patch; NaN if it does not
    long_len: float
    short_len: float
    height: float  # above the surface behind the patch; NaN when too little of it was seen


@_inner
def _failed(status: int, valid: int, inliers: int, core: int, band: float) -> BoxFit:
    """A :class:`BoxFit` without a plane (its geometry NaN)."""
    nan3 = (np.nan, np.nan, np.nan)
    return BoxFit(status, valid, inliers, core, band, nan3, nan3, nan3, nan3, nan3, np.nan, np.nan, nan3, 0.0, 0.0, 0.0)


@_jit
def box_plane(
    z: np.ndarray,
    rays: np.ndarray,
    intrinsics: tuple[float, float, float, float, float],
    pixels: tuple[int, int, int, int],
    core_rows: tuple[int, int],
    core_cols: tuple[int, int],
    centre_ray: tuple[float, float, float],
    min_valid_points: int,
    min_valid_fraction: float,
    min_inlier_band: float,
    smoothing_noise: float,
    stream: np.ndarray,
    draws: np.ndarray,
    network: np.ndarray,
) -> BoxFit:
    """The plane fit of :func:`lifting.lift_box` on a sampled depth grid, as one call.

    ``z``: float32 metres (h, w), NaN = invalid; ``rays``: (3, h, w) depth-scaled optical rays of
    those pixels, or for a distortion-free raw image (rays affine in the pixel) an empty
    (3, 0, 0) array, and the rays come from ``intrinsics`` (fx, skew, cx, fy, cy) and
    ``pixels`` (first row, row step, first column, column step of the grid in the image), as
    :meth:`CameraModel.ray_window` computes them; ``core_rows``/``core_cols``: [start, stop)
    of the grid's central part, the RANSAC seed. ``draws``: the RANSAC triplets, or an empty
    (0, 3) array to draw them from the generator's ``stream`` (one draw per iteration and
    corner); the answer is NEED_DRAWS when that stream would reject a draw for this many core
    points. ``network``: the :func:`sorting_network` of 25 (the 5x5 median filter's windows).

    Steps, as the NumPy version took them: the valid pixels' points; the noise estimate and,
    for a noisy sensor, classification depths from a 5x5 median filter; a RANSAC seed on the
    core; two refits of the membership; three trims of the final fit at 3 x MAD; the centre
    ray's hit; the patch's extent and the height above what lies behind it.
    """
    nan3 = (np.nan, np.nan, np.nan)
    h, w = z.shape
    n_valid = 0
    for r in range(h):
        for c in range(w):
            if np.isfinite(z[r, c]):
                n_valid += 1
    if n_valid < min_valid_points or n_valid / (h * w) < min_valid_fraction:
        return _failed(TOO_SPARSE, n_valid, 0, 0, 0.0)

    # The valid pixels (row-major): rays, points, and whether they lie in the core.
    unit = np.empty((3, n_valid))
    points = np.empty((3, n_valid))
    core = np.zeros(n_valid, np.bool_)
    affine = rays.shape[1] == 0
    fx, skew, cx, fy, cy = intrinsics
    row0, row_step, col0, col_step = pixels
    k = 0
    for r in range(h):
        y = (row0 + r * row_step - cy) / fy
        for c in range(w):
            depth = z[r, c]
            if not np.isfinite(depth):
                continue
            if affine:
                x = (col0 + c * col_step - cx) / fx
                if skew != 0.0:
                    x = x - skew * y / fx
                unit[0, k], unit[1, k], unit[2, k] = x, y, 1.0
            else:
                for i in range(3):
                    unit[i, k] = rays[i, r, c]
            for i in range(3):
                points[i, k] = unit[i, k] * np.float64(depth)
            core[k] = core_rows[0] <= r < core_rows[1] and core_cols[0] <= c < core_cols[1]
            k += 1
    n_core = 0
    for i in range(n_valid):
        n_core += core[i]
    if n_core < max(6, min_valid_points // 2):
        for i in range(n_valid):
            core[i] = True
        n_core = n_valid

    noise = _depth_noise(z)
    if noise > smoothing_noise:
        # Noisy sensor: pixels are classified on a 5x5 median-filtered copy (noise / ~4, flying
        # pixels gone) and the plane is fitted to their raw depths (unbiased). The filtered
        # copy's own noise is biased low, so the band comes from the raw estimate.
        band = max(min_inlier_band, 0.75 * noise)
        medians = nan_median_filter_at_valid(z, 5, network)
        classify = np.empty((3, n_valid))
        for i in range(n_valid):
            for j in range(3):
                classify[j, i] = unit[j, i] * np.float64(medians[i])
    else:
        band = max(min_inlier_band, 3.0 * noise)
        classify = points

    # A RANSAC seed on the core, then the membership refitted (twice at most; a refit that
    # keeps the membership is a fixed point).
    seeds = np.empty((3, n_core))
    k = 0
    for i in range(n_valid):
        if core[i]:
            _copy_column(seeds, k, classify, i)
            k += 1
    if draws.shape[0] == 0:
        draws = _lemire_draws(n_core, len(stream) // 3, stream)
        if draws.shape[0] == 0:
            return _failed(NEED_DRAWS, n_valid, 0, n_core, band)
    nx, ny, nz, offset = _ransac_plane(seeds, band, draws)
    member = _within(classify, nx, ny, nz, offset, band)
    for _ in range(2):
        if _count(member) < 3:
            break
        _, _, axes, offset = plane_fit(classify, member)
        updated = _within(classify, axes[0, 0], axes[0, 1], axes[0, 2], offset, band)
        converged = _same(updated, member)
        member = updated
        if converged:
            break

    # The final fit on the raw depths of the members, trimming symmetric outliers (3 x MAD).
    inliers = member
    fitted_on = np.zeros(0, np.bool_)
    fitted = False
    centroid, evals, axes, offset = (0.0, 0.0, 0.0), (0.0, 0.0, 0.0), np.eye(3), 0.0
    scratch = np.empty(n_valid)
    for _ in range(3):
        n_in = _count(inliers)
        if n_in < 3:
            break
        centroid, evals, axes, offset = plane_fit(points, inliers)
        fitted, fitted_on = True, inliers
        residual = _residuals(points, axes[0, 0], axes[0, 1], axes[0, 2], offset)
        k = 0
        for i in range(n_valid):
            residual[i] = abs(residual[i])
            if inliers[i]:
                scratch[k] = residual[i]
                k += 1
        scale = 1.4826 * median_of(scratch[:n_in])
        limit = max(min_inlier_band / 4.0, 3.0 * scale, 1e-5)
        inliers = np.empty(n_valid, np.bool_)
        for i in range(n_valid):
            inliers[i] = member[i] and residual[i] <= limit
        if _same(inliers, fitted_on):
            break
    n_in = _count(inliers)
    if n_in < min_valid_points:
        return _failed(NO_SURFACE, n_valid, n_in, n_core, band)
    if not fitted or not _same(inliers, fitted_on):
        centroid, evals, axes, offset = plane_fit(points, inliers)
    nx, ny, nz = axes[0, 0], axes[0, 1], axes[0, 2]
    if offset > 0:  # orient towards the camera (the optical origin)
        nx, ny, nz, offset = -nx, -ny, -nz, -offset
    residuals = _residuals(points, nx, ny, nz, offset)
    squares = 0.0
    for i in range(n_valid):
        if inliers[i]:
            squares += residuals[i] * residuals[i]
    rms = math.sqrt(squares / n_in)

    # The ray through the box centre meets the plane there, unless it grazes it or the hit
    # lies off the observed patch (farther than a margin from every inlier).
    inlier_points = np.empty((3, n_in))
    k = 0
    for i in range(n_valid):
        if inliers[i]:
            _copy_column(inlier_points, k, points, i)
            k += 1
    rx, ry, rz = centre_ray
    denom = nx * rx + ny * ry + nz * rz
    centre = nan3
    if abs(denom) > 1e-9:
        t = offset / denom
        hit = (rx * t, ry * t, rz * t)
        if t > 0 and abs(denom) > 0.15 * math.sqrt(rx * rx + ry * ry + rz * rz):
            nearest = np.inf
            for i in range(n_in):
                dx, dy, dz = inlier_points[0, i] - hit[0], inlier_points[1, i] - hit[1], inlier_points[2, i] - hit[2]
                nearest = min(nearest, dx * dx + dy * dy + dz * dz)
            if nearest <= (0.02 + 4.0 * rms) ** 2:
                centre = hit

    # Extent along the in-plane axes (long: largest eigenvalue, short: the middle one).
    along = np.empty((2, n_in))
    for i in range(n_in):
        dx = inlier_points[0, i] - centroid[0]
        dy = inlier_points[1, i] - centroid[1]
        dz = inlier_points[2, i] - centroid[2]
        along[0, i] = axes[2, 0] * dx + axes[2, 1] * dy + axes[2, 2] * dz
        along[1, i] = axes[1, 0] * dx + axes[1, 1] * dy + axes[1, 2] * dz
    extents = spans(along, 1.0, 99.0)
    k = 0
    for i in range(n_valid):  # what lies behind the patch (beyond the band, away from the camera)
        if residuals[i] < -band:
            scratch[k] = residuals[i]
            k += 1
    height = -median_of(scratch[:k]) if k >= min_valid_points // 2 and k > 0 else np.nan
    return BoxFit(
        OK, n_valid, n_in, n_core, band, centroid, evals, (nx, ny, nz),
        (axes[1, 0], axes[1, 1], axes[1, 2]), (axes[2, 0], axes[2, 1], axes[2, 2]),
        offset, rms, centre, extents[0], extents[1], height,
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Point cloud and height map
# ---------------------------------------------------------------------------------------------


@_jit
def gappy_cloud(
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


@_jit
def count_inside(cloud: np.ndarray, lo_x: float, lo_y: float, hi_x: float, hi_y: float) -> int:
    """How many of the cloud's points (3, N) lie within [lo, hi] in x and y (inclusive; NaN never does)."""
    count = 0
    for k in range(cloud.shape[1]):
        x, y = cloud[0, k], cloud[1, k]
        if x >= lo_x and x <= hi_x and y >= lo_y and y <= hi_y:
            count += 1
    return count


@_jit
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


@_inner
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


@_inner
def _transposed(grid: np.ndarray) -> np.ndarray:
    ny, nx = grid.shape
    out = np.empty((nx, ny), grid.dtype)
    for y in range(ny):
        for x in range(nx):
            out[x, y] = grid[y, x]
    return out


@_jit
def dilate_square(grid: np.ndarray, half: int) -> np.ndarray:
    """Grey dilation of a float32 grid by the (2 half + 1) square, cells outside ignored (separable)."""
    columns = _running_max_columns(grid, half)
    return _transposed(_running_max_columns(_transposed(columns), half))


@_jit
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


# ---------------------------------------------------------------------------------------------
# Paths
# ---------------------------------------------------------------------------------------------


@_inner
def _height(table: np.ndarray, rows: int, cols: int, ox: float, oy: float, cell: float, x: float, y: float) -> float:
    """``HeightMap._heights`` of one finite-or-not point: cell indices clamped into the border.

    A NaN or huge coordinate lands in the border (NumPy's cast gives it some integer that the
    clip then sends there), which holds the fallback height either way.
    """
    column = np.floor((x - ox) / cell) + 1.0  # np.floor: a float, also for NaN and huge values
    row = np.floor((y - oy) / cell) + 1.0
    c = int(column) if 0.0 <= column <= cols - 1 else (cols - 1 if column > cols - 1 else 0)
    r = int(row) if 0.0 <= row <= rows - 1 else (rows - 1 if row > rows - 1 else 0)
    height: float = table[r * cols + c]
    return height


@_jit
def heights_at(
    table: np.ndarray, rows: int, cols: int, ox: float, oy: float, cell: float, xy: np.ndarray
) -> np.ndarray:
    """:func:`_height` of points given as coordinate rows (2 or more, N): x, y (and anything else)."""
    n = xy.shape[1]
    out = np.empty(n)
    for k in range(n):
        out[k] = _height(table, rows, cols, ox, oy, cell, xy[0, k], xy[1, k])
    return out


@_jit
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


@_jit
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
        _copy_column(out, 0, points, 0)
        _copy_column(out, 1, points, n - 1)
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
    _copy_column(out, 0, points, 0)  # both ends exactly
    _copy_column(out, count - 1, points, n - 1)
    return out


@_jit
def segment_rows(start: np.ndarray, end: np.ndarray, spacing: float) -> np.ndarray:
    """:func:`resample_rows` of the single segment ``start`` -> ``end`` (equal up to rounding)."""
    dx, dy, dz = end[0] - start[0], end[1] - start[1], end[2] - start[2]
    total = math.sqrt(dx * dx + dy * dy + dz * dz)
    if total <= 1e-12:
        out = np.empty((3, 2))
        _set_column(out, 0, start)
        _set_column(out, 1, end)
        return out
    count = _sample_count(total, spacing)
    step = total / (count - 1)
    direction = (dx / total, dy / total, dz / total)
    out = np.empty((3, count))
    for i in range(3):
        for k in range(count):
            out[i, k] = direction[i] * (k * step) + start[i]
    _set_column(out, 0, start)
    _set_column(out, count - 1, end)
    return out


@_jit
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


@_jit
def raise_rows(
    points: np.ndarray,
    table: np.ndarray,
    rows: int,
    cols: int,
    ox: float,
    oy: float,
    cell: float,
    clearance: float,
    slope: float,
    fixed_start: bool,
) -> None:
    """Lift points (3, N), in place and never lower, to ``clearance`` above the surface, along ramps.

    The required height spreads into ramps of at most ``slope`` (an upper envelope over arc
    length s): ``max_j need_j - slope |s_i - s_j|`` is two running maxima, one from each end.
    A fixed start and the last point (the pre-approach) stay where they are.
    """
    n = points.shape[1]
    need = heights_at(table, rows, cols, ox, oy, cell, points)
    ks = arc_length_rows(points)
    for k in range(n):
        need[k] += clearance
        if slope != 1.0:
            ks[k] *= slope
    envelope = np.empty(n)
    running = -np.inf
    for k in range(n):
        running = _max(running, need[k] + ks[k]) if k else need[k] + ks[k]
        envelope[k] = running - ks[k]
    running = -np.inf
    for k in range(n - 1, -1, -1):
        running = _max(running, need[k] - ks[k]) if k < n - 1 else need[k] - ks[k]
        envelope[k] = _max(_max(envelope[k], running + ks[k]), need[k])
    for k in range(1 if fixed_start else 0, n - 1):
        points[2, k] = _max(points[2, k], envelope[k])


@_jit
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


@_jit
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
) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[float, float, float, float]]:
    """Camera rays of the transit points in the base frame and the positions tried along them.

    The optical-frame rays through the OpenCV pixels ``uv`` (2, n) are ``rays`` (3, n), or,
    when that is empty (a distortion-free raw image), come from ``intrinsics`` (fx, skew, cx,
    fy, cy) as :meth:`CameraModel.pixel_ray_rows` computes them. Their reach (the distance to
    the surface) is ``depths`` (the model's, along the optical axis) when given (n entries),
    else the median of the valid depths in ``windows`` (n, 9; float32, NaN = none). A point
    with no depth reaches down to ``floor`` (the lowest observed surface), or 1 m when its ray
    does not descend. Returns the unit directions (3, n), the reach, the positions
    (3, n, samples) at ``fractions`` of the reach (see :func:`ray_samples`) and the xy bounds
    of every ray's two ends.
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
    return directions, reach, candidates, bounds


@_jit
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
            lo_x, hi_x = _min(lo_x, out[0, i, k]), _max(hi_x, out[0, i, k])
            lo_y, hi_y = _min(lo_y, out[1, i, k]), _max(hi_y, out[1, i, k])
    return out, (lo_x, lo_y, hi_x, hi_y)


@_jit
def transit_path(
    candidates: np.ndarray,
    origin: np.ndarray,
    directions: np.ndarray,
    reach: np.ndarray,
    start: np.ndarray,
    start_above: float,
    n_points: int,
    pre: np.ndarray,
    end: np.ndarray,
    table: np.ndarray,
    rows: int,
    cols: int,
    ox: float,
    oy: float,
    cell: float,
    clearance: float,
    slope: float,
    spacing: float,
    kernel: np.ndarray,
    iterations: int,
    weight: float,
) -> tuple[np.ndarray, np.ndarray, int, bool]:
    """The waypoints of :func:`lifting.lift_trajectory` from the rays' samples on.

    Returns (positions, surface heights, approach index, whether every position is finite).

    Each transit point takes the first sample along its ray (``candidates``, from the surface
    towards the camera) that clears the surface by its height; a ray that never does goes
    straight up from its surface point instead. Start (when ``start`` has 3 entries; it then
    stays fixed) + transit points + pre-approach are resampled at half spacing, smoothed,
    raised, twice resampled and raised again, and the straight descent to ``end`` follows.
    ``n_points``: the trajectory's length, which spreads the start's height above the surface
    down to the clearance. Positions come as (N, 3), with the surface height under each.
    """
    n_mid, samples = candidates.shape[1], candidates.shape[2]
    first = 1 if start.size == 3 else 0
    transit = np.empty((3, n_mid + first + 1))
    if first:
        _set_column(transit, 0, start)
    _set_column(transit, n_mid + first, pre)
    for i in range(n_mid):
        height = clearance
        if first:
            fraction = (i + first + 1.0) / n_points
            height = _max(clearance, clearance + (start_above - clearance) * (1.0 - fraction))
        pick = -1
        for k in range(samples):
            x, y = candidates[0, i, k], candidates[1, i, k]
            if candidates[2, i, k] >= _height(table, rows, cols, ox, oy, cell, x, y) + height:
                pick = k
                break
        if pick >= 0:
            for c in range(3):
                transit[c, first + i] = candidates[c, i, pick]
        else:  # the ray never clears (camera too low): straight up from the surface point
            x = origin[0] + reach[i] * directions[0, i]
            y = origin[1] + reach[i] * directions[1, i]
            transit[0, first + i], transit[1, first + i] = x, y
            transit[2, first + i] = _height(table, rows, cols, ox, oy, cell, x, y) + height
    fixed = first == 1
    transit = resample_rows(transit, spacing / 2.0)
    transit = smooth_rows(transit, kernel, iterations, weight)
    raise_rows(transit, table, rows, cols, ox, oy, cell, clearance, slope, fixed)
    for _ in range(2):  # re-space, then re-check (linear interpolation can cut a ramp's corner)
        transit = resample_rows(transit, spacing)
        raise_rows(transit, table, rows, cols, ox, oy, cell, clearance, slope, fixed)
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
    surface = np.empty(total)
    finite = True
    for k in range(total):
        surface[k] = _height(table, rows, cols, ox, oy, cell, positions[k, 0], positions[k, 1])
        for c in range(3):
            finite = finite and np.isfinite(positions[k, c])
    return positions, surface, n_transit - 1, finite


# ---------------------------------------------------------------------------------------------
# Safety
# ---------------------------------------------------------------------------------------------


@_inner
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


@_jit
def _pairwise_sum(values: np.ndarray) -> float:
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


@_jit
def within_limits(points: np.ndarray, limits: np.ndarray) -> bool:
    """Whether a non-empty (N, 3) path violates no safety rule, from its extremes.

    ``limits``: workspace min (3), workspace max (3), the lowest allowed z, the reach centre (3),
    max reach, max segment length, max path length. Each comparison is the full check's
    per-waypoint one applied to the extreme, and the path length is NumPy's own sum, so this
    accepts exactly the paths :func:`safety.check_waypoints` accepts.
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
        if not _pairwise_sum(lengths) <= limits[12]:
            return False
    return True
