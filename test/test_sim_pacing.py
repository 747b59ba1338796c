"""RealtimePacer and sample stamps: simulated time on the wall clock, with a fake clock."""

from __future__ import annotations

import numpy as np
import pytest

from vla_r1_ros.sim.pacing import RealtimePacer, sample_stamp_ns


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def pacer(clock: FakeClock, **kwargs: float) -> RealtimePacer:
    return RealtimePacer(clock=clock, sleep=clock.sleep, **kwargs)  # type: ignore[arg-type]


def test_a_step_waits_until_its_simulated_time_is_due() -> None:
    clock = FakeClock()
    p = pacer(clock)
    p.before_step(0.0, 0.01)
    assert clock.slept == [pytest.approx(0.01)]
    clock.now += 0.004  # the step itself took 4 ms
    p.before_step(0.01, 0.02)
    assert clock.slept[-1] == pytest.approx(0.006)
    assert p.lateness(0.02) == pytest.approx(0.0)


def test_a_late_step_catches_up_without_waiting_and_its_samples_keep_their_due_times() -> None:
    clock = FakeClock()
    p = pacer(clock)
    p.before_step(0.0, 0.01)
    clock.now += 0.1  # a 100 ms render held the thread
    for k in range(2, 12):
        p.before_step(0.01 * (k - 1), 0.01 * k)
        clock.now += 0.001
    assert len(clock.slept) == 1  # caught up 100 ms in 10 steps without sleeping
    due = [clock.now - p.lateness(0.01 * k) for k in range(2, 12)]
    assert list(np.diff(due)) == pytest.approx([0.01] * 9)


def test_beyond_max_lag_the_simulation_drops_the_time_instead_of_racing() -> None:
    clock = FakeClock()
    p = pacer(clock, max_lag=0.25)
    p.before_step(0.0, 0.01)
    clock.now += 1.0
    p.before_step(0.01, 0.02)  # 1 s late: moved on
    assert p.lateness(0.02) == pytest.approx(0.0)
    p.before_step(0.02, 0.03)
    assert clock.slept[-1] == pytest.approx(0.01)


def test_a_reset_restarts_the_relation_and_disabled_pacing_never_waits() -> None:
    clock = FakeClock()
    p = pacer(clock)
    p.before_step(5.0, 5.01)
    assert p.lateness(0.0) == 0.0  # simulated time went back: no stale lateness
    p.before_step(0.0, 0.01)
    assert clock.slept[-1] == pytest.approx(0.01)
    off = RealtimePacer(enabled=False, clock=clock, sleep=clock.sleep)  # type: ignore[arg-type]
    off.before_step(0.0, 10.0)
    assert off.lateness(10.0) == 0.0 and len(clock.slept) == 2


def test_stamps_are_never_in_the_future_nor_before_the_last() -> None:
    assert sample_stamp_ns(1_000, 0.0, 0) == 1_000
    assert sample_stamp_ns(1_000, -0.5, 0) == 1_000  # early (never happens when waiting first): now
    assert sample_stamp_ns(1_000_000_000, 0.25, 0) == 750_000_000
    assert sample_stamp_ns(1_000_000_000, 0.25, 900_000_000) == 900_000_000


def test_max_lag_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_lag"):
        RealtimePacer(max_lag=0.0)
