"""The values that travel between planning, checking and executing a Cartesian waypoint path.

Units: metres, radians, seconds; quaternions in ROS order (x, y, z, w); poses in the planning
frame (the robot's base frame). Arrays handed out by these types are read-only, so a plan that
was checked cannot be edited afterwards without building a new one.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "Poses",
    "JointLimits",
    "CartesianSettings",
    "CartesianPlan",
    "ExecutionOutcome",
    "ExecutionResult",
    "GripperResult",
    "frozen_array",
]


def frozen_array(values: ArrayLike, shape: tuple[int | None, ...], name: str) -> np.ndarray:
    """``values`` as a read-only float array of ``shape`` (None: any length), or a ValueError."""
    array = np.array(values, dtype=float)
    if array.ndim != len(shape) or any(want is not None and got != want for got, want in zip(array.shape, shape)):
        wanted = "(" + ", ".join("N" if s is None else str(s) for s in shape) + ")"
        raise ValueError(f"{name} must have shape {wanted}, got {array.shape}")
    array.flags.writeable = False
    return array


@dataclass(frozen=True, eq=False)
class Poses:
    """A sequence of poses: positions (N, 3) and unit quaternions (N, 4, x y z w).

    Quaternions are normalised on construction; a zero or non-finite quaternion is refused,
    since no rotation can be read from it.
    """

    positions: np.ndarray
    orientations: np.ndarray

    def __post_init__(self) -> None:
        positions = frozen_array(self.positions, (None, 3), "positions")
        quats = np.array(self.orientations, dtype=float)
        if quats.ndim != 2 or quats.shape != (len(positions), 4):
            raise ValueError(f"orientations must have shape ({len(positions)}, 4), got {quats.shape}")
        norms = np.linalg.norm(quats, axis=1)
        if not np.all(np.isfinite(norms)) or np.any(norms < 1e-9):
            raise ValueError("orientations must be finite, non-zero quaternions (x, y, z, w)")
        object.__setattr__(self, "positions", positions)
        object.__setattr__(self, "orientations", frozen_array(quats / norms[:, None], (None, 4), "orientations"))

    def __len__(self) -> int:
        return len(self.positions)

    @classmethod
    def single(cls, position: ArrayLike, orientation: ArrayLike) -> Poses:
        return cls(np.reshape(np.asarray(position, dtype=float), (1, 3)), np.reshape(orientation, (1, 4)))


@dataclass(frozen=True, eq=False)
class JointLimits:
    """Position, velocity and acceleration limits of a joint group, in the group's joint order."""

    names: tuple[str, ...]
    lower: np.ndarray
    upper: np.ndarray
    max_velocity: np.ndarray
    max_acceleration: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.names)
        for field_name in ("lower", "upper", "max_velocity", "max_acceleration"):
            object.__setattr__(self, field_name, frozen_array(getattr(self, field_name), (n,), field_name))
        if np.any(self.lower > self.upper):
            raise ValueError("every lower joint limit must be <= its upper limit")
        if not (np.all(self.max_velocity > 0) and np.all(self.max_acceleration > 0)):
            raise ValueError("max_velocity and max_acceleration must be > 0 for every joint")

    @property
    def count(self) -> int:
        return len(self.names)


def _in_unit_interval(value: float) -> bool:
    return math.isfinite(value) and 0.0 < value <= 1.0


@dataclass(frozen=True)
class CartesianSettings:
    """One Cartesian planning request's settings (the fields of MoveIt's GetCartesianPath we honour).

    ``max_step``: the largest TCP translation between two samples of the planned path;
    ``max_rotation_step``: the largest rotation between two samples (MoveIt's rotational step);
    ``max_joint_step``: a sample whose joints move more than this from the previous one ends
    the path (our jump check; MoveIt Jazzy ignores ``jump_threshold``);
    the scalings: already resolved, in (0, 1] (see :func:`~vla_r1_ros.core.execution.scaling.resolve_scaling`);
    a 0 would mean full speed to MoveIt, so it is refused here, never passed on.
    """

    max_step: float = 0.005
    max_rotation_step: float = 0.05
    max_joint_step: float = 0.2
    velocity_scaling: float = 0.1
    acceleration_scaling: float = 0.1

    def __post_init__(self) -> None:
        for name in ("max_step", "max_rotation_step", "max_joint_step"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0.0):
                raise ValueError(f"{name} must be a finite number > 0, got {value}")
        for name in ("velocity_scaling", "acceleration_scaling"):
            if not _in_unit_interval(getattr(self, name)):
                raise ValueError(
                    f"{name} must be in (0, 1], got {getattr(self, name)}; resolve goal values with resolve_scaling"
                )


@dataclass(frozen=True, eq=False)
class CartesianPlan:
    """A planned joint trajectory along a Cartesian path, with what the planner could not do.

    ``positions``/``velocities`` are (N, J) in ``joint_names`` order, ``times`` the time from
    start of each sample (strictly increasing, first 0), ``tcp_positions`` (N, 3) the TCP the
    planner expects at each sample (its forward kinematics), ``fraction`` the share of the
    requested waypoints covered (MoveIt's meaning: whole waypoints reached, plus the part of the
    one it stopped in, over their number). ``error`` is empty when the planner had no error; a
    plan with ``fraction`` < 1 is still a plan (the checks decide whether it may run).
    """

    joint_names: tuple[str, ...]
    positions: np.ndarray
    velocities: np.ndarray
    times: np.ndarray
    tcp_positions: np.ndarray
    fraction: float
    error: str = ""

    def __post_init__(self) -> None:
        j = len(self.joint_names)
        object.__setattr__(self, "positions", frozen_array(self.positions, (None, j), "positions"))
        n = len(self.positions)
        object.__setattr__(self, "velocities", frozen_array(self.velocities, (n, j), "velocities"))
        object.__setattr__(self, "times", frozen_array(self.times, (n,), "times"))
        object.__setattr__(self, "tcp_positions", frozen_array(self.tcp_positions, (n, 3), "tcp_positions"))
        if n and (self.times[0] != 0.0 or np.any(np.diff(self.times) <= 0.0)):
            raise ValueError("plan times must start at 0 and increase strictly")

    @classmethod
    def failed(cls, joint_names: tuple[str, ...], error: str) -> CartesianPlan:
        """A plan with no samples and the reason."""
        j = len(joint_names)
        empty = np.zeros((0, j))
        return cls(joint_names, empty, empty, np.zeros(0), np.zeros((0, 3)), 0.0, error)

    def __len__(self) -> int:
        return len(self.times)

    @property
    def duration(self) -> float:
        return float(self.times[-1]) if len(self.times) else 0.0


class ExecutionOutcome(str, enum.Enum):
    """How an execution ended (stable names for logs and results)."""

    SUCCEEDED = "succeeded"
    CANCELED = "canceled"  # should_stop or stop(): the arm was halted
    ABORTED = "aborted"  # the controller gave up (tolerance violated, timeout)
    REJECTED = "rejected"  # not started: empty plan, start state too far from the current one


@dataclass(frozen=True, eq=False)
class ExecutionResult:
    """What an execution did. ``duration`` is the time the arm was commanded (simulated or real)."""

    outcome: ExecutionOutcome
    message: str
    duration: float
    final_positions: np.ndarray

    @property
    def ok(self) -> bool:
        return self.outcome is ExecutionOutcome.SUCCEEDED


@dataclass(frozen=True)
class GripperResult:
    """The result of control_msgs/GripperCommand: ``position`` of the finger joint (metres),
    ``effort`` it applied, ``stalled`` (stopped moving before the goal: usually something is
    held) and ``reached_goal``."""

    position: float
    effort: float
    stalled: bool
    reached_goal: bool
