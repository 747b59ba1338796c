"""A client for users' scripts, in the style of nav2_simple_commander: ask VLA-R1, execute, pick.

    from vla_r1_ros.ros.commander import VlaR1Commander

    rclpy.init()
    robot = VlaR1Commander()
    answer = robot.reason("pick up the red block")          # vla_r1_ros/action/Reason's result
    outcome = robot.execute(answer.predictions[0].waypoints, grasp_at_end=True)
    robot.destroy_node()

By default the commander spins itself while it waits (a script's main thread). A program that
already spins its nodes on a background executor passes ``own_executor=False`` and adds the
commander to that executor; its waits then only wait.

``ros2 run vla_r1_ros pick "pick up the red block"`` is :func:`main`: both actions in a row,
the outcome printed, exit code 0 on success. Every wait has a timeout; a missing server, a
refused goal or a timeout raises :class:`CommanderError` with the reason.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import rclpy
import rclpy.utilities
from nav_msgs.msg import Path
from rclpy.action.client import ActionClient
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node

from vla_r1_ros.action import ExecuteWaypoints, Reason

__all__ = ["CommanderError", "VlaR1Commander", "OUTCOME_NAMES", "main"]

OUTCOME_NAMES = {
    getattr(ExecuteWaypoints.Result, name): name.removeprefix("OUTCOME_").lower()
    for name in dir(ExecuteWaypoints.Result)
    if name.startswith("OUTCOME_")
}


class CommanderError(RuntimeError):
    """A goal could not be sent or did not end in time; the message says which and why."""


class VlaR1Commander(Node):
    """Sends goals to ``vla_r1_node`` and ``vla_r1_executor`` and waits for their results."""

    def __init__(
        self,
        reason_action: str = "/vla_r1_node/reason",
        execute_action: str = "/vla_r1_executor/execute",
        node_name: str = "vla_r1_commander",
        own_executor: bool = True,
        server_timeout_s: float = 60.0,
        **node_options: Any,
    ) -> None:
        super().__init__(node_name, **node_options)
        self.reason_client = ActionClient(self, Reason, reason_action)
        self.execute_client = ActionClient(self, ExecuteWaypoints, execute_action)
        self.server_timeout_s = server_timeout_s  # how long a call waits for its action server to appear
        self._names = {id(self.reason_client): reason_action, id(self.execute_client): execute_action}
        #: The latest goal's feedback messages, each as (time.monotonic() on arrival, feedback).
        self.feedback: list[tuple[float, Any]] = []
        # Its own executor, on the node's context: waiting spins this node only. Without it, the
        # caller's executor spins the node and waiting only polls the futures.
        self._spinner: SingleThreadedExecutor | None = None
        if own_executor:
            self._spinner = SingleThreadedExecutor(context=self.context)
            self._spinner.add_node(self)

    def reason(self, instruction: str, task: str = "affordance", timeout_s: float = 120.0) -> Any:
        """Ask VLA-R1 about the newest camera frame; the Reason result (success, message, predictions)."""
        return self._run(self.reason_client, Reason.Goal(instruction=instruction, task=task), timeout_s)

    def execute(
        self,
        waypoints: Path,
        grasp_at_end: bool = False,
        dry_run: bool = False,
        velocity_scaling: float = 0.0,
        timeout_s: float = 300.0,
    ) -> Any:
        """Run waypoints through the executor (its checks, approval and backend); the ExecuteWaypoints result."""
        goal = ExecuteWaypoints.Goal(waypoints=waypoints, grasp_at_end=grasp_at_end, dry_run=dry_run)
        goal.velocity_scaling = goal.acceleration_scaling = float(velocity_scaling)
        return self._run(self.execute_client, goal, timeout_s)

    def pick(self, instruction: str, dry_run: bool = False, timeout_s: float = 300.0) -> tuple[Any, Any | None]:
        """Reason about an affordance, then grasp it: (Reason result, ExecuteWaypoints result or None)."""
        answer = self.reason(instruction, "affordance", timeout_s)
        lifted = [p for p in answer.predictions if p.has_affordance and p.waypoints.poses]
        if not answer.success or not lifted:
            return answer, None
        return answer, self.execute(lifted[0].waypoints, grasp_at_end=True, dry_run=dry_run, timeout_s=timeout_s)

    def _run(self, client: ActionClient, goal: Any, timeout_s: float) -> Any:
        name = self._names[id(client)]
        if not self._wait_for_server(client, self.server_timeout_s):
            raise CommanderError(f"no action server {name}: is the node running (ros2 action list)?")
        kept: list[tuple[float, Any]] = []  # this goal's own list: a late message of an earlier goal stays there
        self.feedback = kept
        sent = client.send_goal_async(
            goal, feedback_callback=lambda message: kept.append((time.monotonic(), message.feedback))
        )
        if not self.spin_until(sent, 30.0) or not sent.result().accepted:
            raise CommanderError(f"{name} did not accept the goal")
        result = sent.result().get_result_async()
        if not self.spin_until(result, timeout_s):
            sent.result().cancel_goal_async()
            raise CommanderError(f"{name} gave no result within {timeout_s:.0f} s; the goal was cancelled")
        return result.result().result

    def spin_until(self, future: Any, timeout_s: float) -> bool:
        """Wait (spinning this node if it has its own executor) until ``future`` is done or ``timeout_s`` passes."""
        if self._spinner is not None:
            self._spinner.spin_until_future_complete(future, timeout_sec=timeout_s)
            return bool(future.done())
        deadline = time.monotonic() + timeout_s
        while not future.done() and time.monotonic() < deadline:
            time.sleep(0.005)
        return bool(future.done())

    def spin_for(self, seconds: float) -> None:
        """Let this node's subscriptions run for ``seconds`` (spinning it if it has its own executor)."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if self._spinner is None:
                time.sleep(min(0.05, max(0.0, end - time.monotonic())))
            else:
                self._spinner.spin_once(timeout_sec=min(0.05, max(0.0, end - time.monotonic())))

    def _wait_for_server(self, client: ActionClient, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while not client.server_is_ready():
            if time.monotonic() > deadline:
                return False
            self.spin_for(0.1)
        return True

    def destroy_node(self) -> None:
        if self._spinner is not None:
            self._spinner.remove_node(self)
            self._spinner.shutdown()
        super().destroy_node()


def main(argv: list[str] | None = None) -> int:
    """``ros2 run vla_r1_ros pick "pick up the red block"``: reason, execute, print, exit 0 on success."""
    parser = argparse.ArgumentParser(prog="pick", description=main.__doc__)
    parser.add_argument("instruction", help='what to pick, e.g. "pick up the red block"')
    parser.add_argument("--dry-run", action="store_true", help="check and plan, never move")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds for each of the two goals")
    args = parser.parse_args(rclpy.utilities.remove_ros_args(sys.argv if argv is None else ["pick", *argv])[1:])
    rclpy.init()
    robot = VlaR1Commander(node_name="vla_r1_pick")
    try:
        answer, outcome = robot.pick(args.instruction, args.dry_run, args.timeout)
    except CommanderError as err:
        print(f"pick: {err}", file=sys.stderr)
        return 2
    finally:
        robot.destroy_node()
        if rclpy.utilities.ok():
            rclpy.shutdown()
    reasoning = " / ".join(p.reasoning for p in answer.predictions if p.reasoning)
    print(f"reasoning: {reasoning}")
    if outcome is None:
        print(f"outcome: no grasp to execute: {answer.message or 'the answer was not lifted'}")
        return 1
    name = OUTCOME_NAMES.get(outcome.outcome, str(outcome.outcome))
    print(f"outcome: {name}" + (f": {outcome.reason}" if outcome.reason else ""))
    print(f"waypoints reached: {outcome.waypoints_reached}, planned fraction {outcome.planned_fraction:.2f}")
    return (
        0
        if outcome.outcome in (ExecuteWaypoints.Result.OUTCOME_SUCCEEDED, ExecuteWaypoints.Result.OUTCOME_DRY_RUN_OK)
        else 1
    )


if __name__ == "__main__":
    raise SystemExit(main())
