"""Calling ROS actions and services from a goal's worker thread, and the gripper both backends drive.

The executor's goals run on threads the executor does not spin: they send a goal, then wait on
its futures with a timeout (and, while an arm moves, a stop check), while other threads spin.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from control_msgs.action import GripperCommand
from rclpy.action.client import ActionClient
from rclpy.node import Node

from vla_r1_ros.core.execution.types import ExecutionOutcome, ExecutionResult, GripperResult
from vla_r1_ros.ros.motion_messages import wait_for

__all__ = ["ActionCallError", "GoalEnd", "MotionGoal", "send_goal", "await_goal", "call_service", "GripperClient"]


class ActionCallError(RuntimeError):
    """A server is missing, refused the goal, or gave no answer in time; the message says which."""


def send_goal(client: ActionClient, name: str, goal: Any, server_timeout: float) -> Any:
    """The accepted goal's handle; ActionCallError when the server is missing or refuses."""
    if not client.wait_for_server(timeout_sec=server_timeout):
        raise ActionCallError(f"action {name} is not served (is its node running?)")
    sent = client.send_goal_async(goal)
    if not wait_for(sent, server_timeout):
        raise ActionCallError(f"action {name} did not answer the goal within {server_timeout:g} s")
    handle = sent.result()
    if not handle.accepted:
        raise ActionCallError(f"action {name} refused the goal")
    return handle


@dataclass(frozen=True)
class GoalEnd:
    """How a goal that moves something ended: ``status`` (action_msgs GoalStatus: 4 succeeded,
    5 canceled, 6 aborted; 0 when it gave no result), its result message, and whether we stopped it."""

    status: int
    result: Any
    stopped: bool
    timed_out: bool


def await_goal(handle: Any, timeout: float, should_stop: Callable[[], bool]) -> GoalEnd:
    """Wait for a goal's result; cancel it when ``should_stop()`` turns true or ``timeout`` passes."""
    outcome = handle.get_result_async()
    if wait_for(outcome, timeout, should_stop):
        response = outcome.result()
        return GoalEnd(int(response.status), response.result, False, False)
    stopped = should_stop()
    handle.cancel_goal_async()
    wait_for(outcome, 5.0)  # the server's hold/stop and its result
    response = outcome.result() if outcome.done() else None
    return GoalEnd(int(response.status) if response else 0, response.result if response else None, stopped, not stopped)


class MotionGoal:
    """A backend's one running motion goal: sent, watched for a stop, cancelled, timed out.

    ``positions()`` gives the arm's joints (for the result); ``interpret(end)`` turns a finished
    goal's :class:`GoalEnd` into the outcome and message the backend's server meant.
    """

    def __init__(
        self,
        client: ActionClient,
        name: str,
        execution_timeout: float,
        server_timeout: float,
        positions: Callable[[], np.ndarray],
    ) -> None:
        self.client, self.name = client, name
        self.execution_timeout, self.server_timeout = execution_timeout, server_timeout
        self.positions = positions
        self._stop = threading.Event()
        self._active: Any = None

    def run(
        self,
        goal: Any,
        duration: float,
        should_stop: Callable[[], bool] | None,
        interpret: Callable[[GoalEnd], tuple[ExecutionOutcome, str]],
    ) -> ExecutionResult:
        self._stop.clear()
        try:
            handle = send_goal(self.client, self.name, goal, self.server_timeout)
        except ActionCallError as err:
            return ExecutionResult(ExecutionOutcome.REJECTED, str(err), 0.0, self.positions())
        self._active = handle

        def stopping() -> bool:
            return self._stop.is_set() or (should_stop is not None and should_stop())

        timeout = duration + self.execution_timeout
        try:
            end = await_goal(handle, timeout, stopping)
        finally:
            self._active = None
        if end.stopped:
            return ExecutionResult(ExecutionOutcome.CANCELED, f"{self.name} was cancelled", 0.0, self.positions())
        if end.timed_out:
            reason = f"no result from {self.name} within {timeout:.1f} s (execution_timeout); the goal was cancelled"
            return ExecutionResult(ExecutionOutcome.ABORTED, reason, 0.0, self.positions())
        outcome, message = interpret(end)
        return ExecutionResult(outcome, message, duration, self.positions())

    def stop(self) -> None:
        """Cancel the running goal now (callable from any thread)."""
        self._stop.set()
        if self._active is not None:
            self._active.cancel_goal_async()


def call_service(client: Any, name: str, request: Any, timeout: float) -> Any:
    """The service's response; ActionCallError when it is missing or silent."""
    if not client.wait_for_service(timeout_sec=min(timeout, 5.0)):
        raise ActionCallError(f"service {name} is not served (is its node running?)")
    future = client.call_async(request)
    if not wait_for(future, timeout):
        raise ActionCallError(f"service {name} gave no response within {timeout:g} s")
    return future.result()


class GripperClient:
    """control_msgs/GripperCommand: move the fingers, wait for the controller's result."""

    def __init__(self, node: Node, action: str, timeout: float, server_timeout: float = 5.0) -> None:
        self.action, self.timeout, self.server_timeout = action, timeout, server_timeout
        self._client = ActionClient(node, GripperCommand, action)

    def move(self, position: float, max_effort: float) -> GripperResult:
        goal = GripperCommand.Goal()
        goal.command.position, goal.command.max_effort = float(position), float(max_effort)
        handle = send_goal(self._client, self.action, goal, self.server_timeout)
        outcome = handle.get_result_async()
        if not wait_for(outcome, self.timeout):
            handle.cancel_goal_async()
            raise ActionCallError(f"the gripper ({self.action}) gave no result within {self.timeout:g} s")
        result = outcome.result().result
        return GripperResult(
            float(result.position), float(result.effort), bool(result.stalled), bool(result.reached_goal)
        )
