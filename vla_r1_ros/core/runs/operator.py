"""A scripted, human-like operator reaching from one tool position to another (tests and demos).

People reach in submovements (Woodworth 1899; Meyer et al. 1988): a fast primary movement with a
bell-shaped speed profile that lands short of and beside the target, a pause to look, then
smaller corrections. Each submovement here follows the minimum-jerk profile (Flash & Hogan 1985);
motor noise grows with speed (Harris & Wolpert 1998), so it is smoothed Gaussian velocity noise
scaled by the submovement's own speed, and vanishes when the hand rests. The last correction is
noise-free and ends exactly on the target, at rest. Everything is drawn from one seed.

The simulated arm follows it as teleop velocity commands: ``velocities`` are what an operator's
input device (MoveIt Servo's TwistStamped linear part) would send at ``rate_hz``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["minimum_jerk", "OperatorSettings", "OperatorMotion", "scripted_reach"]

FloatArray = NDArray[np.float64]


def minimum_jerk(phase: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Progress s = 10τ³ - 15τ⁴ + 6τ⁵ along a rest-to-rest minimum-jerk move and ds/dτ, τ clipped to [0, 1]."""
    tau = np.clip(np.asarray(phase, dtype=np.float64), 0.0, 1.0)
    tau2 = tau * tau
    return tau2 * tau * (10.0 - 15.0 * tau + 6.0 * tau2), 30.0 * tau2 * (1.0 - tau) ** 2


@dataclass(frozen=True)
class OperatorSettings:
    """How the scripted operator behaves; the defaults are a calm teleoperator of a tabletop arm.

    Speeds in m/s, times in s, errors as fractions of the reach's distance.
    """

    rate_hz: float = 50.0
    peak_speed: float = 0.15  # of the primary submovement
    min_duration: float = 0.4  # of any submovement
    reaction: tuple[float, float] = (0.2, 0.5)  # rest before moving, drawn uniformly
    pause: tuple[float, float] = (0.25, 0.6)  # rest after the primary submovement
    correction_pause: tuple[float, float] = (0.1, 0.3)  # rest between corrections
    hold: float = 0.3  # rest on the target at the end
    undershoot: tuple[float, float] = (0.05, 0.15)  # the primary stops this short of the target
    lateral: float = 0.04  # sd of the primary's sideways error
    corrections: int = 2  # submovements after the primary (the last one exact)
    noise: float = 0.08  # sd of the velocity noise relative to the current speed

    def __post_init__(self) -> None:
        if not (self.rate_hz > 0 and self.peak_speed > 0 and self.min_duration > 0):
            raise ValueError("rate_hz, peak_speed and min_duration must be positive")
        if self.corrections < 1:
            raise ValueError("at least one correction is needed to end on the target")


@dataclass(frozen=True)
class OperatorMotion:
    """The operator's tool path: ``times`` (n,) from 0 s, ``positions`` and ``velocities`` (n, 3)."""

    times: FloatArray
    positions: FloatArray
    velocities: FloatArray


def _between(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return float(rng.uniform(bounds[0], bounds[1]))


def scripted_reach(
    start: ArrayLike, target: ArrayLike, seed: int = 0, settings: OperatorSettings | None = None
) -> OperatorMotion:
    """A human-like reach from ``start`` to ``target`` (3-D tool positions), sampled at ``settings.rate_hz``."""
    cfg = settings or OperatorSettings()
    p0 = np.asarray(start, dtype=np.float64).reshape(3)
    p1 = np.asarray(target, dtype=np.float64).reshape(3)
    if not (np.all(np.isfinite(p0)) and np.all(np.isfinite(p1))):
        raise ValueError("start and target must be finite 3-D positions")
    rng = np.random.default_rng(seed)
    reach = p1 - p0
    distance = float(np.linalg.norm(reach))
    # Planned aims: short of and beside the target, then closing in, the last one exact.
    sideways = rng.normal(size=3)
    if distance > 0.0:
        sideways -= reach * (sideways @ reach) / distance**2
    sideways *= cfg.lateral * distance / max(float(np.linalg.norm(sideways)), 1e-12)
    aims = [p0 + reach * (1.0 - _between(rng, cfg.undershoot)) + sideways]
    for k in range(1, cfg.corrections):
        aims.append(p1 + (aims[0] - p1) * 0.3**k)
    aims.append(p1)
    # Timing: reaction, primary, pause, then corrections with short pauses, and a final hold.
    begins, durations = [], []
    clock = _between(rng, cfg.reaction)
    previous = p0
    for index, aim in enumerate(aims):
        length = float(np.linalg.norm(aim - previous))
        begins.append(clock)
        durations.append(max(cfg.min_duration, 1.875 * length / cfg.peak_speed))
        clock += durations[-1] + (_between(rng, cfg.pause) if index == 0 else _between(rng, cfg.correction_pause))
        previous = aim
    total = begins[-1] + durations[-1] + cfg.hold
    dt = 1.0 / cfg.rate_hz
    times = np.arange(math.floor(total / dt) + 1, dtype=np.float64) * dt
    positions = np.repeat(p0[None, :], len(times), axis=0)
    velocities = np.zeros_like(positions)
    actual = p0.copy()
    smoothing = max(1, round(0.08 / dt))  # ~80 ms moving average: noise below ~10 Hz, like a hand's
    for index, (aim, begin, duration) in enumerate(zip(aims, begins, durations)):
        displacement = aim - actual  # the last correction absorbs all noise so far
        progress, rate = minimum_jerk((times - begin) / duration)
        positions += progress[:, None] * displacement
        segment_velocity = rate[:, None] * displacement / duration
        velocities += segment_velocity
        actual = aim.copy()
        if index == len(aims) - 1 or cfg.noise <= 0.0:
            continue
        white = rng.normal(size=(len(times) + smoothing - 1, 3))
        smooth = np.stack([np.convolve(white[:, a], np.ones(smoothing), "valid") for a in range(3)], axis=1)
        smooth /= math.sqrt(smoothing)  # unit variance again after the average
        noise_velocity = cfg.noise * np.linalg.norm(segment_velocity, axis=1)[:, None] * smooth
        steps = (noise_velocity[1:] + noise_velocity[:-1]) * (dt / 2.0)  # trapezoid rule
        drift = np.concatenate([np.zeros((1, 3)), np.cumsum(steps, axis=0)])
        positions += drift
        velocities += noise_velocity
        actual += drift[-1]
    return OperatorMotion(times, positions, velocities)
