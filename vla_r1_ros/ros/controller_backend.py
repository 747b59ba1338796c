"""A motion backend that plans itself and drives ros2_control's controllers: the executor's ``sim`` backend.

Cartesian paths are planned in this process (:class:`~vla_r1_ros.sim.panda_planner.PandaCartesianPlanner`:
IK along the densified path, with compute_cartesian_path's fraction and joint-jump semantics),
so dry runs and every check work without MoveIt. Plans are run by a joint trajectory controller
(``control_msgs/FollowJointTrajectory``) and the hand by a gripper action controller
(``control_msgs/GripperCommand``): the simulated arm serves both, and so does a Panda under
ros2_control. Cancelling cancels the controller's goal (the controller holds where the arm is).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np
from control_msgs.action import FollowJointTrajectory, GripperCommand
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
from vla_r1_ros.ros.motion_messages import joint_trajectory_msg, wait_for

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
        self._trajectory = ActionClient(node, FollowJointTrajectory, trajectory_action)
        self._gripper = ActionClient(node, GripperCommand, gripper_action)
        self._names = {"trajectory": trajectory_action, "gripper": gripper_action}
        self.execution_timeout = execution_timeout
        self.server_timeout = server_timeout
        self._active: Any = None
        self._stop = threading.Event()

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
        self._stop.clear()
        goal = FollowJointTrajectory.Goal(trajectory=joint_trajectory_msg(plan))
        handle = self._send(self._trajectory, goal, "trajectory")
        if isinstance(handle, ExecutionResult):
            return handle
        self._active = handle
        outcome = handle.get_result_async()

        def stopping() -> bool:
            return self._stop.is_set() or (should_stop is not None and should_stop())

        finished = wait_for(outcome, plan.duration + self.execution_timeout, stopping)
        if not finished:
            cancelled = stopping()
            handle.cancel_goal_async()
            wait_for(outcome, 5.0)
            self._active = None
            if cancelled:
                return ExecutionResult(
                    ExecutionOutcome.CANCELED, "the controller's goal was cancelled", 0.0, self._positions()
                )
            return ExecutionResult(
                ExecutionOutcome.ABORTED,
                f"no result within {plan.duration + self.execution_timeout:.1f} s (execution_timeout); goal cancelled",
                0.0,
                self._positions(),
            )
        self._active = None
        response = outcome.result()
        result = response.result
        status = {4: ExecutionOutcome.SUCCEEDED, 5: ExecutionOutcome.CANCELED}.get(
            response.status, ExecutionOutcome.ABORTED
        )
        if status is ExecutionOutcome.SUCCEEDED and result.error_code != 0:
            status = ExecutionOutcome.ABORTED
        message = result.error_string or (
            "" if status is ExecutionOutcome.SUCCEEDED else f"error code {result.error_code}"
        )
        return ExecutionResult(status, message, plan.duration, self._positions())

    def gripper(self, position: float, max_effort: float) -> GripperResult:
        goal = GripperCommand.Goal()
        goal.command.position, goal.command.max_effort = float(position), float(max_effort)
        handle = self._send(self._gripper, goal, "gripper")
        if isinstance(handle, ExecutionResult):
            raise RuntimeError(handle.message)
        outcome = handle.get_result_async()
        if not wait_for(outcome, self.execution_timeout):
            raise RuntimeError(f"the gripper gave no result within {self.execution_timeout} s")
        result = outcome.result().result
        return GripperResult(
            float(result.position), float(result.effort), bool(result.stalled), bool(result.reached_goal)
        )

    def stop(self) -> None:
        self._stop.set()
        if self._active is not None:
            self._active.cancel_goal_async()

    def _send(self, client: ActionClient, goal: Any, which: str) -> Any:
        name = self._names[which]
        if not client.wait_for_server(timeout_sec=self.server_timeout):
            return ExecutionResult(
                ExecutionOutcome.REJECTED, f"no {which} controller: action {name} is not served", 0.0, self._positions()
            )
        sent = client.send_goal_async(goal)
        if not wait_for(sent, self.server_timeout) or not sent.result().accepted:
            return ExecutionResult(ExecutionOutcome.REJECTED, f"{name} did not accept the goal", 0.0, self._positions())
        return sent.result()

    def _positions(self) -> np.ndarray:
        """The arm's joint positions from /joint_states (NaN where none arrived yet)."""
        current = self._current()
        return np.full(len(self.joint_names), np.nan) if current is None else current
