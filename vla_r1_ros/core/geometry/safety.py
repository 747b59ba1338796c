"""The last check before motion: waypoints either pass every rule or are rejected as a whole.

Why a separate, dumb filter: lifting is clever and therefore can be wrong; this module is simple
enough to be obviously right and is run again right before execution (after any editing of the
plan). It never repairs a path (a clipped waypoint is a different plan nobody reviewed); it names
*every* violated rule so an operator sees all problems at once.

Rules (base frame, metres, REP 103):
``non_finite``   every coordinate is a finite number;
``workspace``    every waypoint lies inside the axis-aligned workspace box (inclusive);
``min_height``   every waypoint is at least ``min_height_above_table`` above ``table_height``;
``segment``      no two consecutive waypoints are more than ``max_segment_length`` apart;
``path_length``  the summed segment lengths do not exceed ``max_path_length``;
``reach``        every waypoint is within ``max_reach`` of ``reach_center`` (the shoulder);
``empty``        there is at least one waypoint.
Geometric rules are evaluated on finite waypoints only, so one NaN does not hide other problems.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from vla_r1_ros.core.geometry.kernels.limits import within_limits

__all__ = ["SafetyRule", "SafetyLimits", "Violation", "SafetyResult", "check_waypoints", "shown_indices"]


class SafetyRule(str, enum.Enum):
    """The rules, with stable names (they appear in messages and logs)."""

    EMPTY = "empty"
    NON_FINITE = "non_finite"
    WORKSPACE = "workspace"
    MIN_HEIGHT = "min_height"
    SEGMENT = "segment"
    PATH_LENGTH = "path_length"
    REACH = "reach"


@dataclass(frozen=True)
class SafetyLimits:
    """Limits in the base frame. Defaults describe a Franka-Panda-sized tabletop cell."""

    workspace_min: tuple[float, float, float] = (-0.8, -0.8, -0.05)
    workspace_max: tuple[float, float, float] = (0.8, 0.8, 1.0)
    table_height: float = 0.0
    min_height_above_table: float = 0.005
    max_segment_length: float = 0.05
    max_path_length: float = 2.0
    reach_center: tuple[float, float, float] = (0.0, 0.0, 0.333)
    max_reach: float = 0.85

    def __post_init__(self) -> None:
        vectors = (self.workspace_min, self.workspace_max, self.reach_center)
        if any(len(v) != 3 for v in vectors):
            raise ValueError("workspace_min, workspace_max and reach_center must have 3 components")
        scalars = (
            self.table_height,
            self.min_height_above_table,
            self.max_segment_length,
            self.max_path_length,
            self.max_reach,
        )
        if not all(math.isfinite(x) for v in vectors for x in v) or not all(math.isfinite(x) for x in scalars):
            raise ValueError("safety limits must be finite numbers")
        if any(lo > hi for lo, hi in zip(self.workspace_min, self.workspace_max)):
            raise ValueError(f"workspace_min {self.workspace_min} exceeds workspace_max {self.workspace_max}")
        if self.max_segment_length <= 0 or self.max_path_length <= 0 or self.max_reach <= 0:
            raise ValueError("max_segment_length, max_path_length and max_reach must be > 0")


@dataclass(frozen=True)
class Violation:
    """One violated rule: which waypoints (or segments, for ``segment``) and a readable detail."""

    rule: SafetyRule
    indices: tuple[int, ...]
    detail: str


@dataclass(frozen=True, eq=False)
class SafetyResult:
    """``waypoints`` (read-only) only when accepted; otherwise every violated rule."""

    waypoints: np.ndarray | None
    violations: tuple[Violation, ...] = field(default=())

    @property
    def accepted(self) -> bool:
        return self.waypoints is not None and not self.violations

    @property
    def rules(self) -> frozenset[SafetyRule]:
        return frozenset(v.rule for v in self.violations)

    def message(self) -> str:
        if self.accepted:
            return "accepted"
        return "rejected: " + "; ".join(f"{v.rule.value}: {v.detail}" for v in self.violations)


def shown_indices(indices: np.ndarray, limit: int = 5) -> str:
    """The first ``limit`` indices of a violation as message text ("3, 4, 5, ... (12 in all)")."""
    shown = ", ".join(str(int(i)) for i in indices[:limit])
    return shown + (f", ... ({len(indices)} in all)" if len(indices) > limit else "")


def _flag(violations: list[Violation], rule: SafetyRule, mask: np.ndarray, detail: Callable[[str], str]) -> None:
    """Record ``rule`` for the flagged indices; the text is only built when something is flagged."""
    if mask.any():
        bad = np.flatnonzero(mask)
        violations.append(Violation(rule, tuple(int(i) for i in bad), detail(shown_indices(bad))))


def _passes_every_rule(pts: np.ndarray, limits: SafetyLimits) -> bool:
    """Whether a non-empty (N, 3) path violates no rule, from whole-path extremes.

    Why: an accepted path is the common case, and it needs no per-waypoint verdicts; the
    extremes (lowest and highest coordinates, farthest point from the shoulder, longest segment)
    decide every rule, in one compiled pass (kernels.limits.within_limits). Each comparison is the
    per-waypoint one applied to the extreme, so this accepts exactly the paths the full check
    accepts; a path it refuses gets the full check, which names every violation.
    """
    values = np.array(
        [
            *limits.workspace_min,
            *limits.workspace_max,
            limits.table_height + limits.min_height_above_table,
            *limits.reach_center,
            limits.max_reach,
            limits.max_segment_length,
            limits.max_path_length,
        ],
        dtype=float,
    )
    # A writeable copy: lifting's paths are read-only, and numba would compile that as another type.
    return bool(within_limits(np.array(pts, dtype=float), values))


def check_waypoints(waypoints: np.ndarray, limits: SafetyLimits) -> SafetyResult:
    """Accept (N, 3) base-frame positions only if no rule is violated; else name every violation.

    Every rule is evaluated on the x, y, z columns separately: NumPy reduces slowly along a
    3-wide axis, and this runs on every plan, twice. Violations are only assembled when a rule
    fails, so an accepted path costs a few dozen array operations.
    """
    pts = np.asarray(waypoints, dtype=float)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise ValueError(f"waypoints must be an (N, 3) array, got shape {pts.shape}")
    if len(pts) == 0:
        return SafetyResult(None, (Violation(SafetyRule.EMPTY, (), "no waypoints"),))
    if _passes_every_rule(pts, limits):
        accepted = pts.copy()
        accepted.flags.writeable = False
        return SafetyResult(accepted, ())
    x, y, z = pts[:, 0], pts[:, 1], pts[:, 2]
    violations: list[Violation] = []
    with np.errstate(over="ignore", invalid="ignore"):
        finite = np.isfinite(x) & np.isfinite(y) & np.isfinite(z)
        all_finite = bool(finite.all())
        (x_lo, y_lo, z_lo), (x_hi, y_hi, z_hi) = limits.workspace_min, limits.workspace_max
        outside = (x < x_lo) | (x > x_hi) | (y < y_lo) | (y > y_hi) | (z < z_lo) | (z > z_hi)
        floor = limits.table_height + limits.min_height_above_table
        low = z < floor
        cx, cy, cz = limits.reach_center
        dx, dy, dz = x - cx, y - cy, z - cz
        far = ~(np.sqrt(dx * dx + dy * dy + dz * dz) <= limits.max_reach)
        if len(pts) > 1:
            sx, sy, sz = x[1:] - x[:-1], y[1:] - y[:-1], z[1:] - z[:-1]
            lengths = np.sqrt(sx * sx + sy * sy + sz * sz)  # inf on overflow: counted as too long
            seg_ok = finite[1:] & finite[:-1]
            too_long = ~(lengths <= limits.max_segment_length)
            total = float(lengths.sum() if all_finite else lengths[seg_ok].sum())
    if not all_finite:
        _flag(violations, SafetyRule.NON_FINITE, ~finite, lambda shown: f"waypoints {shown} are not finite")
        # Geometric rules look at finite waypoints only (a NaN compares False, inf must not count).
        outside &= finite
        low &= finite
        far &= finite
    box = f"{limits.workspace_min}..{limits.workspace_max}"
    _flag(violations, SafetyRule.WORKSPACE, outside, lambda shown: f"waypoints {shown} leave the workspace box {box}")
    _flag(
        violations,
        SafetyRule.MIN_HEIGHT,
        low,
        lambda shown: f"waypoints {shown} are below z = {floor:.4f} m (table + minimum height)",
    )
    _flag(
        violations,
        SafetyRule.REACH,
        far,
        lambda shown: f"waypoints {shown} are farther than {limits.max_reach} m from the shoulder",
    )
    if len(pts) > 1:
        long_seg = too_long if all_finite else seg_ok & too_long
        _flag(
            violations,
            SafetyRule.SEGMENT,
            long_seg,
            lambda shown: f"segments starting at {shown} are longer than {limits.max_segment_length} m "
            f"(longest {float(lengths[long_seg].max()):.4f} m)",
        )
        if not total <= limits.max_path_length:
            violations.append(
                Violation(
                    SafetyRule.PATH_LENGTH, (), f"path is {total:.4f} m long, more than {limits.max_path_length} m"
                )
            )
    if violations:
        return SafetyResult(None, tuple(violations))
    accepted = pts.copy()
    accepted.flags.writeable = False
    return SafetyResult(accepted, ())
