"""Where a live recording cuts runs: at the first activity, and after a quiet spell once nothing is open.

A recorder that is not told when runs start and end (``~/start``/``~/stop``) watches the system:
a reasoning goal accepted, an executor event or an operator's non-zero command starts a run; a
goal or executor phase that has started and not yet ended keeps it open (a model may think, an
arm may move for many seconds without a message); the run ends ``idle_timeout`` seconds after
the last activity once nothing is open, and its end is stamped at that last activity.
Stamps are seconds on one clock; the recorder polls :meth:`RunSegmenter.poll` with the time now.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["RunSegmenter"]


@dataclass
class RunSegmenter:
    """The run-cutting rule of the module docstring."""

    idle_timeout: float = 3.0
    in_run: bool = False
    last_activity: float = float("-inf")
    open_keys: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        if not self.idle_timeout > 0.0:
            raise ValueError(f"idle_timeout must be > 0, got {self.idle_timeout}")

    def activity(self, stamp: float, key: str | None = None, open_: bool | None = None) -> bool:
        """Note activity at ``stamp``; ``key`` names a goal or phase that is now open (``open_``) or
        closed. True when this starts a run (the caller begins recording at ``stamp``); something
        closing while no run is on (a goal that ended before the recorder started) starts none."""
        if open_ is False and not self.in_run:
            return False
        if key is not None and open_ is not None:
            if open_:
                self.open_keys.add(key)
            else:
                self.open_keys.discard(key)
        self.last_activity = max(self.last_activity, stamp)
        started = not self.in_run
        self.in_run = True
        return started

    def poll(self, now: float) -> float | None:
        """The run's end stamp when the run is over at ``now`` (the segmenter is then idle), else None."""
        if not self.in_run or self.open_keys or now - self.last_activity < self.idle_timeout:
            return None
        self.in_run = False
        return self.last_activity

    def reset(self) -> None:
        """Forget the current run (a run ended by hand)."""
        self.in_run, self.last_activity = False, float("-inf")
        self.open_keys.clear()
