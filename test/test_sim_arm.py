"""The simulated Panda: kinematics against pybullet's own link states, planning with
compute_cartesian_path semantics, trajectory execution and cancelling, the gripper, contacts,
reproducible resets."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import pytest

from vla_r1_ros.core.execution import (
    PANDA_ARM_LIMITS,
    CartesianSettings,
    ExecutionOutcome,
    MotionBackend,
    PlanCheckLimits,
    Poses,
    check_plan,
    tcp_offset_matrix,
)
from vla_r1_ros.core.geometry.transforms import matrix_from_quaternion, quaternion_from_matrix
from vla_r1_ros.sim.panda import PandaWorld
from vla_r1_ros.sim.panda_kinematics import PandaKinematics
from vla_r1_ros.sim.panda_model import HAND_LINK, PYBULLET_TCP_OFFSET, READY_POSITIONS, TCP_LINK
from vla_r1_ros.sim.pick_scenes import PickScene, TableObject
from vla_r1_ros.sim.sim_backend import SimMotionBackend

pytest.importorskip("pybullet")  # the simulator is an optional extra; these modules import it lazily

DOWN = np.array([1.0, 0.0, 0.0, 0.0])  # the ready pose's TCP orientation: z down, y along -world y


@pytest.fixture(scope="module")
def world() -> Iterator[PandaWorld]:
    with PandaWorld() as w:
        yield w


@pytest.fixture(scope="module")
def backend(world: PandaWorld) -> Iterator[SimMotionBackend]:
    b = SimMotionBackend(world)
    yield b
    b.kinematics.close()


def _one_object_scene(width: float = 0.05) -> PickScene:
    cube = TableObject("red", "square", width, 0.05, (0.5, 0.1), 0.0)
    return PickScene(0, (cube,), 0, "pick up the red square")


def _line(start: np.ndarray, end: np.ndarray, orientation: np.ndarray = DOWN, count: int = 5) -> Poses:
    positions = np.linspace(start, end, count)
    return Poses(positions, np.tile(orientation, (count, 1)))


# -- kinematics ---------------------------------------------------------------------------------


def test_fk_and_tcp_offset_match_pybullet_link_states(world: PandaWorld, backend: SimMotionBackend) -> None:
    world.reset(0)
    p, body, cid = world._p, world.robot, world._client
    rng = np.random.default_rng(0)
    for q in [np.array(READY_POSITIONS), *(np.array(READY_POSITIONS) + rng.uniform(-0.3, 0.3, 7) for _ in range(5))]:
        for joint, value in enumerate(q):
            p.resetJointState(body, joint, value, physicsClientId=cid)
        for link in (HAND_LINK, TCP_LINK):
            state = p.getLinkState(body, link, computeForwardKinematics=True, physicsClientId=cid)
            fk = backend.kinematics.fk(q, link)
            np.testing.assert_allclose(fk.position, state[4], atol=1e-9)
            # pybullet's quaternions are unit only to float precision: compare the rotations.
            np.testing.assert_allclose(fk.matrix()[:3, :3], matrix_from_quaternion(np.array(state[5])), atol=1e-6)
        # panda_grasptarget is panda_hand with the TCP offset: the offset constant is the model's.
        np.testing.assert_allclose(backend.tcp_pose(q), world.tcp_pose(), atol=1e-6)
        tcp = backend.kinematics.fk(q, TCP_LINK).matrix()
        hand = backend.kinematics.fk(q, HAND_LINK).matrix()
        np.testing.assert_allclose(hand @ tcp_offset_matrix(PYBULLET_TCP_OFFSET), tcp, atol=1e-6)
    world.reset(0)


def test_ik_reaches_poses_of_random_configurations() -> None:
    rng = np.random.default_rng(1)
    with PandaKinematics() as kin:
        for _ in range(20):
            q_true = np.array(READY_POSITIONS) + rng.uniform(-0.4, 0.4, 7)
            goal = kin.fk(q_true, HAND_LINK)
            q = kin.ik(goal.position, goal.orientation, q_true + rng.uniform(-0.05, 0.05, 7), HAND_LINK)
            reached = kin.fk(q, HAND_LINK)
            assert np.linalg.norm(reached.position - goal.position) < 1e-4
            assert abs(float(reached.orientation @ goal.orientation)) > 1 - 1e-6


# -- planning -----------------------------------------------------------------------------------


def test_the_sim_backend_is_a_motion_backend(backend: SimMotionBackend) -> None:
    typed: MotionBackend = backend  # mypy checks the signatures; isinstance the names
    assert isinstance(typed, MotionBackend) and typed.joint_names == PANDA_ARM_LIMITS.names


def test_plan_of_a_straight_descent(world: PandaWorld, backend: SimMotionBackend) -> None:
    world.reset(0, _one_object_scene())
    start_q = world.arm_positions()
    tcp0 = world.tcp_pose()[:3, 3]
    waypoints = _line(tcp0 + np.array([0.1, 0.05, -0.1]), tcp0 + np.array([0.1, 0.05, -0.2]))
    settings = CartesianSettings(max_step=0.005)
    plan = backend.plan_cartesian(waypoints, start_q, settings)
    assert plan.fraction == 1.0 and plan.error == ""
    steps = np.linalg.norm(np.diff(plan.tcp_positions, axis=0), axis=1)
    assert steps.max() <= 0.005 + 1e-4
    np.testing.assert_allclose(plan.tcp_positions[-1], waypoints.positions[-1], atol=1e-3)
    result = check_plan(plan, waypoints.positions, start_q, PANDA_ARM_LIMITS, PlanCheckLimits(), prediction_age=0.1)
    assert result.accepted, result.message()


def test_planning_stops_at_the_first_unreachable_waypoint(world: PandaWorld, backend: SimMotionBackend) -> None:
    world.reset(0, _one_object_scene())
    tcp0 = world.tcp_pose()[:3, 3]
    reachable = tcp0 + np.array([0.1, 0.0, -0.1])
    waypoints = Poses(np.array([reachable, [1.6, 0.0, 0.3]]), np.array([DOWN, DOWN]))
    plan = backend.plan_cartesian(waypoints, world.arm_positions(), CartesianSettings())
    # The first waypoint is reached (1 of 2), the second leg only partly: 0.5 <= fraction < 1.
    assert 0.5 <= plan.fraction < 1.0
    assert "waypoint 1" in plan.error and len(plan) > 1
    checked = check_plan(plan, waypoints.positions, world.arm_positions(), PANDA_ARM_LIMITS, PlanCheckLimits())
    assert "fraction" in {r.value for r in checked.rules}


def test_a_joint_jump_ends_the_plan(world: PandaWorld, backend: SimMotionBackend) -> None:
    world.reset(0, _one_object_scene())
    tcp0 = world.tcp_pose()[:3, 3]
    waypoints = _line(tcp0 + np.array([0.0, 0.0, -0.02]), tcp0 + np.array([0.0, 0.0, -0.1]))
    plan = backend.plan_cartesian(waypoints, world.arm_positions(), CartesianSettings(max_joint_step=1e-4))
    # The first 5 mm step already moves a joint more than 0.1 mrad: nothing beyond the start is planned.
    assert plan.fraction == 0.0 and "joint jump" in plan.error and len(plan) == 1


# -- execution ----------------------------------------------------------------------------------


def test_execute_follows_the_plan(world: PandaWorld, backend: SimMotionBackend) -> None:
    world.reset(0, _one_object_scene())
    tcp0 = world.tcp_pose()[:3, 3]
    waypoints = _line(tcp0, tcp0 + np.array([0.1, -0.1, -0.15]))
    brisk = CartesianSettings(velocity_scaling=0.3, acceleration_scaling=0.3)
    plan = backend.plan_cartesian(waypoints, world.arm_positions(), brisk)
    start = world.time
    result = backend.execute(plan)
    assert result.outcome is ExecutionOutcome.SUCCEEDED, result.message
    assert plan.duration <= world.time - start <= plan.duration + 0.5
    np.testing.assert_allclose(world.arm_positions(), plan.positions[-1], atol=0.01)
    np.testing.assert_allclose(world.tcp_pose()[:3, 3], waypoints.positions[-1], atol=2e-3)
    assert not world.table_contacts


def test_cancel_halts_the_arm_within_half_a_second(world: PandaWorld, backend: SimMotionBackend) -> None:
    world.reset(0, _one_object_scene())
    tcp0 = world.tcp_pose()[:3, 3]
    fast = CartesianSettings(velocity_scaling=1.0, acceleration_scaling=1.0)
    plan = backend.plan_cartesian(_line(tcp0, tcp0 + np.array([0.2, 0.2, -0.2])), world.arm_positions(), fast)
    start = world.time
    cancel_at = start + plan.duration / 2

    def should_stop() -> bool:
        return world.time >= cancel_at

    speed_at_cancel: list[float] = []

    def watch() -> bool:
        if world.time >= cancel_at and not speed_at_cancel:
            speed_at_cancel.append(float(np.abs(world.joint_state().velocity[:7]).max()))
        return should_stop()

    result = backend.execute(plan, watch)
    assert result.outcome is ExecutionOutcome.CANCELED
    assert speed_at_cancel[0] > 0.2  # it was moving fast when cancelled
    assert world.time - cancel_at <= 0.5
    assert np.abs(world.joint_state().velocity[:7]).max() < 0.01
    held = world.arm_positions()
    world.step(round(0.3 / world.settings.time_step))
    assert np.abs(world.arm_positions() - held).max() < 1e-3  # and stays where it stopped


def test_stop_from_the_backend_cancels_too(world: PandaWorld, backend: SimMotionBackend) -> None:
    world.reset(0, _one_object_scene())
    tcp0 = world.tcp_pose()[:3, 3]
    waypoints = _line(tcp0, tcp0 + np.array([0.1, 0.0, -0.1]))
    plan = backend.plan_cartesian(waypoints, world.arm_positions(), CartesianSettings())
    stop_at = world.time + 0.5

    def operator() -> bool:  # stands in for another thread pressing stop
        if world.time >= stop_at:
            backend.stop()
        return False

    result = backend.execute(plan, operator)
    assert result.outcome is ExecutionOutcome.CANCELED and result.duration < plan.duration


def test_a_plan_from_another_state_is_rejected(world: PandaWorld, backend: SimMotionBackend) -> None:
    world.reset(0, _one_object_scene())
    tcp0 = world.tcp_pose()[:3, 3]
    elsewhere = world.arm_positions() + 0.05
    plan = backend.plan_cartesian(_line(tcp0, tcp0 + np.array([0.0, 0.0, -0.05])), elsewhere, CartesianSettings())
    before = world.arm_positions()
    result = backend.execute(plan)
    assert result.outcome is ExecutionOutcome.REJECTED and "current state" in result.message
    np.testing.assert_array_equal(world.arm_positions(), before)


# -- gripper and contacts -----------------------------------------------------------------------


def test_gripper_results_like_gripper_command(world: PandaWorld, backend: SimMotionBackend) -> None:
    scene = world.reset(0, _one_object_scene(width=0.05))
    empty = backend.gripper(0.0, 20.0)  # nothing between the fingers
    assert empty.reached_goal and not empty.stalled and empty.position < 0.002
    opened = backend.gripper(0.04, 20.0)
    assert opened.reached_goal and opened.position > 0.039
    # Down around the cube (fingers along world y, the cube's faces), then close on it.
    top = np.array([*scene.objects[0].xy, 0.05])
    approach = _line(top + np.array([0.0, 0.0, 0.1]), top - np.array([0.0, 0.0, 0.02]))
    brisk = CartesianSettings(velocity_scaling=0.3, acceleration_scaling=0.3)
    plan = backend.plan_cartesian(approach, world.arm_positions(), brisk)
    assert plan.fraction == 1.0
    assert backend.execute(plan).ok
    closed = backend.gripper(0.0, 20.0)
    assert closed.stalled and not closed.reached_goal
    assert closed.position == pytest.approx(0.025, abs=0.002)  # half the cube's width
    assert world.held_objects() == {"red square"}
    assert world.finger_contacts() == {"panda_leftfinger": {"red square"}, "panda_rightfinger": {"red square"}}
    assert not world.table_contacts


def test_arm_table_contact_is_noticed(world: PandaWorld, backend: SimMotionBackend) -> None:
    world.reset(0, _one_object_scene())
    assert not world.table_contacts  # the base stands on the table: that does not count
    q = backend.kinematics.ik(
        np.array([0.4, -0.2, 0.08]), quaternion_from_matrix(np.diag([1.0, -1.0, -1.0])), world.arm_positions()
    )  # the hand flange 8 cm up: the fingertips (19 cm below it) are pushed into the table
    world.command_arm(q)
    world.step(round(1.5 / world.settings.time_step))
    assert world.table_contacts & {"panda_leftfinger", "panda_rightfinger", "panda_hand"}


def test_joint_states_use_ros_names(world: PandaWorld) -> None:
    world.reset(0)
    state = world.joint_state()
    assert state.names == (*(f"panda_joint{i}" for i in range(1, 8)), "panda_finger_joint1", "panda_finger_joint2")
    assert state.position.shape == state.velocity.shape == state.effort.shape == (9,)
    np.testing.assert_allclose(state.position[:7], READY_POSITIONS, atol=1e-4)
    assert state.stamp == pytest.approx(world.time)


# -- reproducibility ----------------------------------------------------------------------------


def _fingerprint(world: PandaWorld, seed: int) -> list[np.ndarray]:
    scene = world.reset(seed)
    frame = world.render()
    world.command_arm(np.array(READY_POSITIONS) + 0.1)
    world.command_fingers(0.0, 20.0)
    world.step(200)
    state = world.joint_state()
    poses = [world.object_pose(obj.name) for obj in scene.objects]
    return [frame.rgb, frame.depth, state.position, state.velocity, *poses]


def test_reset_is_reproducible_bit_for_bit(world: PandaWorld) -> None:
    first = _fingerprint(world, 11)
    _fingerprint(world, 4)  # another episode in between
    again = _fingerprint(world, 11)
    with PandaWorld() as fresh:
        other_world = _fingerprint(fresh, 11)
    for a, b, c in zip(first, again, other_world):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)
    assert not all(np.array_equal(a, b) for a, b in zip(first, _fingerprint(world, 12)))


def test_scene_objects_are_from_the_training_vocabulary() -> None:
    from vla_r1_ros.datagen.topdown_scenes import COLOURS, SHAPES
    from vla_r1_ros.sim.pick_scenes import sample_pick_scene

    counts = set()
    for seed in range(60):
        scene = sample_pick_scene(seed)
        counts.add(len(scene.objects))
        names = [obj.name for obj in scene.objects]
        assert len(set(names)) == len(names) and scene.target.name in scene.instruction
        for obj in scene.objects:
            assert obj.colour in COLOURS and obj.shape in SHAPES and obj.width <= 0.055 + 0.005
        for i, a in enumerate(scene.objects):
            for b in scene.objects[i + 1 :]:
                assert math.dist(a.xy, b.xy) >= 0.16
    assert counts == {1, 2, 3}
