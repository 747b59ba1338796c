"""Execution events: where a run starts and ends, how long each phase took, who intervened.

An event is one record of ``vla_r1_ros/msg/ExecutionEvent`` (stamp, goal id, phase, outcome,
detail). A phase runs from an event with outcome ``started`` to the next event of the same phase
with any other outcome (or to the next ``started`` of another phase, or to the end of the run).
The phase ``run`` brackets a whole run (goal sent or first operator input, to done) and is not
itself a phase of the time split.

The run window, in order of preference: the first ``run`` start to the last ``run`` end; else the
first to the last event; else the first non-zero teleop command to the last joint sample; else
the first to the last joint sample (a bag of /joint_states alone is one run).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "RunEvent",
    "STARTED",
    "RUN_PHASE",
    "PHASE_CATEGORIES",
    "CATEGORIES",
    "RunWindow",
    "run_window",
    "phase_durations",
    "split_by_category",
    "Interventions",
    "count_interventions",
]

STARTED = "started"
RUN_PHASE = "run"
#: The time split of a run: each phase name that events use, and the category it counts towards.
PHASE_CATEGORIES = {
    "model": "model",
    "checking": "planning",
    "planning": "planning",
    "awaiting_approval": "approval",
    "executing": "motion",
    "gripper": "motion",
    "lifting": "motion",
}
CATEGORIES = ("model", "approval", "planning", "motion")
CANCEL_OUTCOMES = frozenset({"canceled", "stopped"})
REJECTED = "rejected"
APPROVED = "approved"
APPROVAL_PHASE = "awaiting_approval"


@dataclass(frozen=True)
class RunEvent:
    """One execution event; ``stamp`` in seconds on the run's clock."""

    stamp: float
    phase: str
    outcome: str
    detail: str = ""
    goal_id: str = ""


def _sorted(events: Iterable[RunEvent]) -> list[RunEvent]:
    return sorted(events, key=lambda e: e.stamp)


@dataclass(frozen=True)
class RunWindow:
    """Start and end of a run (s) and which rule of the module docstring chose them."""

    start: float
    end: float
    source: str  # "run events", "events", "teleop", "joint states"

    @property
    def duration(self) -> float:
        return self.end - self.start


def run_window(
    events: Sequence[RunEvent], teleop_stamps: ArrayLike, first_sample: float, last_sample: float
) -> RunWindow:
    """The run's window by the rules in the module docstring."""
    ordered = _sorted(events)
    run = [e for e in ordered if e.phase == RUN_PHASE]
    if run:
        starts = [e.stamp for e in run if e.outcome == STARTED]
        start = starts[0] if starts else run[0].stamp
        ends = [e.stamp for e in run if e.outcome != STARTED and e.stamp >= start]
        return RunWindow(start, ends[-1] if ends else max(start, ordered[-1].stamp), "run events")
    if ordered:
        return RunWindow(ordered[0].stamp, ordered[-1].stamp, "events")
    teleop = np.sort(np.asarray(teleop_stamps, dtype=np.float64).reshape(-1))
    if len(teleop):
        start = float(teleop[0])
        return RunWindow(start, max(start, last_sample), "teleop")
    return RunWindow(first_sample, last_sample, "joint states")


def phase_durations(events: Sequence[RunEvent], end: float) -> dict[str, float]:
    """Seconds spent in each phase (``run`` excluded); a phase still open at ``end`` closes there."""
    totals: dict[str, float] = {}
    open_phase: str | None = None
    opened = 0.0

    def close(at: float) -> None:
        nonlocal open_phase
        if open_phase is not None:
            totals[open_phase] = totals.get(open_phase, 0.0) + max(0.0, min(at, end) - opened)
            open_phase = None

    for event in _sorted(events):
        if event.phase == RUN_PHASE:
            continue
        if event.outcome == STARTED:
            close(event.stamp)
            open_phase, opened = event.phase, event.stamp
            totals.setdefault(event.phase, 0.0)
        elif event.phase == open_phase:
            close(event.stamp)
    close(end)
    return totals


def split_by_category(durations: dict[str, float]) -> dict[str, float]:
    """Phase durations summed into :data:`CATEGORIES` (unknown phase names are left out)."""
    split = dict.fromkeys(CATEGORIES, 0.0)
    for phase, seconds in durations.items():
        category = PHASE_CATEGORIES.get(phase)
        if category is not None:
            split[category] += seconds
    return split


@dataclass(frozen=True)
class Interventions:
    """What an operator did to a run.

    ``cancels``: goals canceled or stopped; ``rejections``: goals rejected while awaiting approval
    (a safety refusal while checking is not an operator's act); ``approvals``: goals approved;
    ``teleop_commands``: non-zero teleop messages in the window; ``teleop_bursts``: runs of them
    separated by more than the gap; ``total``: cancels + rejections, plus the bursts when teleop
    input interrupts an autonomous run (in a teleop run it is the task itself).
    """

    cancels: int
    rejections: int
    approvals: int
    teleop_commands: int
    teleop_bursts: int
    total: int


def _goals(events: Iterable[RunEvent]) -> int:
    """Distinct goals among the events (each event without a goal id counts alone)."""
    named = {e.goal_id for e in events if e.goal_id}
    return len(named) + sum(1 for e in events if not e.goal_id)


def count_interventions(
    events: Sequence[RunEvent],
    teleop_stamps: ArrayLike,
    window: RunWindow,
    teleop_is_intervention: bool,
    burst_gap: float = 0.5,
) -> Interventions:
    """Count interventions within ``window`` (events and teleop stamps outside it are ignored)."""
    inside = [e for e in events if window.start <= e.stamp <= window.end]
    cancels = _goals([e for e in inside if e.outcome in CANCEL_OUTCOMES])
    rejections = _goals([e for e in inside if e.outcome == REJECTED and e.phase == APPROVAL_PHASE])
    approvals = _goals([e for e in inside if e.outcome == APPROVED])
    stamps = np.sort(np.asarray(teleop_stamps, dtype=np.float64).reshape(-1))
    stamps = stamps[(stamps >= window.start) & (stamps <= window.end)]
    bursts = int(len(stamps) > 0) + int(np.count_nonzero(np.diff(stamps) > burst_gap))
    total = cancels + rejections + (bursts if teleop_is_intervention else 0)
    return Interventions(cancels, rejections, approvals, len(stamps), bursts, total)
