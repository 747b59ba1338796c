"""Dimensionless smoothness of a speed profile: LDLJ and SPARC (Balasubramanian et al. 2015).

Both take a speed profile sampled at a constant rate (see :func:`.motion.speed_profile`), are
dimensionless, and are higher (less negative) for smoother movements:

- LDLJ, the log dimensionless jerk: -ln((t2 - t1)^3 / v_peak^2 * integral of (d²v/dt²)^2 dt),
  with v the speed; a minimum-jerk reach gives -ln(204.8) = -5.32 whatever its size and duration.
- SPARC, the spectral arc length: minus the arc length of the speed's Fourier magnitude spectrum,
  normalised to 1 at 0 Hz, over the band from 0 Hz up to where the spectrum last exceeds 5 % of
  its peak (at most 10 Hz), with the frequency axis normalised by that band's width. Zero-padding
  and thresholds are the paper's defaults (its reference implementation's parameters).

Dimensional jerk measures are avoided on purpose: they rank movements of different size and
duration counter-intuitively (Hogan & Sternad 2009).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["ldlj", "sparc"]


def _profile(speed: ArrayLike, rate: float) -> np.ndarray:
    v = np.asarray(speed, dtype=np.float64).reshape(-1)
    if not (math.isfinite(rate) and rate > 0.0):
        raise ValueError(f"rate must be a positive number of samples per second, got {rate}")
    if not np.all(np.isfinite(v)):
        raise ValueError("the speed profile holds non-finite values")
    return v


def ldlj(speed: ArrayLike, rate: float) -> float:
    """Log dimensionless jerk of a speed profile sampled at ``rate`` Hz; NaN when it never moves.

    The second derivative of the speed is the central second difference, extended linearly to
    the two end samples (one-sided differences there cost percent-level errors at 100 Hz), and is
    integrated with the trapezoid rule over the whole profile: pass the movement window (rest
    before and after adds nothing to the jerk but lengthens t2 - t1).
    """
    v = _profile(speed, rate)
    peak = float(np.max(np.abs(v))) if len(v) else 0.0
    if len(v) < 3 or peak <= 0.0:
        return float("nan")
    dt = 1.0 / rate
    second = np.empty_like(v)
    second[1:-1] = (v[2:] - 2.0 * v[1:-1] + v[:-2]) / (dt * dt)
    if len(v) > 3:
        second[0], second[-1] = 2.0 * second[1] - second[2], 2.0 * second[-2] - second[-3]
    else:
        second[0] = second[-1] = second[1]
    duration = (len(v) - 1) * dt
    integral = float(np.trapezoid(second * second, dx=dt))
    if integral <= 0.0:
        return float("nan")
    return -math.log(duration**3 / peak**2 * integral)


def sparc(speed: ArrayLike, rate: float, pad_level: int = 4, cutoff_hz: float = 10.0, threshold: float = 0.05) -> float:
    """Spectral arc length of a speed profile sampled at ``rate`` Hz; NaN when it never moves.

    ``pad_level``: zero-padding to 2^(ceil(log2 n) + pad_level) points; ``cutoff_hz``: the highest
    frequency considered; ``threshold``: the spectrum level (relative to its peak) that bounds the
    band adaptively. The paper's values are the defaults.
    """
    v = _profile(speed, rate)
    if len(v) < 2 or not np.any(v != 0.0):
        return float("nan")
    nfft = int(2 ** (math.ceil(math.log2(len(v))) + pad_level))
    magnitude = np.abs(np.fft.rfft(v, nfft))
    magnitude /= magnitude.max()
    freqs = np.fft.rfftfreq(nfft, d=1.0 / rate)
    in_band = freqs <= cutoff_hz
    freqs, magnitude = freqs[in_band], magnitude[in_band]
    above = np.flatnonzero(magnitude >= threshold)
    freqs, magnitude = freqs[above[0] : above[-1] + 1], magnitude[above[0] : above[-1] + 1]
    if len(freqs) < 2:
        return 0.0  # the whole spectrum sits in one bin: no arc to measure
    span = freqs[-1] - freqs[0]
    return -float(np.sum(np.sqrt((np.diff(freqs) / span) ** 2 + np.diff(magnitude) ** 2)))
