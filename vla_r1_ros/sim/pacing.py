"""Simulated time on the wall clock: the pacer of a live simulation and the stamps of its samples.

One pacer per live simulation, shared by everything that steps it (the idle loop and each
controller goal), so simulated time keeps one relation to the wall clock across goals. It waits
*before* a step that would run ahead of the wall clock, so a sample is never published before its
time. A step that is late by more than ``max_lag`` (a slow render, a loaded machine) moves the
relation on instead of racing to catch up: the simulation drops that time, as a real-time
simulator does, rather than running a burst of physics faster than real time.

Samples are stamped with the wall-clock time their simulated time was due, not with the time of
publication: after a late step, catch-up publishes several 10 ms samples within 1 ms, and stamps
taken at publication would make anything that differentiates ``/joint_states`` (peak joint
velocity, jerk) see rates several times too high.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["RealtimePacer", "sample_stamp_ns"]


@dataclass
class RealtimePacer:
    """Keeps simulated seconds from running ahead of ``clock`` (monotonic seconds) when ``enabled``."""

    enabled: bool = True
    max_lag: float = 0.25
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    _anchor: tuple[float, float] | None = field(default=None, init=False)  # (simulated, wall) seconds

    def __post_init__(self) -> None:
        if not self.max_lag > 0.0:
            raise ValueError(f"max_lag must be > 0 s, got {self.max_lag}")

    def before_step(self, now_sim: float, next_sim: float) -> None:
        """Call before stepping from ``now_sim`` to ``next_sim``: waits until ``next_sim`` is due."""
        wait = self.time_until_due(now_sim, next_sim)
        if wait > 0.0:
            self.sleep(wait)

    def time_until_due(self, now_sim: float, next_sim: float) -> float:
        """Seconds until the step from ``now_sim`` to ``next_sim`` is due (0 when it is late or not pacing).

        For a loop that waits on something else meanwhile (a job queue) instead of sleeping. A step
        more than ``max_lag`` late moves the relation on: that time is dropped.
        """
        if not self.enabled:
            return 0.0
        if self._anchor is None or now_sim < self._anchor[0]:  # first step, or a reset restarted time
            self._anchor = (now_sim, self.clock())
        lateness = self.clock() - self._due(next_sim)
        if lateness > self.max_lag:
            self._anchor = (next_sim, self.clock())
        return max(0.0, -lateness)

    def lateness(self, sim_time: float) -> float:
        """Seconds since ``sim_time`` was due on the wall clock (0 when not pacing)."""
        if not self.enabled or self._anchor is None or sim_time < self._anchor[0]:
            return 0.0  # not pacing, or a reset restarted simulated time
        return self.clock() - self._due(sim_time)

    def _due(self, sim_time: float) -> float:
        assert self._anchor is not None
        return self._anchor[1] + (sim_time - self._anchor[0])


def sample_stamp_ns(now_ns: int, lateness: float, last_ns: int) -> int:
    """The stamp of a sample published at ``now_ns``, ``lateness`` s after it was due.

    Never later than now (a driver does not stamp the future) and never before the last stamp.
    """
    return max(now_ns - max(0, round(lateness * 1e9)), last_ns)
