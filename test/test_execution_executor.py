"""The waypoint executor's rules, on a scripted backend: every outcome and what reached the backend."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pytest

from vla_r1_ros.core.execution import (
    Approval,
    CartesianPlan,
    CartesianSettings,
    ExecuteRequest,
    ExecutionOutcome,
    ExecutionResult,
    ExecutorSettings,
    GripperResult,
    JointLimits,
    Outcome,
    Poses,
    densify_path,
    execute_waypoints,
    time_parameterize,
)

NAMES = tuple(f"j{i}" for i in range(7))
LIMITS = JointLimits(NAMES, [-10.0] * 7, [10.0] * 7, [2.0] * 7, [5.0] * 7)
DOWN = (1.0, 0.0, 0.0, 0.0)


@dataclass
class ScriptedArm:
    """A 'robot' whose first three joints are its TCP position: plans are the densified path itself."""

    fraction: float = 1.0  # share of the path the planner covers
    jump_at: int | None = None  # a sample where one joint leaps
    execute_outcome: ExecutionOutcome = ExecutionOutcome.SUCCEEDED
    stop_after_polls: int | None = None  # simulate a long motion: cancel is polled this often
    calls: list[tuple[str, Any]] = field(default_factory=list)

    @property
    def joint_names(self) -> tuple[str, ...]:
        return NAMES

    def plan_cartesian(self, waypoints: Poses, start: np.ndarray, settings: CartesianSettings) -> CartesianPlan:
        self.calls.append(("plan", settings))
        start_pose = Poses.single(start[:3], DOWN)
        dense = densify_path(start_pose, waypoints, settings.max_step, settings.max_rotation_step)
        count = max(1, round(len(dense) * self.fraction))
        positions = np.zeros((count, 7))
        positions[:, :3] = dense.poses.positions[:count]
        if self.jump_at is not None and self.jump_at < count:
            positions[self.jump_at :, 5] += 1.0
        timed = time_parameterize(positions, LIMITS, settings.velocity_scaling, settings.acceleration_scaling)
        error = "" if self.fraction >= 1.0 else "IK failed"
        return CartesianPlan(NAMES, positions, timed.velocities, timed.times, positions[:, :3], self.fraction, error)

    def execute(self, plan: CartesianPlan, should_stop: Callable[[], bool] | None = None) -> ExecutionResult:
        self.calls.append(("execute", plan))
        for _ in range(self.stop_after_polls or 0):
            if should_stop is not None and should_stop():
                middle = plan.positions[len(plan.positions) // 2]
                return ExecutionResult(ExecutionOutcome.CANCELED, "stopped", 0.5, middle)
        return ExecutionResult(
            self.execute_outcome,
            "controller says no" if self.execute_outcome.value != "succeeded" else "",
            plan.duration,
            plan.positions[-1],
        )

    def gripper(self, position: float, max_effort: float) -> GripperResult:
        self.calls.append(("gripper", (position, max_effort)))
        return GripperResult(
            position=max(position, 0.02), effort=max_effort, stalled=position < 0.02, reached_goal=True
        )

    def stop(self) -> None:
        self.calls.append(("stop", None))


@dataclass
class Operator:
    answer: Approval = Approval.APPROVED
    cancel_after: int | None = None
    phases: list[str] = field(default_factory=list)
    previews: int = 0
    polls: int = 0

    def phase(self, name: str, detail: str = "") -> None:
        self.phases.append(name)

    def preview(self, plan: CartesianPlan, waypoints: Poses) -> None:
        self.previews += 1

    def await_approval(self, plan: CartesianPlan, timeout_s: float) -> Approval:
        return self.answer

    def cancelled(self) -> bool:
        self.polls += 1
        return self.cancel_after is not None and self.polls > self.cancel_after


START = np.array([0.4, 0.0, 0.4, 0.0, 0.0, 0.0, 0.0])


def descent(to_z: float = 0.1, points: int = 8) -> Poses:
    positions = np.column_stack([np.full(points, 0.45), np.zeros(points), np.linspace(0.35, to_z, points)])
    return Poses(positions, np.tile(DOWN, (points, 1)))


def run(request: ExecuteRequest, arm: ScriptedArm, operator: Operator, **settings: Any) -> Any:
    chosen = replace(ExecutorSettings(dry_run=False), **settings)
    return execute_waypoints(request, arm, LIMITS, START, chosen, operator)


def kinds(arm: ScriptedArm) -> list[str]:
    return [kind for kind, _ in arm.calls]


def test_dry_run_by_parameter_or_goal_plans_and_previews_but_never_moves() -> None:
    for by_goal in (True, False):
        arm, operator = ScriptedArm(), Operator()
        report = run(ExecuteRequest(descent(), dry_run=by_goal), arm, operator, dry_run=not by_goal)
        assert report.outcome is Outcome.DRY_RUN_OK and report.planned_fraction == 1.0
        assert kinds(arm) == ["plan"] and operator.previews == 1
        assert operator.phases == ["checking", "planning"]


def test_an_approved_grasp_opens_moves_closes_and_lifts() -> None:
    arm, operator = ScriptedArm(), Operator(Approval.APPROVED)
    report = run(ExecuteRequest(descent(), grasp_at_end=True), arm, operator, lift_height=0.1)
    assert report.outcome is Outcome.SUCCEEDED, report.reason
    assert kinds(arm) == ["plan", "gripper", "execute", "gripper", "plan", "execute"]
    assert arm.calls[1][1] == (0.04, 20.0) and arm.calls[3][1] == (0.0, 20.0)
    lift = arm.calls[5][1]
    assert lift.tcp_positions[-1][2] == pytest.approx(0.1 + 0.1)  # straight up from the grasp
    assert operator.phases == [
        "checking",
        "planning",
        "awaiting_approval",
        "gripper",
        "executing",
        "gripper",
        "lifting",
    ]
    assert report.waypoints_reached == 8 and report.gripper_position == 0.02


@pytest.mark.parametrize(
    ("answer", "outcome", "reason"),
    [
        (Approval.REJECTED, Outcome.NOT_APPROVED, "rejected by the operator"),
        (Approval.TIMEOUT, Outcome.NOT_APPROVED, "no approval within the timeout (60 s)"),
        (Approval.CANCELED, Outcome.CANCELED, "canceled while awaiting approval"),
    ],
)
def test_without_approval_nothing_moves(answer: Approval, outcome: Outcome, reason: str) -> None:
    arm = ScriptedArm()
    report = run(ExecuteRequest(descent()), arm, Operator(answer))
    assert report.outcome is outcome and reason in report.reason
    assert kinds(arm) == ["plan"]


def test_no_approval_needed_when_the_parameter_says_so() -> None:
    arm, operator = ScriptedArm(), Operator(Approval.REJECTED)  # would reject if asked
    assert run(ExecuteRequest(descent()), arm, operator, require_approval=False).outcome is Outcome.SUCCEEDED
    assert "awaiting_approval" not in operator.phases


def test_the_safety_filter_names_every_violated_rule_and_nothing_is_planned() -> None:
    positions = np.array([[0.45, 0.0, 0.3], [0.45, 0.0, np.nan], [2.5, 0.0, 0.3], [0.45, 0.0, -0.2]])
    arm = ScriptedArm()
    report = run(ExecuteRequest(Poses(positions, np.tile(DOWN, (4, 1)))), arm, Operator())
    assert report.outcome is Outcome.REJECTED_BY_SAFETY and arm.calls == []
    assert {"non_finite", "workspace", "min_height", "segment", "reach"} <= set(report.violations)
    assert report.reason.startswith("refused by the safety filter: rejected: ")


def test_a_partial_plan_is_a_planning_failure_with_its_fraction() -> None:
    arm = ScriptedArm(fraction=0.6)
    report = run(ExecuteRequest(descent()), arm, Operator())
    assert report.outcome is Outcome.PLANNING_FAILED and report.planned_fraction == pytest.approx(0.6)
    assert "fraction" in report.violations and "IK failed" in report.reason
    assert "execute" not in kinds(arm)


def test_a_joint_jump_is_refused() -> None:
    arm = ScriptedArm(jump_at=10)
    report = run(ExecuteRequest(descent()), arm, Operator())
    assert report.outcome is Outcome.PLANNING_FAILED and "joint_jump" in report.violations


def test_a_stale_prediction_is_refused() -> None:
    report = run(ExecuteRequest(descent(), prediction_age=30.0), ScriptedArm(), Operator())
    assert report.outcome is Outcome.PLANNING_FAILED and "prediction_age" in report.violations


def test_an_execution_failure_ends_the_goal_with_the_controllers_reason() -> None:
    arm = ScriptedArm(execute_outcome=ExecutionOutcome.ABORTED)
    report = run(ExecuteRequest(descent(), grasp_at_end=True), arm, Operator())
    assert report.outcome is Outcome.EXECUTION_FAILED and "controller says no" in report.reason
    assert kinds(arm) == ["plan", "gripper", "execute"]  # the gripper does not close on a failed approach


def test_cancel_mid_motion_stops_the_arm_and_reports_how_far_it_got() -> None:
    arm, operator = ScriptedArm(stop_after_polls=100), Operator(cancel_after=3)
    report = run(ExecuteRequest(descent(), grasp_at_end=True), arm, operator)
    assert report.outcome is Outcome.CANCELED and 0 < report.waypoints_reached < 8
    assert kinds(arm) == ["plan", "gripper", "execute"]


@pytest.mark.parametrize(("asked", "used"), [(0.0, 0.1), (-1.0, 0.1), (float("nan"), 0.1), (0.05, 0.05), (0.9, 0.1)])
def test_scalings_are_clamped_to_the_maximum_and_zero_is_never_passed_on(asked: float, used: float) -> None:
    arm = ScriptedArm()
    run(ExecuteRequest(descent(), dry_run=True, velocity_scaling=asked, acceleration_scaling=asked), arm, Operator())
    planned: CartesianSettings = arm.calls[0][1]
    assert planned.velocity_scaling == pytest.approx(used) and planned.acceleration_scaling == pytest.approx(used)


def test_settings_refuse_a_zero_maximum_scaling() -> None:
    with pytest.raises(ValueError, match="max_velocity_scaling must be in"):
        ExecutorSettings(max_velocity_scaling=0.0)
