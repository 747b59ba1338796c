"""The plane fit of a lifted box as one compiled call (:func:`box_plane`), in named stages."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from vla_r1_ros.core.geometry.kernels.jit import copy_column, inner, jit
from vla_r1_ros.core.geometry.kernels.medians import median_of, nan_median_filter_at_valid, percentile_spans
from vla_r1_ros.core.geometry.kernels.plane_fit import (
    count_true,
    lemire_draws,
    plane_fit,
    ransac_plane,
    residuals,
    same_mask,
    within_band,
)

__all__ = ["BoxFit", "box_plane", "OK", "TOO_SPARSE", "NO_SURFACE", "NEED_DRAWS"]

# box_plane's status codes
OK, TOO_SPARSE, NO_SURFACE, NEED_DRAWS = 0, 1, 2, 3


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


@inner
def _failed(status: int, valid: int, inliers: int, core: int, band: float) -> BoxFit:
    """A :class:`BoxFit` without a plane (its geometry NaN)."""
    nan3 = (np.nan, np.nan, np.nan)
    return BoxFit(status, valid, inliers, core, band, nan3, nan3, nan3, nan3, nan3, np.nan, np.nan, nan3, 0.0, 0.0, 0.0)


@inner
def _count_finite(z: np.ndarray) -> int:
    count = 0
    for r in range(z.shape[0]):
        for c in range(z.shape[1]):
            if np.isfinite(z[r, c]):
                count += 1
    return count


@inner
def _valid_points(
    z: np.ndarray, n_valid: int, rays: np.ndarray, intrinsics: tuple[float, ...], pixels: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """The ``n_valid`` valid pixels' rays (3, n) and points (3, n), row-major."""
    h, w = z.shape
    unit = np.empty((3, n_valid))
    points = np.empty((3, n_valid))
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
            k += 1
    return unit, points


@inner
def _seed_pixels(z: np.ndarray, n_valid: int, rows: tuple[int, int], cols: tuple[int, int], least: int) -> np.ndarray:
    """Which of the ``n_valid`` valid pixels (row-major) lie in the grid's core [rows) x [cols): the RANSAC seed.

    All of them when the core holds fewer than ``least``.
    """
    h, w = z.shape
    core = np.zeros(n_valid, np.bool_)
    k = 0
    for r in range(h):
        for c in range(w):
            if np.isfinite(z[r, c]):
                core[k] = rows[0] <= r < rows[1] and cols[0] <= c < cols[1]
                k += 1
    if count_true(core) < least:
        core[:] = True
    return core


@jit
def depth_noise(z: np.ndarray) -> float:
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


@inner
def _classification(
    z: np.ndarray,
    unit: np.ndarray,
    points: np.ndarray,
    min_inlier_band: float,
    smoothing_noise: float,
    network: np.ndarray,
) -> tuple[np.ndarray, float]:
    """The points that decide plane membership, and the inlier band.

    Noisy sensor: pixels are classified on a 5x5 median-filtered copy (noise / ~4, flying
    pixels gone) and the plane is fitted to their raw depths (unbiased). The filtered copy's
    own noise is biased low, so the band comes from the raw estimate.
    """
    noise = depth_noise(z)
    if not noise > smoothing_noise:
        return points, max(min_inlier_band, 3.0 * noise)
    n_valid = points.shape[1]
    medians = nan_median_filter_at_valid(z, 5, network)
    classify = np.empty((3, n_valid))
    for i in range(n_valid):
        for j in range(3):
            classify[j, i] = unit[j, i] * np.float64(medians[i])
    return classify, max(min_inlier_band, 0.75 * noise)


@inner
def _columns(points: np.ndarray, mask: np.ndarray, count: int) -> np.ndarray:
    """The ``count`` columns of ``points`` (3, N) where ``mask`` is set."""
    out = np.empty((3, count))
    k = 0
    for i in range(points.shape[1]):
        if mask[i]:
            copy_column(out, k, points, i)
            k += 1
    return out


@inner
def _membership(classify: np.ndarray, core: np.ndarray, n_core: int, band: float, draws: np.ndarray) -> np.ndarray:
    """A RANSAC seed on the core, then the membership refitted (twice at most; a refit that
    keeps the membership is a fixed point)."""
    nx, ny, nz, offset = ransac_plane(_columns(classify, core, n_core), band, draws)
    member = within_band(classify, nx, ny, nz, offset, band)
    for _ in range(2):
        if count_true(member) < 3:
            break
        _, _, axes, offset = plane_fit(classify, member)
        updated = within_band(classify, axes[0, 0], axes[0, 1], axes[0, 2], offset, band)
        converged = same_mask(updated, member)
        member = updated
        if converged:
            break
    return member


@inner
def _trimmed_inliers(points: np.ndarray, member: np.ndarray, min_inlier_band: float) -> tuple[
    np.ndarray, np.ndarray, bool, tuple[float, float, float], tuple[float, float, float], np.ndarray, float
]:
    """The final fit on the raw depths of the members, trimming symmetric outliers (3 x MAD, three times at most).

    Returns the inliers, the mask the last fit used (fitted on), whether any fit ran, and that fit.
    """
    n_valid = points.shape[1]
    inliers = member
    fitted_on = np.zeros(0, np.bool_)
    fitted = False
    centroid, evals, axes, offset = (0.0, 0.0, 0.0), (0.0, 0.0, 0.0), np.eye(3), 0.0
    scratch = np.empty(n_valid)
    for _ in range(3):
        n_in = count_true(inliers)
        if n_in < 3:
            break
        centroid, evals, axes, offset = plane_fit(points, inliers)
        fitted, fitted_on = True, inliers
        residual = residuals(points, axes[0, 0], axes[0, 1], axes[0, 2], offset)
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
        if same_mask(inliers, fitted_on):
            break
    return inliers, fitted_on, fitted, centroid, evals, axes, offset


@inner
def _rms(signed: np.ndarray, inliers: np.ndarray, n_in: int) -> float:
    squares = 0.0
    for i in range(signed.size):
        if inliers[i]:
            squares += signed[i] * signed[i]
    return math.sqrt(squares / n_in)


@inner
def _centre_hit(
    inlier_points: np.ndarray,
    normal: tuple[float, float, float],
    offset: float,
    rms: float,
    centre_ray: tuple[float, float, float],
) -> tuple[float, float, float]:
    """Where the ray through the box centre meets the plane; NaN when it grazes the plane or
    the hit lies off the observed patch (farther than a margin from every inlier)."""
    nx, ny, nz = normal
    rx, ry, rz = centre_ray
    denom = nx * rx + ny * ry + nz * rz
    if not abs(denom) > 1e-9:
        return (np.nan, np.nan, np.nan)
    t = offset / denom
    hit = (rx * t, ry * t, rz * t)
    if not (t > 0 and abs(denom) > 0.15 * math.sqrt(rx * rx + ry * ry + rz * rz)):
        return (np.nan, np.nan, np.nan)
    nearest = np.inf
    for i in range(inlier_points.shape[1]):
        dx, dy, dz = inlier_points[0, i] - hit[0], inlier_points[1, i] - hit[1], inlier_points[2, i] - hit[2]
        nearest = min(nearest, dx * dx + dy * dy + dz * dz)
    if nearest <= (0.02 + 4.0 * rms) ** 2:
        return hit
    return (np.nan, np.nan, np.nan)


@inner
def _extents(inlier_points: np.ndarray, centroid: tuple[float, float, float], axes: np.ndarray) -> np.ndarray:
    """The patch's 1-99 % extent along its in-plane axes (long: largest eigenvalue, short: the middle one)."""
    n_in = inlier_points.shape[1]
    along = np.empty((2, n_in))
    for i in range(n_in):
        dx = inlier_points[0, i] - centroid[0]
        dy = inlier_points[1, i] - centroid[1]
        dz = inlier_points[2, i] - centroid[2]
        along[0, i] = axes[2, 0] * dx + axes[2, 1] * dy + axes[2, 2] * dz
        along[1, i] = axes[1, 0] * dx + axes[1, 1] * dy + axes[1, 2] * dz
    return percentile_spans(along, 1.0, 99.0)


@inner
def _height_above_behind(signed: np.ndarray, band: float, min_valid_points: int) -> float:
    """Height of the plane above what lies behind it (beyond the band, away from the camera); NaN if too little does."""
    behind = np.empty(signed.size)
    k = 0
    for i in range(signed.size):
        if signed[i] < -band:
            behind[k] = signed[i]
            k += 1
    return -median_of(behind[:k]) if k >= min_valid_points // 2 and k > 0 else np.nan


@jit
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
    """The plane fit of :func:`~vla_r1_ros.core.geometry.box_lifting.lift_box` on a sampled depth grid, as one call.

    ``z``: float32 metres (h, w), NaN = invalid; ``rays``: (3, h, w) depth-scaled optical rays of
    those pixels, or for a distortion-free raw image (rays affine in the pixel) an empty
    (3, 0, 0) array, and the rays come from ``intrinsics`` (fx, skew, cx, fy, cy) and
    ``pixels`` (first row, row step, first column, column step of the grid in the image), as
    :meth:`CameraRays.ray_window` computes them; ``core_rows``/``core_cols``: [start, stop)
    of the grid's central part, the RANSAC seed. ``draws``: the RANSAC triplets, or an empty
    (0, 3) array to draw them from the generator's ``stream`` (one draw per iteration and
    corner); the answer is NEED_DRAWS when that stream would reject a draw for this many core
    points. ``network``: the ``sorting_network`` of 25 (the 5x5 median filter's windows).

    Steps, as the NumPy version took them: the valid pixels' points; the noise estimate and,
    for a noisy sensor, classification depths from a 5x5 median filter; a RANSAC seed on the
    core; two refits of the membership; three trims of the final fit at 3 x MAD; the centre
    ray's hit; the patch's extent and the height above what lies behind it.
    """
    n_valid = _count_finite(z)
    if n_valid < min_valid_points or n_valid / z.size < min_valid_fraction:
        return _failed(TOO_SPARSE, n_valid, 0, 0, 0.0)
    unit, points = _valid_points(z, n_valid, rays, intrinsics, pixels)
    core = _seed_pixels(z, n_valid, core_rows, core_cols, max(6, min_valid_points // 2))
    n_core = count_true(core)
    classify, band = _classification(z, unit, points, min_inlier_band, smoothing_noise, network)
    if draws.shape[0] == 0:
        draws = lemire_draws(n_core, len(stream) // 3, stream)
        if draws.shape[0] == 0:
            return _failed(NEED_DRAWS, n_valid, 0, n_core, band)
    member = _membership(classify, core, n_core, band, draws)
    inliers, fitted_on, fitted, centroid, evals, axes, offset = _trimmed_inliers(points, member, min_inlier_band)
    n_in = count_true(inliers)
    if n_in < min_valid_points:
        return _failed(NO_SURFACE, n_valid, n_in, n_core, band)
    if not fitted or not same_mask(inliers, fitted_on):
        centroid, evals, axes, offset = plane_fit(points, inliers)
    nx, ny, nz = axes[0, 0], axes[0, 1], axes[0, 2]
    if offset > 0:  # orient towards the camera (the optical origin)
        nx, ny, nz, offset = -nx, -ny, -nz, -offset
    signed = residuals(points, nx, ny, nz, offset)
    rms = _rms(signed, inliers, n_in)
    inlier_points = _columns(points, inliers, n_in)
    centre = _centre_hit(inlier_points, (nx, ny, nz), offset, rms, centre_ray)
    extents = _extents(inlier_points, centroid, axes)
    height = _height_above_behind(signed, band, min_valid_points)
    return BoxFit(
        OK, n_valid, n_in, n_core, band, centroid, evals, (nx, ny, nz),
        (axes[1, 0], axes[1, 1], axes[1, 2]), (axes[2, 0], axes[2, 1], axes[2, 2]),
        offset, rms, centre, extents[0], extents[1], height,
    )  # fmt: skip
