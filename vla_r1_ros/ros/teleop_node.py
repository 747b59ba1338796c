"""``vla_r1_teleop``: a gamepad, SpaceMouse or keyboard to MoveIt Servo's twist commands and the gripper.

* input ``joy``: subscribes ``joy_topic`` (``sensor_msgs/Joy``) and maps it with ``profile``
  (``xbox``: an Xbox controller or a Logitech F710 in XInput mode through ``ros2 run joy
  game_controller_node``, hold LB to move; ``spacemouse``: ``ros2 run spacenav spacenav`` on
  ``/spacenav/joy``); the button layouts are in :mod:`vla_r1_ros.core.teleop`.
* input ``keyboard``: reads keys from this process's terminal (``ros2 run vla_r1_ros
  vla_r1_teleop --ros-args -p input:=keyboard``): w/s a/d r/f move along x/y/z, q/e yaw, space
  stops, c closes and o opens the gripper. A key keeps moving for ``key_hold`` seconds, which
  bridges the terminal's auto-repeat delay.
* output: ``geometry_msgs/TwistStamped`` in ``frame_id`` on ``twist_topic`` (MoveIt Servo's
  ``~/delta_twist_cmds``, ``command_in_type: speed_units``) at ``publish_rate`` while the input asks
  for motion, then one zero twist; nothing while idle, so Servo (and the simulated arm) stops
  after its own timeout if this node dies. Input older than ``input_timeout`` counts as released.
* the gripper: a ``control_msgs/GripperCommand`` goal to ``gripper_action`` on each press of the
  close or open button.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

from control_msgs.action import GripperCommand
from geometry_msgs.msg import TwistStamped
from rclpy.action.client import ActionClient
from rclpy.node import Node
from sensor_msgs.msg import Joy

from vla_r1_ros.core.teleop import (
    PROFILES,
    GripperRequest,
    TeleopScales,
    TwistCommand,
    gripper_request,
    joy_twist,
    key_command,
)
from vla_r1_ros.ros.node_main import run_node
from vla_r1_ros.ros.parameters import DOUBLE, STRING, ParameterTable, declare_table
from vla_r1_ros.ros.phase_events import PhaseEvents

__all__ = ["PARAMETERS", "TeleopNode", "main"]

PARAMETERS: ParameterTable = {
    "input": ("joy", STRING, "joy (a sensor_msgs/Joy topic) or keyboard (this process's terminal)"),
    "profile": ("xbox", STRING, "Joy layout: xbox (game_controller_node; also a Logitech F710 in XInput mode) "
                "or spacemouse (spacenav)"),
    "joy_topic": ("/joy", STRING, "the Joy topic (spacenav publishes /spacenav/joy)"),
    "twist_topic": ("/servo_node/delta_twist_cmds", STRING, "where twists go (MoveIt Servo's delta_twist_cmds)"),
    "frame_id": ("panda_link0", STRING, "frame of the twists: the robot's base or its end-effector frame"),
    "publish_rate": (50.0, DOUBLE, "twists per second while the input asks for motion"),
    "input_timeout": (0.5, DOUBLE, "seconds without a Joy message after which the input counts as released"),
    "key_hold": (0.6, DOUBLE, "seconds one key press keeps moving (the terminal repeats a held key after ~0.5 s)"),
    "linear_scale": (0.1, DOUBLE, "tool speed (m/s) at full deflection"),
    "angular_scale": (0.5, DOUBLE, "tool rotation (rad/s) at full deflection"),
    "deadband": (0.1, DOUBLE, "axis deflection (fraction of full) that counts as zero"),
    "fine_scale": (0.25, DOUBLE, "speed factor while the profile's fine button is held"),
    "gripper_action": ("/panda_hand_controller/gripper_cmd", STRING, "GripperCommand action of the hand"),
    "gripper_open": (0.04, DOUBLE, "finger position (m) the open button asks for"),
    "gripper_close": (0.0, DOUBLE, "finger position (m) the close button asks for"),
    "gripper_max_effort": (20.0, DOUBLE, "grasp force (N)"),
}  # fmt: skip


class TeleopNode(Node):
    """Joy or keyboard input to TwistStamped and GripperCommand (see the module docstring)."""

    def __init__(self, **node_options: Any) -> None:
        super().__init__("vla_r1_teleop", **node_options)
        value = declare_table(self, PARAMETERS)
        self.input, self.frame_id = str(value["input"]), str(value["frame_id"])
        if self.input not in ("joy", "keyboard"):
            raise ValueError(f"parameter input must be joy or keyboard, got {self.input!r}")
        if value["profile"] not in PROFILES:
            raise ValueError(f"parameter profile must be one of {', '.join(PROFILES)}, got {value['profile']!r}")
        if not (float(value["publish_rate"]) > 0.0 and float(value["input_timeout"]) > 0.0):
            raise ValueError("parameters publish_rate and input_timeout must be > 0")
        self.profile = PROFILES[str(value["profile"])]
        self.scales = TeleopScales(
            float(value["linear_scale"]), float(value["angular_scale"]), float(value["deadband"]),
            float(value["fine_scale"]),
        )  # fmt: skip
        self._timeout = float(value["input_timeout"]) if self.input == "joy" else float(value["key_hold"])
        self._gripper = tuple(float(value[k]) for k in ("gripper_open", "gripper_close", "gripper_max_effort"))
        self._latest, self._latest_at = TwistCommand.zero(), 0.0
        self._buttons: list[int] = []
        self._moving = False
        self._twist_pub = self.create_publisher(TwistStamped, str(value["twist_topic"]), 10)
        self.events = PhaseEvents(self)  # executing while the input asks for motion; gripper while it moves
        self._gripper_client = ActionClient(self, GripperCommand, str(value["gripper_action"]))
        if self.input == "joy":
            self.create_subscription(Joy, str(value["joy_topic"]), self._on_joy, 10)
        else:
            self._keys = _KeyboardReader(self._on_key)
        self.create_timer(1.0 / float(value["publish_rate"]), self._publish)
        where = value["joy_topic"] if self.input == "joy" else "this terminal"
        self.get_logger().info(f"vla_r1_teleop: {self.input} ({self.profile.name if self.input == 'joy' else 'keys'}) "
                               f"from {where} to {value['twist_topic']} in {self.frame_id}")  # fmt: skip

    def _on_joy(self, message: Joy) -> None:
        buttons = list(message.buttons)
        self._set(joy_twist(self.profile, list(message.axes), buttons, self.scales))
        request = gripper_request(self.profile, self._buttons, buttons)
        self._buttons = buttons
        if request is not None:
            self.grip(request)

    def _on_key(self, key: str) -> None:
        command = key_command(key, self.scales)
        if isinstance(command, GripperRequest):
            self.grip(command)
        elif command is not None:
            self._set(command)

    def _set(self, command: TwistCommand) -> None:
        self._latest, self._latest_at = command, time.monotonic()

    def current(self) -> TwistCommand:
        """The twist the input asks for now (zero once the input is older than the timeout)."""
        if time.monotonic() - self._latest_at > self._timeout:
            return TwistCommand.zero()
        return self._latest

    def _publish(self) -> None:
        command = self.current()
        if command.is_zero and not self._moving:
            return
        self._moving = not command.is_zero
        if self._moving:
            self.events.start("executing", "teleop")
        elif self.events.open == "executing":
            self.events.end()
        message = TwistStamped()
        message.header.stamp, message.header.frame_id = self.get_clock().now().to_msg(), self.frame_id
        t = message.twist
        t.linear.x, t.linear.y, t.linear.z = (float(v) for v in command.linear)
        t.angular.x, t.angular.y, t.angular.z = (float(v) for v in command.angular)
        self._twist_pub.publish(message)

    def grip(self, request: GripperRequest) -> None:
        """Send the gripper goal (not waited for: the operator keeps control meanwhile)."""
        opened, closed, effort = self._gripper
        if not self._gripper_client.server_is_ready():
            self.get_logger().warning("no gripper action server: is the arm's gripper controller running?")
            return
        goal = GripperCommand.Goal()
        goal.command.position, goal.command.max_effort = (closed if request.close else opened), effort
        self.events.start("gripper", "close" if request.close else "open")
        self._gripper_client.send_goal_async(goal).add_done_callback(self._on_gripper_accepted)
        self.get_logger().info("gripper: " + ("close" if request.close else "open"))

    def _on_gripper_accepted(self, sent: Any) -> None:
        sent.result().get_result_async().add_done_callback(lambda _done: self._gripper_done())

    def _gripper_done(self) -> None:
        if self.events.open == "gripper":
            self.events.end()

    def destroy_node(self) -> None:
        if self.input == "keyboard":
            self._keys.close()
        self._gripper_client.destroy()
        super().destroy_node()


class _KeyboardReader:
    """Reads single keys from the terminal in cbreak mode on a daemon thread; ``close`` restores the terminal."""

    def __init__(self, on_key: Any) -> None:
        import termios
        import tty

        if not sys.stdin.isatty():
            raise ValueError("input:=keyboard needs a terminal: run `ros2 run vla_r1_ros vla_r1_teleop "
                             "--ros-args -p input:=keyboard` in its own terminal (not from a launch file)")  # fmt: skip
        self._fd = sys.stdin.fileno()
        self._saved = termios.tcgetattr(self._fd)
        self._termios = termios
        tty.setcbreak(self._fd)
        self._on_key = on_key
        self._closed = threading.Event()
        threading.Thread(target=self._read, name="vla_r1_teleop_keys", daemon=True).start()
        print("keys: w/s x, a/d y, r/f z, q/e yaw, space stop, c close, o open (Ctrl-C quits)", file=sys.stderr)

    def _read(self) -> None:
        import select

        while not self._closed.is_set():
            ready, _, _ = select.select([self._fd], [], [], 0.1)
            if ready:
                self._on_key(sys.stdin.read(1))

    def close(self) -> None:
        self._closed.set()
        self._termios.tcsetattr(self._fd, self._termios.TCSADRAIN, self._saved)


def main(args: list[str] | None = None) -> None:
    run_node(TeleopNode, args)


if __name__ == "__main__":
    main()
