"""The checks a plan must pass before it may move the arm: every violated rule is named.

Like the waypoint safety filter, this never repairs a plan: a plan that breaks a rule is refused
as a whole, with every broken rule listed so an operator sees all problems at once.

Rules (stable names):
``empty``           the plan has at least one sample;
``non_finite``      every joint position, time and planned TCP coordinate is finite;
``fraction``        the planner covered at least ``min_cartesian_fraction`` of the requested path;
``joint_limits``    every sample is within the joint limits (shrunk by ``joint_limit_margin``);
``joint_jump``      no joint moves more than ``max_joint_step`` between consecutive samples;
``path_deviation``  every planned TCP sample is within ``max_path_deviation`` of the requested
                    polyline (the start TCP, then the waypoints);
``workspace``, ``min_height``, ``reach``
                    the planned TCP stays inside the workspace box, above the table and within
                    reach (the waypoint safety filter's rules and limits, on the planned TCP);
``start_state``     the plan starts within ``start_state_tolerance`` of the current joint state;
``prediction_age``  the prediction the plan acts on is not older than ``max_prediction_age``
                    (and not from the future: a clock problem).
Samples are checked, not the motion between them: keep the planner's step small.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field, replace

import numpy as np
from numpy.typing import ArrayLike

from vla_r1_ros.core.execution.types import CartesianPlan, JointLimits
from vla_r1_ros.core.geometry.safety import SafetyLimits, SafetyRule, check_waypoints, shown_indices

__all__ = ["PlanRule", "PlanCheckLimits", "PlanViolation", "PlanCheckResult", "check_plan", "polyline_distances"]


class PlanRule(str, enum.Enum):
    EMPTY = "empty"
    NON_FINITE = "non_finite"
    FRACTION = "fraction"
    JOINT_LIMITS = "joint_limits"
    JOINT_JUMP = "joint_jump"
    PATH_DEVIATION = "path_deviation"
    WORKSPACE = "workspace"
    MIN_HEIGHT = "min_height"
    REACH = "reach"
    START_STATE = "start_state"
    PREDICTION_AGE = "prediction_age"


@dataclass(frozen=True)
class PlanCheckLimits:
    """Thresholds of the plan checks (the executor's parameters of the same names)."""

    min_cartesian_fraction: float = 0.99
    max_joint_step: float = 0.2
    max_path_deviation: float = 0.01
    start_state_tolerance: float = 0.01
    max_prediction_age: float = 10.0
    joint_limit_margin: float = 0.0
    safety: SafetyLimits = field(default_factory=SafetyLimits)

    def __post_init__(self) -> None:
        if not 0.0 < self.min_cartesian_fraction <= 1.0:
            raise ValueError(f"min_cartesian_fraction must be in (0, 1], got {self.min_cartesian_fraction}")
        for name in ("max_joint_step", "max_path_deviation", "start_state_tolerance", "max_prediction_age"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0.0):
                raise ValueError(f"{name} must be a finite number > 0, got {value}")
        if not (math.isfinite(self.joint_limit_margin) and self.joint_limit_margin >= 0.0):
            raise ValueError(f"joint_limit_margin must be finite and >= 0, got {self.joint_limit_margin}")


@dataclass(frozen=True)
class PlanViolation:
    """One violated rule: the samples concerned (empty for whole-plan rules) and a readable detail."""

    rule: PlanRule
    indices: tuple[int, ...]
    detail: str


@dataclass(frozen=True)
class PlanCheckResult:
    violations: tuple[PlanViolation, ...] = ()

    @property
    def accepted(self) -> bool:
        return not self.violations

    @property
    def rules(self) -> frozenset[PlanRule]:
        return frozenset(v.rule for v in self.violations)

    def message(self) -> str:
        if self.accepted:
            return "accepted"
        return "rejected: " + "; ".join(f"{v.rule.value}: {v.detail}" for v in self.violations)


def _flag(out: list[PlanViolation], rule: PlanRule, mask: np.ndarray, what: str) -> None:
    if mask.any():
        bad = np.flatnonzero(mask)
        out.append(PlanViolation(rule, tuple(int(i) for i in bad), f"samples {shown_indices(bad)} {what}"))


def polyline_distances(points: ArrayLike, polyline: ArrayLike) -> np.ndarray:
    """Distance of each point (N, 3) to the nearest point of the polyline (M, 3), M >= 1."""
    pts = np.asarray(points, dtype=float).reshape(-1, 3)
    line = np.asarray(polyline, dtype=float).reshape(-1, 3)
    if len(line) == 0:
        raise ValueError("the polyline needs at least one point")
    if len(line) == 1:
        return np.asarray(np.linalg.norm(pts - line[0], axis=1))
    a, b = line[:-1], line[1:]
    ab = b - a
    squared = np.einsum("ij,ij->i", ab, ab)
    rel = pts[:, None, :] - a[None, :, :]
    t = np.einsum("nmj,mj->nm", rel, ab) / np.where(squared > 0.0, squared, 1.0)
    t = np.clip(np.where(squared > 0.0, t, 0.0), 0.0, 1.0)
    nearest = a[None, :, :] + t[..., None] * ab[None, :, :]
    return np.asarray(np.linalg.norm(pts[:, None, :] - nearest, axis=2).min(axis=1))


def _check_joints(plan: CartesianPlan, joint_limits: JointLimits, limits: PlanCheckLimits) -> list[PlanViolation]:
    out: list[PlanViolation] = []
    q = plan.positions
    margin = limits.joint_limit_margin
    outside = np.any((q < joint_limits.lower + margin) | (q > joint_limits.upper - margin), axis=1)
    _flag(out, PlanRule.JOINT_LIMITS, outside, f"are outside the joint limits (margin {margin} rad)")
    if len(q) > 1:
        steps = np.abs(np.diff(q, axis=0)).max(axis=1)
        jumps = steps > limits.max_joint_step
        if jumps.any():
            _flag(
                out,
                PlanRule.JOINT_JUMP,
                np.r_[False, jumps],
                f"move a joint by more than {limits.max_joint_step} rad from the previous sample "
                f"(largest {float(steps.max()):.3f} rad)",
            )
    return out


def _check_tcp(plan: CartesianPlan, waypoints: np.ndarray, limits: PlanCheckLimits) -> list[PlanViolation]:
    out: list[PlanViolation] = []
    requested = np.vstack([plan.tcp_positions[:1], waypoints])
    deviation = polyline_distances(plan.tcp_positions, requested)
    _flag(
        out,
        PlanRule.PATH_DEVIATION,
        deviation > limits.max_path_deviation,
        f"are more than {limits.max_path_deviation} m from the requested path (largest {float(deviation.max()):.4f} m)",
    )
    # The waypoint filter's workspace, table and reach rules; its segment and length rules are
    # about a sparse waypoint list, not about a densely sampled plan, so they are switched off.
    dense = replace(limits.safety, max_segment_length=1e9, max_path_length=1e9)
    safety = check_waypoints(plan.tcp_positions, dense)
    mapped = {SafetyRule.WORKSPACE: PlanRule.WORKSPACE, SafetyRule.MIN_HEIGHT: PlanRule.MIN_HEIGHT,
              SafetyRule.REACH: PlanRule.REACH}
    for violation in safety.violations:
        if violation.rule in mapped:
            out.append(PlanViolation(mapped[violation.rule], violation.indices, "planned TCP " + violation.detail))
    return out


def check_plan(
    plan: CartesianPlan,
    waypoints: ArrayLike,
    current_positions: ArrayLike,
    joint_limits: JointLimits,
    limits: PlanCheckLimits,
    prediction_age: float | None = None,
) -> PlanCheckResult:
    """Every rule ``plan`` violates, given the requested TCP ``waypoints`` (N, 3), the current joint
    positions (in the plan's joint order) and the age of the prediction in seconds (None: not checked)."""
    violations: list[PlanViolation] = []
    if prediction_age is not None and not 0.0 <= prediction_age <= limits.max_prediction_age:
        detail = (
            f"the prediction is {prediction_age:.2f} s old, more than {limits.max_prediction_age} s"
            if prediction_age > 0.0
            else f"the prediction is stamped {-prediction_age:.2f} s in the future (clock problem)"
        )
        violations.append(PlanViolation(PlanRule.PREDICTION_AGE, (), detail))
    if plan.joint_names != joint_limits.names:
        raise ValueError(f"plan joints {plan.joint_names} differ from the limits' joints {joint_limits.names}")
    if len(plan) == 0:
        reason = f" ({plan.error})" if plan.error else ""
        violations.append(PlanViolation(PlanRule.EMPTY, (), "the plan has no samples" + reason))
        return PlanCheckResult(tuple(violations))
    if not plan.fraction >= limits.min_cartesian_fraction:
        violations.append(
            PlanViolation(
                PlanRule.FRACTION,
                (),
                f"only {100.0 * plan.fraction:.1f}% of the path was planned, "
                f"need {100.0 * limits.min_cartesian_fraction:.1f}%" + (f" ({plan.error})" if plan.error else ""),
            )
        )
    finite = np.isfinite(plan.positions).all(axis=1) & np.isfinite(plan.tcp_positions).all(axis=1)
    finite &= np.isfinite(plan.times)
    if not finite.all():
        _flag(violations, PlanRule.NON_FINITE, ~finite, "hold non-finite numbers")
        return PlanCheckResult(tuple(violations))
    current = np.asarray(current_positions, dtype=float)
    if current.shape != (joint_limits.count,):
        raise ValueError(f"current_positions must have {joint_limits.count} entries, got shape {current.shape}")
    offset = np.abs(plan.positions[0] - current)
    if not offset.max() <= limits.start_state_tolerance:
        joint = joint_limits.names[int(np.nanargmax(offset))]
        violations.append(
            PlanViolation(
                PlanRule.START_STATE,
                (0,),
                f"the plan starts {float(np.nanmax(offset)):.4f} rad from the current state ({joint}), "
                f"more than {limits.start_state_tolerance} rad",
            )
        )
    violations += _check_joints(plan, joint_limits, limits)
    violations += _check_tcp(plan, np.asarray(waypoints, dtype=float).reshape(-1, 3), limits)
    return PlanCheckResult(tuple(violations))
