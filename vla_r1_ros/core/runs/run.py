"""Every measure of one recorded run, from its joint samples, tool path, events and teleop input.

Inputs are plain arrays (a bag reader and forward kinematics fill them); stamps are seconds on
one clock. Measures are taken inside the run window (:func:`.events.run_window`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from vla_r1_ros.core.runs.events import (
    CATEGORIES,
    Interventions,
    RunEvent,
    RunWindow,
    count_interventions,
    phase_durations,
    run_window,
    split_by_category,
)
from vla_r1_ros.core.runs.motion import joint_rate_peaks, min_clearance, path_length, speed_profile
from vla_r1_ros.core.runs.smoothness import ldlj, sparc

__all__ = ["CONDITIONS", "AUTONOMOUS_CONDITIONS", "RunData", "RunSettings", "RunMetrics", "run_metrics"]

FloatArray = NDArray[np.float64]

#: The study's conditions: the VLA alone, a teleoperator alone, the VLA with operator approval.
# "vla-oracle": the VLA stack with the scene's true answer in place of the model (simulation only:
# it measures execution, not perception).
CONDITIONS = ("vla", "teleop", "vla+approval", "vla-oracle")
#: Conditions in which the robot acts on its own, so any teleop input is an intervention.
AUTONOMOUS_CONDITIONS = frozenset({"vla", "vla+approval", "vla-oracle"})


@dataclass(frozen=True)
class RunData:
    """One run's recorded streams.

    ``joint_times`` (n,) with ``joint_positions`` (n, k) for ``joint_names`` (the joints that move
    the tool); ``tool_positions`` (n, 3): the tool point at each joint sample, in the frame whose
    z is up from the table; ``teleop_stamps``: times of non-zero teleop commands.
    """

    run_id: str
    joint_times: FloatArray
    joint_positions: FloatArray
    joint_names: tuple[str, ...]
    tool_positions: FloatArray
    events: tuple[RunEvent, ...] = ()
    teleop_stamps: FloatArray = field(default_factory=lambda: np.zeros(0))
    condition: str = ""


@dataclass(frozen=True)
class RunSettings:
    """How runs are measured.

    ``table_height``: table top z in the tool path's frame. ``rate_hz``: the grid of the smoothed
    paths (None: the recorder's median rate). ``lowpass_hz``: zero-phase low-pass of tool and joint
    paths before path length and derivatives (None: off, raw stamps; sensor noise would otherwise
    add length and swamp accelerations). ``movement_threshold``: smoothness is measured from the
    first to the last moment the tool's speed reaches this fraction of its peak (rest at either
    end, e.g. while the model thinks, would otherwise count as movement). ``teleop_gap``: seconds
    without input that end a burst of teleop commands.
    """

    table_height: float = 0.0
    rate_hz: float | None = None
    lowpass_hz: float | None = 10.0
    movement_threshold: float = 0.02
    teleop_gap: float = 0.5


@dataclass(frozen=True)
class RunMetrics:
    """The measures of one run; NaN where the recording cannot say (e.g. no events: no phases).

    Times in s, lengths in m, joint rates in rad/s and rad/s² (m/s for prismatic joints).
    ``phases``: seconds per event phase; ``model_time`` ... ``motion_time``: their split
    (:data:`.events.CATEGORIES`); ``joint_peak_velocity``: per joint, in ``joint_names`` order.
    """

    run_id: str
    condition: str
    window_source: str
    start: float
    end: float
    completion_time: float
    model_time: float
    approval_time: float
    planning_time: float
    motion_time: float
    path_length: float
    peak_joint_velocity: float
    peak_joint_acceleration: float
    ldlj: float
    sparc: float
    min_clearance: float
    cancels: int
    rejections: int
    approvals: int
    teleop_commands: int
    teleop_bursts: int
    interventions: int
    samples: int
    joint_names: tuple[str, ...]
    joint_peak_velocity: tuple[float, ...]
    joint_peak_acceleration: tuple[float, ...]
    phases: dict[str, float]

    def row(self) -> dict[str, Any]:
        """The scalar measures as one flat row (per-joint and per-phase detail left out)."""
        skip = {"joint_names", "joint_peak_velocity", "joint_peak_acceleration", "phases"}
        return {k: v for k, v in self.__dict__.items() if k not in skip}


def _movement(speed: FloatArray, threshold: float) -> FloatArray:
    """The speed profile from the first to the last sample at or above ``threshold`` x its peak."""
    peak = float(speed.max()) if len(speed) else 0.0
    if peak <= 0.0:
        return speed
    moving = np.flatnonzero(speed >= threshold * peak)
    return speed[moving[0] : moving[-1] + 1]


def run_metrics(run: RunData, settings: RunSettings | None = None) -> RunMetrics:
    """All measures of ``run`` inside its window."""
    cfg = settings or RunSettings()
    window, inside = _window(run)
    t = np.asarray(run.joint_times, dtype=np.float64)[inside]
    q, tool = run.joint_positions[inside], run.tool_positions[inside]
    durations = phase_durations(run.events, window.end) if run.events else {}
    split = split_by_category(durations) if run.events else dict.fromkeys(CATEGORIES, math.nan)
    interventions = count_interventions(
        run.events, run.teleop_stamps, window, run.condition in AUTONOMOUS_CONDITIONS, cfg.teleop_gap
    )
    return RunMetrics(
        run_id=run.run_id,
        condition=run.condition,
        window_source=window.source,
        start=window.start,
        end=window.end,
        completion_time=window.duration,
        **_phase_times(split),
        **_motion_measures(t, q, tool, cfg),
        **_intervention_counts(interventions),
        samples=len(t),
        joint_names=run.joint_names,
        phases=durations,
    )


def _window(run: RunData) -> tuple[RunWindow, NDArray[np.bool_]]:
    """The run's window and which joint samples lie in it (at least two, else ValueError)."""
    times = np.asarray(run.joint_times, dtype=np.float64)
    if len(times) == 0:
        raise ValueError(f"run {run.run_id}: no joint samples")
    window = run_window(run.events, run.teleop_stamps, float(times.min()), float(times.max()))
    inside = (times >= window.start) & (times <= window.end)
    if np.count_nonzero(inside) < 2:
        raise ValueError(
            f"run {run.run_id}: fewer than two joint samples between {window.start:.3f} s and {window.end:.3f} s "
            f"(window from {window.source})"
        )
    return window, inside


def _motion_measures(t: FloatArray, q: FloatArray, tool: FloatArray, cfg: RunSettings) -> dict[str, Any]:
    """The path, the joints' peak rates and the tool's smoothness and clearance."""
    peaks = joint_rate_peaks(t, q, cfg.lowpass_hz)
    profile, speed = speed_profile(t, tool, rate=cfg.rate_hz, lowpass_hz=cfg.lowpass_hz)
    moving = _movement(speed, cfg.movement_threshold)
    return {
        "path_length": path_length(profile.positions),
        "peak_joint_velocity": peaks.peak_velocity,
        "peak_joint_acceleration": peaks.peak_acceleration,
        "ldlj": ldlj(moving, profile.rate),
        "sparc": sparc(moving, profile.rate),
        "min_clearance": min_clearance(tool, cfg.table_height),
        "joint_peak_velocity": tuple(float(v) for v in peaks.velocity),
        "joint_peak_acceleration": tuple(float(v) for v in peaks.acceleration),
    }


def _phase_times(split: dict[str, float]) -> dict[str, Any]:
    """Seconds in each category of phases: ``model_time`` ... ``motion_time``."""
    return {f"{category}_time": split[category] for category in CATEGORIES}


def _intervention_counts(interventions: Interventions) -> dict[str, Any]:
    return {
        "cancels": interventions.cancels,
        "rejections": interventions.rejections,
        "approvals": interventions.approvals,
        "teleop_commands": interventions.teleop_commands,
        "teleop_bursts": interventions.teleop_bursts,
        "interventions": interventions.total,
    }
