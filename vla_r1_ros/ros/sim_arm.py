"""``sim_arm``: a simulated Franka Panda on a table, with a camera, behind ROS 2 controller interfaces.

pybullet runs the Panda (pybullet_data's URDF), a table and the seeded objects of a pick scene
(the training vocabulary's colours and shapes). It looks to ROS like a Panda driven by
ros2_control with a camera on a fixed mount:

* ``/joint_states`` (arm and fingers) and ``/tf`` (every link, as robot_state_publisher does); the
  URDF on ``/robot_description`` (transient local) for RViz's RobotModel; the camera's mount on
  ``/tf_static``;
* registered RGB-D + CameraInfo on ``/<camera_namespace>/color/image_raw``,
  ``.../aligned_depth_to_color/image_raw`` and ``.../color/camera_info`` (the reasoning node's
  defaults);
* ``/<arm_controller>/follow_joint_trajectory`` (control_msgs/FollowJointTrajectory), followed like
  a joint_trajectory_controller (cancel holds the arm where it is), and
  ``/<gripper_controller>/gripper_cmd`` (control_msgs/GripperCommand);
* ``~/objects`` (MarkerArray): the objects' true poses and names; ``~/reset`` (std_srvs/Trigger):
  a new scene from the ``seed`` parameter (its instruction comes back in the message);
* teleop: ``geometry_msgs/TwistStamped`` end-effector velocities on MoveIt Servo's topic
  (``servo_twist_topic``), followed by a Cartesian velocity controller
  (:class:`~vla_r1_ros.sim.servo.CartesianServo`) inside the executor's workspace limits; the
  gripper through the same GripperCommand action.

The world is stepped by one thread only, in real time (``realtime``), whatever ROS asks for:
controller goals and resets are queued to it and their callers wait for the result. Physics
decides whether a grasp holds. Joint states, /tf and camera frames are stamped with the wall-clock
time their simulated time was due (one pacer for the idle loop and every goal), as a driver stamps
the time a sample was taken: differentiating /joint_states gives the simulated speeds.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from builtin_interfaces.msg import Time as TimeMsg
from control_msgs.action import FollowJointTrajectory, GripperCommand
from geometry_msgs.msg import TransformStamped, TwistStamped
from rclpy.action.server import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, qos_profile_sensor_data
from rclpy.time import Time
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import ColorRGBA, String
from std_srvs.srv import Trigger
from tf2_msgs.msg import TFMessage
from visualization_msgs.msg import Marker, MarkerArray

from vla_r1_ros.core.execution.types import ExecutionOutcome
from vla_r1_ros.core.geometry import SafetyLimits
from vla_r1_ros.ros.node_main import run_node
from vla_r1_ros.ros.parameters import BOOL, DOUBLE, DOUBLES, INT, STRING, ParameterTable, declare_table
from vla_r1_ros.ros.sim_camera import broadcast_static_pose, scene_messages
from vla_r1_ros.ros.tf_adapter import transform_from_matrix
from vla_r1_ros.sim.pacing import RealtimePacer, sample_stamp_ns
from vla_r1_ros.sim.panda import PandaWorld
from vla_r1_ros.sim.panda_control import ControllerSettings, follow_trajectory, move_gripper
from vla_r1_ros.sim.panda_model import HAND_LINK_NAME, JOINT_NAMES, panda_urdf_text
from vla_r1_ros.sim.servo import CartesianServo, LatestTwist, ServoCommand, ServoSettings

__all__ = ["SimArmNode", "main"]

BASE_FRAME = "panda_link0"
CAMERA_FRAME = "camera_color_optical_frame"
TOOL_FRAMES = (HAND_LINK_NAME, "panda_grasptarget")  # twists in these frames turn with the hand


@dataclass
class _Job:
    """Work for the simulation thread; the caller waits on ``done``."""

    run: Callable[[PandaWorld], Any]
    done: threading.Event = field(default_factory=threading.Event)
    result: Any = None
    error: BaseException | None = None


#: Seconds the physics may fall behind the wall clock and catch up (a busy machine, a slow render):
#: the servo's twists then move the arm as far as they asked. A longer stall is dropped, not raced,
#: so a sample's stamp (when its simulated time was due) is never more than this old.
MAX_LAG = 0.5
#: Seconds the physics loop waits for a job between steps however late it is (a late loop catches
#: up at under twice real time).
MIN_YIELD = 0.004

PARAMETERS: ParameterTable = {
    "seed": (0, INT, "scene seed (objects, colours, places); ~/reset rebuilds the scene from it"),
    "camera_rate": (5.0, DOUBLE, "RGB-D frames per second (each costs a software render)"),
    "joint_state_rate": (100.0, DOUBLE, "joint states and /tf per second"),
    "realtime": (True, BOOL, "pace physics to the wall clock (false: as fast as it goes)"),
    "camera_namespace": ("camera", STRING, "namespace of the camera topics"),
    "arm_controller": ("panda_arm_controller", STRING, "namespace of the FollowJointTrajectory action"),
    "gripper_controller": ("panda_hand_controller", STRING, "namespace of the GripperCommand action"),
}
_LIMITS = SafetyLimits()
#: The teleop servo's parameters (config/sim_arm_servo.yaml); the workspace names and defaults are the executor's.
SERVO_PARAMETERS: ParameterTable = {
    "servo_twist_topic": ("/servo_node/delta_twist_cmds", STRING, "TwistStamped tool velocities (MoveIt Servo's)"),
    "servo_command_timeout": (0.05, DOUBLE, "seconds after which a twist no longer moves the arm"),
    "servo_max_linear_speed": (0.25, DOUBLE, "fastest tool speed (m/s) the servo follows; faster twists are scaled"),
    "servo_max_angular_speed": (1.0, DOUBLE, "fastest tool rotation (rad/s) the servo follows"),
    "workspace_min": (list(_LIMITS.workspace_min), DOUBLES, "lower corner (m) of the box the tool stays in"),
    "workspace_max": (list(_LIMITS.workspace_max), DOUBLES, "upper corner (m) of the box the tool stays in"),
    "table_height": (_LIMITS.table_height, DOUBLE, "table surface height (m) in panda_link0"),
    "min_height_above_table": (_LIMITS.min_height_above_table, DOUBLE, "the tool stays this far (m) above the table"),
    "reach_center": (list(_LIMITS.reach_center), DOUBLES, "centre (m) of the arm's reach sphere"),
    "max_reach": (_LIMITS.max_reach, DOUBLE, "radius (m) of the arm's reach sphere"),
}  # fmt: skip


class SimArmNode(Node):
    """The simulated Panda, table, objects and camera (see the module docstring)."""

    def __init__(self, **node_options: Any) -> None:
        super().__init__("sim_arm", **node_options)
        self._declare()
        self.world = PandaWorld()
        self.scene = self.world.reset(self.seed)
        self._jobs: queue.Queue[_Job] = queue.Queue()
        self._stopping = threading.Event()
        self._next_state = self._next_frame = 0.0
        self._pacer, self._last_stamp_ns = RealtimePacer(enabled=self.realtime, max_lag=MAX_LAG), 0
        self.world.step_listeners.append(self._on_step)
        self._servo = CartesianServo(self._servo_settings())
        self._twist = LatestTwist(self._servo.settings.command_timeout)
        self._make_interfaces()
        self._publish_scene_facts()
        self._thread = threading.Thread(target=self._simulate, name="sim_arm_physics", daemon=True)
        self._thread.start()
        self.get_logger().info(f"sim_arm ready: scene seed {self.seed}, {self.scene.instruction!r}")

    # ------------------------------------------------------------------ setup
    def _declare(self) -> None:
        value = declare_table(self, PARAMETERS, read_only=False)
        self.seed = int(value["seed"])
        self.camera_rate, self.state_rate = float(value["camera_rate"]), float(value["joint_state_rate"])
        self.realtime = bool(value["realtime"])
        self.camera_namespace = str(value["camera_namespace"])
        self.arm_controller, self.gripper_controller = str(value["arm_controller"]), str(value["gripper_controller"])
        if not (self.camera_rate > 0.0 and self.state_rate > 0.0):
            raise ValueError("camera_rate and joint_state_rate must be > 0")

    def _servo_settings(self) -> ServoSettings:
        value = declare_table(self, SERVO_PARAMETERS)
        limits = SafetyLimits(
            workspace_min=tuple(value["workspace_min"]), workspace_max=tuple(value["workspace_max"]),
            table_height=float(value["table_height"]), min_height_above_table=float(value["min_height_above_table"]),
            reach_center=tuple(value["reach_center"]), max_reach=float(value["max_reach"]),
        )  # fmt: skip
        self.servo_twist_topic = str(value["servo_twist_topic"])
        return ServoSettings(
            limits, float(value["servo_max_linear_speed"]), float(value["servo_max_angular_speed"]),
            float(value["servo_command_timeout"]),
        )  # fmt: skip

    def _make_interfaces(self) -> None:
        group = ReentrantCallbackGroup()
        ns = f"/{self.camera_namespace.strip('/')}"
        self._state_pub = self.create_publisher(JointState, "/joint_states", 10)
        self._tf_pub = self.create_publisher(TFMessage, "/tf", 10)
        latched = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self._description_pub = self.create_publisher(String, "/robot_description", latched)
        self._objects_pub = self.create_publisher(MarkerArray, "~/objects", latched)
        self._rgb_pub = self.create_publisher(Image, f"{ns}/color/image_raw", qos_profile_sensor_data)
        self._depth_pub = self.create_publisher(
            Image, f"{ns}/aligned_depth_to_color/image_raw", qos_profile_sensor_data
        )
        self._info_pub = self.create_publisher(CameraInfo, f"{ns}/color/camera_info", qos_profile_sensor_data)
        self._arm_action = ActionServer(
            self, FollowJointTrajectory, f"/{self.arm_controller}/follow_joint_trajectory",
            execute_callback=self._follow, goal_callback=lambda _g: GoalResponse.ACCEPT,
            cancel_callback=lambda _g: CancelResponse.ACCEPT, callback_group=group,
        )  # fmt: skip
        self._gripper_action = ActionServer(
            self, GripperCommand, f"/{self.gripper_controller}/gripper_cmd", execute_callback=self._grip,
            goal_callback=lambda _g: GoalResponse.ACCEPT, callback_group=group,
        )  # fmt: skip
        self.create_service(Trigger, "~/reset", self._reset, callback_group=group)
        self.create_subscription(TwistStamped, self.servo_twist_topic, self._on_twist, 10, callback_group=group)

    def _publish_scene_facts(self) -> None:
        self._description_pub.publish(String(data=panda_urdf_text()))
        self._mount = broadcast_static_pose(self, BASE_FRAME, CAMERA_FRAME, self.world.camera.T_world_optical)
        markers = MarkerArray()
        for index, obj in enumerate(self.scene.objects):
            marker = Marker(ns=obj.name, id=index, type=Marker.CYLINDER if obj.shape == "circle" else Marker.CUBE)
            marker.header.frame_id = BASE_FRAME
            pose = self.world.object_pose(obj.name)
            marker.pose.position.x, marker.pose.position.y, marker.pose.position.z = (float(v) for v in pose[:3, 3])
            marker.scale.x = marker.scale.y = float(obj.width)
            marker.scale.z = float(obj.height)
            marker.color = ColorRGBA(r=float(obj.rgba[0]), g=float(obj.rgba[1]), b=float(obj.rgba[2]), a=0.5)
            markers.markers.append(marker)
        self._objects_pub.publish(markers)

    # ------------------------------------------------------------------ the simulation thread
    def _simulate(self) -> None:
        steps = max(1, round(0.01 / self.world.settings.time_step))
        tick = steps * self.world.settings.time_step
        while not self._stopping.is_set():
            # Wait for a job until the next step is due, and at least MIN_YIELD even when late: the
            # nodes that share this process (the twists' subscriber, tf, a recorder) need the GIL too,
            # and a physics loop that never lets go of it starves them.
            wait = self._pacer.time_until_due(self.world.time, self.world.time + tick)
            try:
                job = self._jobs.get(timeout=max(wait, MIN_YIELD)) if self.realtime else self._jobs.get_nowait()
            except queue.Empty:
                self._servo.update(self.world, self._twist.current(time.monotonic()), tick)
                self._pacer.before_step(self.world.time, self.world.time + tick)  # returns at once, unless early
                self.world.step(steps)
                continue
            self._servo.release()  # a controller goal or a reset moves the arm: teleop restarts from there
            try:
                job.result = job.run(self.world)
            except BaseException as err:  # reported to the waiting caller
                job.error = err
            job.done.set()

    def _submit(self, run: Callable[[PandaWorld], Any]) -> Any:
        job = _Job(run)
        self._jobs.put(job)
        while not job.done.wait(0.1):
            if self._stopping.is_set():
                raise RuntimeError("sim_arm is shutting down")
        if job.error is not None:
            raise job.error
        return job.result

    def _on_step(self, world: PandaWorld) -> None:
        if world.time >= self._next_state:
            self._next_state = world.time + 1.0 / self.state_rate
            self._publish_state(world)
        if world.time >= self._next_frame:
            self._next_frame = world.time + 1.0 / self.camera_rate
            self._publish_frame(world)

    def _stamp(self, world: PandaWorld) -> TimeMsg:
        """When the sample's simulated time was due on the wall clock (see sim/pacing.py)."""
        now = self.get_clock().now().nanoseconds
        self._last_stamp_ns = sample_stamp_ns(now, self._pacer.lateness(world.time), self._last_stamp_ns)
        return Time(nanoseconds=self._last_stamp_ns).to_msg()

    def _publish_state(self, world: PandaWorld) -> None:
        stamp = self._stamp(world)
        sample = world.joint_state()
        state = JointState(
            name=list(sample.names), position=sample.position.tolist(), velocity=sample.velocity.tolist()
        )
        state.effort = sample.effort.tolist()
        state.header.stamp = stamp
        self._state_pub.publish(state)
        transforms = []
        for parent, child, matrix in world.link_transforms():
            stamped = TransformStamped(child_frame_id=child, transform=transform_from_matrix(matrix))
            stamped.header.frame_id, stamped.header.stamp = parent, stamp
            transforms.append(stamped)
        self._tf_pub.publish(TFMessage(transforms=transforms))

    def _publish_frame(self, world: PandaWorld) -> None:
        messages = scene_messages(world.render(), depth_encoding="16UC1")
        stamp = self._stamp(world)
        for message, publisher in ((messages.rgb, self._rgb_pub), (messages.depth, self._depth_pub)):
            message.header.stamp, message.header.frame_id = stamp, CAMERA_FRAME
            publisher.publish(message)
        messages.info.header.stamp, messages.info.header.frame_id = stamp, CAMERA_FRAME
        self._info_pub.publish(messages.info)

    # ------------------------------------------------------------------ controllers
    def _on_twist(self, message: TwistStamped) -> None:
        frame = message.header.frame_id
        if frame not in ("", BASE_FRAME, *TOOL_FRAMES):
            self.get_logger().warning(
                f"ignoring a twist in {frame!r}: use {BASE_FRAME} or {TOOL_FRAMES[0]}", throttle_duration_sec=5.0
            )
            return
        t = message.twist
        try:
            command = ServoCommand.of((t.linear.x, t.linear.y, t.linear.z), (t.angular.x, t.angular.y, t.angular.z),
                                      in_tool_frame=frame in TOOL_FRAMES)  # fmt: skip
        except ValueError as err:
            self.get_logger().warning(f"ignoring a twist: {err}", throttle_duration_sec=5.0)
            return
        self._twist.put(command, time.monotonic())

    def _follow(self, goal_handle: Any) -> FollowJointTrajectory.Result:
        trajectory = goal_handle.request.trajectory
        result = FollowJointTrajectory.Result()
        arm = JOINT_NAMES[:7]
        if sorted(trajectory.joint_names) != sorted(arm) or not trajectory.points:
            goal_handle.abort()
            result.error_code = FollowJointTrajectory.Result.INVALID_JOINTS
            result.error_string = f"expected the 7 arm joints {list(arm)} and at least one point"
            return result
        order = [list(trajectory.joint_names).index(name) for name in arm]
        times = np.array([p.time_from_start.sec + p.time_from_start.nanosec * 1e-9 for p in trajectory.points])
        positions = np.array([[p.positions[i] for i in order] for p in trajectory.points])
        settings = ControllerSettings(realtime=self.realtime)
        try:
            done = self._submit(
                lambda world: follow_trajectory(
                    world, times, positions, lambda: goal_handle.is_cancel_requested, settings, self._pacer
                )
            )
        except ValueError as err:
            goal_handle.abort()
            result.error_code, result.error_string = FollowJointTrajectory.Result.INVALID_GOAL, str(err)
            return result
        result.error_string = done.message
        if done.outcome is ExecutionOutcome.CANCELED:
            goal_handle.canceled()
        elif done.outcome is ExecutionOutcome.SUCCEEDED:
            goal_handle.succeed()
        else:
            tolerance = "path" if "path tolerance" in done.message else "goal"
            result.error_code = getattr(FollowJointTrajectory.Result, f"{tolerance.upper()}_TOLERANCE_VIOLATED")
            goal_handle.abort()
        return result

    def _grip(self, goal_handle: Any) -> GripperCommand.Result:
        command = goal_handle.request.command
        settings = ControllerSettings(realtime=self.realtime)
        done = self._submit(
            lambda world: move_gripper(world, command.position, command.max_effort, settings, self._pacer)
        )
        result = GripperCommand.Result(position=done.position, effort=done.effort)
        result.stalled, result.reached_goal = done.stalled, done.reached_goal
        goal_handle.succeed()
        return result

    def _reset(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        self.seed = int(self.get_parameter("seed").value)
        self.scene = self._submit(lambda world: world.reset(self.seed))
        self._next_state = self._next_frame = 0.0
        self._publish_scene_facts()
        response.success, response.message = True, self.scene.instruction
        return response

    def destroy_node(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=5.0)
        self._arm_action.destroy()
        self._gripper_action.destroy()
        self._servo.close()
        self.world.close()
        super().destroy_node()


def main(args: list[str] | None = None) -> None:
    # Controller goals block while the physics thread runs them; other threads serve the rest.
    run_node(SimArmNode, args, threads=4)


if __name__ == "__main__":
    main()
