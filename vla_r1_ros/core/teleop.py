"""Teleoperation input without ROS: a gamepad's, SpaceMouse's or keyboard's state to an end-effector twist.

The output follows MoveIt Servo's convention: a linear (m/s) and angular (rad/s) velocity of the
end effector in a chosen frame (``geometry_msgs/TwistStamped`` on ``~/delta_twist_cmds`` with
``command_in_type: speed_units``), plus open/close commands for the gripper. On a real arm MoveIt
Servo turns the twist into joint commands; the simulated arm follows it itself.

Joystick profiles (``sensor_msgs/Joy`` indices):

``xbox`` — an Xbox controller, or a Logitech F710 in XInput mode (switch on its back at X), read
by ``ros2 run joy game_controller_node`` (SDL's fixed layout: axes 0 left x, 1 left y, 2 right x,
3 right y, 4 left trigger, 5 right trigger; sticks +1 at left/up, triggers 0 released and -1
pressed). **Hold LB** (button 9) to move; left stick: forward/back (x) and left/right (y);
right trigger up (+z), left trigger down (-z); right stick: yaw (left/right) and pitch (up/down);
D-pad left/right (buttons 13/14): roll; **A** (0) closes the gripper, **B** (1) opens it; hold
**RB** (10) for fine motion (a quarter of the speed).

``spacemouse`` — a 3Dconnexion SpaceMouse through ``ros2 run spacenav spacenav`` on
``/spacenav/joy`` (axes 0-2 push x/y/z, 3-5 twist about x/y/z, already in ROS's x-forward,
y-left, z-up convention); no enable button (the cap springs back to zero); left button (0)
closes the gripper, right button (1) opens it.

Keyboard (:data:`KEY_BINDINGS`): w/s x, a/d y, r/f z, q/e yaw, space stops, c closes, o opens.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "AxisSource",
    "JoyProfile",
    "PROFILES",
    "TeleopScales",
    "TwistCommand",
    "GripperRequest",
    "apply_deadband",
    "joy_twist",
    "gripper_request",
    "KEY_BINDINGS",
    "key_command",
]

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class AxisSource:
    """One velocity component read from a Joy message: ``axis`` times ``sign``, or a pair of buttons
    (``positive_button`` gives +1, ``negative_button`` -1), or ``axis - negative_axis`` (two triggers).

    ``trigger``: the axis rests at 0 and reads -1 fully pressed (SDL's triggers); it is read as the
    press depth, 0 to 1.
    """

    axis: int | None = None
    sign: float = 1.0
    negative_axis: int | None = None
    trigger: bool = False
    positive_button: int | None = None
    negative_button: int | None = None


@dataclass(frozen=True)
class JoyProfile:
    """Where a device's Joy message keeps the twist's six components and the gripper and enable buttons."""

    name: str
    linear: tuple[AxisSource, AxisSource, AxisSource]
    angular: tuple[AxisSource, AxisSource, AxisSource]
    close_button: int
    open_button: int
    enable_button: int | None = None  # a dead man's switch: no motion unless held
    fine_button: int | None = None  # held: motion at ``TeleopScales.fine`` of the speed


_NONE = AxisSource()

PROFILES: dict[str, JoyProfile] = {
    "xbox": JoyProfile(
        name="xbox",
        linear=(AxisSource(axis=1), AxisSource(axis=0), AxisSource(axis=5, negative_axis=4, trigger=True)),
        angular=(AxisSource(positive_button=14, negative_button=13), AxisSource(axis=3), AxisSource(axis=2)),
        close_button=0,
        open_button=1,
        enable_button=9,
        fine_button=10,
    ),
    "spacemouse": JoyProfile(
        name="spacemouse",
        linear=(AxisSource(axis=0), AxisSource(axis=1), AxisSource(axis=2)),
        angular=(AxisSource(axis=3), AxisSource(axis=4), AxisSource(axis=5)),
        close_button=0,
        open_button=1,
    ),
}


@dataclass(frozen=True)
class TeleopScales:
    """Speeds at full deflection (m/s, rad/s), the deadband (fraction of full deflection) and the fine factor."""

    linear: float = 0.1
    angular: float = 0.5
    deadband: float = 0.1
    fine: float = 0.25

    def __post_init__(self) -> None:
        if not (self.linear > 0.0 and self.angular > 0.0 and 0.0 < self.fine <= 1.0):
            raise ValueError("linear and angular scales must be > 0 and fine in (0, 1]")
        if not 0.0 <= self.deadband < 1.0:
            raise ValueError(f"the deadband must be in [0, 1), got {self.deadband}")


@dataclass(frozen=True)
class TwistCommand:
    """An end-effector velocity: ``linear`` (m/s) and ``angular`` (rad/s), each (3,)."""

    linear: FloatArray
    angular: FloatArray

    @classmethod
    def zero(cls) -> TwistCommand:
        return cls(np.zeros(3), np.zeros(3))

    @property
    def is_zero(self) -> bool:
        return not (np.any(self.linear) or np.any(self.angular))


def apply_deadband(value: float, band: float) -> float:
    """0 inside ``band``; outside it, rescaled so the output still runs continuously from 0 to ±1."""
    if not math.isfinite(value):
        return 0.0
    clipped = max(-1.0, min(1.0, value))
    if abs(clipped) <= band:
        return 0.0
    return math.copysign((abs(clipped) - band) / (1.0 - band), clipped)


def _pressed(buttons: Sequence[int], index: int | None) -> bool:
    # spacenav's motion messages carry no buttons at all: a missing button is a released one.
    return index is not None and 0 <= index < len(buttons) and bool(buttons[index])


def _axis(axes: Sequence[float], index: int | None) -> float:
    return float(axes[index]) if index is not None and 0 <= index < len(axes) else 0.0


def _component(source: AxisSource, axes: Sequence[float], buttons: Sequence[int], band: float) -> float:
    if source.positive_button is not None or source.negative_button is not None:
        return float(_pressed(buttons, source.positive_button)) - float(_pressed(buttons, source.negative_button))
    if source.trigger:  # rest 0, fully pressed -1: the press depth of each trigger
        up = apply_deadband(-_axis(axes, source.axis), band)
        down = apply_deadband(-_axis(axes, source.negative_axis), band) if source.negative_axis is not None else 0.0
        return source.sign * (max(0.0, up) - max(0.0, down))
    value = apply_deadband(_axis(axes, source.axis), band)
    if source.negative_axis is not None:
        value -= apply_deadband(_axis(axes, source.negative_axis), band)
    return source.sign * value


def joy_twist(
    profile: JoyProfile, axes: Sequence[float], buttons: Sequence[int], scales: TeleopScales = TeleopScales()
) -> TwistCommand:
    """The twist a Joy message asks for under ``profile``: zero unless the enable button (if any) is held."""
    if profile.enable_button is not None and not _pressed(buttons, profile.enable_button):
        return TwistCommand.zero()
    factor = scales.fine if _pressed(buttons, profile.fine_button) else 1.0
    linear = [_component(s, axes, buttons, scales.deadband) for s in profile.linear]
    angular = [_component(s, axes, buttons, scales.deadband) for s in profile.angular]
    return TwistCommand(
        np.asarray(linear, dtype=np.float64) * scales.linear * factor,
        np.asarray(angular, dtype=np.float64) * scales.angular * factor,
    )


@dataclass(frozen=True)
class GripperRequest:
    """Open or close the gripper (``close`` true: close)."""

    close: bool


def gripper_request(profile: JoyProfile, previous: Sequence[int], buttons: Sequence[int]) -> GripperRequest | None:
    """A gripper command on a button's press (not while it is held); close wins if both are pressed."""
    for index, close in ((profile.close_button, True), (profile.open_button, False)):
        if _pressed(buttons, index) and not _pressed(previous, index):
            return GripperRequest(close)
    return None


#: key -> (linear x y z, angular x y z) in units of full deflection.
KEY_BINDINGS: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    "w": ((1.0, 0.0, 0.0), (0.0, 0.0, 0.0)),
    "s": ((-1.0, 0.0, 0.0), (0.0, 0.0, 0.0)),
    "a": ((0.0, 1.0, 0.0), (0.0, 0.0, 0.0)),
    "d": ((0.0, -1.0, 0.0), (0.0, 0.0, 0.0)),
    "r": ((0.0, 0.0, 1.0), (0.0, 0.0, 0.0)),
    "f": ((0.0, 0.0, -1.0), (0.0, 0.0, 0.0)),
    "q": ((0.0, 0.0, 0.0), (0.0, 0.0, 1.0)),
    "e": ((0.0, 0.0, 0.0), (0.0, 0.0, -1.0)),
}
STOP_KEY, CLOSE_KEY, OPEN_KEY = " ", "c", "o"


def key_command(key: str, scales: TeleopScales = TeleopScales()) -> TwistCommand | GripperRequest | None:
    """What a key asks for: a twist (a motion key, or zero for the stop key), a gripper request, or None."""
    if key == STOP_KEY:
        return TwistCommand.zero()
    if key in (CLOSE_KEY, OPEN_KEY):
        return GripperRequest(close=key == CLOSE_KEY)
    binding = KEY_BINDINGS.get(key.lower())
    if binding is None:
        return None
    linear, angular = binding
    return TwistCommand(np.asarray(linear) * scales.linear, np.asarray(angular) * scales.angular)
