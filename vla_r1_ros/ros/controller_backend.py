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
from rclpy.node import Node

from vla_r1_ros.core.execution.types import CartesianPlan, CartesianSettings, ExecutionOutcome, JointLimits, Poses
from vla_r1_ros.ros.action_arm import ActionArm
from vla_r1_ros.ros.action_calls import GoalEnd
from vla_r1_ros.ros.motion_messages import joint_trajectory_msg

__all__ = ["ControllerBackend"]


class ControllerBackend(ActionArm):
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
        motion = (FollowJointTrajectory, trajectory_action)
        limits: JointLimits = planner.joint_limits
        super().__init__(node, limits, motion, gripper_action, current_positions, execution_timeout, server_timeout)

    def tcp_orientation(self, q: np.ndarray) -> np.ndarray:
        return np.asarray(self.planner.tcp_orientation(q))

    def plan_cartesian(self, waypoints: Poses, start: np.ndarray, settings: CartesianSettings) -> CartesianPlan:
        plan: CartesianPlan = self.planner.plan_cartesian(waypoints, start, settings)
        return plan

    def motion_goal(self, plan: CartesianPlan) -> FollowJointTrajectory.Goal:
        return FollowJointTrajectory.Goal(trajectory=joint_trajectory_msg(plan))

    @staticmethod
    def outcome(end: GoalEnd) -> tuple[ExecutionOutcome, str]:
        """A joint trajectory controller's ending: succeeded with error code 0, else why."""
        code = int(end.result.error_code) if end.result is not None else -1
        if end.status == 4 and code == 0:
            return ExecutionOutcome.SUCCEEDED, ""
        detail = end.result.error_string if end.result is not None and end.result.error_string else f"error code {code}"
        return (ExecutionOutcome.CANCELED if end.status == 5 else ExecutionOutcome.ABORTED), detail
