"""Safety filter: nothing it accepts violates a rule, and every violated rule is named."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vla_r1_ros.core.geometry.safety import SafetyLimits, SafetyRule, check_waypoints

LIMITS = SafetyLimits(
    workspace_min=(-0.5, -0.5, 0.0), workspace_max=(0.7, 0.5, 0.8), table_height=0.0, min_height_above_table=0.01,
    max_segment_length=0.05, max_path_length=0.6, reach_center=(0.0, 0.0, 0.3), max_reach=0.8,
)

coordinate = st.one_of(
    st.floats(-1.0, 1.0, allow_nan=False, allow_infinity=False),
    st.sampled_from([math.nan, math.inf, -math.inf, 0.0, 0.01, 0.05, 0.5, 0.7, -0.5]),
)
waypoints = st.lists(st.tuples(coordinate, coordinate, coordinate), min_size=0, max_size=40)
# Paths near the limits: a random walk with small steps, so acceptance is common too.
walks = st.lists(
    st.tuples(*(st.floats(-0.03, 0.03, allow_nan=False) for _ in range(3))), min_size=1, max_size=30
).map(lambda steps: (np.cumsum(np.array(steps), axis=0) + np.array([0.3, 0.0, 0.2])).tolist())


def _violated(points: list[tuple[float, float, float]], lim: SafetyLimits) -> set[SafetyRule]:
    """An independent, deliberately plain re-statement of the rules."""
    rules: set[SafetyRule] = set()
    if not points:
        return {SafetyRule.EMPTY}
    finite = [all(math.isfinite(c) for c in p) for p in points]
    if not all(finite):
        rules.add(SafetyRule.NON_FINITE)
    for p, ok in zip(points, finite):
        if not ok:
            continue
        if any(not (lo <= c <= hi) for c, lo, hi in zip(p, lim.workspace_min, lim.workspace_max)):
            rules.add(SafetyRule.WORKSPACE)
        if p[2] < lim.table_height + lim.min_height_above_table:
            rules.add(SafetyRule.MIN_HEIGHT)
        if math.dist(p, lim.reach_center) > lim.max_reach:
            rules.add(SafetyRule.REACH)
    total = 0.0
    for a, b, fa, fb in zip(points, points[1:], finite, finite[1:]):
        if fa and fb:
            length = math.dist(a, b)
            total += length
            if length > lim.max_segment_length:
                rules.add(SafetyRule.SEGMENT)
    if total > lim.max_path_length:
        rules.add(SafetyRule.PATH_LENGTH)
    return rules


def _near_boundary(points: list[tuple[float, float, float]], lim: SafetyLimits) -> bool:
    """True if float rounding could flip a length/reach comparison (skip those rare cases)."""
    eps = 1e-9
    lengths = [math.dist(a, b) for a, b in itertools.pairwise(points) if all(map(math.isfinite, a + b))]
    reach = [math.dist(p, lim.reach_center) for p in points if all(map(math.isfinite, p))]
    return (
        any(abs(x - lim.max_segment_length) < eps for x in lengths)
        or abs(sum(lengths) - lim.max_path_length) < eps
        or any(abs(r - lim.max_reach) < eps for r in reach)
    )


@settings(max_examples=300, deadline=None)
@given(st.one_of(waypoints, walks))
def test_accepted_paths_violate_nothing_and_rejections_name_every_rule(
    points: list[tuple[float, float, float]],
) -> None:
    result = check_waypoints(np.array(points, dtype=float).reshape(-1, 3), LIMITS)
    if _near_boundary(points, LIMITS):
        return
    expected = _violated(points, LIMITS)
    if result.accepted:
        assert not expected, f"accepted a path that violates {expected}"
        np.testing.assert_array_equal(result.waypoints, np.array(points, dtype=float).reshape(-1, 3))
    else:
        assert result.waypoints is None
        assert result.rules == expected


@settings(max_examples=150, deadline=None)
@given(
    waypoints,
    st.floats(0.001, 0.5),
    st.floats(0.01, 3.0),
    st.floats(0.1, 2.0),
    st.floats(-0.1, 0.2),
)
def test_acceptance_is_safe_for_random_limits(
    points: list[tuple[float, float, float]], segment: float, total: float, reach: float, table: float
) -> None:
    lim = SafetyLimits(
        workspace_min=(-0.6, -0.6, -0.2), workspace_max=(0.9, 0.6, 1.0), table_height=table,
        min_height_above_table=0.0, max_segment_length=segment, max_path_length=total, max_reach=reach,
    )
    result = check_waypoints(np.array(points, dtype=float).reshape(-1, 3), lim)
    if result.accepted and not _near_boundary(points, lim):
        assert not _violated(points, lim)


def test_every_violated_rule_is_named_at_once() -> None:
    pts = np.array([[0.3, 0.0, 0.2], [0.3, 0.0, 0.001], [0.9, 0.0, 0.2], [np.nan, 0.0, 0.2]])
    result = check_waypoints(pts, LIMITS)
    assert not result.accepted and result.waypoints is None
    assert result.rules == {
        SafetyRule.NON_FINITE, SafetyRule.WORKSPACE, SafetyRule.MIN_HEIGHT, SafetyRule.SEGMENT, SafetyRule.REACH,
        SafetyRule.PATH_LENGTH,  # 0.199 + 0.6 m > 0.6 m
    }
    by_rule = {v.rule: v for v in result.violations}
    assert by_rule[SafetyRule.MIN_HEIGHT].indices == (1,)
    assert by_rule[SafetyRule.NON_FINITE].indices == (3,)
    assert "min_height" in result.message() and "non_finite" in result.message()


def test_path_length_and_empty() -> None:
    steps = np.linspace(0.0, 0.5, 21)
    zigzag = np.column_stack((0.2 + 0.0 * steps, 0.2 * np.sign(np.sin(steps * 60)) * 0.1, 0.2 + steps * 0.0))
    long_path = np.vstack([zigzag] * 10)
    assert SafetyRule.PATH_LENGTH in check_waypoints(long_path, LIMITS).rules
    assert check_waypoints(np.zeros((0, 3)), LIMITS).rules == {SafetyRule.EMPTY}
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        check_waypoints(np.zeros((4, 2)), LIMITS)


def test_accepted_waypoints_are_read_only() -> None:
    result = check_waypoints(np.array([[0.3, 0.0, 0.2], [0.31, 0.0, 0.2]]), LIMITS)
    assert result.accepted and result.message() == "accepted"
    with pytest.raises(ValueError):
        result.waypoints[0, 0] = 5.0  # type: ignore[index]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"workspace_min": (1.0, 0.0, 0.0), "workspace_max": (0.0, 1.0, 1.0)},
        {"max_segment_length": 0.0},
        {"max_reach": math.nan},
        {"reach_center": (0.0, 0.0)},
    ],
)
def test_invalid_limits_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        SafetyLimits(**kwargs)  # type: ignore[arg-type]
