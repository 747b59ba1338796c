"""Run measures (core/runs) against hand-computed cases, the smoothness paper's definitions and scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from vla_r1_ros.core.runs.events import (
    RunEvent,
    count_interventions,
    phase_durations,
    run_window,
    split_by_category,
)
from vla_r1_ros.core.runs.motion import (
    clean_samples,
    joint_rate_peaks,
    min_clearance,
    path_length,
    speed_profile,
)
from vla_r1_ros.core.runs.operator import OperatorSettings, minimum_jerk, scripted_reach
from vla_r1_ros.core.runs.run import RunData, RunSettings, run_metrics
from vla_r1_ros.core.runs.smoothness import ldlj, sparc
from vla_r1_ros.core.runs.stats import compare_conditions, mean_ci, proportion_ci
from vla_r1_ros.core.runs.tlx import raw_tlx

MINIMUM_JERK_LDLJ = -math.log(204.8)  # 720 / 1.875^2: see test_ldlj_of_a_minimum_jerk_reach


def _reference_sparc(
    movement: np.ndarray, fs: float, padlevel: int = 4, fc: float = 10.0, amp_th: float = 0.05
) -> float:
    """The smoothness paper's published SPARC code, transcribed (full FFT, its own band logic)."""
    nfft = int(pow(2, np.ceil(np.log2(len(movement))) + padlevel))
    f = np.arange(0, fs, fs / nfft)
    mf = abs(np.fft.fft(movement, nfft))
    mf = mf / max(mf)
    fc_inx = ((f <= fc) * 1).nonzero()
    f_sel, mf_sel = f[fc_inx], mf[fc_inx]
    inx = ((mf_sel >= amp_th) * 1).nonzero()[0]
    fc_inx = range(inx[0], inx[-1] + 1)
    f_sel, mf_sel = f_sel[fc_inx], mf_sel[fc_inx]
    return float(-sum(np.sqrt(pow(np.diff(f_sel) / (f_sel[-1] - f_sel[0]), 2) + pow(np.diff(mf_sel), 2))))


def _minimum_jerk_speed(distance: float, duration: float, rate: float) -> np.ndarray:
    t = np.arange(round(duration * rate) + 1) / rate
    _, rate_of_progress = minimum_jerk(t / duration)
    return distance / duration * rate_of_progress


# --- path, speed, joint rates, clearance ---------------------------------------------------------


def test_straight_line_at_constant_speed() -> None:
    t = np.linspace(0.0, 2.0, 201)
    points = np.stack([0.3 + 0.1 * t, 0.05 * t, 0.2 + 0.0 * t], axis=1)  # |v| = sqrt(0.01 + 0.0025)
    assert path_length(points) == pytest.approx(2.0 * math.hypot(0.1, 0.05))
    path, speed = speed_profile(t, points)
    assert path.rate == pytest.approx(100.0)
    assert np.allclose(speed, math.hypot(0.1, 0.05))
    assert min_clearance(points, table_height=0.05) == pytest.approx(0.15)
    assert min_clearance(points - [0.0, 0.0, 0.3]) == pytest.approx(-0.1)  # below the table top


def test_peak_joint_rates_on_uneven_stamps_with_repeats() -> None:
    rng = np.random.default_rng(4)
    t = np.cumsum(rng.uniform(0.004, 0.016, size=500))  # ~100 Hz with heavy jitter
    amplitude, omega = 0.8, 2.0
    q = np.stack([amplitude * np.sin(omega * t), 0.1 * t**2], axis=1)
    # Repeated messages and a near-duplicate stamp carrying a slightly different reading.
    t_rec = np.concatenate([t, t[100:105], [t[200] + 1e-6]])
    q_rec = np.concatenate([q, q[100:105], q[200:201] + 1e-4])
    peaks = joint_rate_peaks(t_rec, q_rec)
    assert peaks.velocity[0] == pytest.approx(amplitude * omega, rel=2e-3)
    assert peaks.acceleration[0] == pytest.approx(amplitude * omega**2, rel=2e-2)
    assert peaks.velocity[1] == pytest.approx(0.2 * t[-1], rel=1e-3)
    assert peaks.acceleration[1] == pytest.approx(0.2, rel=1e-3)  # a parabola's curvature, exactly
    assert peaks.peak_velocity == pytest.approx(max(amplitude * omega, 0.2 * t[-1]), rel=2e-3)
    # Without the clean-up, the near-duplicate divides 0.1 mrad by 1 us: 100 rad/s.
    raw_order = np.argsort(t_rec, kind="stable")
    with np.errstate(divide="ignore", invalid="ignore"):
        naive = np.gradient(q_rec[raw_order, 0], t_rec[raw_order])
    assert not np.all(np.isfinite(naive)) or np.nanmax(np.abs(naive)) > 50.0


def test_low_pass_keeps_peaks_that_sensor_noise_would_swamp() -> None:
    rng = np.random.default_rng(8)
    t = np.cumsum(rng.uniform(0.0008, 0.0012, size=4000))  # ~1 kHz, like a Franka's joint states
    clean = 0.5 * np.sin(3.0 * t + 1.0)  # peaks inside the record (runs start and end at rest)
    noisy = clean + rng.normal(scale=2e-5, size=len(t))  # encoder-level noise
    raw = joint_rate_peaks(t, noisy[:, None])
    filtered = joint_rate_peaks(t, noisy[:, None], lowpass_hz=10.0)
    assert raw.acceleration[0] > 10 * 4.5  # noise dominates: the true peak is 0.5 * 3^2 = 4.5 rad/s²
    assert filtered.velocity[0] == pytest.approx(1.5, rel=0.01)
    assert filtered.acceleration[0] == pytest.approx(4.5, rel=0.05)
    # Path length likewise: a tool resting for 4 s "travels" 14 cm of noise; filtered, under 1 cm.
    still = np.array([0.4, 0.0, 0.2]) + rng.normal(scale=2e-5, size=(len(t), 3))
    assert path_length(still) > 0.1
    path, _ = speed_profile(t, still, lowpass_hz=10.0)
    assert path_length(path.positions) < 0.01


def test_clean_samples_sorts_and_drops_bad_rows() -> None:
    t, v = clean_samples([0.02, 0.0, 0.01, 0.01, np.nan, 0.03], [[2.0], [0.0], [1.0], [9.0], [5.0], [np.inf]])
    assert t.tolist() == [0.0, 0.01, 0.02] and v.ravel().tolist() == [0.0, 1.0, 2.0]


# --- smoothness --------------------------------------------------------------------------------


def test_ldlj_of_a_minimum_jerk_reach() -> None:
    # Speed v = D/T * 30 τ²(1-τ)², peak 1.875 D/T; d²v/dt² = D/T³ * 60(1 - 6τ + 6τ²), whose square
    # integrates to 720 D²/T⁵; so (t2-t1)³/v_peak² * ∫ = 720 / 1.875² = 204.8, for any D and T.
    for distance, duration, rate in ((0.4, 1.0, 100.0), (0.05, 3.0, 50.0), (1.2, 0.6, 500.0)):
        assert ldlj(_minimum_jerk_speed(distance, duration, rate), rate) == pytest.approx(MINIMUM_JERK_LDLJ, abs=5e-3)


def test_smoothness_ranks_a_smooth_reach_above_a_jerky_one() -> None:
    rate = 100.0
    smooth = _minimum_jerk_speed(0.4, 2.0, rate)
    # The same reach as four stop-and-go submovements.
    jerky = np.concatenate([_minimum_jerk_speed(0.1, 0.5, rate)[:-1] for _ in range(4)] + [np.zeros(1)])
    assert sparc(smooth, rate) > sparc(jerky, rate)
    assert ldlj(smooth, rate) > ldlj(jerky, rate)
    # A 4 Hz tremor of 15 % on top of the smooth reach also lowers both (SPARC ignores spectral
    # components below 5 % of the peak by design, so a faint tremor would not count).
    t = np.arange(len(smooth)) / rate
    shaky = smooth * (1.0 + 0.15 * np.sin(2 * np.pi * 4.0 * t))
    assert sparc(smooth, rate) > sparc(shaky, rate) and ldlj(smooth, rate) > ldlj(shaky, rate)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sparc_matches_the_published_code(seed: int) -> None:
    rng = np.random.default_rng(seed)
    speed = np.abs(_minimum_jerk_speed(0.3, 1.5, 100.0) + rng.normal(scale=0.01, size=151))
    assert sparc(speed, 100.0) == pytest.approx(_reference_sparc(speed, 100.0), rel=1e-12)


def test_smoothness_of_no_movement_is_undefined() -> None:
    assert math.isnan(ldlj(np.zeros(50), 100.0)) and math.isnan(sparc(np.zeros(50), 100.0))


# --- events ------------------------------------------------------------------------------------


def _vla_events() -> list[RunEvent]:
    return [
        RunEvent(10.0, "run", "started", goal_id="g1"),
        RunEvent(10.0, "model", "started", goal_id="g1"),
        RunEvent(12.5, "model", "succeeded", goal_id="g1"),
        RunEvent(12.5, "checking", "started", goal_id="g1"),
        RunEvent(12.7, "planning", "started", goal_id="g1"),  # closes checking
        RunEvent(13.0, "planning", "succeeded", goal_id="g1"),
        RunEvent(13.0, "awaiting_approval", "started", goal_id="g1"),
        RunEvent(16.0, "awaiting_approval", "approved", goal_id="g1"),
        RunEvent(16.0, "executing", "started", goal_id="g1"),
        RunEvent(20.0, "executing", "canceled", "operator stop", goal_id="g1"),
        RunEvent(20.0, "run", "canceled", goal_id="g1"),  # the same goal: one cancel
        RunEvent(21.0, "run", "started", goal_id="g2"),
        RunEvent(21.0, "awaiting_approval", "started", goal_id="g2"),
        RunEvent(22.0, "awaiting_approval", "rejected", goal_id="g2"),
        RunEvent(22.5, "checking", "started", goal_id="g3"),
        RunEvent(22.6, "checking", "rejected", "below the table", goal_id="g3"),  # safety, not an operator
        RunEvent(23.0, "executing", "started", goal_id="g4"),
        RunEvent(25.0, "run", "succeeded", goal_id="g4"),
    ]


def test_phase_split_and_window_from_events() -> None:
    events = _vla_events()
    window = run_window(events, [], 0.0, 30.0)
    assert (window.start, window.end, window.source) == (10.0, 25.0, "run events")
    phases = phase_durations(events, window.end)
    assert phases["model"] == pytest.approx(2.5)
    assert phases["checking"] == pytest.approx(0.2 + 0.1)
    assert phases["planning"] == pytest.approx(0.3)
    assert phases["awaiting_approval"] == pytest.approx(3.0 + 1.0)
    assert phases["executing"] == pytest.approx(4.0 + 2.0)  # the second one is still open at the end
    split = split_by_category(phases)
    assert split == pytest.approx({"model": 2.5, "approval": 4.0, "planning": 0.6, "motion": 6.0})


def test_windows_without_run_events() -> None:
    plain = [RunEvent(3.0, "model", "started"), RunEvent(9.0, "executing", "succeeded")]
    assert run_window(plain, [], 0.0, 12.0).duration == pytest.approx(6.0)
    teleop = run_window([], [4.0, 2.0, 5.0], 0.0, 12.0)
    assert (teleop.start, teleop.end, teleop.source) == (2.0, 12.0, "teleop")
    assert run_window([], [], 1.0, 12.0).source == "joint states"


def test_interventions() -> None:
    events = _vla_events()
    window = run_window(events, [], 0.0, 30.0)
    teleop = [17.0, 17.1, 17.2, 18.5, 18.6, 40.0]  # two bursts inside, one command after the run
    vla = count_interventions(events, teleop, window, teleop_is_intervention=True)
    assert (vla.cancels, vla.rejections, vla.approvals) == (1, 1, 1)
    assert (vla.teleop_commands, vla.teleop_bursts, vla.total) == (5, 2, 4)
    by_hand = count_interventions([], teleop, window, teleop_is_intervention=False)
    assert by_hand.total == 0 and by_hand.teleop_bursts == 2


# --- one run end to end ------------------------------------------------------------------------


def test_run_metrics_of_a_scripted_reach() -> None:
    motion = scripted_reach([0.4, 0.2, 0.3], [0.5, -0.2, 0.12], seed=3, settings=OperatorSettings(rate_hz=100.0))
    t = 100.0 + motion.times
    q = np.column_stack([motion.positions, np.zeros(len(t))])  # stand-in joints: the tool itself
    run = RunData("r1", t, q, ("x", "y", "z", "w"), motion.positions, condition="teleop",
                  teleop_stamps=t[np.linalg.norm(motion.velocities, axis=1) > 1e-3])  # fmt: skip
    metrics = run_metrics(run, RunSettings(table_height=0.02))
    assert metrics.window_source == "teleop"
    assert metrics.end == pytest.approx(t[-1])
    assert metrics.path_length == pytest.approx(path_length(motion.positions[t >= metrics.start]), rel=1e-2)
    assert metrics.min_clearance == pytest.approx(motion.positions[:, 2].min() - 0.02)
    assert metrics.peak_joint_velocity == pytest.approx(np.abs(motion.velocities).max(), rel=0.05)
    assert metrics.ldlj < MINIMUM_JERK_LDLJ  # submovements and noise: less smooth than one reach
    assert metrics.interventions == 0 and metrics.teleop_bursts >= 2
    assert math.isnan(metrics.model_time)  # no events: no phase split
    row = metrics.row()
    assert row["run_id"] == "r1" and "phases" not in row


def test_run_metrics_refuses_an_empty_window() -> None:
    run = RunData("r2", np.array([0.0, 1.0]), np.zeros((2, 1)), ("j",), np.zeros((2, 3)),
                  events=(RunEvent(5.0, "run", "started"), RunEvent(6.0, "run", "succeeded")))  # fmt: skip
    with pytest.raises(ValueError, match="r2: fewer than two joint samples"):
        run_metrics(run)


# --- scripted operator -------------------------------------------------------------------------


def test_scripted_operator_is_human_like_and_reproducible() -> None:
    start, target = np.array([0.4, 0.2, 0.3]), np.array([0.55, -0.15, 0.1])
    motion = scripted_reach(start, target, seed=7)
    assert np.allclose(motion.positions[0], start) and np.allclose(motion.positions[-1], target, atol=1e-12)
    assert np.allclose(np.diff(motion.times), 1.0 / 50.0)
    speed = np.linalg.norm(motion.velocities, axis=1)
    assert speed[0] == 0.0 and speed[-1] == pytest.approx(0.0, abs=1e-9)
    # Submovements: the hand comes to rest between the primary movement and the corrections.
    moving = speed > 0.02 * speed.max()
    assert np.count_nonzero(np.diff(moving.astype(int)) == 1) >= 2
    # The velocities integrate to the positions (what a velocity-controlled arm would follow).
    integrated = start + np.concatenate(
        [np.zeros((1, 3)), np.cumsum((motion.velocities[1:] + motion.velocities[:-1]) / 100.0, axis=0)]
    )
    assert np.abs(integrated - motion.positions).max() < 2e-4
    again = scripted_reach(start, target, seed=7)
    assert np.array_equal(again.positions, motion.positions)
    assert not np.array_equal(scripted_reach(start, target, seed=8).positions, motion.positions)


# --- statistics and workload -------------------------------------------------------------------


def _table() -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    times = {"vla": [12.0, 14.5, 11.0, 13.2, 15.1], "teleop": [20.0, 18.0, 25.5, 19.0, 22.3]}
    for condition, values in times.items():
        for task, value in zip(["t1", "t2", "t3", "t4", "t5"], values):
            rows.append({"condition": condition, "task": task, "completion_time": value})
    rows.append({"condition": "vla", "task": "t1", "completion_time": 13.0})  # a second vla trial of t1
    rows.append({"condition": "teleop", "task": "t9", "completion_time": 30.0})  # unpaired task
    rows.append({"condition": "vla", "task": "t2", "completion_time": float("nan")})  # not measurable
    return rows


def test_statistics_match_scipy() -> None:
    rows = _table()
    vla = [12.0, 14.5, 11.0, 13.2, 15.1, 13.0]
    ci = mean_ci(r["completion_time"] for r in rows if r["condition"] == "vla")
    low, high = stats.t.interval(0.95, len(vla) - 1, loc=np.mean(vla), scale=stats.sem(vla))
    assert (ci.n, ci.mean, ci.sd) == (6, pytest.approx(np.mean(vla)), pytest.approx(np.std(vla, ddof=1)))
    assert (ci.low, ci.high) == (pytest.approx(low), pytest.approx(high))
    paired = compare_conditions(rows, "completion_time", "vla", "teleop")
    expected = stats.wilcoxon([12.5, 14.5, 11.0, 13.2, 15.1], [20.0, 18.0, 25.5, 19.0, 22.3])
    assert (paired.test, paired.pairs, paired.n_a, paired.n_b) == ("wilcoxon", 5, 6, 6)
    assert paired.statistic == expected.statistic and paired.p_value == pytest.approx(expected.pvalue)
    unpaired = compare_conditions(rows, "completion_time", "vla", "teleop", min_pairs=6)
    expected_u = stats.mannwhitneyu(vla, [20.0, 18.0, 25.5, 19.0, 22.3, 30.0])
    assert unpaired.test == "mannwhitneyu" and unpaired.p_value == pytest.approx(expected_u.pvalue)
    assert compare_conditions(rows, "completion_time", "vla", "vla+approval").test == "none"
    assert mean_ci([4.0]).n == 1 and math.isnan(mean_ci([4.0]).low)
    rate = proportion_ci(9, 10)
    assert rate.rate == 0.9 and 0.59 < rate.low < 0.6 and 0.98 < rate.high < 0.99  # Wilson, 95 %


def test_raw_tlx() -> None:
    scores = {"mental": 60, "physical": 20, "temporal": 40, "performance": 30, "effort": 50, "frustration": 10}
    assert raw_tlx(scores) == pytest.approx(35.0)
    with pytest.raises(ValueError, match="missing: frustration"):
        raw_tlx({k: v for k, v in scores.items() if k != "frustration"})
    with pytest.raises(ValueError, match="effort must be within 0-100"):
        raw_tlx({**scores, "effort": 140})
