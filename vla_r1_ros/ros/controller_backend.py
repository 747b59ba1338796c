"""A motion backend that plans itself and drives ros2_control's controllers: the executor's ``sim`` backend.

Cartesian paths are planned in this process (:class:`~vla_r1_ros.sim.panda_planner.PandaCartesianPlanner`:
IK along the densified path, with compute_cartesian_path's fraction and joint-jump semantics),
so dry runs and every check work without MoveIt. Plans are run by a joint trajectory controller
(``control_msgs/FollowJointTrajectory``) and the hand by a gripper action controller
(``control_msgs/GripperCommand``): the simulated arm serves both, and so does a Panda under
ros2_control. Cancelling cancels the controller's goal (the controller holds where the arm is).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from control_msgs.action import FollowJointTrajectory
from rclpy.action.client import ActionClient
from rclpy.node import Node

from vla_r1_ros.core.execution.types import (
    CartesianPlan,
    CartesianSettings,
    ExecutionOutcome,
    ExecutionResult,
    GripperResult,
    JointLimits,
    Poses,
)
from vla_r1_ros.ros.action_calls import GoalEnd, GripperClient, MotionGoal
from vla_r1_ros.ros.motion_messages import joint_trajectory_msg

__all__ = ["ControllerBackend"]


class ControllerBackend:
    """:class:`~vla_r1_ros.core.execution.MotionBackend` over FollowJointTrajectory and GripperCommand."""

    def __init__(
        self,
        node: Node,
        planner: Any,
        current_positions: Callable[[], np.ndarray | None],
        trajectory_action: str,
        gripper_action: str,
        execution_timeout: float,
        server_timeout: float = 5.0,
    ) -> None:
        self.planner = planner
        self._current = current_positions
        trajectories = ActionClient(node, FollowJointTrajectory, trajectory_action)
        self._motion = MotionGoal(trajectories, trajectory_action, execution_timeout, server_timeout, self._positions)
        self._gripper = GripperClient(node, gripper_action, execution_timeout, server_timeout)

    @property
    def joint_names(self) -> tuple[str, ...]:
        return tuple(self.planner.joint_names)

    @property
    def joint_limits(self) -> JointLimits:
        limits: JointLimits = self.planner.joint_limits
        return limits

    def tcp_orientation(self, q: np.ndarray) -> np.ndarray:
        return np.asarray(self.planner.tcp_orientation(q))

    def plan_cartesian(self, waypoints: Poses, start: np.ndarray, settings: CartesianSettings) -> CartesianPlan:
        plan: CartesianPlan = self.planner.plan_cartesian(waypoints, start, settings)
        return plan

    def execute(self, plan: CartesianPlan, should_stop: Callable[[], bool] | None = None) -> ExecutionResult:
        goal = FollowJointTrajectory.Goal(trajectory=joint_trajectory_msg(plan))
        return self._motion.run(goal, plan.duration, should_stop, _controller_outcome)

    def gripper(self, position: float, max_effort: float) -> GripperResult:
        return self._gripper.move(position, max_effort)

    def stop(self) -> None:
        self._motion.stop()

    def _positions(self) -> np.ndarray:
        """The arm's joint positions from /joint_states (NaN where none arrived yet)."""
        current = self._current()
        return np.full(len(self.joint_names), np.nan) if current is None else current


def _controller_outcome(end: GoalEnd) -> tuple[ExecutionOutcome, str]:
    """A joint trajectory controller's ending: succeeded with error code 0, else why."""
    code = int(end.result.error_code) if end.result is not None else -1
    if end.status == 4 and code == 0:
        return ExecutionOutcome.SUCCEEDED, ""
    detail = end.result.error_string if end.result is not None and end.result.error_string else f"error code {code}"
    return (ExecutionOutcome.CANCELED if end.status == 5 else ExecutionOutcome.ABORTED), detail
