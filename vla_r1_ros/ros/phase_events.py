"""``~/events`` for nodes other than the executor: ExecutionEvents marking what an operator (or a recorder) did.

``vla-r1 compare-runs`` splits a run's time by these phases (``executing`` counts as motion,
``gripper`` too) and takes a run's window from the ``run`` phase; the recorder records every
node's ``~/events``. The executor publishes its own (``WaypointExecutorNode.event``).
"""

from __future__ import annotations

from rclpy.node import Node

from vla_r1_ros.msg import ExecutionEvent

__all__ = ["PhaseEvents"]


class PhaseEvents:
    """A ``~/events`` publisher of ``node`` and the phase it has open (so a phase is ended exactly once)."""

    def __init__(self, node: Node, goal_id: str = "") -> None:
        self.node, self.goal_id = node, goal_id
        self.publisher = node.create_publisher(ExecutionEvent, "~/events", 50)
        self.open: str | None = None

    def emit(self, phase: str, outcome: str, detail: str = "", stamp: float | None = None) -> ExecutionEvent:
        """Publish one event (stamped now, or at ``stamp`` seconds of the node's clock); returns it."""
        message = ExecutionEvent(goal_id=self.goal_id, phase=phase, outcome=outcome, detail=detail[:500])
        nanoseconds = self.node.get_clock().now().nanoseconds if stamp is None else round(stamp * 1e9)
        seconds, rest = divmod(int(nanoseconds), 1_000_000_000)
        message.header.stamp.sec, message.header.stamp.nanosec = seconds, rest
        self.publisher.publish(message)
        return message

    def start(self, phase: str, detail: str = "") -> None:
        """Open ``phase`` (ending the one open, if another)."""
        if self.open == phase:
            return
        self.end()
        self.open = phase
        self.emit(phase, "started", detail)

    def end(self, outcome: str = "succeeded", detail: str = "") -> None:
        """End the open phase, if any."""
        if self.open is not None:
            self.emit(self.open, outcome, detail)
            self.open = None
