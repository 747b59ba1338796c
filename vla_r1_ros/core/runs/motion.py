"""Kinematic measures of one run: sample clean-up, path length, speed profile, joint rate peaks, clearance.

Recorded stamps are uneven (a real /joint_states publisher jitters, messages repeat or arrive out
of order), so every rate here is taken against the stamps themselves, after :func:`clean_samples`
has put them in order and dropped samples that would make a difference quotient meaningless.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "clean_samples",
    "path_length",
    "UniformPath",
    "uniform_path",
    "smoothed_path",
    "speed_profile",
    "JointRatePeaks",
    "joint_rate_peaks",
    "min_clearance",
]

FloatArray = NDArray[np.float64]

#: Samples closer to the previous kept one than this fraction of the median spacing are dropped.
MIN_SPACING_FRACTION = 0.1


def clean_samples(times: ArrayLike, values: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Samples sorted by time, non-finite rows and near-duplicate stamps removed.

    A sample closer than :data:`MIN_SPACING_FRACTION` of the median spacing to the previous kept
    one is dropped: repeated or jittered messages would otherwise divide position noise by a
    near-zero interval and report absurd velocities.
    """
    t = np.asarray(times, dtype=np.float64).reshape(-1)
    v = np.asarray(values, dtype=np.float64)
    if v.ndim == 1:
        v = v[:, None]
    if len(t) != len(v):
        raise ValueError(f"{len(t)} stamps but {len(v)} samples")
    finite = np.isfinite(t) & np.all(np.isfinite(v), axis=1)
    order = np.argsort(t[finite], kind="stable")
    t, v = t[finite][order], v[finite][order]
    if len(t) < 2:
        return t, v
    steps = np.diff(t)
    positive = steps[steps > 0.0]
    if len(positive) == 0:
        return t[:1], v[:1]
    min_step = MIN_SPACING_FRACTION * float(np.median(positive))
    keep = np.zeros(len(t), dtype=bool)
    keep[0] = True
    last = t[0]
    for i in range(1, len(t)):  # greedy: spacing is measured from the last kept sample
        if t[i] - last >= min_step:
            keep[i] = True
            last = t[i]
    return t[keep], v[keep]


def path_length(points: ArrayLike) -> float:
    """Length of the polyline through (n, d) points (0 for fewer than two)."""
    pts = np.asarray(points, dtype=np.float64)
    if len(pts) < 2:
        return 0.0
    return float(np.linalg.norm(np.diff(pts, axis=0), axis=1).sum())


@dataclass(frozen=True)
class UniformPath:
    """A path resampled at a constant rate: ``times`` (n,), ``positions`` (n, d), ``rate`` in Hz."""

    times: FloatArray
    positions: FloatArray
    rate: float


def uniform_path(times: ArrayLike, points: ArrayLike, rate: float | None = None) -> UniformPath:
    """Linear interpolation of the cleaned samples onto a constant-rate grid.

    ``rate``: samples per second, by default the inverse of the median spacing (the recorder's
    own rate). Frequency-domain and derivative measures need such a grid.
    """
    t, p = clean_samples(times, points)
    if len(t) < 2:
        raise ValueError("a speed profile needs at least two samples at distinct times")
    if rate is None:
        rate = 1.0 / float(np.median(np.diff(t)))
    if not (np.isfinite(rate) and rate > 0.0):
        raise ValueError(f"rate must be a positive number of samples per second, got {rate}")
    count = int(np.floor((t[-1] - t[0]) * rate + 1e-9)) + 1
    grid = t[0] + np.arange(count) / rate
    positions = np.stack([np.interp(grid, t, p[:, axis]) for axis in range(p.shape[1])], axis=1)
    return UniformPath(grid, positions, float(rate))


def _lowpass(positions: FloatArray, rate: float, cutoff: float) -> FloatArray:
    """Zero-phase 4th-order Butterworth low-pass along time (no lag, so no shifted peaks).

    The ends are padded by odd reflection over three periods of the cutoff: scipy's default pad
    (a few samples) leaves edge transients that reach ten times a real acceleration peak.
    """
    from scipy.signal import butter, sosfiltfilt

    if cutoff >= rate / 2.0 or len(positions) < 2:
        return positions
    sos = butter(2, cutoff, btype="low", fs=rate, output="sos")  # order 2, doubled by filtfilt
    pad = min(len(positions) - 1, math.ceil(3.0 * rate / cutoff))
    return np.asarray(sosfiltfilt(sos, positions, axis=0, padtype="odd", padlen=pad), dtype=np.float64)


def smoothed_path(
    times: ArrayLike, points: ArrayLike, rate: float | None = None, lowpass_hz: float | None = None
) -> UniformPath:
    """:func:`uniform_path`, then (when ``lowpass_hz`` is given) a zero-phase low-pass along time.

    Recorded positions carry sensor noise that differentiation amplifies (at 1 kHz, 10 urad of
    encoder noise is ~10 rad/s² of acceleration); human and robot arm motion lies well below 10 Hz.
    """
    path = uniform_path(times, points, rate)
    if lowpass_hz is None:
        return path
    if not lowpass_hz > 0.0:
        raise ValueError(f"lowpass_hz must be positive, got {lowpass_hz}")
    return UniformPath(path.times, _lowpass(path.positions, path.rate, float(lowpass_hz)), path.rate)


def speed_profile(
    times: ArrayLike, points: ArrayLike, rate: float | None = None, lowpass_hz: float | None = None
) -> tuple[UniformPath, FloatArray]:
    """The (smoothed) path on a constant-rate grid (:func:`smoothed_path`) and its speed there (central differences)."""
    path = smoothed_path(times, points, rate, lowpass_hz)
    if len(path.positions) < 2:
        return path, np.zeros(len(path.positions))
    velocity = np.gradient(path.positions, 1.0 / path.rate, axis=0)
    return path, np.linalg.norm(velocity, axis=1)


@dataclass(frozen=True)
class JointRatePeaks:
    """Largest |velocity| and |acceleration| of each joint (rad/s, rad/s² or m/s, m/s²)."""

    velocity: FloatArray
    acceleration: FloatArray

    @property
    def peak_velocity(self) -> float:
        return float(np.max(self.velocity)) if len(self.velocity) else float("nan")

    @property
    def peak_acceleration(self) -> float:
        return float(np.max(self.acceleration)) if len(self.acceleration) else float("nan")


def joint_rate_peaks(times: ArrayLike, positions: ArrayLike, lowpass_hz: float | None = None) -> JointRatePeaks:
    """Per-joint peaks of velocity and acceleration from positions over (uneven) time stamps.

    Without ``lowpass_hz``: second-order non-uniform differences on the stamps themselves
    (np.gradient with coordinates), no resampling to flatten the peaks; right for clean data such
    as a simulator's. With it: on the smoothed constant-rate path of :func:`smoothed_path`, which
    recorded hardware needs. Fewer than three samples give NaN accelerations (and NaN velocities
    below two).
    """
    t, q = clean_samples(times, positions)
    joints = q.shape[1]
    nan = np.full(joints, np.nan)
    if len(t) < 2:
        return JointRatePeaks(nan, nan.copy())
    if len(t) < 3:
        return JointRatePeaks(np.max(np.abs(np.gradient(q, t, axis=0)), axis=0), nan)
    if lowpass_hz is not None:
        path = smoothed_path(t, q, None, lowpass_hz)
        t, q = path.times, path.positions
        if len(t) < 3:
            return JointRatePeaks(np.max(np.abs(np.gradient(q, t, axis=0)), axis=0), nan)
    # Second-order one-sided differences at the two ends too, as accurate there as inside.
    velocity = np.gradient(q, t, axis=0, edge_order=2)
    acceleration = np.gradient(velocity, t, axis=0, edge_order=2)
    return JointRatePeaks(np.max(np.abs(velocity), axis=0), np.max(np.abs(acceleration), axis=0))


def min_clearance(points: ArrayLike, table_height: float = 0.0) -> float:
    """Lowest height of (n, 3) points above a horizontal table at ``table_height`` (negative: below it)."""
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 3 or len(pts) == 0:
        raise ValueError(f"clearance needs (n, 3) points, got shape {pts.shape}")
    return float(np.min(pts[:, 2]) - table_height)
