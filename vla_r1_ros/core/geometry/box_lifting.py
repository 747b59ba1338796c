"""Lifting an affordance box: from a normalised 2-D box to a 3-D target and a grasp pose in the base frame.

* **Never one pixel.** Edge pixels pick up background depth. A box is lifted by fitting a plane
  to the depth over its interior: a RANSAC seed on the central part of the box (the part most
  likely to be the target), refined by least squares over every pixel of the box that lies on
  that plane. Background, neighbouring faces and flying pixels fall out as outliers; sensor
  noise averages out over hundreds of pixels.
* **The target point is where the box centre's ray meets that plane**, so a lifted centre is
  exact on flat faces and unbiased under noise.

Cost model: a box holds a few hundred sampled pixels, so a NumPy call costs its fixed overhead
(a few microseconds), not its arithmetic. The array work is therefore one compiled call
(:func:`~vla_r1_ros.core.geometry.kernels.box_fit.box_plane`), and what is left, 3-vectors and
3x3 matrices, is Python floats.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache
from typing import NamedTuple

import numpy as np

from vla_r1_ros.core.geometry.kernels.box_fit import NEED_DRAWS, NO_SURFACE, TOO_SPARSE, BoxFit, box_plane
from vla_r1_ros.core.geometry.kernels.medians import sorting_network
from vla_r1_ros.core.geometry.results import GraspPose, LiftResult, Target3D, freeze
from vla_r1_ros.core.geometry.scene import DepthScene
from vla_r1_ros.core.geometry.settings import BoxLiftSettings
from vla_r1_ros.core.geometry.transforms import frame_rows, quaternion_from_rows
from vla_r1_ros.core.protocol import Box2D

__all__ = ["lift_box"]

RANSAC_RNG_SEED = 0x5EED
NO_RAYS = np.empty((3, 0, 0))  # box_plane's "the rays are affine: compute them"
# box_plane's "draw from the stream yourself" (writeable like the draws it replaces: numba
# compiles a read-only array as another type)
NO_DRAWS = np.empty((0, 3), np.int64)


class _Window(NamedTuple):
    """The pixels sampled from a box: a strided grid, its central part (the RANSAC seed) and the box's centre."""

    rows: range
    cols: range
    core_rows: slice  # indices into ``rows`` and ``cols``
    core_cols: slice
    centre: tuple[float, float]  # OpenCV pixel of the box centre
    x_side_shorter: bool  # the box's x side is not longer than its y side, in pixels

    @property
    def slices(self) -> tuple[slice, slice]:
        rows, cols = self.rows, self.cols
        return slice(rows.start, rows.stop, rows.step), slice(cols.start, cols.stop, cols.step)


def lift_box(
    box: Box2D, scene: DepthScene, config: BoxLiftSettings = BoxLiftSettings()  # noqa: B008 (a frozen dataclass)
) -> LiftResult:
    """Lift an affordance box (normalised, VLA-R1 format) to a 3-D target and grasp pose."""
    window = _sample_window(box, scene.width, scene.height, config)
    if window is None:
        return LiftResult(None, 0.0, f"box {box} covers no pixel of the {scene.width}x{scene.height} depth image")
    # Decodes only the sampled pixels; a writeable C array, the one type box_plane is compiled for.
    z_grid = np.require(scene.image.window(*window.slices), np.float32, ["C", "W"])
    fit = _fit_plane(z_grid, window, scene, config)
    refusal = _refusal(fit, z_grid.size, config)
    if refusal:
        return LiftResult(None, 0.0, refusal)
    note = ""
    if math.isnan(fit.centre[0]):  # the centre ray grazes the plane or meets it off the observed patch
        centre = list(fit.centroid)
        note = "box centre does not fall on the fitted surface; used the centre of the surface patch"
    else:
        centre = list(fit.centre)
    target = _target(fit, centre, _short_axis(fit, centre, window, scene), z_grid.size, scene, config, note)
    return LiftResult(target, target.confidence, note or "ok")


def _sample_window(box: Box2D, width: int, height: int, config: BoxLiftSettings) -> _Window | None:
    """The pixels of the box to sample (at most about ``max_samples``), or None when it covers no pixel."""
    x_min, y_min, x_max, y_max = _pixel_corners(box, width, height)
    # Pixel i covers [i, i+1) in the protocol's corner convention; take pixels whose centre is inside.
    c0, c1 = math.ceil(x_min - 0.5), math.ceil(x_max - 0.5)
    r0, r1 = math.ceil(y_min - 0.5), math.ceil(y_max - 0.5)
    n_cols, n_rows = c1 - c0, r1 - r0
    if n_cols <= 0 or n_rows <= 0:
        return None
    stride = max(1, math.ceil(math.sqrt(n_cols * n_rows / config.max_samples)))
    rows = range(r0 + ((n_rows - 1) % stride) // 2, r1, stride)
    cols = range(c0 + ((n_cols - 1) % stride) // 2, c1, stride)
    cx_cv, cy_cv = box.x * width - 0.5, box.y * height - 0.5
    half_w = max(0.5, config.core_fraction * (x_max - x_min) / 2.0)
    half_h = max(0.5, config.core_fraction * (y_max - y_min) / 2.0)
    core_rows, core_cols = _inside(rows, cy_cv, half_h), _inside(cols, cx_cv, half_w)
    return _Window(rows, cols, core_rows, core_cols, (cx_cv, cy_cv), x_max - x_min <= y_max - y_min)


def _pixel_corners(box: Box2D, width: int, height: int) -> tuple[float, float, float, float]:
    """``box.to_pixels(width, height)`` (clipped to the image) as four floats, without its objects."""
    half_w, half_h = abs(box.width) / 2.0, abs(box.height) / 2.0
    corners = ((box.x - half_w) * width, (box.y - half_h) * height, (box.x + half_w) * width, (box.y + half_h) * height)
    limits = (width, height, width, height)
    x0, y0, x1, y1 = (min(max(c, 0.0), limit) for c, limit in zip(corners, limits))
    return x0, y0, x1, y1


def _inside(positions: range, centre: float, half: float) -> slice:
    """The indices of ``positions`` within ``half`` of ``centre`` (an interval, as positions ascend).

    The interval comes from arithmetic, then each end is settled with the exact test
    ``abs(p - centre) <= half`` (the division can round across a boundary).
    """
    n, first, step = len(positions), positions.start, positions.step
    lo = max(0, math.ceil((centre - half - first) / step) - 1)
    while lo < n and not abs(first + lo * step - centre) <= half:
        lo += 1
    if lo >= n:
        return slice(0, 0)
    hi = max(lo, math.floor((centre + half - first) / step) + 1)
    while hi > lo and not (hi < n and abs(first + hi * step - centre) <= half):
        hi -= 1
    while hi + 1 < n and abs(first + (hi + 1) * step - centre) <= half:
        hi += 1
    return slice(lo, hi + 1)


def _fit_plane(z_grid: np.ndarray, window: _Window, scene: DepthScene, config: BoxLiftSettings) -> BoxFit:
    """The plane fit of the sampled depth, one compiled call (see box_plane).

    The valid pixels' points, the noise estimate (and for a noisy sensor, classification on a
    5x5 median-filtered copy), a RANSAC seed on the core of the box, two refits of the
    membership, three 3 x MAD trims of the final fit, the centre ray's hit on the patch and the
    patch's extent.
    """
    ray = scene.rays.ray_through(*window.centre, scene.rectified)
    intrinsics = scene.rays.affine_rays(scene.rectified)
    if intrinsics is None:  # a ray table (distortion, rectification); else the kernel computes the rays
        rays = scene.rays.ray_window_planes(*window.slices, scene.rectified)
        intrinsics = (1.0, 0.0, 0.0, 1.0, 0.0)
    else:
        rays = NO_RAYS
    rows, cols = window.rows, window.cols

    def fit_plane(draws: np.ndarray) -> BoxFit:
        return box_plane(
            z_grid,
            rays,
            intrinsics,
            (rows.start, rows.step, cols.start, cols.step),
            (window.core_rows.start, window.core_rows.stop),
            (window.core_cols.start, window.core_cols.stop),
            (float(ray[0]), float(ray[1]), float(ray[2])),
            int(config.min_valid_points),
            float(config.min_valid_fraction),
            float(config.min_inlier_band),
            float(config.smoothing_noise),
            ransac_stream(3 * config.ransac_iterations),
            draws,
            sorting_network(25),
        )

    fit = fit_plane(NO_DRAWS)
    if fit.status == NEED_DRAWS:  # the constant stream would reject a draw: NumPy's own draws
        fit = fit_plane(np.ascontiguousarray(ransac_draws(fit.core_points, config.ransac_iterations), np.int64))
    return fit


def _refusal(fit: BoxFit, sampled: int, config: BoxLiftSettings) -> str:
    """Why the fit gives no target ("" when it does)."""
    n_valid = fit.valid_points
    if fit.status == TOO_SPARSE:
        return (
            f"depth too sparse in the box: {n_valid} valid of {sampled} sampled pixels "
            f"({100.0 * (n_valid / sampled):.1f}%), need >= {config.min_valid_points} and "
            f">= {100.0 * config.min_valid_fraction:.0f}%"
        )
    if fit.status == NO_SURFACE:
        return (
            f"no surface in the box: only {fit.inlier_points} of {n_valid} depth points lie on one plane "
            f"(band {1000.0 * fit.band:.1f} mm), need >= {config.min_valid_points}"
        )
    return ""


def _short_axis(fit: BoxFit, centre: list[float], window: _Window, scene: DepthScene) -> list[float]:
    """The patch's short in-plane axis (optical frame): the fit's middle eigenvector, unless the patch is near-square.

    A near-square patch's in-plane PCA axes are arbitrary; then the box's shorter image side
    decides: the direction, within the plane, from the centre to where the ray one pixel over
    meets it.
    """
    short_axis = list(fit.short_axis)
    if not fit.eigenvalues[2] < 1.15 * fit.eigenvalues[1]:
        return short_axis
    normal, offset = list(fit.normal), fit.offset
    cx_cv, cy_cv = window.centre
    beside = (cx_cv + 1.0, cy_cv) if window.x_side_shorter else (cx_cv, cy_cv + 1.0)
    ray2 = scene.rays.ray_through(*beside, scene.rectified)
    d2 = _dot3(normal, ray2)
    if abs(d2) > 1e-9:
        direction = [r * (offset / d2) - c for r, c in zip(ray2, centre)]
        along_normal = _dot3(direction, normal)
        direction = [d - along_normal * n for d, n in zip(direction, normal)]
        length = math.sqrt(_dot3(direction, direction))
        if length > 0:
            short_axis = [d / length for d in direction]
    return short_axis


def _target(
    fit: BoxFit,
    centre: list[float],
    short_axis: list[float],
    sampled: int,
    scene: DepthScene,
    config: BoxLiftSettings,
    note: str,
) -> Target3D:
    """The lifted target in the base frame, with its grasp and confidence (coverage times support)."""
    rot = scene.rotation_rows
    position_b = [p + t for p, t in zip(_rotate(rot, centre), scene.translation)]
    normal_b = _rotate(rot, list(fit.normal))
    short_b = _rotate(rot, short_axis)
    if short_b[1] < -1e-9 or (abs(short_b[1]) <= 1e-9 and short_b[0] < 0):
        short_b = [-c for c in short_b]  # a fixed sign keeps the grasp yaw within +-90 degrees
    long_b = _cross3(short_b, normal_b)
    n_valid, n_in = fit.valid_points, fit.inlier_points
    confidence = min(1.0, n_valid / sampled / 0.5) * min(1.0, n_in / (4.0 * config.min_valid_points))
    return Target3D(
        position=freeze(position_b),
        normal=freeze(normal_b),
        axes=freeze(list(zip(long_b, short_b, normal_b))),
        extent=freeze([fit.long_len, fit.short_len, fit.height]),
        grasp=_grasp(position_b, normal_b, short_b, config),
        confidence=float(confidence),
        valid_points=n_valid,
        inlier_points=n_in,
        sampled_points=sampled,
        residual_rms=fit.rms,
        frame_id=scene.base_frame,
        note=note,
    )


def _grasp(position: list[float], normal: list[float], closing: list[float], config: BoxLiftSettings) -> GraspPose:
    """The grasp at a base-frame surface point: top-down or against the normal, fingers closing along ``closing``."""
    approach = [0.0, 0.0, -1.0] if config.approach == "top_down" else [-c for c in normal]
    grasp_position = [p + a * config.grasp_depth for p, a in zip(position, approach)]
    return GraspPose(freeze(grasp_position), freeze(quaternion_from_rows(frame_rows(approach, closing))))


def _dot3(a: Sequence[float], b: Sequence[float]) -> float:
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


def _cross3(a: Sequence[float], b: Sequence[float]) -> list[float]:
    return [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]]


def _rotate(rows: Sequence[Sequence[float]], v: Sequence[float]) -> list[float]:
    """A 3x3 matrix (rows of floats) times a 3-vector."""
    return [row[0] * v[0] + row[1] * v[1] + row[2] * v[2] for row in rows]


@lru_cache(maxsize=8)
def ransac_stream(count: int) -> np.ndarray:
    """The first ``count`` 32-bit draws of ``default_rng(RANSAC_RNG_SEED)``, as uint64 (a constant).

    NumPy's ``Generator.integers(0, n)`` for n <= 2**32 takes one 32-bit draw per number
    (PCG64 hands out the low then the high half of each 64-bit output) and scales it with
    Lemire's multiply-shift; only a rejected draw (probability below n / 2**32) takes another.
    """
    raw = np.random.PCG64(np.random.SeedSequence(RANSAC_RNG_SEED)).random_raw((count + 1) // 2)
    stream = np.empty(2 * len(raw), np.uint64)
    stream[0::2] = raw & np.uint64(0xFFFFFFFF)
    stream[1::2] = raw >> np.uint64(32)
    stream = stream[:count]
    stream.flags.writeable = False
    return stream


def ransac_draws(n: int, iterations: int) -> np.ndarray:
    """``np.random.default_rng(RANSAC_RNG_SEED).integers(0, n, size=(iterations, 3))``, computed.

    Why: seeding a generator costs more than the rest of the draw; the draws themselves are
    Lemire's scaling of a constant stream. Where that stream would hit a rejection the
    generator is used after all, so the draws are always NumPy's own.
    """
    scaled = ransac_stream(iterations * 3) * np.uint64(n)
    if int(scaled.astype(np.uint32).min()) < (2**32 - n) % n:  # the low half decides a rejection
        draws: np.ndarray = np.random.default_rng(RANSAC_RNG_SEED).integers(0, n, size=(iterations, 3))
        return draws
    return (scaled >> np.uint64(32)).astype(np.intp).reshape(iterations, 3)
