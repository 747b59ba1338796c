"""The speed-ups of the geometry core give what the straightforward computations give.

Each fast path (lazy depth decoding, ray windows, the bordered height-map lookup, the O(N) climb
envelope, the sorting-network row median, the quickselect percentiles) and each compiled kernel
(vla_r1_ros/core/geometry/kernels/) is checked against the plain NumPy formulation it replaces;
the references live here and in test/geometry_reference.py.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from geometry_reference import height_query, raise_to_clearance, smooth_polyline, valid_fraction

from vla_r1_ros.core.geometry.box_lifting import NO_DRAWS, NO_RAYS, RANSAC_RNG_SEED, ransac_draws, ransac_stream
from vla_r1_ros.core.geometry.camera import CameraModel
from vla_r1_ros.core.geometry.depth import DepthImage, DepthRange, decode_depth, encode_depth
from vla_r1_ros.core.geometry.height_map import HeightMap, disk, disk_half_widths
from vla_r1_ros.core.geometry.kernels import box_fit, decode, height_grid, plane_fit, polyline
from vla_r1_ros.core.geometry.kernels.height_grid import HeightTable, heights_at
from vla_r1_ros.core.geometry.kernels.limits import pairwise_sum, within_limits
from vla_r1_ros.core.geometry.kernels.medians import (
    median_of,
    nan_median_filter_at_valid,
    nan_median_rows,
    percentile_spans,
    sorting_network,
)
from vla_r1_ros.core.geometry.kernels.transit import PathShape, transit_path, transit_rays, window_pixels
from vla_r1_ros.core.geometry.rays import rays_of
from vla_r1_ros.core.geometry.settings import BoxLiftSettings, TrajectorySettings
from vla_r1_ros.core.geometry.trajectory_lifting import (
    NO_DEPTHS,
    NO_POINT,
    NO_RAY_ROWS,
    ray_fractions,
    smoothing_kernel,
)

RNG = np.random.default_rng(3)

# The package calls these compiled kernels inline with its own arrays; the adapters below call them
# with plain arguments so that each can be checked against the NumPy computation it replaced.


def _dilations(grid: np.ndarray, radius_cells: float, side: int) -> tuple[np.ndarray, np.ndarray]:
    """``grid`` (float32) dilated by the disk of ``radius_cells`` and by the ``side`` x ``side`` square.

    Cells outside the grid are ignored, as by cv2.dilate. Why not cv2.dilate: the disk is not
    separable, and three OpenCV calls cost more than the rest of the height map; compiled, the
    disk is a maximum of row-wise running maxima and the square two running maxima.
    """
    if side % 2 != 1:
        raise ValueError(f"the fill square needs an odd side, got {side}")
    grid = np.ascontiguousarray(grid, dtype=np.float32)
    return height_grid.dilate_disk(grid, disk_half_widths(radius_cells)), height_grid.dilate_square(grid, side // 2)


def _square(side: int) -> np.ndarray:
    """The fill square as a dilation kernel (what :func:`_dilations` computes without it)."""
    kernel = np.ones((side, side), np.uint8)
    kernel.flags.writeable = False
    return kernel


def _median(values: np.ndarray) -> float:
    """Median of a non-empty 1-D array without NaN (np.median's bookkeeping costs ~20 us a call)."""
    return float(median_of(np.array(values)))  # a copy: the selection reorders it


def _spans(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """Per row of a (k, n) array: ``percentile(row, high) - percentile(row, low)`` (NumPy's linear rule)."""
    spans: np.ndarray = percentile_spans(np.array(values, dtype=float), low, high)  # a copy, reordered
    return spans


def _nan_median_filter_at_valid(grid: np.ndarray, valid: np.ndarray, size: int = 5) -> np.ndarray:
    """NaN-aware ``size`` x ``size`` median filter of a small float32 depth grid at its ``valid`` (finite) pixels.

    Returns one median per valid pixel, in row-major order; edges count as NaN.
    """
    grid = np.ascontiguousarray(grid, dtype=np.float32)
    medians: np.ndarray = nan_median_filter_at_valid(grid, size, sorting_network(size * size))
    return medians


def _segment_rows(start: Sequence[float], end: Sequence[float], spacing: float) -> np.ndarray:
    """:func:`polyline.resample_rows` of the single segment ``start`` -> ``end`` (equal up to rounding)."""
    segment: np.ndarray = polyline.segment_rows(_rows(start), _rows(end), float(spacing))
    return segment


def _nan_median_rows(values: np.ndarray) -> np.ndarray:
    """Row-wise median of depth values (n, k) ignoring NaN (NaN where a row has none), in their dtype."""
    values = np.ascontiguousarray(values)
    medians: np.ndarray = nan_median_rows(values, sorting_network(values.shape[1]))
    return medians


def _rows(points: Sequence[float] | np.ndarray) -> np.ndarray:
    """A polyline's coordinate rows (or a point) as the C-contiguous float array the kernels take."""
    return np.ascontiguousarray(points, dtype=float)


def _noisy_metres(h: int = 24, w: int = 32) -> np.ndarray:
    metres = RNG.uniform(0.05, 12.0, (h, w)).astype(np.float32)
    metres[RNG.random((h, w)) < 0.2] = np.nan
    metres[0, :4] = [np.inf, -np.inf, 0.0, -1.0]
    return metres


def test_lazy_windows_equal_the_decoded_frame() -> None:
    metres = _noisy_metres()
    raw = encode_depth(metres, "16UC1")
    images = [
        DepthImage(metres),
        DepthImage.from_ros(raw, "16UC1", valid_range=DepthRange(0.3, 8.0)),
        DepthImage.from_ros(metres, "32FC1", valid_range=DepthRange(0.3, 8.0)),
    ]
    padded = [raw[r].astype(">u2").tobytes() + b"\0" * 6 for r in range(raw.shape[0])]
    msg = SimpleNamespace(
        data=b"".join(padded),
        width=raw.shape[1],
        height=raw.shape[0],
        step=len(padded[0]),
        encoding="16UC1",
        is_bigendian=True,
        header=SimpleNamespace(frame_id="cam"),
    )
    images.append(DepthImage.from_image_msg(msg, DepthRange(0.3, 8.0)))
    np.testing.assert_array_equal(images[1].metres, decode_depth(raw, "16UC1", DepthRange(0.3, 8.0)))
    np.testing.assert_array_equal(images[3].metres, images[1].metres)
    rows, cols = np.array([[0], [5], [23]]), np.array([[0, 3, 31]])
    for image in images:
        # Read before and after the full frame exists: both paths must decode identically.
        before = (image.window(slice(1, None, 3), slice(2, 30, 2)), image.pixels(rows, cols))
        full = image.metres
        assert not full.flags.writeable
        after = (image.window(slice(1, None, 3), slice(2, 30, 2)), image.pixels(rows, cols))
        for got in (*before, *after):
            assert got.dtype == np.float32
        np.testing.assert_array_equal(before[0], full[1::3, 2:30:2])
        np.testing.assert_array_equal(after[0], full[1::3, 2:30:2])
        np.testing.assert_array_equal(before[1], full[rows, cols])
        np.testing.assert_array_equal(after[1], full[rows, cols])
        assert np.isnan(full[0, :4]).all()
        assert valid_fraction(image) == pytest.approx(np.isfinite(full).mean())


def test_depth_image_does_not_alias_the_callers_array() -> None:
    metres = np.ones((4, 5), np.float32)
    image = DepthImage(metres)
    metres[:] = 7.0
    raw = np.full((4, 5), 1000, np.uint16)
    from_ros = DepthImage.from_ros(raw, "16UC1")
    raw[:] = 2000
    assert image.window(slice(None), slice(None)).max() == 1.0 and image.metres.max() == 1.0
    assert from_ros.metres.max() == pytest.approx(1.0)


def _skewed_camera(distortion: str | None) -> CameraModel:
    """A 64 x 48 camera with skew, with or without plumb_bob distortion."""
    k = [500.0, 2.0, 31.0, 0.0, 480.0, 23.0, 0.0, 0.0, 1.0]
    d = [0.1, -0.05, 0.001, 0.002, 0.01] if distortion else []
    p = [500.0, 0.0, 31.0, 0.0, 0.0, 480.0, 23.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    return CameraModel(k, d, np.eye(3).reshape(-1), p, 64, 48, "plumb_bob")


@pytest.mark.parametrize("distortion", [None, "plumb_bob"])
def test_ray_window_equals_the_ray_grid(distortion: str | None) -> None:
    cam = _skewed_camera(distortion)
    for rectified in (False, True):
        rows, cols = slice(3, 40, 4), slice(1, None, 5)
        components = rays_of(cam).ray_window(rows, cols, rectified)
        shape = rays_of(cam).ray_grid[rows, cols].shape[:2]
        got = np.stack([np.broadcast_to(c, shape) for c in components], axis=-1)
        grid = rays_of(cam).rectified_ray_grid if rectified else rays_of(cam).ray_grid
        np.testing.assert_allclose(got, grid[rows, cols], rtol=0, atol=1e-12)


def _height_map() -> HeightMap:
    grown = RNG.uniform(0.0, 0.3, (7, 9)).astype(np.float32)
    return HeightMap((-0.2, 0.1), 0.05, grown.copy(), grown, 0.42)


def test_height_map_query_matches_the_masked_lookup() -> None:
    hmap = _height_map()
    pts = np.column_stack((RNG.uniform(-0.35, 0.35, 400), RNG.uniform(0.0, 0.55, 400)))
    pts[:6] = [[np.nan, 0.2], [0.1, np.inf], [-np.inf, 0.0], [1e300, 0.2], [0.0, -1e300], [-0.2, 0.1]]
    ix = np.floor((pts[:, 0] - hmap.origin[0]) / hmap.cell)
    iy = np.floor((pts[:, 1] - hmap.origin[1]) / hmap.cell)
    ny, nx = hmap.grown.shape
    expected = np.full(len(pts), hmap.fallback)
    inside = (ix >= 0) & (ix < nx) & (iy >= 0) & (iy < ny)
    expected[inside] = hmap.grown[iy[inside].astype(int), ix[inside].astype(int)]
    expected[~np.isfinite(pts).all(axis=1)] = np.nan
    np.testing.assert_array_equal(height_query(hmap, pts), expected)
    assert inside.sum() > 50 and (~inside).sum() > 50


def test_climb_envelope_matches_the_pairwise_maximum() -> None:
    hmap = _height_map()
    config = TrajectorySettings(max_climb_slope=0.7)
    points = np.column_stack((np.linspace(-0.3, 0.5, 120), np.linspace(0.0, 0.5, 120), RNG.uniform(0, 0.2, 120)))
    for fixed_start in (False, True):
        out = raise_to_clearance(points, hmap, config, fixed_start)
        need = height_query(hmap, points[:, :2]) + config.clearance
        s = np.concatenate(([0.0], np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))))
        envelope = np.max(need[None, :] - config.max_climb_slope * np.abs(s[:, None] - s[None, :]), axis=1)
        inner = slice(1 if fixed_start else 0, len(points) - 1)
        expected = points.copy()
        expected[inner, 2] = np.maximum(points[inner, 2], envelope[inner])
        np.testing.assert_allclose(out, expected, rtol=0, atol=1e-12)
        assert np.all(out[inner, 2] >= need[inner])  # never below its own requirement, even by rounding


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_row_median_ignores_nan_like_nanmedian(dtype: type) -> None:
    values = RNG.uniform(0.1, 5.0, (300, 25)).astype(dtype)
    values[RNG.random(values.shape) < 0.3] = np.nan
    values[0] = np.nan
    values[1, :] = 2.0
    values[2, 1:] = -np.float32(np.nan) if dtype is np.float32 else -np.nan  # NaN with its sign bit set
    with np.errstate(all="ignore"), pytest.warns(RuntimeWarning):
        expected = np.nanmedian(values, axis=1)
    np.testing.assert_allclose(_nan_median_rows(values), expected, rtol=1e-6, equal_nan=True)


def test_spans_and_median_match_numpy() -> None:
    for n in (1, 2, 3, 10, 101, 640):
        values = RNG.normal(size=(2, n))
        expected = np.percentile(values, 99, axis=1) - np.percentile(values, 1, axis=1)
        np.testing.assert_allclose(_spans(values, 1.0, 99.0), expected, rtol=0, atol=1e-12)
        assert _median(values[0]) == pytest.approx(float(np.median(values[0])), abs=1e-15)


# ---------------------------------------------------------------------------------------------
# Fast paths of the per-request budget (1 ms, benchmarks/bench_geometry.py): each against the plain version
# ---------------------------------------------------------------------------------------------


def test_ransac_draws_are_numpys_own() -> None:
    # Includes sizes where Lemire's method rejects a draw (the generator itself is used there).
    for n in [*range(3, 3000), 2**31 - 1, 2**31 + 5, 4_000_000_001]:
        expected = np.random.default_rng(RANSAC_RNG_SEED).integers(0, n, size=(24, 3))
        np.testing.assert_array_equal(ransac_draws(n, 24), expected)


@pytest.mark.parametrize("radius, side", [(5.5, 33), (2.5, 9), (3.2, 7), (4.0, 21), (7.5, 41), (1.5, 3), (5.5, 9)])
def test_footprint_dilations_equal_the_disk_and_the_square(radius: float, side: int) -> None:
    grid = np.where(RNG.random((40, 37)) < 0.2, RNG.uniform(0.0, 0.3, (40, 37)), -1e9).astype(np.float32)
    grown, filled = _dilations(grid, radius, side)
    np.testing.assert_array_equal(grown, cv2.dilate(grid, disk(radius)))
    np.testing.assert_array_equal(filled, cv2.dilate(grid, _square(side)))
    kernel = disk(radius)
    yy, xx = np.mgrid[: kernel.shape[0], : kernel.shape[1]] - kernel.shape[0] // 2
    np.testing.assert_array_equal(kernel, (xx * xx + yy * yy <= radius * radius + 1e-9).astype(np.uint8))


@pytest.mark.parametrize(
    "count, iterations", [(2, 4), (3, 4), (4, 4), (5, 4), (6, 4), (40, 4), (40, 1), (40, 0), (9, 7)]
)
def test_one_filter_smoothing_equals_the_steps(count: int, iterations: int) -> None:
    points = RNG.uniform(-1.0, 1.0, (count, 3))
    expected = points.copy()
    for _ in range(iterations if count > 2 else 0):
        expected[1:-1] += 0.3 * (0.5 * (expected[:-2] + expected[2:]) - expected[1:-1])
    got = smooth_polyline(points, iterations, 0.3)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-13)
    np.testing.assert_array_equal(got[[0, -1]], points[[0, -1]])  # the ends never move


def test_segment_resampling_equals_the_general_resampling() -> None:
    for _ in range(50):
        a, b = RNG.uniform(-1.0, 1.0, 3), RNG.uniform(-1.0, 1.0, 3) * RNG.choice([1.0, 1e-13])
        got = _segment_rows(a.tolist(), b.tolist(), 0.01)
        resampled = polyline.resample_rows(_rows(np.column_stack((a, b))), 0.01)
        np.testing.assert_allclose(got, resampled, rtol=0, atol=1e-15)


def test_median_filter_at_valid_pixels_equals_nanmedian_windows() -> None:
    grid = RNG.uniform(0.5, 1.5, (13, 17)).astype(np.float32)
    grid[RNG.random(grid.shape) < 0.25] = np.nan
    padded = np.pad(grid, 2, constant_values=np.nan)
    rows, cols = np.nonzero(np.isfinite(grid))
    expected = [np.nanmedian(padded[r : r + 5, c : c + 5]) for r, c in zip(rows, cols)]
    got = _nan_median_filter_at_valid(grid, np.isfinite(grid))
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_internal_height_lookups_equal_the_query() -> None:
    hmap = _height_map()
    xy = np.column_stack((RNG.uniform(-0.5, 0.6, 300), RNG.uniform(-0.2, 0.8, 300)))
    xy[:3] = [[-0.2, 0.1], [1e30, -1e30], [-0.2 + 9 * 0.05, 0.1 + 7 * 0.05]]  # a corner, far away, just off the grid
    expected = height_query(hmap, xy)
    with np.errstate(invalid="ignore"):  # 1e30 has no integer cell index (lift_trajectory silences this too)
        np.testing.assert_array_equal(heights_at(hmap.table, xy.T), expected)
    assert [hmap.height_at(x, y) for x, y in xy.tolist()] == expected.tolist()


def test_fast_safety_acceptance_agrees_with_the_full_check() -> None:
    from vla_r1_ros.core.geometry import SafetyLimits, check_waypoints
    from vla_r1_ros.core.geometry.safety import _passes_every_rule

    limits = SafetyLimits(max_segment_length=0.05, max_path_length=1.0)
    agreements = {True: 0, False: 0}
    for _ in range(400):
        path = np.cumsum(RNG.normal(0.0, 0.02, (RNG.integers(1, 40), 3)), axis=0) + np.array([0.4, 0.0, 0.3])
        if RNG.random() < 0.05:
            path[RNG.integers(len(path))] = np.nan
        accepted = check_waypoints(path, limits).accepted
        assert _passes_every_rule(path, limits) == accepted
        agreements[accepted] += 1
    assert min(agreements.values()) > 50


@pytest.mark.parametrize("distortion", [None, "plumb_bob"])
def test_single_pixel_rays_and_ray_rows_equal_pixel_rays(distortion: str | None) -> None:
    cam = _skewed_camera(distortion)
    uv = RNG.uniform(-5.0, 70.0, (20, 2))
    for rectified in (False, True):
        expected = rays_of(cam).pixel_rays(uv, rectified)
        np.testing.assert_allclose(rays_of(cam).pixel_ray_rows(uv.T, rectified), expected.T, rtol=0, atol=1e-15)
        got = np.array([rays_of(cam).ray_through(u, v, rectified) for u, v in uv.tolist()])
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-15)
        rows, cols = slice(3, 40, 4), slice(1, None, 5)
        np.testing.assert_array_equal(
            rays_of(cam).ray_planes(rows, cols, rectified),
            np.moveaxis((rays_of(cam).rectified_ray_grid if rectified else rays_of(cam).ray_grid)[rows, cols], -1, 0)
            if distortion or rectified
            else np.stack(np.broadcast_arrays(*rays_of(cam).ray_window(rows, cols, rectified))),
        )


# ---------------------------------------------------------------------------------------------
# The compiled stages (core/geometry/kernels/): each against the plain NumPy computation
# it replaced (written out here, as the lifting computed it before), so a compiled routine that
# drifts from it fails
# ---------------------------------------------------------------------------------------------

from vla_r1_ros.core.geometry.depth import _compiled_rule, _decode  # noqa: E402


def _frozen(array: np.ndarray) -> np.ndarray:
    """A read-only array, as lifting hands its constant tables over (numba compiles each
    memory layout and writeability on its own: the tests use the lifting's, not new ones)."""
    array.flags.writeable = False
    return array


def test_quickselect_median_and_percentile_spans_match_numpy() -> None:
    for n in (1, 2, 3, 4, 7, 8, 25, 600, 1001):
        for dtype in (np.float64, np.float32):
            values = RNG.normal(size=n).astype(dtype)
            values[: n // 3] = values[-1]  # ties
            got = median_of(values.copy())
            assert got == float(np.median(values)), (n, dtype)  # the same pair, added in the same dtype
        rows = RNG.normal(size=(2, n))
        expected = np.percentile(rows, 99, axis=1) - np.percentile(rows, 1, axis=1)
        np.testing.assert_allclose(percentile_spans(rows.copy(), 1.0, 99.0), expected, rtol=0, atol=1e-12)


def test_sorting_networks_sort() -> None:
    network = sorting_network(9)
    for bits in range(2**9):  # the 0-1 principle: a network that sorts every 0/1 input sorts everything
        values = [(bits >> k) & 1 for k in range(9)]
        for a, b in network:
            if values[a] > values[b]:
                values[a], values[b] = values[b], values[a]
        assert values == sorted(values)
    network = sorting_network(25)
    for _ in range(300):
        values = RNG.integers(0, 5, 25).tolist()
        for a, b in network:
            if values[a] > values[b]:
                values[a], values[b] = values[b], values[a]
        assert values == sorted(values)


def test_symmetric_eigen_and_plane_fit_match_linalg() -> None:
    for scale in (1.0, 1e-6, 1e3):
        for _ in range(50):
            m = RNG.normal(size=(3, 3)) * scale
            m = m + m.T
            if RNG.random() < 0.3:  # a plane's scatter: one tiny eigenvalue
                m = np.cov(RNG.normal(size=(3, 40)) * [[0.05], [0.02], [1e-4]]) * scale
            values, vectors = plane_fit.symmetric_eigen3(m)
            expected = np.linalg.eigvalsh(m)
            np.testing.assert_allclose(values, expected, rtol=0, atol=1e-13 * np.abs(expected).max())
            np.testing.assert_allclose(m @ vectors, vectors * values, rtol=0, atol=1e-12 * np.abs(expected).max())
            np.testing.assert_allclose(vectors.T @ vectors, np.eye(3), rtol=0, atol=1e-13)
    points = RNG.normal(size=(3, 300)) * [[0.04], [0.02], [0.001]] + [[0.1], [-0.2], [0.8]]
    mask = RNG.random(300) < 0.7
    centroid, values, axes, offset = plane_fit.plane_fit(points, mask)
    chosen = points[:, mask]
    mean = chosen.mean(axis=1)
    expected_values, expected_vectors = np.linalg.eigh(np.cov(chosen, bias=True) * mask.sum())
    np.testing.assert_allclose(centroid, mean, rtol=0, atol=1e-15)
    np.testing.assert_allclose(values, expected_values, rtol=1e-9)
    assert abs(abs(axes[0] @ expected_vectors[:, 0]) - 1.0) < 1e-12  # the normal, up to its sign
    assert offset == pytest.approx(axes[0] @ mean, abs=1e-15)


def _reference_plane_fit(points: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    middle = points[:, points.shape[1] // 2]
    q = points[:, mask] - middle[:, None]
    sums = q.sum(axis=1)
    values, vectors = np.linalg.eigh(q @ q.T - np.outer(sums, sums / q.shape[1]))
    centroid = middle + sums / q.shape[1]
    return centroid, values, vectors.T, float(vectors[:, 0] @ centroid)


def _reference_box_plane(
    z: np.ndarray, rays: np.ndarray, core: tuple[slice, slice], ray: np.ndarray, config: BoxLiftSettings
) -> dict[str, object]:
    """What lift_box computed in NumPy before box_fit.box_plane (cv2.eigen there, eigh here)."""
    valid = np.isfinite(z)
    unit = rays[:, valid]
    points = unit * z[valid]
    core_mask = np.zeros(z.shape, bool)
    core_mask[core] = True
    in_core = core_mask[valid]
    if in_core.sum() < max(6, config.min_valid_points // 2):
        in_core[:] = True
    d2 = (z[:, :-2] - 2.0 * z[:, 1:-1] + z[:, 2:]).ravel()
    d2 = np.abs(d2[np.isfinite(d2)])
    noise = 0.0 if d2.size < 8 else 1.4826 * float(np.median(d2)) / np.sqrt(6.0)
    if noise > config.smoothing_noise:
        band = max(config.min_inlier_band, 0.75 * noise)
        padded = np.pad(z, 2, constant_values=np.nan)
        medians = [np.nanmedian(padded[r : r + 5, c : c + 5]) for r, c in zip(*np.nonzero(valid))]
        classify = unit * np.array(medians, np.float32)
    else:
        band = max(config.min_inlier_band, 3.0 * noise)
        classify = points
    seeds = classify[:, in_core]
    draws = ransac_draws(seeds.shape[1], config.ransac_iterations)
    a, b, c = seeds[:, draws[:, 0]], seeds[:, draws[:, 1]], seeds[:, draws[:, 2]]
    normals = np.cross((b - a).T, (c - a).T).T
    norms = np.linalg.norm(normals, axis=0)
    good = norms > 1e-12
    normals, a = normals[:, good] / norms[good], a[:, good]
    offsets = (normals * a).sum(axis=0)
    support = (np.abs(normals.T @ seeds - offsets[:, None]) <= band).sum(axis=1)
    best = int(np.argmax(support))
    member = np.abs(normals[:, best] @ classify - offsets[best]) <= band
    for _ in range(2):
        _, _, axes, offset = _reference_plane_fit(classify, member)
        updated = np.abs(axes[0] @ classify - offset) <= band
        converged = np.array_equal(updated, member)
        member = updated
        if converged:
            break
    inliers, fitted_on = member, None
    for _ in range(3):
        fit, fitted_on = _reference_plane_fit(points, inliers), inliers
        residual = np.abs(fit[2][0] @ points - fit[3])
        scale = 1.4826 * float(np.median(residual[inliers]))
        inliers = member & (residual <= max(config.min_inlier_band / 4.0, 3.0 * scale, 1e-5))
        if np.array_equal(inliers, fitted_on):
            break
    if not np.array_equal(inliers, fitted_on):
        fit = _reference_plane_fit(points, inliers)
    centroid, values, axes, offset = fit
    normal = axes[0]
    if offset > 0:
        normal, offset = -normal, -offset
    residuals = normal @ points - offset
    rms = float(np.sqrt(np.mean(residuals[inliers] ** 2)))
    denom = normal @ ray
    t = offset / denom
    hit = ray * t
    near = np.min(np.sum((points[:, inliers] - hit[:, None]) ** 2, axis=0)) <= (0.02 + 4.0 * rms) ** 2
    hits = t > 0 and abs(denom) > 0.15 * np.linalg.norm(ray) and near  # not grazing, on the patch
    along = np.array([axes[2], axes[1]]) @ (points[:, inliers] - centroid[:, None])
    extents = np.percentile(along, 99, axis=1) - np.percentile(along, 1, axis=1)
    behind = residuals[residuals < -band]
    return {
        "valid_points": int(valid.sum()), "inlier_points": int(inliers.sum()), "band": band,
        "centroid": centroid, "eigenvalues": values, "normal": normal, "short_axis": axes[1],
        "long_axis": axes[2], "offset": offset, "rms": rms, "centre": hit if hits else None,
        "extents": extents, "height": -float(np.median(behind)) if behind.size >= 10 else np.nan,
    }  # fmt: skip


def _box_grid(noise: float) -> tuple[np.ndarray, CameraModel]:
    """A 31 x 27 sampled depth grid of a box top (tilted) on a table, with dropouts and flying pixels."""
    camera = CameraModel.from_intrinsics(520.0, 515.0, 319.5, 239.5, 640, 480)
    rows, cols = np.mgrid[200:262:2, 280:334:2]
    table = 0.9 + 0.0004 * (rows - 200) + 0.0002 * (cols - 280)
    top = 0.75 + 0.0003 * (rows - 230) - 0.0002 * (cols - 300)
    z = np.where((np.abs(rows - 231) < 20) & (np.abs(cols - 307) < 18), top, table)
    z = (z + RNG.normal(0.0, noise, z.shape)).astype(np.float32)
    z[RNG.random(z.shape) < 0.08] = np.nan
    z[RNG.random(z.shape) < 0.02] = 2.5  # flying pixels
    return z, camera


@pytest.mark.parametrize("noise", [0.0, 0.0005, 0.002, 0.004])
def test_box_plane_equals_the_numpy_pipeline(noise: float) -> None:
    z, camera = _box_grid(noise)
    config = BoxLiftSettings()
    row_slice, col_slice = slice(200, 262, 2), slice(280, 334, 2)
    table = rays_of(camera).ray_window_planes(row_slice, col_slice)
    ray = np.array(rays_of(camera).ray_through(307.0, 231.0))
    expected = _reference_box_plane(z, table, (slice(8, 23), slice(7, 20)), ray, config)
    args = (
        (8, 23), (7, 20), tuple(ray.tolist()), config.min_valid_points, config.min_valid_fraction,
        config.min_inlier_band, config.smoothing_noise, ransac_stream(3 * config.ransac_iterations),
        NO_DRAWS, sorting_network(25),
    )  # fmt: skip
    affine = box_fit.box_plane(z, NO_RAYS, rays_of(camera).affine_rays(), (200, 2, 280, 2), *args)
    tabled = box_fit.box_plane(z, table, (1.0, 0.0, 0.0, 1.0, 0.0), (0, 1, 0, 1), *args)
    np.testing.assert_equal(tuple(affine), tuple(tabled))  # the in-kernel rays are the camera's, to the bit
    assert affine.status == box_fit.OK
    assert affine.valid_points == expected["valid_points"] and affine.inlier_points == expected["inlier_points"]
    assert affine.band == pytest.approx(expected["band"], rel=1e-12)
    np.testing.assert_allclose(affine.centroid, expected["centroid"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(affine.eigenvalues, expected["eigenvalues"], rtol=1e-8, atol=1e-16)
    np.testing.assert_allclose(affine.normal, expected["normal"], rtol=0, atol=1e-10)
    for axis in ("short_axis", "long_axis"):  # eigenvectors: either sign
        assert abs(abs(np.dot(getattr(affine, axis), expected[axis])) - 1.0) < 1e-10
    assert affine.offset == pytest.approx(expected["offset"], abs=1e-12)
    assert affine.rms == pytest.approx(expected["rms"], rel=1e-9)
    if expected["centre"] is None:  # the centre ray misses the fitted patch
        assert np.isnan(affine.centre).all()
    else:
        np.testing.assert_allclose(affine.centre, expected["centre"], rtol=0, atol=1e-12)
    np.testing.assert_allclose((affine.long_len, affine.short_len), expected["extents"], rtol=0, atol=1e-12)
    assert affine.height == pytest.approx(expected["height"], abs=1e-12)


def test_box_plane_reports_sparse_depth_and_missing_surfaces() -> None:
    z, camera = _box_grid(0.0)
    config = BoxLiftSettings()
    stream = ransac_stream(3 * config.ransac_iterations)

    def fit(grid: np.ndarray) -> box_fit.BoxFit:
        return box_fit.box_plane(
            grid, NO_RAYS, rays_of(camera).affine_rays(), (200, 2, 280, 2), (8, 23), (7, 20), (0.0, 0.0, 1.0),
            config.min_valid_points, config.min_valid_fraction, config.min_inlier_band, config.smoothing_noise,
            stream, NO_DRAWS, sorting_network(25),
        )  # fmt: skip

    sparse = np.full_like(z, np.nan)
    sparse[:2, :5] = 0.8
    assert (fit(sparse).status, fit(sparse).valid_points) == (box_fit.TOO_SPARSE, 10)
    scattered = np.full_like(z, np.nan)  # no plane anywhere (and no noise estimate: a narrow band)
    scattered[::2, ::2] = RNG.uniform(0.5, 3.0, scattered[::2, ::2].shape)
    result = fit(scattered)
    assert result.status == box_fit.NO_SURFACE and result.inlier_points < config.min_valid_points


def test_lemire_draws_are_numpys_or_ask_for_them() -> None:
    stream = ransac_stream(72)
    rejected = 0
    for n in range(3, 3000):
        draws = plane_fit.lemire_draws(n, 24, stream)
        expected = np.random.default_rng(RANSAC_RNG_SEED).integers(0, n, size=(24, 3))
        if draws.size:
            np.testing.assert_array_equal(draws, expected)
        else:  # the generator rejects one of the stream's draws here: lifting asks NumPy itself
            rejected += 1
            scaled = stream * np.uint64(n)
            assert int(scaled.astype(np.uint32).min()) < (2**32 - n) % n
    assert rejected < 5


@pytest.mark.parametrize(
    "encoding, valid_range",
    [("32FC1", None), ("32FC1", DepthRange(0.3, 8.0)), ("16UC1", DepthRange()), ("16UC1", DepthRange(0.0, 4.0))],
)
def test_compiled_depth_decoding_equals_decode(encoding: str, valid_range: DepthRange | None) -> None:
    metres = _noisy_metres(40, 50)
    edges = np.float32([0.3, 8.0, 4.0, 10.0, 0.1])  # the bounds themselves and their neighbours
    metres[1, :15] = np.concatenate([edges, np.nextafter(edges, np.float32(0)), np.nextafter(edges, np.float32(99))])
    source = _frozen(encode_depth(metres, encoding) if encoding == "16UC1" else metres)
    scale = 0.001 if encoding == "16UC1" else None
    rule = _compiled_rule(source, scale, valid_range)
    assert rule is not None
    rows, cols = slice(1, 40, 3), slice(0, None, 2)
    r, c = range(40)[rows], range(50)[cols]
    got = decode.decode_window(source, (r.start, r.step, len(r)), (c.start, c.step, len(c)), *rule)
    np.testing.assert_array_equal(got, _decode(source[rows, cols], scale, valid_range))
    pr, pc = RNG.integers(0, 40, 300), RNG.integers(0, 50, 300)
    inside, got = decode.decode_pixels(source, pr, pc, *rule)
    assert inside
    np.testing.assert_array_equal(got, _decode(source[pr, pc], scale, valid_range))
    image = DepthImage.from_ros(source, encoding, valid_range=valid_range or DepthRange(0.0, np.inf))
    if valid_range is not None:
        np.testing.assert_array_equal(image.pixels(pr, pc), image.metres[pr, pc])
    swapped = source.astype(source.dtype.newbyteorder(">"))  # big-endian: NumPy's decoder, same values
    assert _compiled_rule(swapped, scale, valid_range) is None


def test_window_pixels_are_the_clamped_3x3_windows() -> None:
    uv = np.vstack((RNG.uniform(-3.0, 70.0, 40), RNG.uniform(-3.0, 50.0, 40)))
    uv[:, :3] = [[np.nan, 63.5, 0.5], [10.0, np.nan, 47.5]]  # NaN goes to the border; .5 rounds to even
    rows, cols = window_pixels(uv, 64, 48)
    limits = np.array([63.0, 47.0])
    centres = np.fmin(np.fmax(np.rint(uv.T), 0.0), limits)
    around = np.fmin(np.fmax(centres[:, :, None] + [-1.0, 0.0, 1.0], 0.0), limits[:, None]).astype(int)
    expected_rows = np.broadcast_to(around[:, 1, :, None], (40, 3, 3)).reshape(-1)
    expected_cols = np.broadcast_to(around[:, 0, None, :], (40, 3, 3)).reshape(-1)
    np.testing.assert_array_equal(rows, expected_rows)
    np.testing.assert_array_equal(cols, expected_cols)


def test_base_frame_cloud_equals_the_matrix_product() -> None:
    z = _noisy_metres(12, 16)
    z[~((z > 0) & np.isfinite(z))] = np.nan
    planes = _frozen(np.stack([RNG.normal(size=(12, 16)), RNG.normal(size=(12, 16)), np.ones((12, 16))]))
    rotation = np.linalg.qr(RNG.normal(size=(3, 3)))[0]
    translation = RNG.normal(size=3)
    points, lowest, highest = height_grid.base_frame_cloud(z, planes, rotation, translation)
    expected = rotation @ (planes * z).reshape(3, -1) + translation[:, None]
    np.testing.assert_allclose(points, expected, rtol=0, atol=1e-13)
    np.testing.assert_array_equal(np.isnan(points), np.isnan(expected))
    assert (lowest, highest) == (np.fmin.reduce(points[2]), np.fmax.reduce(points[2]))
    corner = _frozen(planes[:, :2, :2].copy())
    gaps = height_grid.base_frame_cloud(np.full((2, 2), np.nan, np.float32), corner, rotation, translation)
    assert np.isnan(gaps[1]) and np.isnan(gaps[2])


def _reference_height_grid(
    cloud: np.ndarray,
    bounds: tuple[float, ...],
    cell: float,
    nx: int,
    ny: int,
    radius: float,
    side: int,
    fallback: float,
) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    """DepthScene.height_map's grid as it was built in NumPy and OpenCV."""
    lo_x, lo_y, hi_x, hi_y = bounds
    inside = (cloud[0] >= lo_x) & (cloud[0] <= hi_x) & (cloud[1] >= lo_y) & (cloud[1] <= hi_y)
    points = cloud[:, inside]
    cells = ((points[:2] - np.array([[lo_x], [lo_y]])) / cell).astype(np.int64)
    raw = np.full((ny + 2, nx + 2), -1e9, np.float32)
    np.maximum.at(raw, (cells[1] + 1, cells[0] + 1), points[2].astype(np.float32))
    grown = cv2.dilate(raw, disk(radius))
    filled = cv2.dilate(raw, np.ones((side, side), np.uint8))
    grown = np.where(grown > np.float32(-5e8), grown, filled)
    grown[grown <= np.float32(-5e8)] = np.float32(fallback)
    table = grown.astype(float)
    table[0] = table[-1] = table[:, 0] = table[:, -1] = fallback
    raw[raw <= np.float32(-5e8)] = np.nan
    return int(inside.sum()), raw, grown, table.reshape(-1)


def test_height_grid_equals_the_opencv_height_map() -> None:
    cloud = np.vstack((RNG.uniform(-0.3, 0.5, 3000), RNG.uniform(-0.2, 0.4, 3000), RNG.uniform(0.0, 0.2, 3000)))
    cloud[:, RNG.random(3000) < 0.1] = np.nan  # the gaps
    cloud[:, (cloud[0] > 0.0) & (cloud[0] < 0.15)] = np.nan  # an occlusion shadow: the fill square's work
    cloud = _frozen(cloud)
    bounds, cell, radius = (-0.25, -0.15, 0.45, 0.35), 0.01, 5.5
    nx, ny = 71, 51
    fallback = float(np.fmax.reduce(cloud[2]))
    got = height_grid.height_grid(cloud, *bounds, cell, nx, ny, disk_half_widths(radius), 16, fallback)
    expected = _reference_height_grid(cloud, bounds, cell, nx, ny, radius, 33, fallback)
    assert got[0] == expected[0]
    for g, e in zip(got[1:], expected[1:]):
        np.testing.assert_array_equal(g, e)
    assert height_grid.height_grid(cloud, 5.0, 5.0, 6.0, 6.0, cell, 101, 101, disk_half_widths(radius), 16,
                                fallback)[0] == 0  # fmt: skip
    assert height_grid.count_inside(cloud, *bounds) == expected[0]


def test_resampling_follows_np_interp() -> None:
    for count in (1, 2, 3, 9, 40):
        points = np.cumsum(RNG.normal(0.0, 0.02, (3, count)), axis=1)
        if count > 3:
            points[:, 2] = points[:, 1]  # a zero-length segment (a repeated knot)
        got = polyline.resample_rows(points, 0.01)
        if count < 2:
            np.testing.assert_array_equal(got, points)
            continue
        s = np.concatenate(([0.0], np.cumsum(np.linalg.norm(np.diff(points, axis=1), axis=0))))
        n = max(2, int(np.ceil(s[-1] / 0.01 - 1e-9)) + 1)
        targets = np.arange(n) * (s[-1] / (n - 1))
        expected = np.array([np.interp(targets, s, row) for row in points])
        expected[:, [0, -1]] = points[:, [0, -1]]
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-15)
        np.testing.assert_allclose(polyline.arc_length_rows(points), s, rtol=0, atol=1e-15)
    with pytest.raises(ValueError, match="NaN"):  # as math.ceil raised on a NaN length
        polyline.resample_rows(np.array([[0.0, np.nan], [0.0, 0.0], [0.0, 0.0]]), 0.01)


def _reference_heights(
    table: np.ndarray, shape: tuple[int, int], origin: tuple[float, float], cell: float, xy: np.ndarray
) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        cells = (np.floor((xy - np.array(origin)[:, None]) / cell) + 1.0).astype(np.intp)
    return table[np.ravel_multi_index((cells[1], cells[0]), shape, mode="clip")]


def _reference_resample(points: np.ndarray, spacing: float) -> np.ndarray:
    s = np.concatenate(([0.0], np.cumsum(np.linalg.norm(np.diff(points, axis=1), axis=0))))
    if s[-1] <= 1e-12:
        return points[:, [0, -1]]
    n = max(2, int(np.ceil(s[-1] / spacing - 1e-9)) + 1)
    out = np.array([np.interp(np.arange(n) * (s[-1] / (n - 1)), s, row) for row in points])
    out[:, [0, -1]] = points[:, [0, -1]]
    return out


def _reference_raise(points: np.ndarray, heights: np.ndarray, clearance: float, slope: float, fixed: bool) -> None:
    need = heights + clearance
    s = np.concatenate(([0.0], np.cumsum(np.linalg.norm(np.diff(points, axis=1), axis=0))))
    envelope = np.max(need[None, :] - slope * np.abs(s[:, None] - s[None, :]), axis=1)
    inner = slice(1 if fixed else 0, points.shape[1] - 1)
    points[2, inner] = np.maximum(points[2, inner], envelope[inner])


def _reference_transit(args: tuple, iterations: int, weight: float) -> tuple[np.ndarray, np.ndarray, int]:
    """lift_trajectory's transit section as it was in NumPy (plain smoothing steps, pairwise envelope)."""
    (cand, origin, dirs, reach, start, start_above, n, pre, end, table, rows, cols, ox, oy, cell, clearance,
     slope, spacing) = args[:18]  # fmt: skip

    def heights(xy: np.ndarray) -> np.ndarray:
        return _reference_heights(table, (rows, cols), (ox, oy), cell, xy)

    first, n_mid = (1 if start.size else 0), cand.shape[1]
    lift = np.full(n_mid, clearance)
    if first:
        fraction = (np.arange(first, n - 1) + 1.0) / n
        lift = np.maximum(lift, clearance + (start_above - clearance) * (1.0 - fraction))
    clear = cand[2] >= heights(cand[:2].reshape(2, -1)).reshape(cand.shape[1:]) + lift[:, None]
    pick = np.argmax(clear, axis=1)
    mids = cand[:, np.arange(n_mid), pick]
    stuck = ~clear[np.arange(n_mid), pick]
    below = origin[:, None] + reach[stuck] * dirs[:, stuck]
    below[2] = heights(below[:2]) + lift[stuck]
    mids[:, stuck] = below
    transit = np.column_stack([start] * first + [mids, pre])
    transit = _reference_resample(transit, spacing / 2.0)
    for _ in range(iterations):
        transit[:, 1:-1] += weight * (0.5 * (transit[:, :-2] + transit[:, 2:]) - transit[:, 1:-1])
    _reference_raise(transit, heights(transit[:2]), clearance, slope, bool(first))
    for _ in range(2):
        transit = _reference_resample(transit, spacing)
        _reference_raise(transit, heights(transit[:2]), clearance, slope, bool(first))
    descent = _reference_resample(np.column_stack((transit[:, -1], end)), spacing)
    positions = np.vstack((transit.T, descent[:, 1:].T))
    return positions, heights(positions[:, :2].T), transit.shape[1] - 1


@pytest.mark.parametrize("with_start, start_above", [(False, 0.3), (True, 0.3), (True, 0.02)])
def test_transit_rays_and_path_equal_the_numpy_lifting(with_start: bool, start_above: float) -> None:
    # A ridge on a table, a camera above and to the side, and rays through 12 points (one without depth).
    grid = np.zeros((60, 80), np.float32)
    grid[20:40, 30:45] = 0.12
    hmap_table = _frozen(np.pad(grid.astype(float), 1, constant_values=0.15).reshape(-1))
    rows, cols, ox, oy, cell = 62, 82, -0.2, -0.3, 0.01
    camera = CameraModel.from_intrinsics(500.0, 500.0, 319.5, 239.5, 640, 480)
    rotation = np.array([[0.0, -1.0, 0.0], [-0.8, 0.0, -0.6], [0.6, 0.0, -0.8]])
    origin = np.array([-0.4, 0.1, 0.9])
    uv = np.vstack((np.linspace(100.0, 500.0, 12), np.linspace(300.0, 200.0, 12)))
    windows = (0.9 + RNG.normal(0.0, 0.002, (12, 9))).astype(np.float32)
    windows[3] = np.nan  # no depth: down to the lowest surface
    windows[5, :4] = np.nan
    fractions = ray_fractions(48)
    fan = transit_rays(
        uv, rays_of(camera).affine_rays(), NO_RAY_ROWS, rotation, origin, NO_DEPTHS, windows,
        sorting_network(9), -0.01, fractions,
    )  # fmt: skip
    directions, reach, cand, bounds = fan
    rays = rays_of(camera).pixel_ray_rows(uv)
    length = np.linalg.norm(rays, axis=0)
    expected_dirs = rotation @ (rays / length)
    with warnings.catch_warnings():  # the row without depth: NaN, as the lifting reads it
        warnings.simplefilter("ignore", RuntimeWarning)
        expected_reach = np.nanmedian(windows, axis=1) * length
    guess = (-0.01 - origin[2]) / expected_dirs[2, 3]
    expected_reach[3] = guess if expected_dirs[2, 3] < -1e-6 else 1.0
    expected_cand = origin[:, None, None] + (expected_reach[:, None] * fractions)[None] * expected_dirs[:, :, None]
    np.testing.assert_allclose(directions, expected_dirs, rtol=0, atol=1e-15)
    np.testing.assert_allclose(reach, expected_reach, rtol=1e-7)  # float32 medians
    np.testing.assert_allclose(cand, expected_cand, rtol=0, atol=1e-6)
    ends = cand[:2][:, :, [0, -1]].reshape(2, -1)
    assert bounds == (*ends.min(axis=1).tolist(), *ends.max(axis=1).tolist())
    model = transit_rays(uv, rays_of(camera).affine_rays(), rays, rotation, origin, np.full(12, 0.9), windows[:0],
                         sorting_network(9), 0.0, fractions)  # fmt: skip
    np.testing.assert_allclose(model[1], 0.9 * length, rtol=1e-15)  # the model's depths, the camera's rays

    start = np.array([-0.1, -0.25, 0.35]) if with_start else NO_POINT
    kernel = smoothing_kernel(4, 0.5)
    pre, end = np.array([0.3, 0.2, 0.2]), np.array([0.3, 0.2, 0.12])
    args = (cand, origin, directions, reach, start, start_above, 14, pre, end, hmap_table, rows, cols, ox, oy, cell,
            0.05, 1.0, 0.01, kernel, 4, 0.5)  # fmt: skip
    table, shape = HeightTable(hmap_table, rows, cols, ox, oy, cell), PathShape(0.05, 1.0, 0.01, kernel, 4, 0.5)
    positions, surface, approach, finite = transit_path(fan, origin, start, start_above, 14, pre, end, table, shape)
    expected_positions, expected_surface, expected_approach = _reference_transit(args, 4, 0.5)
    assert finite and approach == expected_approach
    np.testing.assert_allclose(positions, expected_positions, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(surface, expected_surface)
    assert positions[:, 2].max() > 0.12 + 0.05 - 1e-9  # it went over the ridge


def test_pairwise_sum_and_safety_acceptance_equal_numpy() -> None:
    for n in [*range(0, 300, 7), 1000, 4097]:
        values = RNG.random(n) * 10.0 ** RNG.uniform(-3, 3, n)
        assert pairwise_sum(values) == np.add.reduce(values), n  # NumPy's own rounding
    limits = np.array([-0.8, -0.8, -0.05, 0.8, 0.8, 1.0, 0.005, 0.0, 0.0, 0.333, 0.85, 0.05, 1.0])
    verdicts = set()
    for _ in range(300):
        path = np.cumsum(RNG.normal(0.0, 0.02, (RNG.integers(1, 200), 3)), axis=0) + RNG.uniform(-0.6, 0.6, 3)
        path[:, 2] = np.abs(path[:, 2])
        steps = np.linalg.norm(np.diff(path, axis=0), axis=1)
        inside = (path.min(axis=0) >= limits[:3]).all() and (path.max(axis=0) <= limits[3:6]).all()
        expected = bool(
            np.isfinite(path).all() and inside
            and path[:, 2].min() >= limits[6] and np.sqrt(((path - limits[7:10]) ** 2).sum(axis=1).max()) <= limits[10]
            and (len(path) < 2 or (steps.max() <= limits[11] and steps.sum() <= limits[12]))
        )  # fmt: skip
        assert within_limits(path, limits) == expected
        verdicts.add(expected)
        if np.sqrt(((path - limits[7:10]) ** 2).sum(axis=1).max()) > limits[10]:
            verdicts.add("out of reach")
    assert verdicts == {True, False, "out of reach"}


def test_in_kernel_rays_equal_the_cameras_own_with_skew() -> None:
    camera = _skewed_camera(None)
    rays = rays_of(camera)
    assert rays.affine_rays() is not None and rays.affine_rays()[1] != 0.0
    assert rays_of(_skewed_camera("plumb_bob")).affine_rays() is None and rays.affine_rays(rectified=True) is None
    uv = np.vstack((RNG.uniform(0.0, 63.0, 10), RNG.uniform(0.0, 47.0, 10)))
    common = (np.eye(3), np.zeros(3), np.full(10, 0.8), np.empty((0, 9), np.float32), sorting_network(9), 0.0,
              ray_fractions(8))  # fmt: skip
    own = transit_rays(uv, (1.0, 0.0, 0.0, 1.0, 0.0), rays.pixel_ray_rows(uv), *common)
    affine = transit_rays(uv, rays.affine_rays(), NO_RAY_ROWS, *common)
    np.testing.assert_equal(own, affine)
    rows, cols = slice(2, 40, 3), slice(5, 60, 4)
    z = (0.8 + 0.01 * RNG.random(rays.ray_window_planes(rows, cols).shape[1:])).astype(np.float32)
    box = ((2, 9), (3, 10), (0.0, 0.0, 1.0), 20, 0.05, 0.002, 0.0015, ransac_stream(72), NO_DRAWS,
           sorting_network(25))  # fmt: skip
    tabled = box_fit.box_plane(z, rays.ray_window_planes(rows, cols), (1.0, 0.0, 0.0, 1.0, 0.0), (0, 1, 0, 1), *box)
    in_kernel = box_fit.box_plane(z, NO_RAYS, rays.affine_rays(), (2, 3, 5, 4), *box)
    np.testing.assert_equal(tuple(tabled), tuple(in_kernel))


def test_median_and_spans_leave_their_input_alone() -> None:
    values = RNG.normal(size=(2, 51))
    before = values.copy()
    _median(values[0])
    _spans(values, 1.0, 99.0)
    np.testing.assert_array_equal(values, before)
