"""The executor's pure core: scaling, TCP offsets, densifying, timing and the plan checks."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from vla_r1_ros.core.execution import (
    FRANKA_HAND_TCP_OFFSET,
    PANDA_ARM_LIMITS,
    CartesianPlan,
    CartesianSettings,
    JointLimits,
    PlanCheckLimits,
    PlanRule,
    Poses,
    check_plan,
    covered_fraction,
    densify_path,
    link_poses_from_tcp,
    polyline_distances,
    resolve_scaling,
    tcp_poses_from_link,
    time_parameterize,
)
from vla_r1_ros.core.execution.symmetry import equivalent_grasps, turned_half_about_approach
from vla_r1_ros.core.geometry.safety import SafetyLimits
from vla_r1_ros.core.geometry.transforms import matrix_from_quaternion, quaternion_from_matrix

DOWN = (1.0, 0.0, 0.0, 0.0)  # rotation by pi about x: the tool's z axis points down


# -- scaling ------------------------------------------------------------------------------------


@pytest.mark.parametrize("requested", [0.0, -0.5, 1.5, math.nan, math.inf, None])
def test_scaling_outside_unit_interval_becomes_the_default_never_zero(requested: float | None) -> None:
    resolved = resolve_scaling(requested, maximum=0.1)
    assert resolved.value == 0.1 and resolved.note
    assert resolve_scaling(requested, maximum=0.3, default=0.05).value == 0.05


def test_scaling_is_clamped_to_the_maximum_and_kept_below_it() -> None:
    assert resolve_scaling(0.5, maximum=0.1).value == 0.1
    assert "clamped" in resolve_scaling(0.5, maximum=0.1).note
    kept = resolve_scaling(0.05, maximum=0.1)
    assert kept.value == 0.05 and kept.note == ""
    assert resolve_scaling(1.0, maximum=1.0).value == 1.0
    assert resolve_scaling(None, maximum=0.1, default=0.5).value == 0.1  # a default above the maximum is clamped too


def test_scaling_configuration_errors_and_settings_refuse_zero() -> None:
    for bad in (0.0, 1.2, math.nan):
        with pytest.raises(ValueError):
            resolve_scaling(0.1, maximum=bad)
    with pytest.raises(ValueError):
        resolve_scaling(0.1, maximum=0.5, default=0.0)
    with pytest.raises(ValueError, match="resolve_scaling"):
        CartesianSettings(velocity_scaling=0.0)
    with pytest.raises(ValueError):
        CartesianSettings(acceleration_scaling=1.01)


# -- TCP offset ---------------------------------------------------------------------------------


def test_franka_tcp_offset_by_hand() -> None:
    # Tool pointing down with its TCP at (0.5, 0, 0.2): the hand flange sits 0.1034 m above it.
    link = link_poses_from_tcp(Poses.single((0.5, 0.0, 0.2), DOWN), FRANKA_HAND_TCP_OFFSET)
    np.testing.assert_allclose(link.positions[0], [0.5, 0.0, 0.3034], atol=1e-12)
    np.testing.assert_allclose(np.abs(link.orientations[0]), DOWN, atol=1e-12)
    # Tool pointing along +x: the flange is 0.1034 m behind along -x.
    along_x = quaternion_from_matrix(np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]]))
    link = link_poses_from_tcp(Poses.single((0.5, 0.1, 0.2), along_x), FRANKA_HAND_TCP_OFFSET)
    np.testing.assert_allclose(link.positions[0], [0.3966, 0.1, 0.2], atol=1e-12)


def test_tcp_offset_round_trips_with_a_rotated_offset() -> None:
    rng = np.random.default_rng(3)
    quats = rng.normal(size=(20, 4))
    poses = Poses(rng.uniform(-1, 1, (20, 3)), quats)
    offset = (0.01, -0.02, 0.1, *quaternion_from_matrix(matrix_from_quaternion(np.array([0.1, 0.2, 0.3, 0.9]))))
    back = tcp_poses_from_link(link_poses_from_tcp(poses, offset), offset)
    np.testing.assert_allclose(back.positions, poses.positions, atol=1e-12)
    dots = np.abs(np.einsum("ij,ij->i", back.orientations, poses.orientations))
    np.testing.assert_allclose(dots, 1.0, atol=1e-12)


@pytest.mark.parametrize("offset", [(0, 0, 0.1), (0, 0, 0.1, 0, 0, 0, 0), (0, 0, math.nan, 0, 0, 0, 1)])
def test_bad_tcp_offsets_are_refused(offset: tuple[float, ...]) -> None:
    with pytest.raises(ValueError, match="tcp_offset"):
        link_poses_from_tcp(Poses.single((0, 0, 0), DOWN), offset)


# -- densifying ---------------------------------------------------------------------------------


def test_densify_cuts_legs_like_compute_cartesian_path() -> None:
    start = Poses.single((0.0, 0.0, 0.0), DOWN)
    waypoints = Poses(np.array([[0.012, 0.0, 0.0], [0.012, 0.004, 0.0]]), np.array([DOWN, DOWN]))
    dense = densify_path(start, waypoints, max_step=0.005, max_rotation_step=0.05)
    # 12 mm in 3 steps of 4 mm, then 4 mm in one step; the start is sample 0.
    np.testing.assert_allclose(dense.poses.positions[:, 0], [0.0, 0.004, 0.008, 0.012, 0.012], atol=1e-15)
    assert dense.leg.tolist() == [-1, 0, 0, 0, 1]
    np.testing.assert_allclose(dense.progress, [1.0, 1 / 3, 2 / 3, 1.0, 1.0])
    # MoveIt's fraction: whole waypoints reached plus the part of the leg it stopped in, over their number.
    assert covered_fraction(dense, 1) == 0.0
    assert covered_fraction(dense, 2) == pytest.approx((1 / 3) / 2)
    assert covered_fraction(dense, 4) == 0.5
    assert covered_fraction(dense, 5) == 1.0


def test_densify_limits_rotation_steps_too() -> None:
    start = Poses.single((0.0, 0.0, 0.0), (0.0, 0.0, 0.0, 1.0))
    yaw90 = (0.0, 0.0, math.sin(math.pi / 4), math.cos(math.pi / 4))
    dense = densify_path(start, Poses.single((0.0, 0.0, 0.0), yaw90), max_step=0.005, max_rotation_step=0.1)
    assert len(dense) == 1 + math.ceil((math.pi / 2) / 0.1)
    quats = dense.poses.orientations
    angles = [2 * math.acos(min(1.0, abs(float(np.dot(a, b))))) for a, b in itertools.pairwise(quats)]
    assert max(angles) <= 0.1 + 1e-12


# -- time parameterisation ----------------------------------------------------------------------


def _fd_limits(q: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-joint |mean segment velocity| and |velocity change / mean duration| (from and to rest at the ends)."""
    dt = np.diff(t)
    w = np.diff(q, axis=0) / dt[:, None]
    w_ext = np.vstack([np.zeros(q.shape[1]), w, np.zeros(q.shape[1])])
    half = np.r_[0.0, dt, 0.0]
    tau = (half[:-1] + half[1:]) / 2.0
    return np.abs(w), np.abs(np.diff(w_ext, axis=0)) / tau[:, None]


def _paths() -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    s = np.linspace(0.0, 1.0, 120)[:, None]
    smooth = 0.3 * np.sin(2 * np.pi * s * rng.uniform(0.5, 2.0, 7) + rng.uniform(0, 6, 7)) + s * rng.uniform(-1, 1, 7)
    corners = np.array([[0.0] * 7, [0.4] * 7, [0.4, -0.4, 0.4, -0.4, 0.4, -0.4, 0.4], [0.0] * 7])
    legs = [np.linspace(a, b, 15, endpoint=False) for a, b in itertools.pairwise(corners)]
    dense_corners = np.vstack([*legs, corners[-1:]])
    repeated = np.vstack([smooth[:40], smooth[39:40], smooth[39:80]])  # a repeated sample: the arm rests there
    jagged = np.cumsum(rng.normal(0.0, 0.02, (60, 7)), axis=0)
    return [smooth, corners, dense_corners, repeated, jagged, smooth[:2]]


@pytest.mark.parametrize("index", range(6))
@pytest.mark.parametrize("scaling", [(0.1, 0.1), (1.0, 0.5)])
def test_timing_respects_scaled_limits(index: int, scaling: tuple[float, float]) -> None:
    q = _paths()[index]
    timed = time_parameterize(q, PANDA_ARM_LIMITS, *scaling)
    assert timed.times[0] == 0.0 and np.all(np.diff(timed.times) > 0.0)
    velocity, acceleration = _fd_limits(q, timed.times)
    v_max = PANDA_ARM_LIMITS.max_velocity * scaling[0]
    a_max = PANDA_ARM_LIMITS.max_acceleration * scaling[1]
    assert np.all(velocity <= v_max * (1 + 1e-9))
    assert np.all(acceleration <= a_max * (1 + 1e-9))
    assert np.all(timed.velocities[[0, -1]] == 0.0)
    assert np.all(np.abs(timed.velocities) <= v_max * (1 + 1e-9))


def test_timing_of_one_joint_move_by_hand() -> None:
    q = np.zeros((2, 7))
    q[1, 0] = 1.0
    timed = time_parameterize(q, PANDA_ARM_LIMITS, 0.1, 0.1)
    # Rest to rest over 1 rad at v = 0.2175 rad/s with half the 0.375 rad/s² budget along the path:
    # a trapezoid of 1/v + v/a seconds.
    v, a = 0.2175, 0.5 * 0.375
    assert timed.times[1] == pytest.approx(1.0 / v + v / a, rel=1e-12)


def test_timing_of_a_long_straight_line_approaches_the_trapezoid() -> None:
    q = np.zeros((401, 7))
    q[:, 1] = np.linspace(0.0, 1.0, 401)  # joint 2: v = 0.2175, a budget 0.5 x 0.1875
    timed = time_parameterize(q, PANDA_ARM_LIMITS, 0.1, 0.1)
    v, a = 0.2175, 0.5 * 0.1875
    assert timed.times[-1] == pytest.approx(1.0 / v + v / a, rel=0.01)


def test_timing_refuses_bad_input() -> None:
    with pytest.raises(ValueError):
        time_parameterize(np.zeros((3, 6)), PANDA_ARM_LIMITS, 0.1, 0.1)
    with pytest.raises(ValueError):
        time_parameterize(np.zeros((3, 7)), PANDA_ARM_LIMITS, 0.0, 0.1)
    assert time_parameterize(np.zeros((1, 7)), PANDA_ARM_LIMITS, 0.1, 0.1).times.tolist() == [0.0]


# -- plan checks ---------------------------------------------------------------------------------

TWO = JointLimits(("a", "b"), np.array([-1.0, -1.0]), np.array([1.0, 1.0]), np.array([1.0, 1.0]), np.array([1.0, 1.0]))
LIMITS = PlanCheckLimits(
    safety=SafetyLimits(workspace_min=(-0.7, -0.7, -0.05), workspace_max=(0.7, 0.7, 1.0), min_height_above_table=0.005)
)


def _plan(q: list[list[float]], tcp: list[list[float]], fraction: float = 1.0) -> CartesianPlan:
    n = len(q)
    return CartesianPlan(("a", "b"), np.array(q), np.zeros((n, 2)), np.arange(n) * 0.1, np.array(tcp), fraction)


GOOD_Q = [[0.0, 0.0], [0.1, 0.0], [0.2, 0.0]]
GOOD_TCP = [[0.5, 0.0, 0.2], [0.5, 0.0, 0.15], [0.5, 0.0, 0.1]]
WAYPOINTS = [[0.5, 0.0, 0.1]]


def test_a_good_plan_is_accepted() -> None:
    result = check_plan(_plan(GOOD_Q, GOOD_TCP), WAYPOINTS, [0.0, 0.0], TWO, LIMITS, prediction_age=1.0)
    assert result.accepted and result.message() == "accepted"


@pytest.mark.parametrize(
    ("q", "tcp", "fraction", "current", "age", "rule", "indices"),
    [
        (GOOD_Q, GOOD_TCP, 0.98, [0.0, 0.0], 0.0, PlanRule.FRACTION, ()),
        ([[0.0, 0.0], [0.25, 0.0], [0.3, 0.0]], GOOD_TCP, 1.0, [0.0, 0.0], 0.0, PlanRule.JOINT_JUMP, (1,)),
        ([[0.0, 0.9], [0.1, 0.95], [0.2, 1.01]], GOOD_TCP, 1.0, [0.0, 0.9], 0.0, PlanRule.JOINT_LIMITS, (2,)),
        (GOOD_Q, [GOOD_TCP[0], [0.5, 0.011, 0.15], GOOD_TCP[2]], 1.0, [0.0, 0.0], 0.0, PlanRule.PATH_DEVIATION, (1,)),
        (GOOD_Q, GOOD_TCP, 1.0, [0.0, 0.011], 0.0, PlanRule.START_STATE, (0,)),
        (GOOD_Q, GOOD_TCP, 1.0, [0.0, 0.0], 10.5, PlanRule.PREDICTION_AGE, ()),
        (GOOD_Q, GOOD_TCP, 1.0, [0.0, 0.0], -0.5, PlanRule.PREDICTION_AGE, ()),
    ],
)
def test_each_rule_by_hand(
    q: list[list[float]], tcp: list[list[float]], fraction: float, current: list[float], age: float,
    rule: PlanRule, indices: tuple[int, ...],
) -> None:
    result = check_plan(_plan(q, tcp, fraction), WAYPOINTS, current, TWO, LIMITS, prediction_age=age)
    assert result.rules == {rule}, result.message()
    assert result.violations[0].indices == indices
    assert rule.value in result.message()


def test_planned_tcp_outside_the_workspace_or_below_the_table_is_named() -> None:
    tcp = [[0.5, 0.0, 0.2], [0.75, 0.0, 0.2], [0.5, 0.0, 0.001]]  # x beyond 0.7, within reach
    result = check_plan(_plan(GOOD_Q, tcp), [[0.75, 0.0, 0.2], [0.5, 0.0, 0.001]], [0.0, 0.0], TWO, LIMITS)
    assert result.rules == {PlanRule.WORKSPACE, PlanRule.MIN_HEIGHT}
    by_rule = {v.rule: v.indices for v in result.violations}
    assert by_rule == {PlanRule.WORKSPACE: (1,), PlanRule.MIN_HEIGHT: (2,)}


def test_every_violated_rule_is_named_at_once() -> None:
    q = [[0.3, 0.0], [0.6, 0.0], [1.2, 0.0]]
    tcp = [[0.5, 0.0, 0.2], [0.5, 0.3, 0.2], [0.5, 0.0, 0.0]]
    result = check_plan(_plan(q, tcp, 0.5), WAYPOINTS, [0.0, 0.0], TWO, LIMITS, prediction_age=60.0)
    assert result.rules == {
        PlanRule.FRACTION, PlanRule.JOINT_JUMP, PlanRule.JOINT_LIMITS, PlanRule.PATH_DEVIATION,
        PlanRule.MIN_HEIGHT, PlanRule.START_STATE, PlanRule.PREDICTION_AGE,
    }


def test_empty_and_non_finite_plans() -> None:
    empty = CartesianPlan.failed(("a", "b"), "no IK solution at the first waypoint")
    result = check_plan(empty, WAYPOINTS, [0.0, 0.0], TWO, LIMITS)
    assert result.rules == {PlanRule.EMPTY} and "no IK solution" in result.message()
    nan = _plan(GOOD_Q, [[0.5, 0.0, 0.2], [math.nan, 0.0, 0.15], [0.5, 0.0, 0.1]])
    assert check_plan(nan, WAYPOINTS, [0.0, 0.0], TWO, LIMITS).rules == {PlanRule.NON_FINITE}


def test_polyline_distances_by_hand() -> None:
    line = [[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [1.0, 1.0, 0.0]]
    points = [[0.5, 0.2, 0.0], [1.3, 0.5, 0.0], [-0.3, 0.0, 0.4], [1.0, 1.0, 0.0]]
    np.testing.assert_allclose(polyline_distances(points, line), [0.2, 0.3, 0.5, 0.0], atol=1e-12)
    np.testing.assert_allclose(polyline_distances([[0.0, 3.0, 4.0]], [[0.0, 0.0, 0.0]]), [5.0])


def test_plan_values_are_validated_and_frozen() -> None:
    with pytest.raises(ValueError, match="increase"):
        CartesianPlan(("a", "b"), np.zeros((2, 2)), np.zeros((2, 2)), np.array([0.0, 0.0]), np.zeros((2, 3)), 1.0)
    plan = _plan(GOOD_Q, GOOD_TCP)
    with pytest.raises(ValueError):
        plan.positions[0, 0] = 1.0
    with pytest.raises(ValueError, match="quaternion"):
        Poses.single((0, 0, 0), (0, 0, 0, 0))


# -- grasp symmetry ----------------------------------------------------------------------------


def test_turning_a_grasp_half_about_its_approach_axis() -> None:
    poses = Poses(np.array([[0.5, 0.1, 0.2]]), np.array([DOWN]))  # x = world x, y = -world y, z down
    turned = turned_half_about_approach(poses)
    rotation = matrix_from_quaternion(turned.orientations[0])
    np.testing.assert_allclose(rotation, np.diag([-1.0, 1.0, -1.0]), atol=1e-12)  # x and y flip, z stays down
    np.testing.assert_array_equal(turned.positions, poses.positions)


def test_equivalent_grasps_put_the_one_nearer_the_hand_first() -> None:
    # Lifting's convention points the closing axis (y) along +world y; the ready hand holds it along -y.
    lifted = Poses(np.zeros((2, 3)), np.array([quaternion_from_matrix(np.diag([-1.0, 1.0, -1.0]))] * 2))
    first, second = equivalent_grasps(lifted, DOWN)
    np.testing.assert_allclose(np.abs(first.orientations[0]), DOWN, atol=1e-12)  # half a turn saved
    np.testing.assert_array_equal(second.orientations, lifted.orientations)
    kept, _ = equivalent_grasps(lifted, lifted.orientations[0])
    np.testing.assert_array_equal(kept.orientations, lifted.orientations)
