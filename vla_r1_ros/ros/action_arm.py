"""What both ROS motion backends share: a plan runs as one action goal, the hand as GripperCommand.

A backend names its trajectory action, builds that action's goal from a plan and reads the
server's ending (:meth:`ActionArm.motion_goal`, :meth:`ActionArm.outcome`); sending, watching
for a stop, cancelling, timing out, the gripper and the joint positions for the result are here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from rclpy.action.client import ActionClient
from rclpy.node import Node

from vla_r1_ros.core.execution.backend import JointGroup
from vla_r1_ros.core.execution.types import CartesianPlan, ExecutionOutcome, ExecutionResult, GripperResult, JointLimits
from vla_r1_ros.ros.action_calls import GoalEnd, GripperClient, MotionGoal

__all__ = ["ActionArm"]


class ActionArm(JointGroup):
    """Execution, gripper and stop of a :class:`~vla_r1_ros.core.execution.MotionBackend` over actions."""

    def __init__(
        self,
        node: Node,
        limits: JointLimits,
        motion: tuple[Any, str],
        gripper_action: str,
        current_positions: Callable[[], np.ndarray | None],
        execution_timeout: float,
        server_timeout: float,
    ) -> None:
        """``limits``: the arm's joints; ``motion``: the trajectory action's type and name."""
        super().__init__(limits)
        action_type, action_name = motion
        self._current = current_positions
        client = ActionClient(node, action_type, action_name)
        self._motion = MotionGoal(client, action_name, execution_timeout, server_timeout, self._positions)
        self._gripper = GripperClient(node, gripper_action, execution_timeout, server_timeout)

    def motion_goal(self, plan: CartesianPlan) -> Any:
        """The trajectory action's goal that runs ``plan``."""
        raise NotImplementedError

    @staticmethod
    def outcome(end: GoalEnd) -> tuple[ExecutionOutcome, str]:
        """The server's ending as the executor's outcome and message."""
        raise NotImplementedError

    def execute(self, plan: CartesianPlan, should_stop: Callable[[], bool] | None = None) -> ExecutionResult:
        return self._motion.run(self.motion_goal(plan), plan.duration, should_stop, self.outcome)

    def gripper(self, position: float, max_effort: float) -> GripperResult:
        return self._gripper.move(position, max_effort)

    def stop(self) -> None:
        self._motion.stop()

    def _positions(self) -> np.ndarray:
        """The arm's joint positions from /joint_states (NaN where none arrived yet)."""
        current = self._current()
        return np.full(len(self.joint_names), np.nan) if current is None else current
