"""A fake MoveIt move_group for the executor's tests: the real moveit_msgs interfaces, scripted behaviour.

MoveIt itself cannot be installed here. This node serves what the executor's ``move_group``
backend calls, with MoveIt's types and names, and records every request so the tests can assert
what was asked:

* ``/compute_cartesian_path``: plans the requested ``panda_hand`` poses with the Panda planner
  (pybullet IK), from the node's current joint state; ``fraction`` and ``error_code`` can be
  scripted;
* ``/compute_fk``: pybullet's forward kinematics of the requested link;
* ``/apply_planning_scene``: accepted and recorded;
* ``/execute_trajectory``: moves the published ``/joint_states`` along the trajectory in real time
  (``speedup`` faster), stops where it is when cancelled; the final error code can be scripted;
* ``/panda_hand_controller/gripper_cmd``: the fingers go where asked.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from control_msgs.action import GripperCommand
from geometry_msgs.msg import PoseStamped
from moveit_msgs.action import ExecuteTrajectory
from moveit_msgs.msg import MoveItErrorCodes
from moveit_msgs.srv import ApplyPlanningScene, GetCartesianPath, GetPositionFK
from rclpy.action.server import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node
from sensor_msgs.msg import JointState

from vla_r1_ros.core.execution import CartesianSettings, Poses
from vla_r1_ros.core.execution.limits import PANDA_ARM_JOINTS
from vla_r1_ros.core.geometry.transforms import quaternion_from_matrix
from vla_r1_ros.ros.motion_messages import joint_trajectory_msg, trajectory_arrays
from vla_r1_ros.sim.panda_model import HAND_LINK, READY_POSITIONS
from vla_r1_ros.sim.panda_planner import PandaCartesianPlanner

IDENTITY = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0)


@dataclass
class Script:
    """What the fake does next (tests change it between goals)."""

    fraction: float | None = None  # cut the plan to this share of the path
    plan_error: int = MoveItErrorCodes.SUCCESS
    execute_error: int = MoveItErrorCodes.SUCCESS
    speedup: float = 4.0


@dataclass
class Recorded:
    cartesian: list[Any] = field(default_factory=list)
    scenes: list[Any] = field(default_factory=list)
    executions: list[Any] = field(default_factory=list)
    cancels: int = 0
    cancel_times: list[float] = field(default_factory=list)  # time.monotonic() of each cancel request
    stop_times: list[float] = field(default_factory=list)  # when the arm stopped for a cancel
    grippers: list[tuple[float, float]] = field(default_factory=list)


class FakeMoveGroup(Node):
    def __init__(self, **options: Any) -> None:
        super().__init__("move_group", **options)
        self.script, self.recorded = Script(), Recorded()
        self.positions = np.array(READY_POSITIONS, dtype=float)
        self.fingers = 0.04
        self.moving = False
        self._lock = threading.Lock()
        self.planner = PandaCartesianPlanner(tcp_offset=IDENTITY)  # plans panda_hand itself
        group = ReentrantCallbackGroup()
        self.create_service(GetCartesianPath, "/compute_cartesian_path", self._cartesian, callback_group=group)
        self.create_service(GetPositionFK, "/compute_fk", self._fk, callback_group=group)
        self.create_service(ApplyPlanningScene, "/apply_planning_scene", self._scene, callback_group=group)
        self._execute = ActionServer(
            self, ExecuteTrajectory, "/execute_trajectory", execute_callback=self._run,
            goal_callback=lambda _g: GoalResponse.ACCEPT, cancel_callback=self._cancel, callback_group=group,
        )  # fmt: skip
        self._gripper = ActionServer(
            self, GripperCommand, "/panda_hand_controller/gripper_cmd", execute_callback=self._grip,
            callback_group=group,
        )  # fmt: skip
        self._states = self.create_publisher(JointState, "/joint_states", 10)
        self.create_timer(0.02, self._publish_state, callback_group=group)

    def _publish_state(self) -> None:
        with self._lock:
            positions = [*self.positions.tolist(), self.fingers, self.fingers]
        state = JointState(name=[*PANDA_ARM_JOINTS, "panda_finger_joint1", "panda_finger_joint2"], position=positions)
        state.header.stamp = self.get_clock().now().to_msg()
        self._states.publish(state)

    def _cartesian(self, request: GetCartesianPath.Request, response: GetCartesianPath.Response) -> Any:
        self.recorded.cartesian.append(request)
        response.error_code.val = self.script.plan_error
        if self.script.plan_error != MoveItErrorCodes.SUCCESS:
            return response
        poses = Poses(
            [[p.position.x, p.position.y, p.position.z] for p in request.waypoints],
            [[p.orientation.x, p.orientation.y, p.orientation.z, p.orientation.w] for p in request.waypoints],
        )
        settings = CartesianSettings(
            max_step=request.max_step,
            velocity_scaling=request.max_velocity_scaling_factor,
            acceleration_scaling=request.max_acceleration_scaling_factor,
        )
        plan = self.planner.plan_cartesian(poses, self.positions.copy(), settings)
        keep = len(plan)
        if self.script.fraction is not None:
            keep = max(1, int(len(plan) * self.script.fraction))
        response.solution.joint_trajectory = joint_trajectory_msg(plan)
        response.solution.joint_trajectory.points = response.solution.joint_trajectory.points[:keep]
        response.fraction = plan.fraction if self.script.fraction is None else self.script.fraction
        return response

    def _fk(self, request: GetPositionFK.Request, response: GetPositionFK.Response) -> Any:
        names = list(request.robot_state.joint_state.name)
        q = np.array([request.robot_state.joint_state.position[names.index(n)] for n in PANDA_ARM_JOINTS])
        pose = self.planner.kinematics.fk(q, HAND_LINK).matrix()
        stamped = PoseStamped()
        stamped.header.frame_id = request.header.frame_id
        stamped.pose.position.x, stamped.pose.position.y, stamped.pose.position.z = (float(v) for v in pose[:3, 3])
        qx, qy, qz, qw = (float(v) for v in quaternion_from_matrix(pose[:3, :3]))
        stamped.pose.orientation.x, stamped.pose.orientation.y = qx, qy
        stamped.pose.orientation.z, stamped.pose.orientation.w = qz, qw
        response.pose_stamped = [stamped]
        response.fk_link_names = list(request.fk_link_names)
        response.error_code.val = MoveItErrorCodes.SUCCESS
        return response

    def _scene(self, request: ApplyPlanningScene.Request, response: ApplyPlanningScene.Response) -> Any:
        self.recorded.scenes.append(request)
        response.success = True
        return response

    def _cancel(self, _goal: Any) -> CancelResponse:
        self.recorded.cancels += 1
        self.recorded.cancel_times.append(time.monotonic())
        return CancelResponse.ACCEPT

    def _run(self, goal_handle: Any) -> ExecuteTrajectory.Result:
        self.recorded.executions.append(goal_handle.request)
        result = ExecuteTrajectory.Result()
        times, positions, _ = trajectory_arrays(goal_handle.request.trajectory.joint_trajectory, PANDA_ARM_JOINTS)
        started, self.moving = time.monotonic(), True
        try:
            while True:
                elapsed = (time.monotonic() - started) * self.script.speedup
                if goal_handle.is_cancel_requested:
                    self.recorded.stop_times.append(time.monotonic())
                    goal_handle.canceled()
                    result.error_code.val = MoveItErrorCodes.PREEMPTED
                    return result
                k = int(np.searchsorted(times, elapsed, side="right")) - 1
                with self._lock:
                    self.positions = positions[min(max(k, 0), len(positions) - 1)].copy()
                if elapsed >= times[-1]:
                    break
                time.sleep(0.005)
        finally:
            self.moving = False
        result.error_code.val = self.script.execute_error
        if self.script.execute_error == MoveItErrorCodes.SUCCESS:
            goal_handle.succeed()
        else:
            goal_handle.abort()
        return result

    def _grip(self, goal_handle: Any) -> GripperCommand.Result:
        command = goal_handle.request.command
        self.recorded.grippers.append((command.position, command.max_effort))
        with self._lock:
            self.fingers = float(command.position)
        goal_handle.succeed()
        return GripperCommand.Result(position=command.position, effort=command.max_effort, reached_goal=True)
