"""``scripted_operator``: a simulated person teleoperating a pick through MoveIt Servo's twist topic.

    ros2 run vla_r1_ros scripted_operator "pick up the red circle" [--seed 3]

Stands in for an operator with a SpaceMouse (tests, demos, the simulated study): it finds the
named object among the simulated arm's ``~/objects`` markers (the scene's truth, what a person
would see), reads the tool centre point from tf, and picks with
:func:`~vla_r1_ros.sim.teleop_operator.scripted_pick`: human-like reaches sent as
``geometry_msgs/TwistStamped`` on ``twist_topic`` at ``rate_hz`` (what a device and the teleop
node would send), the gripper through its ``control_msgs/GripperCommand`` action. Prints what it
did as JSON; exit 0 when every reach ended within the tolerance.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from dataclasses import replace
from typing import Any

import numpy as np
import rclpy
import rclpy.utilities
from control_msgs.action import GripperCommand
from geometry_msgs.msg import TwistStamped
from rclpy.action.client import ActionClient
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile
from rclpy.time import Time
from sensor_msgs.msg import JointState
from tf2_ros import Buffer, TransformException, TransformListener
from visualization_msgs.msg import MarkerArray

from vla_r1_ros.core.runs.operator import OperatorSettings
from vla_r1_ros.ros.parameters import DOUBLE, INT, STRING, ParameterTable, declare_table
from vla_r1_ros.ros.phase_events import PhaseEvents
from vla_r1_ros.sim.teleop_operator import TeleopPickReport, TeleopPickSettings, scripted_pick

__all__ = ["PARAMETERS", "OperatorError", "ScriptedOperatorNode", "main"]

PARAMETERS: ParameterTable = {
    "twist_topic": ("/servo_node/delta_twist_cmds", STRING, "where the operator's twists go (MoveIt Servo's topic)"),
    "base_frame": ("panda_link0", STRING, "frame of the twists and of the object markers"),
    "tool_frame": ("panda_grasptarget", STRING, "the tool centre point's frame (read from tf)"),
    "objects_topic": ("/sim_arm/objects", STRING, "the scene's objects (MarkerArray, one namespace per object name)"),
    "gripper_action": ("/panda_hand_controller/gripper_cmd", STRING, "GripperCommand action of the hand"),
    "seed": (0, INT, "seed of the operator's noise and timing"),
    "rate_hz": (50.0, DOUBLE, "twists per second (an input device's rate)"),
    "peak_speed": (0.15, DOUBLE, "peak tool speed (m/s) of the operator's main reaches"),
    "approach_height": (0.08, DOUBLE, "where the operator stops above the object's top (m) before descending"),
    "grasp_depth": (0.02, DOUBLE, "how far below the object's top (m) the fingers close"),
    "lift_height": (0.1, DOUBLE, "how far the operator lifts (m)"),
    "servo_timeout": (0.1, DOUBLE, "seconds the arm takes to stop once twists stop (the servo's timeout and more)"),
}  # fmt: skip


class OperatorError(RuntimeError):
    """The operator cannot act: no such object, no tool pose, no gripper; the message says which."""


class ScriptedOperatorNode(Node):
    """The scripted operator (see the module docstring); :meth:`pick` blocks, so spin the node on another thread."""

    def __init__(self, **node_options: Any) -> None:
        super().__init__("scripted_operator", **node_options)
        value = declare_table(self, PARAMETERS)
        self.base_frame, self.tool_frame = str(value["base_frame"]), str(value["tool_frame"])
        self.seed, self.servo_timeout = int(value["seed"]), float(value["servo_timeout"])
        reach = OperatorSettings(rate_hz=float(value["rate_hz"]), peak_speed=float(value["peak_speed"]))
        defaults = TeleopPickSettings()
        self.settings = TeleopPickSettings(
            reach=reach, correction=replace(defaults.correction, rate_hz=reach.rate_hz),
            approach_height=float(value["approach_height"]), grasp_depth=float(value["grasp_depth"]),
            lift_height=float(value["lift_height"]),
        )  # fmt: skip
        self._objects: dict[str, np.ndarray] = {}
        self._speed = np.inf
        self._until = 0.0
        self._twist_pub = self.create_publisher(TwistStamped, str(value["twist_topic"]), 10)
        self.events = PhaseEvents(self)  # executing while it sends twists, gripper while the fingers move
        latched = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.create_subscription(MarkerArray, str(value["objects_topic"]), self._on_objects, latched)
        self.create_subscription(JointState, "/joint_states", self._on_joint_state, 10)
        self._gripper = ActionClient(self, GripperCommand, str(value["gripper_action"]))
        self._tf = Buffer()
        self._tf_listener = TransformListener(self._tf, self, spin_thread=False)

    def _on_objects(self, message: MarkerArray) -> None:
        self._objects = {
            m.ns: np.array([m.pose.position.x, m.pose.position.y, m.pose.position.z + m.scale.z / 2])
            for m in message.markers
        }

    def _on_joint_state(self, message: JointState) -> None:
        self._speed = float(np.abs(np.asarray(message.velocity[:7])).max()) if len(message.velocity) >= 7 else np.inf

    # ------------------------------------------------------------------ what the operator sees
    def object_top(self, instruction: str, timeout_s: float = 5.0) -> np.ndarray:
        """The top centre of the one object the instruction names (OperatorError if not exactly one)."""
        deadline = time.monotonic() + timeout_s
        while not self._objects and time.monotonic() < deadline:
            time.sleep(0.05)
        named = [name for name in self._objects if name in instruction.lower()]
        if len(named) != 1:
            raise OperatorError(f"{instruction!r} names {len(named)} of the objects {sorted(self._objects)}, not one")
        return self._objects[named[0]]

    def tool_position(self) -> np.ndarray:
        try:
            stamped = self._tf.lookup_transform(self.base_frame, self.tool_frame, Time())
        except TransformException as err:
            raise OperatorError(f"no tool pose {self.base_frame} -> {self.tool_frame}: {err}") from None
        t = stamped.transform.translation
        return np.array([t.x, t.y, t.z])

    # ------------------------------------------------------------------ what the operator does
    def send(self, linear: np.ndarray, period: float) -> None:
        self.events.start("executing", "teleop")
        now = time.monotonic()
        if now > self._until + period:  # after a pause (settling, the gripper) the schedule restarts
            self._until = now
        self._until += period
        message = TwistStamped()
        message.header.stamp, message.header.frame_id = self.get_clock().now().to_msg(), self.base_frame
        message.twist.linear.x, message.twist.linear.y, message.twist.linear.z = (float(v) for v in linear)
        self._twist_pub.publish(message)
        time.sleep(max(0.0, self._until - time.monotonic()))

    def settle(self) -> None:
        self.events.end()
        time.sleep(self.servo_timeout)
        deadline = time.monotonic() + 1.0
        while self._speed > 0.01 and time.monotonic() < deadline:
            time.sleep(0.02)

    def gripper(self, position: float, max_effort: float) -> None:
        if not self._gripper.wait_for_server(timeout_sec=5.0):
            raise OperatorError("no gripper action server: is the arm's gripper controller running?")
        goal = GripperCommand.Goal()
        goal.command.position, goal.command.max_effort = float(position), float(max_effort)
        self.events.start("gripper", f"to {position:g} m")
        done = threading.Event()
        self._gripper.send_goal_async(goal).add_done_callback(
            lambda sent: sent.result().get_result_async().add_done_callback(lambda _r: done.set())
        )
        if not done.wait(15.0):
            self.events.end("failed", "no result within 15 s")
            raise OperatorError("the gripper did not finish within 15 s")
        self.events.end()

    def pick(self, instruction: str, seed: int | None = None, wait_s: float = 5.0) -> TeleopPickReport:
        """Teleoperate a pick of the object ``instruction`` names; blocks until lifted. Waits up to ``wait_s``
        for the scene's objects and the tool's pose (the simulated arm may still be starting)."""
        top = self.object_top(instruction, wait_s)
        deadline = time.monotonic() + wait_s
        while True:
            try:
                self.tool_position()
                break
            except OperatorError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        return scripted_pick(self, top, self.seed if seed is None else seed, self.settings)


def main(argv: list[str] | None = None) -> int:
    """``ros2 run vla_r1_ros scripted_operator "pick up the red circle"``: teleoperate one pick, print what it did."""
    parser = argparse.ArgumentParser(prog="scripted_operator", description=main.__doc__)
    parser.add_argument("instruction", help='what to pick, e.g. "pick up the red circle"')
    parser.add_argument("--seed", type=int, default=None, help="the operator's seed (default: the seed parameter)")
    parser.add_argument("--wait", type=float, default=30.0, help="seconds to wait for the scene and the arm's tf")
    raw = sys.argv if argv is None else ["scripted_operator", *argv]
    args = parser.parse_args(rclpy.utilities.remove_ros_args(raw)[1:])
    rclpy.init(args=raw)
    node = ScriptedOperatorNode()
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    try:
        report = node.pick(args.instruction, args.seed, args.wait)
    except OperatorError as err:
        print(f"scripted_operator: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    finally:
        executor.shutdown(timeout_sec=2.0)
        spinner.join(timeout=5.0)
        node.destroy_node()
        if rclpy.utilities.ok():
            rclpy.shutdown()
    errors = [round(e, 4) for e in report.errors]
    done = {"reach_errors_m": errors, "corrections": report.corrections, "commands": report.commands + report.steering}
    print(json.dumps(done))
    return 0 if max(report.errors) <= node.settings.tolerance else 1


if __name__ == "__main__":
    raise SystemExit(main())
