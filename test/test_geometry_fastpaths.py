"""The speed-ups of the geometry core give what the straightforward computations give.

Each fast path (lazy depth decoding, ray windows, the bordered height-map lookup, the O(N) climb
envelope, the bit-pattern row median, the one-partition percentiles) is checked against the
plain NumPy formulation it replaces.
"""

from __future__ import annotations

from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from vla_r1_ros.core.geometry import lifting
from vla_r1_ros.core.geometry.camera import CameraModel
from vla_r1_ros.core.geometry.depth import DepthImage, DepthRange, decode_depth, encode_depth

RNG = np.random.default_rng(3)


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
        assert image.valid_fraction() == pytest.approx(np.isfinite(full).mean())


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
        components = cam.ray_window(rows, cols, rectified)
        shape = cam.ray_grid[rows, cols].shape[:2]
        got = np.stack([np.broadcast_to(c, shape) for c in components], axis=-1)
        grid = cam.rectified_ray_grid if rectified else cam.ray_grid
        np.testing.assert_allclose(got, grid[rows, cols], rtol=0, atol=1e-12)


def _height_map() -> lifting.HeightMap:
    grown = RNG.uniform(0.0, 0.3, (7, 9)).astype(np.float32)
    return lifting.HeightMap((-0.2, 0.1), 0.05, grown.copy(), grown, 0.42)


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
    np.testing.assert_array_equal(hmap.query(pts), expected)
    assert inside.sum() > 50 and (~inside).sum() > 50


def test_climb_envelope_matches_the_pairwise_maximum() -> None:
    hmap = _height_map()
    config = lifting.TrajectoryConfig(max_climb_slope=0.7)
    points = np.column_stack((np.linspace(-0.3, 0.5, 120), np.linspace(0.0, 0.5, 120), RNG.uniform(0, 0.2, 120)))
    for fixed_start in (False, True):
        out = lifting._raise_to_clearance(points, hmap, config, fixed_start)
        need = hmap.query(points[:, :2]) + config.clearance
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
    np.testing.assert_allclose(lifting._nan_median_rows(values), expected, rtol=1e-6, equal_nan=True)


def test_spans_and_median_match_numpy() -> None:
    for n in (1, 2, 3, 10, 101, 640):
        values = RNG.normal(size=(2, n))
        expected = np.percentile(values, 99, axis=1) - np.percentile(values, 1, axis=1)
        np.testing.assert_allclose(lifting._spans(values, 1.0, 99.0), expected, rtol=0, atol=1e-12)
        assert lifting._median(values[0]) == pytest.approx(float(np.median(values[0])), abs=1e-15)


# ---------------------------------------------------------------------------------------------
# Fast paths of the per-request rewrite (issue 3's 1 ms budget): each against the plain version
# ---------------------------------------------------------------------------------------------


def test_ransac_draws_are_numpys_own() -> None:
    # Includes sizes where Lemire's method rejects a draw (the generator itself is used there).
    for n in [*range(3, 3000), 2**31 - 1, 2**31 + 5, 4_000_000_001]:
        expected = np.random.default_rng(lifting._RANSAC_RNG_SEED).integers(0, n, size=(24, 3))
        np.testing.assert_array_equal(lifting._ransac_draws(n, 24), expected)


@pytest.mark.parametrize("radius, side", [(5.5, 33), (2.5, 9), (3.2, 7), (4.0, 21), (7.5, 41), (1.5, 3), (5.5, 9)])
def test_footprint_dilations_equal_the_disk_and_the_square(radius: float, side: int) -> None:
    grid = np.where(RNG.random((40, 37)) < 0.2, RNG.uniform(0.0, 0.3, (40, 37)), -1e9).astype(np.float32)
    grown, filled = lifting._dilations(grid, radius, side)
    np.testing.assert_array_equal(grown, cv2.dilate(grid, lifting._disk(radius)))
    np.testing.assert_array_equal(filled, cv2.dilate(grid, lifting._square(side)))
    disk = lifting._disk(radius)
    yy, xx = np.mgrid[: disk.shape[0], : disk.shape[1]] - disk.shape[0] // 2
    np.testing.assert_array_equal(disk, (xx * xx + yy * yy <= radius * radius + 1e-9).astype(np.uint8))


@pytest.mark.parametrize(
    "count, iterations", [(2, 4), (3, 4), (4, 4), (5, 4), (6, 4), (40, 4), (40, 1), (40, 0), (9, 7)]
)
def test_one_filter_smoothing_equals_the_steps(count: int, iterations: int) -> None:
    points = RNG.uniform(-1.0, 1.0, (count, 3))
    expected = points.copy()
    for _ in range(iterations if count > 2 else 0):
        expected[1:-1] += 0.3 * (0.5 * (expected[:-2] + expected[2:]) - expected[1:-1])
    got = lifting.smooth_polyline(points, iterations, 0.3)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-13)
    np.testing.assert_array_equal(got[[0, -1]], points[[0, -1]])  # the ends never move


def test_segment_resampling_equals_the_general_resampling() -> None:
    for _ in range(50):
        a, b = RNG.uniform(-1.0, 1.0, 3), RNG.uniform(-1.0, 1.0, 3) * RNG.choice([1.0, 1e-13])
        got = lifting._segment_rows(a.tolist(), b.tolist(), 0.01)
        np.testing.assert_allclose(got, lifting._resample_rows(np.column_stack((a, b)), 0.01), rtol=0, atol=1e-15)


def test_median_filter_at_valid_pixels_equals_nanmedian_windows() -> None:
    grid = RNG.uniform(0.5, 1.5, (13, 17)).astype(np.float32)
    grid[RNG.random(grid.shape) < 0.25] = np.nan
    padded = np.pad(grid, 2, constant_values=np.nan)
    rows, cols = np.nonzero(np.isfinite(grid))
    expected = [np.nanmedian(padded[r : r + 5, c : c + 5]) for r, c in zip(rows, cols)]
    got = lifting._nan_median_filter_at_valid(grid, np.isfinite(grid))
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_internal_height_lookups_equal_the_query() -> None:
    hmap = _height_map()
    xy = np.column_stack((RNG.uniform(-0.5, 0.6, 300), RNG.uniform(-0.2, 0.8, 300)))
    xy[:3] = [[-0.2, 0.1], [1e30, -1e30], [-0.2 + 9 * 0.05, 0.1 + 7 * 0.05]]  # a corner, far away, just off the grid
    expected = hmap.query(xy)
    with np.errstate(invalid="ignore"):  # 1e30 has no integer cell index (lift_trajectory silences this too)
        np.testing.assert_array_equal(hmap._heights(xy.T), expected)
    assert [hmap._height_at(x, y) for x, y in xy.tolist()] == expected.tolist()


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
        expected = cam.pixel_rays(uv, rectified)
        np.testing.assert_allclose(cam.pixel_ray_rows(uv.T, rectified), expected.T, rtol=0, atol=1e-15)
        got = np.array([cam.ray_through(u, v, rectified) for u, v in uv.tolist()])
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-15)
        rows, cols = slice(3, 40, 4), slice(1, None, 5)
        np.testing.assert_array_equal(
            cam.ray_planes(rows, cols, rectified),
            np.moveaxis((cam.rectified_ray_grid if rectified else cam.ray_grid)[rows, cols], -1, 0)
            if distortion or rectified
            else np.stack(np.broadcast_arrays(*cam.ray_window(rows, cols, rectified))),
        )
