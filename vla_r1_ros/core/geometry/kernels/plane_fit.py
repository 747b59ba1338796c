"""Plane fitting in compiled code: least squares through a 3x3 eigensolver, RANSAC, and its draws."""

from __future__ import annotations

import math

import numpy as np

from vla_r1_ros.core.geometry.kernels.jit import inner, jit

__all__ = [
    "symmetric_eigen3",
    "plane_fit",
    "residuals",
    "within_band",
    "count_true",
    "same_mask",
    "ransac_plane",
    "lemire_draws",
]


@jit
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


@jit
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


@inner
def residuals(points: np.ndarray, nx: float, ny: float, nz: float, offset: float) -> np.ndarray:
    """Signed distances of the columns of ``points`` from the plane ``n . p = offset``."""
    n = points.shape[1]
    out = np.empty(n)
    for k in range(n):
        out[k] = nx * points[0, k] + ny * points[1, k] + nz * points[2, k] - offset
    return out


@inner
def within_band(points: np.ndarray, nx: float, ny: float, nz: float, offset: float, band: float) -> np.ndarray:
    """Which columns of ``points`` lie within ``band`` of the plane ``n . p = offset``."""
    n = points.shape[1]
    out = np.empty(n, np.bool_)
    for k in range(n):
        out[k] = abs(nx * points[0, k] + ny * points[1, k] + nz * points[2, k] - offset) <= band
    return out


@inner
def count_true(mask: np.ndarray) -> int:
    """How many entries of a boolean mask are set."""
    count = 0
    for k in range(mask.size):
        if mask[k]:
            count += 1
    return count


@inner
def same_mask(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two masks of one length are equal."""
    for k in range(a.size):
        if a[k] != b[k]:
            return False
    return True


@inner
def ransac_plane(points: np.ndarray, band: float, draws: np.ndarray) -> tuple[float, float, float, float]:
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


@jit
def lemire_draws(n: int, iterations: int, stream: np.ndarray) -> np.ndarray:
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
