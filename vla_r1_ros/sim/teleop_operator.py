"""A scripted teleoperator picking an object: reach over it, descend, close the gripper, lift (no ROS).

It stands in for a person with a SpaceMouse in tests, demos and the simulated study. Each reach
is :func:`~vla_r1_ros.core.runs.operator.scripted_reach` (a bell-shaped primary movement that
lands short and beside, a pause, corrections, seeded motor noise) sent as velocity commands at
the operator's rate, as an input device and MoveIt Servo would carry them. Like a person it
watches the tool: each command adds a pull (``feedback_gain``) towards where the reach meant the
tool to be by then, so an arm that lags (a busy simulator, a slow robot) is pushed on rather than
left short; when the reach's commands are done it keeps steering a lagging tool towards the aim
(``steer_time``); a reach that still ends more than ``tolerance`` from its aim gets another,
smaller corrective reach (at most ``max_corrections``). When the arm follows well, the pull is
nil and the commands are the reach's own.

The operator acts through an :class:`OperatorIO`: :class:`WorldOperatorIO` drives a
:class:`~vla_r1_ros.sim.servo.CartesianServo` on a :class:`~vla_r1_ros.sim.panda.PandaWorld`
in this process; the ROS node (:mod:`vla_r1_ros.ros.scripted_operator`) publishes TwistStamped
commands and calls the gripper action.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from numpy.typing import ArrayLike

from vla_r1_ros.core.runs.operator import OperatorSettings, scripted_reach
from vla_r1_ros.sim.panda import PandaWorld
from vla_r1_ros.sim.panda_control import ControllerSettings, halt, move_gripper
from vla_r1_ros.sim.servo import CartesianServo, ServoCommand

__all__ = ["OperatorIO", "TeleopPickSettings", "TeleopPickReport", "grasp_aims", "scripted_pick", "WorldOperatorIO"]


class OperatorIO(Protocol):
    """What the scripted operator sees and does."""

    def tool_position(self) -> np.ndarray:
        """The tool centre point now (3,), in the base frame."""
        ...

    def send(self, linear: np.ndarray, period: float) -> None:
        """Command this tool velocity (m/s) for one period of the operator's rate (blocks for it)."""
        ...

    def settle(self) -> None:
        """Stop commanding and wait until the arm is still."""
        ...

    def gripper(self, position: float, max_effort: float) -> None:
        """Move the fingers (each, m) with at most ``max_effort`` N; blocks until they stop."""
        ...


def _corrective() -> OperatorSettings:
    # A small, careful correction: quick to start, one submovement and an exact one, little noise.
    return OperatorSettings(reaction=(0.1, 0.2), pause=(0.1, 0.2), undershoot=(0.0, 0.05), corrections=1, noise=0.04)


@dataclass(frozen=True)
class TeleopPickSettings:
    """How the operator picks. Heights in m above the object's top (the grasp: below it, as the VLA's
    ``grasp_depth``); ``lift_height`` as the executor's; ``tolerance`` (m) triggers a correction."""

    reach: OperatorSettings = field(default_factory=OperatorSettings)
    correction: OperatorSettings = field(default_factory=_corrective)
    approach_height: float = 0.08
    grasp_depth: float = 0.02
    lift_height: float = 0.1
    tolerance: float = 0.005
    max_corrections: int = 3
    feedback_gain: float = 3.0  # 1/s: how hard the operator pulls the tool back onto its intended path
    feedback_deadzone: float = 0.002  # m: deviations the operator does not notice
    steer_time: float = 3.0  # s: how long it keeps pushing a lagging arm towards the aim before re-reaching
    gripper_open: float = 0.04
    gripper_close: float = 0.0
    gripper_max_effort: float = 20.0

    def __post_init__(self) -> None:
        if self.reach.rate_hz != self.correction.rate_hz:
            raise ValueError("the reach and correction settings must share one command rate")


@dataclass
class TeleopPickReport:
    """What the operator did: the aims, where each reach ended (m), corrections, commands sent in reaches
    and while steering a lagging arm onto the aim."""

    aims: list[np.ndarray] = field(default_factory=list)
    errors: list[float] = field(default_factory=list)
    corrections: int = 0
    commands: int = 0
    steering: int = 0


def grasp_aims(object_top: ArrayLike, settings: TeleopPickSettings) -> tuple[np.ndarray, np.ndarray]:
    """Above the object (``approach_height`` over its top centre) and the grasp (``grasp_depth`` below it)."""
    top = np.asarray(object_top, dtype=float).reshape(3)
    up = np.array([0.0, 0.0, 1.0])
    return top + settings.approach_height * up, top - settings.grasp_depth * up


def _pull(error: np.ndarray, settings: TeleopPickSettings) -> np.ndarray:
    """The operator's correction for a tool ``error`` (m) off its intended place: none for what it cannot see."""
    if float(np.linalg.norm(error)) <= settings.feedback_deadzone:
        return np.zeros(3)
    pull: np.ndarray = settings.feedback_gain * error
    return pull


def _steer(io: OperatorIO, aim: np.ndarray, settings: TeleopPickSettings, report: TeleopPickReport) -> None:
    """Keep pushing towards ``aim`` while the arm lags behind it (at most ``steer_time``)."""
    period = 1.0 / settings.reach.rate_hz
    for _ in range(round(settings.steer_time / period)):
        error = aim - io.tool_position()
        if float(np.linalg.norm(error)) <= settings.tolerance / 2:
            return
        io.send(settings.feedback_gain * error, period)
        report.steering += 1


def _reach(io: OperatorIO, aim: np.ndarray, seed: int, settings: TeleopPickSettings, report: TeleopPickReport) -> None:
    """One reach to ``aim``, then corrections while it ended farther than the tolerance."""
    cfg = settings.reach
    for attempt in range(settings.max_corrections + 1):
        motion = scripted_reach(io.tool_position(), aim, seed=seed * 16 + attempt, settings=cfg)
        for planned, velocity in zip(motion.positions, motion.velocities):
            # what the hand intends, plus a pull towards where it meant the tool to be by now
            io.send(velocity + _pull(planned - io.tool_position(), settings), 1.0 / cfg.rate_hz)
        report.commands += len(motion.velocities)
        _steer(io, aim, settings, report)
        io.settle()
        error = float(np.linalg.norm(io.tool_position() - aim))
        if error <= settings.tolerance or attempt == settings.max_corrections:
            break
        report.corrections += 1
        cfg = settings.correction
    report.aims.append(aim)
    report.errors.append(error)


def scripted_pick(
    io: OperatorIO, object_top: ArrayLike, seed: int = 0, settings: TeleopPickSettings | None = None
) -> TeleopPickReport:
    """Open, reach over the object, descend to the grasp, close, lift straight up by ``lift_height``."""
    cfg = settings or TeleopPickSettings()
    report = TeleopPickReport()
    above, grasp = grasp_aims(object_top, cfg)
    io.gripper(cfg.gripper_open, cfg.gripper_max_effort)
    _reach(io, above, seed * 4 + 0, cfg, report)
    _reach(io, grasp, seed * 4 + 1, cfg, report)
    io.gripper(cfg.gripper_close, cfg.gripper_max_effort)
    _reach(io, io.tool_position() + np.array([0.0, 0.0, cfg.lift_height]), seed * 4 + 2, cfg, report)
    return report


class WorldOperatorIO:
    """The operator's hands on a :class:`PandaWorld` in this process, through a :class:`CartesianServo`.

    Each command is followed for one period (servo ticks of ~10 ms); ``on_command(linear, time)``
    sees every command (a recorder writes them as TwistStamped).
    """

    def __init__(
        self,
        world: PandaWorld,
        servo: CartesianServo,
        controller: ControllerSettings | None = None,
        on_command: Callable[[np.ndarray, float], None] | None = None,
    ) -> None:
        self.world, self.servo, self.controller = world, servo, controller or ControllerSettings()
        self.on_command = on_command
        self._steps = max(1, round(0.01 / world.settings.time_step))
        self._until = world.time  # end of the commands so far: ticks do not divide a period evenly

    def tool_position(self) -> np.ndarray:
        position: np.ndarray = self.world.tcp_pose()[:3, 3]
        return position

    def send(self, linear: np.ndarray, period: float) -> None:
        if self.on_command is not None:
            self.on_command(np.asarray(linear, dtype=float), self.world.time)
        tick = self._steps * self.world.settings.time_step
        if self.world.time > self._until + tick:  # after a pause (settling, the gripper) the schedule restarts
            self._until = self.world.time
        self._until += period
        command = ServoCommand.of(linear)
        while self.world.time < self._until - tick / 2:
            self.servo.update(self.world, command, tick)
            self.world.step(self._steps)

    def settle(self) -> None:
        self.servo.update(self.world, None, 0.0)
        halt(self.world, self.controller)

    def gripper(self, position: float, max_effort: float) -> None:
        self.servo.release()
        move_gripper(self.world, position, max_effort, self.controller)
