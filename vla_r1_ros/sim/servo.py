"""A Cartesian velocity controller for the simulated Panda: teleop twists in, joint targets out (no ROS).

It does for the simulated arm what MoveIt Servo does for a real one: each control tick it moves a
commanded tool-centre pose by the commanded twist times the tick, keeps that pose inside the
executor's workspace (:class:`~vla_r1_ros.core.geometry.SafetyLimits`: the box, the height
above the table, the reach sphere), solves it with the planner's IK (seeded with the previous
solution, with its joint-limit and joint-jump checks) and commands the joints there with the
matching feed-forward velocity. A pose the IK cannot reach is refused: the arm holds and
:attr:`CartesianServo.limited` says why. Speeds are capped (``max_linear_speed``,
``max_angular_speed``).

Commands stop counting after ``command_timeout`` (:class:`LatestTwist`, as Servo's
``incoming_command_timeout``): the servo then holds the last commanded joints and lets go of
the arm, so a trajectory controller or a reset afterwards starts from wherever the arm is.
Twists are in the base frame, or in the tool frame when ``in_tool_frame`` (Servo's end-effector
frame commands).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike

from vla_r1_ros.core.execution.types import CartesianSettings, Poses
from vla_r1_ros.core.geometry import SafetyLimits
from vla_r1_ros.core.geometry.transforms import quaternion_from_matrix
from vla_r1_ros.sim.panda import PandaWorld
from vla_r1_ros.sim.panda_planner import PandaCartesianPlanner

__all__ = ["ServoSettings", "ServoCommand", "LatestTwist", "clamp_to_limits", "rotation_from_vector", "CartesianServo"]


@dataclass(frozen=True)
class ServoSettings:
    """Limits of the servo. ``limits``: the executor's workspace (same defaults); speeds in m/s and rad/s;
    ``command_timeout``: seconds after which a command no longer moves the arm."""

    limits: SafetyLimits = field(default_factory=SafetyLimits)
    max_linear_speed: float = 0.25
    max_angular_speed: float = 1.0
    command_timeout: float = 0.05

    def __post_init__(self) -> None:
        if not (self.max_linear_speed > 0.0 and self.max_angular_speed > 0.0 and self.command_timeout > 0.0):
            raise ValueError("servo speeds and command_timeout must be > 0")


@dataclass(frozen=True)
class ServoCommand:
    """One twist: ``linear`` (m/s) and ``angular`` (rad/s), in the base frame or, ``in_tool_frame``, the tool's."""

    linear: np.ndarray
    angular: np.ndarray
    in_tool_frame: bool = False

    @classmethod
    def of(cls, linear: ArrayLike, angular: ArrayLike = (0.0, 0.0, 0.0), in_tool_frame: bool = False) -> ServoCommand:
        lin, ang = (np.asarray(v, dtype=float).reshape(3) for v in (linear, angular))
        if not (np.all(np.isfinite(lin)) and np.all(np.isfinite(ang))):
            raise ValueError("a twist must be finite")
        return cls(lin, ang, in_tool_frame)


class LatestTwist:
    """The newest twist and when it arrived; ``current(now)`` is None once it is older than ``timeout``.

    Written by a ROS callback thread, read by the physics thread; ``now`` is any one clock.
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._lock = threading.Lock()
        self._command: ServoCommand | None = None
        self._at = -math.inf

    def put(self, command: ServoCommand, now: float) -> None:
        with self._lock:
            self._command, self._at = command, now

    def current(self, now: float) -> ServoCommand | None:
        with self._lock:
            return self._command if now - self._at <= self.timeout else None


def clamp_to_limits(position: ArrayLike, limits: SafetyLimits) -> tuple[np.ndarray, tuple[str, ...]]:
    """The nearest point to ``position`` that the executor's safety filter accepts, and the rules that moved it."""
    point = np.asarray(position, dtype=float).reshape(3)
    low, high = np.asarray(limits.workspace_min, dtype=float), np.asarray(limits.workspace_max, dtype=float)
    floor = limits.table_height + limits.min_height_above_table
    rules = []
    if point[2] < floor:
        rules.append("min_height")
    if np.any(point < low) or np.any(point > high):
        rules.append("workspace")
    point = np.clip(point, [low[0], low[1], max(low[2], floor)], high)
    centre = np.asarray(limits.reach_center, dtype=float)
    offset = point - centre
    distance = float(np.linalg.norm(offset))
    if distance > limits.max_reach:
        point = centre + offset * (limits.max_reach / distance)
        rules.append("reach")
    return point, tuple(rules)


def rotation_from_vector(rotation_vector: ArrayLike) -> np.ndarray:
    """The 3x3 rotation of angle |v| about v (Rodrigues' formula)."""
    v = np.asarray(rotation_vector, dtype=float).reshape(3)
    angle = float(np.linalg.norm(v))
    if angle < 1e-12:
        return np.eye(3)
    k = v / angle
    cross = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    rotation: np.ndarray = np.eye(3) + math.sin(angle) * cross + (1.0 - math.cos(angle)) * (cross @ cross)
    return rotation


class CartesianServo:
    """Follows twists on a :class:`PandaWorld` (see the module docstring). Call from the thread that steps it."""

    def __init__(self, settings: ServoSettings | None = None, planner: PandaCartesianPlanner | None = None) -> None:
        self.settings = settings or ServoSettings()
        self.planner = planner or PandaCartesianPlanner()
        # One IK step per tick: a tick moves the tool millimetres, well within one planning step.
        self._cartesian = CartesianSettings(max_step=0.01, max_rotation_step=0.1)
        self._pose: np.ndarray | None = None  # the commanded TCP pose (4x4) while the servo drives the arm
        self._q: np.ndarray | None = None
        self.limited = ""  # why the latest command was not followed in full ("" when it was)

    @property
    def active(self) -> bool:
        return self._pose is not None

    def close(self) -> None:
        """Close the planner's private pybullet client."""
        self.planner.kinematics.close()

    def release(self) -> None:
        """Forget the commanded pose: the next command starts from where the arm is (after another
        controller moved it, or a reset)."""
        self._pose = self._q = None

    def update(self, world: PandaWorld, command: ServoCommand | None, dt: float) -> None:
        """One control tick of ``dt`` seconds: follow ``command``, or, with None, hold and let go."""
        if command is None:
            if self._q is not None:
                world.command_arm(self._q)
            self.release()
            return
        if self._pose is None or self._q is None:
            self._q = world.arm_positions()
            self._pose = self.planner.tcp_pose(self._q)
        pose = self._next_pose(self._pose, command, dt)
        if np.array_equal(pose, self._pose):  # nothing to move (a zero twist, or pinned at a limit)
            world.command_arm(self._q)
            return
        plan = self.planner.plan_cartesian(
            Poses.single(pose[:3, 3], quaternion_from_matrix(pose[:3, :3])), self._q, self._cartesian
        )
        if plan.fraction < 1.0 or not len(plan):
            self.limited = f"ik: {plan.error or 'the pose cannot be reached'}"
            world.command_arm(self._q)
            return
        previous, self._q = self._q, plan.positions[-1]
        self._pose = pose
        world.command_arm(self._q, (self._q - previous) / dt)

    def _next_pose(self, pose: np.ndarray, command: ServoCommand, dt: float) -> np.ndarray:
        cfg = self.settings
        linear, angular = command.linear, command.angular
        if command.in_tool_frame:
            linear, angular = pose[:3, :3] @ linear, pose[:3, :3] @ angular
        speed, spin = float(np.linalg.norm(linear)), float(np.linalg.norm(angular))
        if speed > cfg.max_linear_speed:
            linear = linear * (cfg.max_linear_speed / speed)
        if spin > cfg.max_angular_speed:
            angular = angular * (cfg.max_angular_speed / spin)
        position, rules = clamp_to_limits(pose[:3, 3] + linear * dt, cfg.limits)
        self.limited = ", ".join(rules)
        moved = np.eye(4)
        moved[:3, :3] = rotation_from_vector(angular * dt) @ pose[:3, :3]
        moved[:3, 3] = position
        return moved
