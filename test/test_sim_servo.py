"""The simulated arm's Cartesian velocity controller (vla_r1_ros.sim.servo) on the pybullet Panda, without ROS.

Commands go through LatestTwist with the simulated clock, as sim_arm's physics thread uses it
with the wall clock: a twist moves the tool at that velocity, the arm stops within 0.1 s of the
last command, and the tool never leaves the executor's workspace or goes below the table.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

pytest.importorskip("pybullet")

from vla_r1_ros.core.geometry import SafetyLimits
from vla_r1_ros.sim.panda import PandaWorld
from vla_r1_ros.sim.servo import (
    CartesianServo,
    LatestTwist,
    ServoCommand,
    ServoSettings,
    clamp_to_limits,
    rotation_from_vector,
)

TICK_STEPS = 5  # sim_arm's control tick: 5 physics steps of 1/480 s


@pytest.fixture(scope="module")
def world() -> Iterator[PandaWorld]:
    with PandaWorld() as simulated:
        yield simulated


def drive(world: PandaWorld, servo: CartesianServo, twist: LatestTwist, seconds: float = 0.0,
          until: float | None = None) -> np.ndarray:  # fmt: skip
    """Run the physics thread's loop for ``seconds`` (or to the time ``until``); rows (time, tool x y z,
    max joint speed)."""
    tick = TICK_STEPS * world.settings.time_step
    rows = []
    end = world.time + seconds if until is None else until
    while world.time < end - tick / 2:
        servo.update(world, twist.current(world.time), tick)
        world.step(TICK_STEPS)
        rows.append([world.time, *world.tcp_pose()[:3, 3], np.abs(world.joint_state().velocity[:7]).max()])
    return np.array(rows)


def send_for(world: PandaWorld, servo: CartesianServo, twist: LatestTwist, command: ServoCommand, seconds: float,
             rate: float = 50.0) -> np.ndarray:  # fmt: skip
    """Commands at ``rate`` for ``seconds`` (an input device), the loop running in between."""
    rows, start = [], world.time
    for k in range(round(seconds * rate)):
        twist.put(command, world.time)
        rows.append(drive(world, servo, twist, until=start + (k + 1) / rate))
    return np.vstack(rows)


def fresh(world: PandaWorld, settings: ServoSettings | None = None) -> tuple[CartesianServo, LatestTwist]:
    world.reset(3)
    servo = CartesianServo(settings)
    return servo, LatestTwist(servo.settings.command_timeout)


def test_a_twist_moves_the_tool_at_its_velocity_and_the_arm_stops_within_a_tenth_of_a_second(
    world: PandaWorld,
) -> None:
    servo, twist = fresh(world)
    velocity = np.array([0.08, -0.05, -0.04])
    start = world.tcp_pose()[:3, 3]
    rows = send_for(world, servo, twist, ServoCommand.of(velocity), 1.5)
    last_command = world.time - 1.0 / 50.0
    steady = rows[(rows[:, 0] > rows[0, 0] + 0.3)]
    measured = (steady[-1, 1:4] - steady[0, 1:4]) / (steady[-1, 0] - steady[0, 0])
    np.testing.assert_allclose(measured, velocity, atol=0.003)  # within 3 mm/s on every axis
    orientation = world.tcp_pose()[:3, :3]
    after = drive(world, servo, twist, 0.5)
    still = after[(after[:, 0] >= last_command + 0.1)]
    speeds = np.linalg.norm(np.diff(still[:, 1:4], axis=0), axis=1) / np.diff(still[:, 0])
    assert speeds.max() < 0.005, f"the tool still moves at {speeds.max():.4f} m/s 0.1 s after the last command"
    assert still[:, 4].max() < 0.05, "joints still turning 0.1 s after the last command"
    travelled = world.tcp_pose()[:3, 3] - start
    np.testing.assert_allclose(travelled, velocity * 1.5, atol=0.01)
    np.testing.assert_allclose(world.tcp_pose()[:3, :3], orientation, atol=1e-3)  # linear twists never turn it
    servo.close()


def test_the_tool_stops_at_the_table_and_the_workspace_instead_of_crossing_them(world: PandaWorld) -> None:
    limits = SafetyLimits(workspace_min=(-0.8, -0.8, -0.05), workspace_max=(0.8, 0.05, 1.0), table_height=0.1,
                          min_height_above_table=0.02)  # fmt: skip
    servo, twist = fresh(world, ServoSettings(limits))
    rows = send_for(world, servo, twist, ServoCommand.of((0.0, 0.1, -0.25)), 2.5)
    assert rows[:, 3].min() >= 0.12 - 0.002, f"the tool went down to z = {rows[:, 3].min():.4f}, below 0.12"
    assert rows[:, 2].max() <= 0.05 + 0.002, f"the tool left the box: y = {rows[:, 2].max():.4f} > 0.05"
    assert world.tcp_pose()[2, 3] == pytest.approx(0.12, abs=0.003)
    assert set(servo.limited.split(", ")) == {"min_height", "workspace"}
    assert not world.table_contacts
    servo.close()


def test_a_tool_frame_twist_follows_the_hand_and_angular_twists_turn_it(world: PandaWorld) -> None:
    servo, twist = fresh(world)
    hand = world.tcp_pose()
    send_for(world, servo, twist, ServoCommand.of((0.0, 0.0, 0.05), in_tool_frame=True), 1.0)
    drive(world, servo, twist, 0.3)
    moved = world.tcp_pose()[:3, 3] - hand[:3, 3]
    np.testing.assert_allclose(moved, hand[:3, 2] * 0.05, atol=0.004)  # along the approach axis (down)
    send_for(world, servo, twist, ServoCommand.of((0.0, 0.0, 0.0), (0.0, 0.0, 0.5)), 1.0)
    drive(world, servo, twist, 0.3)
    turned = world.tcp_pose()[:3, :3] @ hand[:3, :3].T
    angle = np.arctan2(turned[1, 0], turned[0, 0])
    assert angle == pytest.approx(0.5, abs=0.03)
    servo.close()


def test_a_pose_out_of_reach_is_refused_and_the_arm_holds(world: PandaWorld) -> None:
    wide = SafetyLimits(workspace_min=(-2.0, -2.0, -0.05), workspace_max=(2.0, 2.0, 2.0), max_reach=2.0)
    servo, twist = fresh(world, ServoSettings(wide, max_linear_speed=0.5))
    send_for(world, servo, twist, ServoCommand.of((0.5, 0.0, 0.0)), 2.5)
    assert servo.limited.startswith("ik:"), servo.limited
    held = world.tcp_pose()[:3, 3]
    send_for(world, servo, twist, ServoCommand.of((0.5, 0.0, 0.0)), 0.3)
    np.testing.assert_allclose(world.tcp_pose()[:3, 3], held, atol=0.003)
    servo.close()


def test_clamping_and_rotation_helpers() -> None:
    limits = SafetyLimits()
    inside, rules = clamp_to_limits((0.4, 0.0, 0.3), limits)
    np.testing.assert_allclose(inside, (0.4, 0.0, 0.3))
    assert rules == ()
    low, rules = clamp_to_limits((0.4, 0.0, -0.2), limits)
    assert low[2] == pytest.approx(0.005) and rules == ("min_height", "workspace")
    far, rules = clamp_to_limits((0.79, 0.79, 0.9), limits)
    assert np.linalg.norm(far - np.array(limits.reach_center)) == pytest.approx(limits.max_reach)
    assert rules == ("reach",)
    np.testing.assert_allclose(rotation_from_vector((0.0, 0.0, np.pi / 2)) @ [1.0, 0.0, 0.0], [0.0, 1.0, 0.0],
                               atol=1e-12)  # fmt: skip
    with pytest.raises(ValueError):
        ServoCommand.of((np.nan, 0.0, 0.0))
    timed = LatestTwist(0.05)
    timed.put(ServoCommand.of((0.1, 0.0, 0.0)), 1.0)
    assert timed.current(1.04) is not None and timed.current(1.06) is None
