"""What an executor needs from a motion backend (MoveIt over ROS, moveit_py, a simulator).

Kept small on purpose: plan a Cartesian path, run a plan, move the gripper, stop. Everything
else (checks, approval, scaling) is the executor's, so every backend is held to the same rules.
A backend that can also say where the hand points (``tcp_orientation(joint_positions)`` -> x y z
w) lets the executor try the nearer of a grasp's two equivalent orientations first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

import numpy as np

from vla_r1_ros.core.execution.types import (
    CartesianPlan,
    CartesianSettings,
    ExecutionResult,
    GripperResult,
    JointLimits,
    Poses,
)

__all__ = ["MotionBackend", "JointGroup"]


@runtime_checkable
class MotionBackend(Protocol):
    """A planner and executor for one arm and its gripper."""

    @property
    def joint_names(self) -> tuple[str, ...]:
        """The planning group's joints, in the order of plans and start states."""
        ...

    @property
    def joint_limits(self) -> JointLimits:
        """Those joints' limits (the plan checks hold plans to them)."""
        ...

    def plan_cartesian(self, waypoints: Poses, start: np.ndarray, settings: CartesianSettings) -> CartesianPlan:
        """Plan from the joint state ``start`` through the TCP ``waypoints`` (compute_cartesian_path
        semantics: stop at the first sample that cannot be reached or would jump; say how far in
        ``fraction``). Never moves the arm. Problems come back in the plan's ``error``."""
        ...

    def execute(self, plan: CartesianPlan, should_stop: Callable[[], bool] | None = None) -> ExecutionResult:
        """Run ``plan``; blocks until it ends. ``should_stop`` is polled while it runs: when it returns
        True the arm is halted and the result is CANCELED."""
        ...

    def gripper(self, position: float, max_effort: float) -> GripperResult:
        """Move the fingers to ``position`` (finger joint, metres) pushing at most ``max_effort``; blocks."""
        ...

    def stop(self) -> None:
        """Halt any motion now (callable from another thread); a running ``execute`` returns CANCELED."""
        ...


class JointGroup:
    """:class:`MotionBackend`'s two properties for a backend whose arm is fixed when it is made."""

    def __init__(self, limits: JointLimits) -> None:
        self._limits = limits

    @property
    def joint_names(self) -> tuple[str, ...]:
        return self._limits.names

    @property
    def joint_limits(self) -> JointLimits:
        return self._limits
