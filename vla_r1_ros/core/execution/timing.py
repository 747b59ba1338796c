"""Times for a joint path under scaled velocity and acceleration limits.

The path is the polyline through the samples in joint space, run in order, starting and ending
at rest. Limits hold for what a joint trajectory controller that interpolates the samples
linearly commands: per joint and per segment, the mean velocity ``(q[k+1] - q[k]) / dt[k]`` is
at most the velocity limit, and the change of that velocity from one segment to the next,
divided by the mean of their durations, is at most the acceleration limit (at the ends, from and
to rest over half a segment).

How: a path speed ``s'`` (joint-space arc length per second) is chosen at every sample, with
constant path acceleration along each segment, by the usual forward and backward passes. Half of
each joint's acceleration budget goes to speeding up and slowing down along the path, half to
turning at samples where the path bends (the speed at a bend is capped so that the turn fits in
that half). A segment with both ends at rest (a two-sample path, or one next to a repeated
sample) runs a trapezoid of its own. Simple, not time-optimal: MoveIt's TOTG is faster.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from vla_r1_ros.core.execution.types import JointLimits

__all__ = ["TimedPath", "time_parameterize"]

#: Duration given to a segment that does not move (a repeated sample): the arm rests there this long.
REST_SEGMENT_S = 1e-3
_STILL = 1e-12  # joint-space length below which a segment does not move
_TURN_SHARE = 0.5  # share of each joint's acceleration limit spent on turning at bends


@dataclass(frozen=True, eq=False)
class TimedPath:
    """``times`` (N,) from 0, strictly increasing; ``velocities`` (N, J) at the samples (0 at both ends)."""

    times: np.ndarray
    velocities: np.ndarray


def _caps_per_unit(directions: np.ndarray, limits: np.ndarray) -> np.ndarray:
    """For each unit direction row, the largest path rate that keeps every joint within ``limits``."""
    with np.errstate(divide="ignore"):
        per_joint = np.where(np.abs(directions) > 0.0, limits / np.abs(directions), np.inf)
    caps: np.ndarray = per_joint.min(axis=1)
    return caps


def _bend_caps(directions: np.ndarray, lengths: np.ndarray, accel: np.ndarray) -> np.ndarray:
    """Path speed allowed at each interior sample so that turning fits the turning budget.

    Turning from direction u[k-1] to u[k] at speed s over the mean of the neighbouring segments'
    durations (each at least length / s) takes at most 2 s² |Δu| / (L[k-1] + L[k]) per joint.
    """
    turn = np.abs(directions[1:] - directions[:-1])
    budget = _TURN_SHARE * accel * (lengths[:-1] + lengths[1:])[:, None] / 2.0
    with np.errstate(divide="ignore"):
        per_joint = np.where(turn > 0.0, np.sqrt(budget / np.maximum(turn, 1e-300)), np.inf)
    caps: np.ndarray = per_joint.min(axis=1)
    return caps


def _rest_to_rest(length: float, speed: float, accel: float) -> float:
    """Duration of a trapezoid (or triangle) from rest to rest over ``length``."""
    if length * accel <= speed * speed:
        return 2.0 * math.sqrt(length / accel)
    return length / speed + speed / accel


def time_parameterize(
    positions: ArrayLike, limits: JointLimits, velocity_scaling: float, acceleration_scaling: float
) -> TimedPath:
    """Times and sample velocities for the joint path ``positions`` (N, J), J = ``limits.count``."""
    q = np.asarray(positions, dtype=float)
    if q.ndim != 2 or q.shape[1] != limits.count:
        raise ValueError(f"positions must be (N, {limits.count}), got {q.shape}")
    if not np.all(np.isfinite(q)):
        raise ValueError("positions must be finite")
    for name, value in (("velocity_scaling", velocity_scaling), ("acceleration_scaling", acceleration_scaling)):
        if not (math.isfinite(value) and 0.0 < value <= 1.0):
            raise ValueError(f"{name} must be in (0, 1], got {value}")
    n = len(q)
    if n < 2:
        return TimedPath(np.zeros(n), np.zeros_like(q))
    v_max = limits.max_velocity * velocity_scaling
    a_max = limits.max_acceleration * acceleration_scaling

    # 1. Segments: lengths and unit directions in joint space.
    deltas = np.diff(q, axis=0)
    lengths = np.linalg.norm(deltas, axis=1)
    moving = lengths > _STILL
    directions = np.where(moving[:, None], deltas / np.where(moving, lengths, 1.0)[:, None], 0.0)

    # 2. Caps: segment speed, segment acceleration (a joint's budget holds for its neighbours' directions
    #    too, because the velocity change at a sample mixes both segments' accelerations), speed at bends.
    speed_cap = _caps_per_unit(directions, v_max)
    padded = np.abs(np.vstack([directions[:1], directions, directions[-1:]]))
    neighbourhood = np.maximum(np.maximum(padded[:-2], padded[1:-1]), padded[2:])
    accel_cap = _caps_per_unit(neighbourhood, (1.0 - _TURN_SHARE) * a_max)
    vertex_cap = np.zeros(n)
    vertex_cap[1:-1] = np.minimum(speed_cap[:-1], speed_cap[1:])
    bend = np.full(n, np.inf)
    bend[1:-1] = _bend_caps(directions, lengths, a_max)
    bend[1:-1][~(moving[:-1] & moving[1:])] = 0.0  # a still segment: rest on both its ends
    # The bend bound assumes the speed stays below the cap on the neighbouring samples too.
    spread = np.minimum(bend, np.minimum(np.r_[np.inf, bend[:-1]], np.r_[bend[1:], np.inf]))
    vertex_cap = np.minimum(vertex_cap, spread)

    # 3. Forward and backward passes under constant acceleration per segment.
    speed = vertex_cap.copy()
    speed[0] = speed[-1] = 0.0
    for k in range(n - 1):
        speed[k + 1] = min(speed[k + 1], math.sqrt(speed[k] ** 2 + 2.0 * accel_cap[k] * lengths[k]))
    for k in range(n - 2, -1, -1):
        speed[k] = min(speed[k], math.sqrt(speed[k + 1] ** 2 + 2.0 * accel_cap[k] * lengths[k]))

    # 4. Durations: constant acceleration between the sample speeds, or a trapezoid from rest to rest.
    durations = np.empty(n - 1)
    for k in range(n - 1):
        if not moving[k]:
            durations[k] = REST_SEGMENT_S
        elif speed[k] + speed[k + 1] > 0.0:
            durations[k] = 2.0 * lengths[k] / (speed[k] + speed[k + 1])
        else:
            durations[k] = _rest_to_rest(float(lengths[k]), float(speed_cap[k]), float(accel_cap[k]))
    times = np.concatenate([[0.0], np.cumsum(durations)])

    # 5. Sample velocities: the path speed along the mean of the neighbouring directions.
    velocities = np.zeros_like(q)
    velocities[1:-1] = speed[1:-1, None] * (directions[:-1] + directions[1:]) / 2.0
    return TimedPath(times, velocities)
