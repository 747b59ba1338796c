"""One goal of the waypoint executor, without ROS: check, plan, check the plan, approve, move, grasp, lift.

The ROS executor node, ``vla-r1 sim-eval`` and the pick episodes all run this, so every backend
(MoveIt's move_group, moveit_py, the simulated arm) is held to the same rules:

1. the waypoints pass the safety filter again (workspace, table, step and path length, reach, NaN);
2. the backend plans the Cartesian path (the grasp as asked, then turned half a turn about its
   approach axis when that one cannot be planned: a parallel gripper's grasp is the same both ways);
3. the plan passes the plan checks (fraction, joint jumps, deviation from the asked path,
   workspace, start state, joint limits, prediction age);
4. the plan is previewed, and, unless the goal is a dry run, approved (automatically, or by an
   operator within ``approval_timeout``);
5. the gripper opens (grasps), the arm moves (cancel stops it), the gripper closes and the arm
   lifts straight up by ``lift_height``.

Every step reports a phase through :class:`ExecutorHooks` (the node publishes feedback and
``~/events`` from it). Scalings outside (0, 1] become the configured defaults and anything larger
is clamped: a 0 is never passed on, since MoveIt reads it as full speed.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np

from vla_r1_ros.core.execution.backend import MotionBackend
from vla_r1_ros.core.execution.plan_checks import PlanCheckLimits, PlanCheckResult, PlanRule, check_plan
from vla_r1_ros.core.execution.scaling import resolve_scaling
from vla_r1_ros.core.execution.symmetry import equivalent_grasps
from vla_r1_ros.core.execution.types import CartesianPlan, CartesianSettings, ExecutionOutcome, JointLimits, Poses
from vla_r1_ros.core.geometry.safety import check_waypoints

__all__ = [
    "ExecutorSettings",
    "ExecuteRequest",
    "Outcome",
    "Approval",
    "ExecutorHooks",
    "ExecutionReport",
    "execute_waypoints",
]


class Outcome(enum.IntEnum):
    """The goal's outcome; the values are ExecuteWaypoints' OUTCOME_* constants."""

    SUCCEEDED = 0
    DRY_RUN_OK = 1
    REJECTED_BY_SAFETY = 2
    PLANNING_FAILED = 3
    EXECUTION_FAILED = 4
    CANCELED = 5
    NOT_APPROVED = 6


class Approval(str, enum.Enum):
    APPROVED = "approved"
    REJECTED = "rejected"
    TIMEOUT = "timeout"
    CANCELED = "canceled"


@dataclass(frozen=True)
class ExecutorSettings:
    """The executor's parameters (the node declares them with the same names)."""

    dry_run: bool = True
    require_approval: bool = True
    approval_timeout: float = 60.0
    max_velocity_scaling: float = 0.1
    max_acceleration_scaling: float = 0.1
    cartesian: CartesianSettings = field(default_factory=CartesianSettings)
    checks: PlanCheckLimits = field(default_factory=PlanCheckLimits)
    gripper_open: float = 0.04
    gripper_close: float = 0.0
    gripper_max_effort: float = 20.0
    lift_height: float = 0.10

    def __post_init__(self) -> None:
        for name in ("max_velocity_scaling", "max_acceleration_scaling"):
            value = getattr(self, name)
            if not 0.0 < value <= 1.0:
                raise ValueError(f"{name} must be in (0, 1], got {value}")
        if not self.approval_timeout > 0.0:
            raise ValueError(f"approval_timeout must be > 0, got {self.approval_timeout}")
        if self.lift_height < 0.0 or self.gripper_max_effort <= 0.0:
            raise ValueError("lift_height must be >= 0 and gripper_max_effort > 0")


@dataclass(frozen=True)
class ExecuteRequest:
    """One goal: TCP waypoints in the planning frame and how to run them."""

    waypoints: Poses
    dry_run: bool = False
    velocity_scaling: float = 0.0  # 0 (or anything outside (0, 1]): the configured maximum
    acceleration_scaling: float = 0.0
    grasp_at_end: bool = False
    prediction_age: float | None = None  # seconds since the camera frame the waypoints came from


class ExecutorHooks(Protocol):
    """What the executor needs from its host (a ROS node, a benchmark loop, a test)."""

    def phase(self, name: str, detail: str = "") -> None:
        """A step begins: checking, planning, awaiting_approval, executing, gripper, lifting."""

    def preview(self, plan: CartesianPlan, waypoints: Poses) -> None:
        """The plan before it moves anything (markers, the planned trajectory)."""

    def await_approval(self, plan: CartesianPlan, timeout_s: float) -> Approval:
        """Block until the operator approves or rejects, the timeout passes or the goal is cancelled."""

    def cancelled(self) -> bool:
        """Whether the goal was cancelled (polled while the arm moves)."""


@dataclass
class ExecutionReport:
    outcome: Outcome
    reason: str = ""
    planned_fraction: float = 0.0
    waypoints_reached: int = 0
    plan: CartesianPlan | None = None
    waypoints: Poses | None = None  # the planned grasp orientation (as asked, or turned half about the approach)
    checks: PlanCheckResult | None = None
    violations: tuple[str, ...] = ()  # the safety filter's or the plan checks' rule names
    timings: dict[str, float] = field(default_factory=dict)
    gripper_position: float | None = None  # after closing, for grasps

    @property
    def ok(self) -> bool:
        return self.outcome in (Outcome.SUCCEEDED, Outcome.DRY_RUN_OK)


def execute_waypoints(
    request: ExecuteRequest,
    backend: MotionBackend,
    joint_limits: JointLimits,
    current: np.ndarray,
    settings: ExecutorSettings,
    hooks: ExecutorHooks,
) -> ExecutionReport:
    """Run one goal from the joint state ``current``; every refusal and failure is named in the report."""
    report = ExecutionReport(Outcome.SUCCEEDED)
    started = time.perf_counter()
    try:
        return _run(request, backend, joint_limits, np.asarray(current, dtype=float), settings, hooks, report)
    finally:
        report.timings["total"] = time.perf_counter() - started


def _run(
    request: ExecuteRequest,
    backend: MotionBackend,
    limits: JointLimits,
    current: np.ndarray,
    settings: ExecutorSettings,
    hooks: ExecutorHooks,
    report: ExecutionReport,
) -> ExecutionReport:
    hooks.phase("checking", f"{len(request.waypoints)} waypoints")
    refused = _safety_refusal(request.waypoints, settings.checks)
    if refused is not None:
        return _ended(report, Outcome.REJECTED_BY_SAFETY, *refused)
    cartesian = _scaled(request, settings)

    hooks.phase("planning", f"velocity scaling {cartesian.velocity_scaling:g}")
    with _timed(report, "planning"):
        planned = _plan_checked(request, backend, limits, current, cartesian, settings.checks)
    report.plan, report.checks, report.waypoints = planned.plan, planned.checks, planned.waypoints
    report.planned_fraction = planned.plan.fraction if planned.plan is not None else 0.0
    if planned.failure is not None:
        return _ended(report, Outcome.PLANNING_FAILED, planned.failure, planned.checks_rules())
    assert planned.plan is not None and planned.waypoints is not None
    hooks.preview(planned.plan, planned.waypoints)
    if request.dry_run or settings.dry_run:
        return _ended(report, Outcome.DRY_RUN_OK, "dry run: checked and planned, nothing moved")

    if settings.require_approval:
        hooks.phase("awaiting_approval", f"within {settings.approval_timeout:g} s")
        with _timed(report, "approval"):
            answer = hooks.await_approval(planned.plan, settings.approval_timeout)
        if answer is Approval.CANCELED:
            return _ended(report, Outcome.CANCELED, "canceled while awaiting approval")
        if answer is not Approval.APPROVED:
            why = "rejected by the operator" if answer is Approval.REJECTED else "no approval within the timeout"
            return _ended(report, Outcome.NOT_APPROVED, f"{why} ({settings.approval_timeout:g} s)")
    return _move(request, backend, limits, planned.plan, cartesian, settings, hooks, report)


def _move(
    request: ExecuteRequest,
    backend: MotionBackend,
    limits: JointLimits,
    plan: CartesianPlan,
    cartesian: CartesianSettings,
    settings: ExecutorSettings,
    hooks: ExecutorHooks,
    report: ExecutionReport,
) -> ExecutionReport:
    if request.grasp_at_end:
        hooks.phase("gripper", f"open to {settings.gripper_open:g} m")
        backend.gripper(settings.gripper_open, settings.gripper_max_effort)
    hooks.phase("executing", f"{plan.duration:.1f} s planned")
    with _timed(report, "executing"):
        result = backend.execute(plan, should_stop=hooks.cancelled)
    report.waypoints_reached = _reached(plan, result.final_positions, len(request.waypoints))
    if result.outcome is ExecutionOutcome.CANCELED:
        return _ended(report, Outcome.CANCELED, f"canceled: {result.message}")
    if not result.ok:
        return _ended(report, Outcome.EXECUTION_FAILED, f"{result.outcome.value}: {result.message}")
    if not request.grasp_at_end:
        return _ended(report, Outcome.SUCCEEDED, "")
    hooks.phase("gripper", f"close at {settings.gripper_max_effort:g} N")
    closed = backend.gripper(settings.gripper_close, settings.gripper_max_effort)
    report.gripper_position = closed.position
    if settings.lift_height <= 0.0:
        return _ended(report, Outcome.SUCCEEDED, "")
    hooks.phase("lifting", f"{settings.lift_height:g} m straight up")
    return _lift(request, backend, limits, result.final_positions, cartesian, settings, hooks, report)


def _lift(
    request: ExecuteRequest,
    backend: MotionBackend,
    limits: JointLimits,
    at: np.ndarray,
    cartesian: CartesianSettings,
    settings: ExecutorSettings,
    hooks: ExecutorHooks,
    report: ExecutionReport,
) -> ExecutionReport:
    """Straight up from the grasp, turned as the hand ended; checked like the approach."""
    grasp = request.waypoints.positions[-1]
    end = report.plan.tcp_positions[-1] if report.plan is not None and len(report.plan.tcp_positions) else grasp
    lifted = Poses.single(np.asarray(end) + np.array([0.0, 0.0, settings.lift_height]), _end_orientation(report))
    plan = backend.plan_cartesian(lifted, at, cartesian)
    checks = check_plan(plan, lifted.positions, at, limits, settings.checks)
    if not checks.accepted:
        return _ended(report, Outcome.PLANNING_FAILED, f"lift: {checks.message()}", _rule_names(checks))
    result = backend.execute(plan, should_stop=hooks.cancelled)
    if result.outcome is ExecutionOutcome.CANCELED:
        return _ended(report, Outcome.CANCELED, f"canceled while lifting: {result.message}")
    if not result.ok:
        return _ended(report, Outcome.EXECUTION_FAILED, f"lift {result.outcome.value}: {result.message}")
    return _ended(report, Outcome.SUCCEEDED, "")


def _end_orientation(report: ExecutionReport) -> np.ndarray:
    assert report.waypoints is not None
    return np.asarray(report.waypoints.orientations[-1])


def _rule_names(checks: PlanCheckResult | None) -> tuple[str, ...]:
    return () if checks is None else tuple(sorted(rule.value for rule in checks.rules))


@dataclass
class _Planned:
    plan: CartesianPlan | None
    checks: PlanCheckResult | None
    waypoints: Poses | None
    failure: str | None

    def checks_rules(self) -> tuple[str, ...]:
        return _rule_names(self.checks)


def _plan_checked(
    request: ExecuteRequest,
    backend: MotionBackend,
    limits: JointLimits,
    current: np.ndarray,
    cartesian: CartesianSettings,
    checks: PlanCheckLimits,
) -> _Planned:
    """The first grasp orientation whose plan passes every check; else the first one's refusal."""
    hand = _hand_orientation(backend, current)
    candidates: Sequence[Poses] = (request.waypoints,)
    if hand is not None:
        candidates = equivalent_grasps(request.waypoints, hand)
    first: _Planned | None = None
    for waypoints in candidates:
        plan = backend.plan_cartesian(waypoints, current, cartesian)
        checked = check_plan(plan, waypoints.positions, current, limits, checks, request.prediction_age)
        if checked.accepted:
            return _Planned(plan, checked, waypoints, None)
        if first is None:
            first = _Planned(plan, checked, waypoints, _refusal_text(plan, checked))
    assert first is not None
    return first


def _refusal_text(plan: CartesianPlan, checked: PlanCheckResult) -> str:
    if plan.error and checked.rules <= {PlanRule.EMPTY, PlanRule.FRACTION}:
        return f"planner: {plan.error} (planned fraction {plan.fraction:.2f}); {checked.message()}"
    return checked.message()


def _hand_orientation(backend: MotionBackend, current: np.ndarray) -> np.ndarray | None:
    """The TCP orientation now, when the backend can say (to pick the nearer of two equivalent grasps)."""
    pose = getattr(backend, "tcp_orientation", None)
    return None if pose is None else np.asarray(pose(current), dtype=float)


def _safety_refusal(waypoints: Poses, checks: PlanCheckLimits) -> tuple[str, tuple[str, ...]] | None:
    safety = check_waypoints(np.asarray(waypoints.positions), checks.safety)
    if safety.accepted:
        return None
    return f"refused by the safety filter: {safety.message()}", tuple(v.rule.value for v in safety.violations)


def _scaled(request: ExecuteRequest, settings: ExecutorSettings) -> CartesianSettings:
    velocity = resolve_scaling(request.velocity_scaling, settings.max_velocity_scaling).value
    acceleration = resolve_scaling(request.acceleration_scaling, settings.max_acceleration_scaling).value
    return replace(settings.cartesian, velocity_scaling=velocity, acceleration_scaling=acceleration)


def _reached(plan: CartesianPlan, final: np.ndarray | None, waypoint_count: int) -> int:
    """How many of the asked waypoints the arm passed: the plan's share up to the nearest sample."""
    if final is None or not len(plan.positions):
        return 0
    nearest = int(np.argmin(np.linalg.norm(np.asarray(plan.positions) - np.asarray(final), axis=1)))
    share = (nearest + 1) / len(plan.positions) * plan.fraction
    return min(waypoint_count, round(share * waypoint_count))


def _ended(report: ExecutionReport, outcome: Outcome, reason: str, violations: tuple[str, ...] = ()) -> ExecutionReport:
    report.outcome, report.reason, report.violations = outcome, reason, violations
    return report


class _timed:
    def __init__(self, report: ExecutionReport, name: str) -> None:
        self.report, self.name = report, name

    def __enter__(self) -> None:
        self.started = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self.report.timings[self.name] = self.report.timings.get(self.name, 0.0) + time.perf_counter() - self.started
