"""``vla_r1_executor``: VLA-R1's waypoints to a moving arm, behind checks, a preview and an approval.

Action ``~/execute`` (``vla_r1_ros/action/ExecuteWaypoints``): one goal at a time, run by the
execution core (:func:`~vla_r1_ros.core.execution.execute_waypoints`): the safety filter again,
Cartesian planning, plan checks, a preview, the approval, the gripper, the motion, the lift.

* **Safe by default**: ``dry_run`` (true) — a goal's ``dry_run`` or the parameter makes it a
  dry run; ``require_approval`` (true) — the planned motion is previewed (``~/markers``: requested
  against planned path; ``~/planned_trajectory``; ``~/planned_path``) and waits for ``~/approve``
  or ``~/reject`` (std_srvs/Trigger) for ``approval_timeout``; scalings default to 0.1 and a goal's
  are clamped to the parameters, a 0 is never passed on.
* **Backends** (``backend``): ``sim`` plans here and drives a joint trajectory controller and a
  gripper action controller (the simulated arm, or any ros2_control arm); ``move_group`` asks
  MoveIt's move_group to plan and execute (see ``move_group_backend``); ``moveit_py`` plans Pilz
  LIN segments with MoveItPy in a process of its own (see ``moveit_py_backend``).
* ``~/stop`` (Trigger) halts any motion now; cancelling a goal does too.
* ``~/events`` (``vla_r1_ros/msg/ExecutionEvent``) marks every phase for recordings, and
  ``/diagnostics`` the node's state.

Waypoints are tool-centre poses in ``planning_frame``; the prediction's age is the waypoints'
header stamp against now.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from nav_msgs.msg import Path
from rclpy.action.server import ActionServer, CancelResponse, GoalResponse, ServerGoalHandle
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node
from rclpy.time import Time
from sensor_msgs.msg import JointState
from std_msgs.msg import Header
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory
from visualization_msgs.msg import MarkerArray

from vla_r1_ros.action import ExecuteWaypoints
from vla_r1_ros.core.execution import (
    Approval,
    CartesianPlan,
    CartesianSettings,
    ExecuteRequest,
    ExecutionReport,
    ExecutorSettings,
    MotionBackend,
    Outcome,
    PlanCheckLimits,
    Poses,
    execute_waypoints,
)
from vla_r1_ros.msg import ExecutionEvent
from vla_r1_ros.ros.markers import execution_markers
from vla_r1_ros.ros.motion_messages import joint_trajectory_msg, path_from_positions, poses_from_path
from vla_r1_ros.ros.moveit_py_backend import MOVEIT_PY_PARAMETERS
from vla_r1_ros.ros.node_main import run_node
from vla_r1_ros.ros.parameters import BOOL, DOUBLE, DOUBLES, STRING, ParameterTable, declare_table, settings_from
from vla_r1_ros.ros.safety_parameters import safety_limits, safety_parameters

__all__ = ["PARAMETERS", "ExecutorNodeSettings", "WaypointExecutorNode", "main"]

PARAMETERS: ParameterTable = {
    "backend": (
        "move_group",
        STRING,
        "move_group (MoveIt, for real arms), moveit_py (MoveItPy, Pilz LIN per segment, in its own process) "
        "or sim (plan here, run a joint trajectory controller)",
    ),
    "dry_run": (True, BOOL, "check and plan only, never move (a goal's dry_run also makes it one)"),
    "require_approval": (True, BOOL, "wait for ~/approve or ~/reject before moving"),
    "approval_timeout": (60.0, DOUBLE, "seconds to wait for an approval before refusing"),
    "max_velocity_scaling": (0.1, DOUBLE, "maximum velocity scaling in (0, 1]; goals are clamped to it"),
    "max_acceleration_scaling": (0.1, DOUBLE, "maximum acceleration scaling in (0, 1]; goals are clamped to it"),
    "min_cartesian_fraction": (0.99, DOUBLE, "the plan must cover this share of the path (ours ends at the grasp)"),
    "cartesian_max_step": (0.005, DOUBLE, "largest TCP step (m) between planned samples"),
    "max_joint_step": (0.2, DOUBLE, "largest joint change (rad) between planned samples"),
    "max_path_deviation": (0.01, DOUBLE, "the planned tool path stays this close (m) to the requested one"),
    "start_state_tolerance": (0.01, DOUBLE, "a plan starts this close (rad) to /joint_states"),
    "max_prediction_age": (10.0, DOUBLE, "waypoints older than this (s, header stamp) are refused"),
    "execution_timeout": (60.0, DOUBLE, "seconds past a plan's duration before execution is given up"),
    "planning_frame": ("panda_link0", STRING, "frame of the waypoints and of planning"),
    "planning_group": ("panda_arm", STRING, "MoveIt planning group (move_group backend)"),
    "ee_link": ("panda_hand", STRING, "the link MoveIt plans for (move_group backend)"),
    "tcp_offset": (
        [0.0, 0.0, 0.1034, 0.0, 0.0, 0.0, 1.0],
        DOUBLES,
        "x y z qx qy qz qw of the tool centre point in ee_link (Franka hand: 0.1034 m along z)",
    ),
    "trajectory_action": (
        "/panda_arm_controller/follow_joint_trajectory",
        STRING,
        "FollowJointTrajectory action of the arm's controller (sim backend)",
    ),
    "gripper_action": ("/panda_hand_controller/gripper_cmd", STRING, "GripperCommand action of the hand"),
    "gripper_open": (0.04, DOUBLE, "finger position (m) before a grasp"),
    "gripper_close": (0.0, DOUBLE, "finger position (m) asked for when grasping"),
    "gripper_max_effort": (20.0, DOUBLE, "grasp force (N)"),
    "lift_height": (0.1, DOUBLE, "straight lift (m) after a grasp; 0 = none"),
    **MOVEIT_PY_PARAMETERS,
    **safety_parameters("planning_frame"),
}


@dataclass(frozen=True)
class ExecutorNodeSettings:
    backend: str
    executor: ExecutorSettings
    execution_timeout: float
    planning_frame: str
    planning_group: str
    ee_link: str
    tcp_offset: tuple[float, ...]
    trajectory_action: str
    gripper_action: str
    moveit_py_node_name: str
    moveit_py_params_file: str
    pilz_namespace: str
    key_pose_tolerance: float
    key_pose_turn: float


def declare_settings(node: Node) -> ExecutorNodeSettings:
    """Declare the parameters and validate them (ValueError naming the parameter)."""
    value = declare_table(node, PARAMETERS)
    if value["backend"] not in ("sim", "move_group", "moveit_py"):
        raise ValueError(f"parameter backend must be sim, move_group or moveit_py, got {value['backend']!r}")
    if not (value["key_pose_tolerance"] > 0.0 and value["key_pose_turn"] > 0.0):
        raise ValueError("parameters key_pose_tolerance and key_pose_turn must be > 0")
    if len(value["tcp_offset"]) != 7:
        raise ValueError("parameter tcp_offset must hold 7 numbers: x y z qx qy qz qw")
    checks = settings_from(PlanCheckLimits, value, safety=safety_limits(value))
    cartesian = CartesianSettings(max_step=float(value["cartesian_max_step"]), max_joint_step=value["max_joint_step"])
    executor = settings_from(ExecutorSettings, value, cartesian=cartesian, checks=checks)
    if not float(value["execution_timeout"]) > 0.0:
        raise ValueError("parameter execution_timeout must be > 0")
    return settings_from(ExecutorNodeSettings, value, executor=executor)


_WARNING_STATES = ("execution_failed", "planning_failed", "rejected_by_safety")


class _GoalHooks:
    """The execution core's hooks for one goal: feedback, events, preview, approval, cancel."""

    def __init__(self, node: WaypointExecutorNode, goal: ServerGoalHandle, goal_id: str, requested: Poses) -> None:
        self.node, self.goal, self.goal_id, self.requested = node, goal, goal_id, requested
        self.current = ""

    def phase(self, name: str, detail: str = "") -> None:
        if self.current:
            self.node.event(self.goal_id, self.current, "succeeded")
        self.current = name
        self.node.event(self.goal_id, name, "started", detail)
        self.goal.publish_feedback(
            ExecuteWaypoints.Feedback(state=name, detail=detail, total_waypoints=len(self.requested))
        )
        if name == "executing":
            self.node.show(self.requested, self.node.last_plan, "executing")

    def preview(self, plan: CartesianPlan, waypoints: Poses) -> None:
        self.node.last_plan = plan
        self.node.publish_plan(plan, self.requested, "awaiting_approval")

    def await_approval(self, plan: CartesianPlan, timeout_s: float) -> Approval:
        return self.node.wait_for_approval(timeout_s, self.cancelled)

    def cancelled(self) -> bool:
        return self.goal.is_cancel_requested or self.node.stopping.is_set()


class WaypointExecutorNode(Node):
    """The waypoint executor. ``backend`` may be injected (tests, embedding)."""

    def __init__(self, backend: MotionBackend | None = None, **node_options: Any) -> None:
        super().__init__("vla_r1_executor", **node_options)
        self.settings = declare_settings(self)
        self.stopping = threading.Event()
        self._busy = threading.Lock()
        self._decision: Approval | None = None
        self._decided = threading.Condition()
        self._joint_state: JointState | None = None
        self._joint_state_at = 0.0
        self.last_plan: CartesianPlan | None = None
        self._last_status = "idle"
        self._goals = 0
        sensors = ReentrantCallbackGroup()
        self.create_subscription(JointState, "/joint_states", self._on_joint_state, 10, callback_group=sensors)
        self._backend = backend if backend is not None else self._make_backend()
        self._trajectory_pub = self.create_publisher(JointTrajectory, "~/planned_trajectory", 10)
        self._path_pub = self.create_publisher(Path, "~/planned_path", 10)
        self._markers_pub = self.create_publisher(MarkerArray, "~/markers", 10)
        self._events_pub = self.create_publisher(ExecutionEvent, "~/events", 50)
        self._diagnostics_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.create_service(
            Trigger, "~/approve", lambda _q, r: self._decide(Approval.APPROVED, r), callback_group=sensors
        )
        self.create_service(
            Trigger, "~/reject", lambda _q, r: self._decide(Approval.REJECTED, r), callback_group=sensors
        )
        self.create_service(Trigger, "~/stop", self._stop, callback_group=sensors)
        self._action = ActionServer(
            self,
            ExecuteWaypoints,
            "~/execute",
            execute_callback=self._execute,
            goal_callback=lambda _goal: GoalResponse.ACCEPT,
            cancel_callback=self._on_cancel,
            callback_group=ReentrantCallbackGroup(),  # a second goal is answered 'busy' while one runs
        )
        self.create_timer(1.0, self._publish_diagnostics, callback_group=sensors)
        s = self.settings
        self.get_logger().info(
            f"vla_r1_executor ready: backend {s.backend}, dry_run {s.executor.dry_run}, "
            f"require_approval {s.executor.require_approval}, scaling <= {s.executor.max_velocity_scaling}"
        )

    # ------------------------------------------------------------------ setup
    def _make_backend(self) -> MotionBackend:
        s = self.settings
        if s.backend == "move_group":
            from vla_r1_ros.ros.move_group_backend import MoveGroupBackend

            backend: MotionBackend = MoveGroupBackend(self, s, self.fresh_positions)
            return backend
        if s.backend == "moveit_py":
            from vla_r1_ros.ros.action_calls import GripperClient
            from vla_r1_ros.ros.moveit_py_backend import MoveItPyBackend, moveit_py_config

            gripper = GripperClient(self, s.gripper_action, s.execution_timeout)
            return MoveItPyBackend(moveit_py_config(s, sys.argv), gripper)
        from vla_r1_ros.ros.controller_backend import ControllerBackend
        from vla_r1_ros.sim.panda_planner import PandaCartesianPlanner

        planner = PandaCartesianPlanner(tcp_offset=s.tcp_offset)
        return ControllerBackend(
            self, planner, self.fresh_positions, s.trajectory_action, s.gripper_action, s.execution_timeout
        )

    # ------------------------------------------------------------------ callbacks
    def _on_joint_state(self, message: JointState) -> None:
        self._joint_state, self._joint_state_at = message, time.monotonic()

    def fresh_positions(self, timeout: float = 0.5) -> np.ndarray | None:
        """The arm's joints from a /joint_states message received after this call (at most
        ``timeout`` later, else the latest): after a motion ends, the state it ended in."""
        asked = time.monotonic()
        deadline = asked + timeout
        while self._joint_state_at <= asked and time.monotonic() < deadline:
            time.sleep(0.005)
        return self.current_positions()

    def current_positions(self) -> np.ndarray | None:
        """The planning group's joints from the latest /joint_states (None until all arrived)."""
        message = self._joint_state
        if message is None:
            return None
        names = list(message.name)
        try:
            return np.array([message.position[names.index(name)] for name in self._backend.joint_names])
        except ValueError:
            return None

    def _decide(self, decision: Approval, response: Trigger.Response) -> Trigger.Response:
        with self._decided:
            waiting = self._decision is None and self._busy.locked()
            if waiting:
                self._decision = decision
                self._decided.notify_all()
        response.success = waiting
        response.message = decision.value if waiting else "no plan is awaiting approval"
        return response

    def _stop(self, _request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        self._backend.stop()
        response.success, response.message = True, "stop sent to the arm"
        return response

    def _on_cancel(self, _goal: Any) -> CancelResponse:
        self._backend.stop()
        return CancelResponse.ACCEPT

    # ------------------------------------------------------------------ goals
    def _execute(self, goal_handle: ServerGoalHandle) -> ExecuteWaypoints.Result:
        if not self._busy.acquire(blocking=False):
            goal_handle.abort()
            return ExecuteWaypoints.Result(
                outcome=ExecuteWaypoints.Result.OUTCOME_PLANNING_FAILED,
                reason="busy: another goal is being executed; send it again when that one ends",
            )
        try:
            with self._decided:
                self._decision = None
            report = self._run(goal_handle)
        except Exception as err:  # the node must survive anything one goal does
            self.get_logger().error(f"goal failed: {type(err).__name__}: {err}")
            report = ExecutionReport(Outcome.EXECUTION_FAILED, f"internal error: {type(err).__name__}: {err}")
        finally:
            self._busy.release()
        return self._finish(goal_handle, report)

    def _run(self, goal_handle: ServerGoalHandle) -> ExecutionReport:
        request, goal_id = goal_handle.request, bytes(goal_handle.goal_id.uuid).hex()
        frame = request.waypoints.header.frame_id
        if frame and frame != self.settings.planning_frame:
            return ExecutionReport(
                Outcome.REJECTED_BY_SAFETY,
                f"waypoints are in {frame!r}, the executor plans in {self.settings.planning_frame!r}",
            )
        current = self.current_positions()
        if current is None:
            return ExecutionReport(Outcome.PLANNING_FAILED, "no /joint_states for the arm's joints yet")
        try:
            waypoints = poses_from_path(request.waypoints)
        except ValueError as err:
            return ExecutionReport(Outcome.REJECTED_BY_SAFETY, f"unusable waypoints: {err}", violations=("non_finite",))
        hooks = _GoalHooks(self, goal_handle, goal_id, waypoints)
        executed = ExecuteRequest(
            waypoints,
            dry_run=request.dry_run,
            velocity_scaling=request.velocity_scaling,
            acceleration_scaling=request.acceleration_scaling,
            grasp_at_end=request.grasp_at_end,
            prediction_age=self._age(request.waypoints.header),
        )
        self._goals += 1
        report = execute_waypoints(
            executed, self._backend, self._backend.joint_limits, current, self.settings.executor, hooks
        )
        if hooks.current:
            outcome = "succeeded" if report.ok else ("canceled" if report.outcome is Outcome.CANCELED else "failed")
            self.event(goal_id, hooks.current, outcome, report.reason)
        return report

    def _age(self, header: Header) -> float | None:
        if header.stamp.sec == 0 and header.stamp.nanosec == 0:
            return None  # unstamped waypoints: no age to check
        return (self.get_clock().now() - Time.from_msg(header.stamp)).nanoseconds * 1e-9

    def _finish(self, goal_handle: ServerGoalHandle, report: ExecutionReport) -> ExecuteWaypoints.Result:
        result = ExecuteWaypoints.Result(
            outcome=int(report.outcome),
            reason=report.reason,
            waypoints_reached=int(report.waypoints_reached),
            planned_fraction=float(report.planned_fraction),
            violated_rules=list(report.violations),
        )
        name = report.outcome.name.lower()
        self._last_status = f"{name}: {report.reason}" if report.reason else name
        if report.plan is not None and len(report.plan):
            self.show(report.waypoints, report.plan, "succeeded" if report.ok else "refused")
        if report.outcome is Outcome.CANCELED and goal_handle.is_cancel_requested:
            goal_handle.canceled()
        elif report.ok:
            goal_handle.succeed()
        else:
            goal_handle.abort()
        return result

    # ------------------------------------------------------------------ approval
    def wait_for_approval(self, timeout_s: float, cancelled: Any) -> Approval:
        deadline = time.monotonic() + timeout_s
        with self._decided:
            while self._decision is None:
                if cancelled():
                    return Approval.CANCELED
                left = deadline - time.monotonic()
                if left <= 0.0:
                    return Approval.TIMEOUT
                self._decided.wait(min(left, 0.05))
            return self._decision

    # ------------------------------------------------------------------ outputs
    def event(self, goal_id: str, phase: str, outcome: str, detail: str = "") -> None:
        message = ExecutionEvent(goal_id=goal_id, phase=phase, outcome=outcome, detail=detail[:500])
        message.header.stamp = self.get_clock().now().to_msg()
        self._events_pub.publish(message)

    def publish_plan(self, plan: CartesianPlan, requested: Poses, state: str) -> None:
        header = Header(frame_id=self.settings.planning_frame, stamp=self.get_clock().now().to_msg())
        self._trajectory_pub.publish(joint_trajectory_msg(plan, header))
        self._path_pub.publish(path_from_positions(plan.tcp_positions, header))
        self.show(requested, plan, state)

    def show(self, requested: Poses | None, plan: CartesianPlan | None, state: str) -> None:
        header = Header(frame_id=self.settings.planning_frame, stamp=self.get_clock().now().to_msg())
        asked = requested.positions if requested is not None else np.zeros((0, 3))
        planned = plan.tcp_positions if plan is not None else None
        self._markers_pub.publish(execution_markers(header, asked, planned, state))

    def _publish_diagnostics(self) -> None:
        status = DiagnosticStatus(
            level=DiagnosticStatus.WARN if self._last_status.startswith(_WARNING_STATES) else DiagnosticStatus.OK,
            name="vla_r1_executor: execution",
            message=self._last_status,
            hardware_id=self.settings.backend,
        )
        status.values = [
            KeyValue(key="goals", value=str(self._goals)),
            KeyValue(key="busy", value=str(self._busy.locked())),
            KeyValue(key="dry_run", value=str(self.settings.executor.dry_run)),
            KeyValue(key="joint_states", value=str(self._joint_state is not None)),
        ]
        array = DiagnosticArray(status=[status])
        array.header.stamp = self.get_clock().now().to_msg()
        self._diagnostics_pub.publish(array)

    def stop(self) -> None:
        """End a running goal: the arm is stopped and the goal aborted (shutdown)."""
        self.stopping.set()
        self._backend.stop()

    def destroy_node(self) -> None:
        self.stopping.set()
        self._backend.stop()
        close = getattr(self._backend, "close", None)  # a backend with a process of its own ends it
        if callable(close):
            close()
        self._action.destroy()
        super().destroy_node()


def main(args: list[str] | None = None) -> None:
    # Goals block while the arm moves; the other threads keep /joint_states, approvals and cancels flowing.
    run_node(WaypointExecutorNode, args, threads=4)


if __name__ == "__main__":
    main()
