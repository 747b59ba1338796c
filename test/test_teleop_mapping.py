"""Teleop input mapping (vla_r1_ros.core.teleop) and the recorder's run segmentation, both pure."""

from __future__ import annotations

import numpy as np
import pytest

from vla_r1_ros.core.runs.segmenter import RunSegmenter
from vla_r1_ros.core.teleop import (
    PROFILES,
    GripperRequest,
    TeleopScales,
    TwistCommand,
    apply_deadband,
    gripper_request,
    joy_twist,
    key_command,
)

XBOX, SPACEMOUSE = PROFILES["xbox"], PROFILES["spacemouse"]
SCALES = TeleopScales(linear=0.2, angular=0.8, deadband=0.1, fine=0.25)


def xbox(axes: dict[int, float] | None = None, pressed: tuple[int, ...] = (9,)) -> tuple[list[float], list[int]]:
    """A game_controller_node message: 6 axes (triggers at rest read 0), 21 buttons, LB held by default."""
    values = [0.0] * 6
    for index, value in (axes or {}).items():
        values[index] = value
    return values, [1 if i in pressed else 0 for i in range(21)]


def test_deadband_is_zero_inside_and_continuous_outside() -> None:
    assert apply_deadband(0.1, 0.1) == 0.0 and apply_deadband(-0.05, 0.1) == 0.0
    assert apply_deadband(0.1001, 0.1) == pytest.approx(0.0, abs=1e-3)
    assert apply_deadband(0.55, 0.1) == pytest.approx(0.5)
    assert apply_deadband(-1.0, 0.1) == -1.0 and apply_deadband(3.0, 0.1) == 1.0
    assert apply_deadband(float("nan"), 0.1) == 0.0


def test_xbox_left_stick_moves_in_the_plane_scaled_only_while_lb_is_held() -> None:
    twist = joy_twist(XBOX, *xbox({1: 1.0, 0: -0.55}), SCALES)  # stick full forward, half right
    np.testing.assert_allclose(twist.linear, [0.2, -0.1, 0.0])
    np.testing.assert_allclose(twist.angular, 0.0)
    released = joy_twist(XBOX, *xbox({1: 1.0}, pressed=()), SCALES)
    assert released.is_zero, "no motion without the dead man's switch"


def test_xbox_triggers_raise_and_lower_and_the_sticks_noise_stays_below_the_deadband() -> None:
    up = joy_twist(XBOX, *xbox({5: -1.0, 0: 0.08, 1: -0.09}), SCALES)  # right trigger fully pressed
    np.testing.assert_allclose(up.linear, [0.0, 0.0, 0.2])
    down = joy_twist(XBOX, *xbox({4: -0.55}), SCALES)  # left trigger half pressed
    np.testing.assert_allclose(down.linear, [0.0, 0.0, -0.1])
    both = joy_twist(XBOX, *xbox({4: -1.0, 5: -1.0}), SCALES)
    assert both.is_zero


def test_xbox_right_stick_and_dpad_turn_the_tool_and_rb_slows_everything() -> None:
    twist = joy_twist(XBOX, *xbox({2: 1.0, 3: -1.0}, pressed=(9, 14)), SCALES)
    np.testing.assert_allclose(twist.angular, [0.8, -0.8, 0.8])  # roll (D-pad right), pitch down, yaw left
    fine = joy_twist(XBOX, *xbox({1: 1.0, 2: 1.0}, pressed=(9, 10)), SCALES)
    np.testing.assert_allclose(fine.linear, [0.05, 0.0, 0.0])
    np.testing.assert_allclose(fine.angular, [0.0, 0.0, 0.2])


def test_spacemouse_axes_are_the_twist_without_an_enable_button_and_short_messages_are_safe() -> None:
    twist = joy_twist(SPACEMOUSE, [0.5, -1.0, 0.3, 0.0, 0.0, -0.6], [], SCALES)
    np.testing.assert_allclose(twist.linear, [0.2 * 4 / 9, -0.2, 0.2 * 2 / 9])
    np.testing.assert_allclose(twist.angular, [0.0, 0.0, -0.8 * 5 / 9])
    assert joy_twist(SPACEMOUSE, [0.9], [], SCALES).linear[0] > 0.0  # a truncated message reads as zeros


def test_gripper_buttons_act_on_the_press_not_while_held() -> None:
    _, idle = xbox(pressed=())
    _, a_down = xbox(pressed=(0,))
    _, b_down = xbox(pressed=(1,))
    assert gripper_request(XBOX, idle, a_down) == GripperRequest(close=True)
    assert gripper_request(XBOX, a_down, a_down) is None
    assert gripper_request(XBOX, a_down, b_down) == GripperRequest(close=False)
    # spacenav: motion messages carry no buttons, so a later press message is a new press
    assert gripper_request(SPACEMOUSE, [], [1]) == GripperRequest(close=True)
    assert gripper_request(SPACEMOUSE, [1], []) is None
    assert gripper_request(SPACEMOUSE, [], [0, 1]) == GripperRequest(close=False)


def test_keys_map_to_twists_stop_and_gripper() -> None:
    forward = key_command("w", SCALES)
    assert isinstance(forward, TwistCommand)
    np.testing.assert_allclose(forward.linear, [0.2, 0.0, 0.0])
    yaw = key_command("e", SCALES)
    assert isinstance(yaw, TwistCommand)
    np.testing.assert_allclose(yaw.angular, [0.0, 0.0, -0.8])
    stop = key_command(" ", SCALES)
    assert isinstance(stop, TwistCommand) and stop.is_zero
    assert key_command("c") == GripperRequest(close=True) and key_command("o") == GripperRequest(close=False)
    assert key_command("x") is None


def test_scales_are_validated() -> None:
    with pytest.raises(ValueError, match="deadband"):
        TeleopScales(deadband=1.0)
    with pytest.raises(ValueError, match="scales"):
        TeleopScales(linear=0.0)


def test_segmenter_starts_at_activity_holds_while_open_and_ends_at_the_last_activity() -> None:
    runs = RunSegmenter(idle_timeout=2.0)
    assert not runs.activity(1.0, "goal", open_=False), "a goal ending before any run starts none"
    assert runs.activity(5.0, "goal", open_=True)
    assert not runs.activity(5.5)
    assert runs.poll(30.0) is None, "an open goal keeps the run going however quiet it is"
    runs.activity(31.0, "goal", open_=False)
    assert runs.poll(32.5) is None
    assert runs.poll(33.0) == 31.0 and not runs.in_run
    assert runs.activity(40.0)  # the next activity starts the next run
    with pytest.raises(ValueError):
        RunSegmenter(idle_timeout=0.0)
