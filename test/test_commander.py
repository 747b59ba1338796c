"""VlaR1Commander, the users' client facade, against stand-in action servers (real rclpy, loopback).

The whole loop through the real nodes is test_sim_stack.py's; here each way a call can end:
a result, no server, a refused goal, no result in time (the goal is then cancelled), and both
ways of spinning (its own executor, or the caller's).
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

pytestmark = pytest.mark.usefixtures("ros_sandbox")


@pytest.fixture
def server_node() -> Any:
    """A node for the stand-in servers, on a multi-threaded executor (a held goal blocks one thread)."""
    import rclpy
    from ros_support import ros_context, spinning

    with ros_context() as context:
        node = rclpy.create_node("commander_test_servers", context=context)
        with spinning(context, node, threads=4):
            yield node
        node.destroy_node()


def _reason_server(node: Any, name: str, *, accept: bool = True, hold_s: float = 0.0) -> Any:
    from rclpy.action import ActionServer, CancelResponse, GoalResponse
    from vla_r1_ros.action import Reason

    cancelled = threading.Event()

    def execute(goal_handle: Any) -> Any:
        goal_handle.publish_feedback(Reason.Feedback(stage_name="generating", elapsed=0.0))
        deadline = time.monotonic() + hold_s
        while time.monotonic() < deadline:
            if goal_handle.is_cancel_requested:
                cancelled.set()
                goal_handle.canceled()
                return Reason.Result(success=False, message="cancelled")
            time.sleep(0.01)
        goal_handle.succeed()
        return Reason.Result(success=True, message=f"answered {goal_handle.request.instruction!r}")

    server = ActionServer(
        node,
        Reason,
        name,
        execute,
        goal_callback=lambda _goal: GoalResponse.ACCEPT if accept else GoalResponse.REJECT,
        cancel_callback=lambda _goal: CancelResponse.ACCEPT,
    )
    server.cancelled = cancelled  # type: ignore[attr-defined]
    return server


@pytest.mark.parametrize("own_executor", [True, False])
def test_reason_returns_the_result_and_its_feedback(server_node: Any, own_executor: bool) -> None:
    from ros_support import spinning

    from vla_r1_ros.ros.commander import VlaR1Commander

    server = _reason_server(server_node, "/commander_test/reason")
    robot = VlaR1Commander(
        reason_action="/commander_test/reason", context=server_node.context, own_executor=own_executor
    )
    try:
        if own_executor:
            result = robot.reason("pick up the red block", timeout_s=10.0)
        else:  # the caller's executor spins the commander; its calls only wait
            with spinning(server_node.context, robot):
                result = robot.reason("pick up the red block", timeout_s=10.0)
        assert result.success and result.message == "answered 'pick up the red block'"
        assert [message.stage_name for _, message in robot.feedback] == ["generating"]
    finally:
        robot.destroy_node()
        server.destroy()


def test_missing_server_refused_goal_and_timeout_raise_with_the_reason(server_node: Any) -> None:
    from vla_r1_ros.ros.commander import CommanderError, VlaR1Commander

    refusing = _reason_server(server_node, "/commander_test/refusing", accept=False)
    slow = _reason_server(server_node, "/commander_test/slow", hold_s=30.0)
    robots = [
        VlaR1Commander(
            reason_action=name, node_name=f"commander_{i}", context=server_node.context, server_timeout_s=1.0
        )
        for i, name in enumerate(["/commander_test/nobody", "/commander_test/refusing", "/commander_test/slow"])
    ]
    try:
        started = time.monotonic()
        with pytest.raises(CommanderError, match="no action server /commander_test/nobody"):
            robots[0].reason("pick up the red block")
        assert time.monotonic() - started < 5.0, "the server wait is bounded by server_timeout_s"
        with pytest.raises(CommanderError, match="/commander_test/refusing did not accept the goal"):
            robots[1].reason("pick up the red block")
        with pytest.raises(CommanderError, match="gave no result within 1 s; the goal was cancelled"):
            robots[2].reason("pick up the red block", timeout_s=1.0)
        robots[2].spin_for(0.5)  # the cancel request goes out
        assert slow.cancelled.wait(5.0), "the timed-out goal was not cancelled on the server"
    finally:
        for robot in robots:
            robot.destroy_node()
        refusing.destroy()
        slow.destroy()
