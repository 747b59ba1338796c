"""moveit.planning (fake): MoveItPy, PlanningComponent, PlanRequestParameters, the execution manager.

Signatures follow moveit_py on Jazzy (keyword names included); planning answers only Pilz LIN
requests (a straight line of the link, planned with the project's Panda planner), like a MoveIt
configured with the pilz_industrial_motion_planner pipeline.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Any

import numpy as np

from moveit._fake import (
    ARM,
    ARM_GROUP,
    FAILURE,
    INVALID_GROUP_NAME,
    NO_IK_SOLUTION,
    SUCCESS,
    publish_joint_states,
    record,
    script,
)
from moveit.core.controller_manager import ExecutionStatus
from moveit.core.planning_interface import MotionPlanResponse
from moveit.core.robot_model import RobotModel
from moveit.core.robot_state import RobotState
from moveit.core.robot_trajectory import RobotTrajectory
from vla_r1_ros.core.execution.limits import PANDA_ARM_JOINTS
from vla_r1_ros.core.execution.types import CartesianSettings, Poses

ALLOWED_START_TOLERANCE = 0.01  # Panda's trajectory execution config


class PlanRequestParameters:
    def __init__(self, moveit_py: MoveItPy, ns: str = "") -> None:
        # Keys missing under <ns>.plan_request_params fall back to MoveIt's defaults (scalings 1.0).
        self.namespace = ns
        self.planner_id, self.planning_pipeline = "", ""
        self.planning_attempts, self.planning_time = 5, 1.0
        self.max_velocity_scaling_factor = self.max_acceleration_scaling_factor = 1.0


class PlanningComponent:
    def __init__(self, joint_model_group_name: str, moveit_py_instance: MoveItPy) -> None:
        self.planning_group_name = joint_model_group_name
        self._robot = moveit_py_instance
        self._start: RobotState | None = None
        self._goal: tuple[Any, str] | None = None

    def set_start_state_to_current_state(self) -> bool:
        self._start = None
        return True

    def set_start_state(self, configuration_name: str | None = None, robot_state: RobotState | None = None) -> bool:
        if (configuration_name is None) == (robot_state is None):
            raise ValueError("give exactly one of configuration_name and robot_state")
        if configuration_name is not None:
            raise NotImplementedError("the fake has no named configurations")
        self._start = robot_state
        return True

    def set_goal_state(
        self,
        configuration_name: str | None = None,
        robot_state: RobotState | None = None,
        pose_stamped_msg: Any = None,
        pose_link: str | None = None,
        motion_plan_constraints: list[Any] | None = None,
    ) -> bool:
        if pose_stamped_msg is None or pose_link is None:
            raise NotImplementedError("the fake plans pose goals only (pose_stamped_msg and pose_link)")
        self._goal = (pose_stamped_msg, pose_link)
        return True

    def plan(
        self,
        single_plan_parameters: PlanRequestParameters | None = None,
        multi_plan_parameters: Any = None,
        planning_scene: Any = None,
        solution_selection_function: Any = None,
        stopping_criterion_callback: Any = None,
    ) -> MotionPlanResponse:
        if single_plan_parameters is None or self._goal is None:
            raise ValueError("the fake needs single_plan_parameters and a goal")
        p = single_plan_parameters
        message, link = self._goal
        pose = message.pose
        goal = [pose.position.x, pose.position.y, pose.position.z,
                pose.orientation.x, pose.orientation.y, pose.orientation.z, pose.orientation.w]  # fmt: skip
        start = self._start.get_joint_group_positions(ARM_GROUP) if self._start is not None else ARM.read()
        record("plan", group=self.planning_group_name, pipeline=p.planning_pipeline, planner_id=p.planner_id,
               namespace=p.namespace, velocity=p.max_velocity_scaling_factor,
               acceleration=p.max_acceleration_scaling_factor, frame=message.header.frame_id, link=link,
               goal=goal, start=np.asarray(start).tolist())  # fmt: skip
        trajectory = RobotTrajectory(self._robot.get_robot_model(), self.planning_group_name)
        code = self._lin(p, link, goal, np.asarray(start, dtype=float), trajectory)
        return MotionPlanResponse(trajectory, code, p.planner_id)

    def _lin(self, p: PlanRequestParameters, link: str, goal: list[float], start: np.ndarray,
             trajectory: RobotTrajectory) -> int:  # fmt: skip
        if self.planning_group_name != ARM_GROUP:
            return INVALID_GROUP_NAME
        if (p.planning_pipeline, p.planner_id) != ("pilz_industrial_motion_planner", "LIN") or link != "panda_hand":
            return FAILURE
        limit = script()["fail_x_above"]
        if limit is not None and goal[0] > limit:
            return NO_IK_SOLUTION
        settings = CartesianSettings(max_step=0.005, velocity_scaling=p.max_velocity_scaling_factor,
                                     acceleration_scaling=p.max_acceleration_scaling_factor)  # fmt: skip
        with ARM.kinematics_lock:
            plan = ARM.planner.plan_cartesian(Poses.single(goal[:3], goal[3:]), start, settings)
        if plan.fraction < 1.0:
            return NO_IK_SOLUTION
        trajectory._fill(np.array(plan.times), np.array(plan.positions), np.array(plan.velocities))
        return SUCCESS


class TrajectoryExecutionManager:
    """push / execute (non-blocking) / wait_for_execution / stop_execution on the simulated arm."""

    def __init__(self) -> None:
        self._pushed: list[tuple[np.ndarray, np.ndarray]] = []
        self._thread: threading.Thread | None = None
        self._halt = threading.Event()
        self._status = ExecutionStatus("UNKNOWN")

    def push(self, trajectory: Any, controller: str = "") -> bool:
        from vla_r1_ros.ros.motion_messages import trajectory_arrays

        joint_trajectory = getattr(trajectory, "joint_trajectory", trajectory)  # RobotTrajectory or JointTrajectory
        try:
            times, positions, _ = trajectory_arrays(joint_trajectory, PANDA_ARM_JOINTS)
        except ValueError:
            record("push", accepted=False)
            return False
        record("push", accepted=True, points=len(times), controller=controller,
               frame=joint_trajectory.header.frame_id, first=positions[0].tolist(),
               last=positions[-1].tolist())  # fmt: skip
        self._pushed.append((times, positions))
        return True

    def execute(self, callback: Any, auto_clear: bool = True) -> None:
        pushed, self._pushed = self._pushed, ([] if auto_clear else self._pushed)
        self._halt.clear()
        self._status = ExecutionStatus("RUNNING")
        record("execute", trajectories=len(pushed))

        def run() -> None:
            self._status = ExecutionStatus(self._run(pushed))
            record("status", status=self._status.status, positions=ARM.read().tolist())
            callback(self._status)

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()

    def _run(self, pushed: list[tuple[np.ndarray, np.ndarray]]) -> str:
        for times, positions in pushed:
            if np.abs(positions[0] - ARM.read()).max() > ALLOWED_START_TOLERANCE:
                return "ABORTED"  # the trajectory does not start where the arm is
            started, speedup = time.monotonic(), float(script()["speedup"])
            while True:
                if self._halt.is_set():
                    return "PREEMPTED"
                elapsed = (time.monotonic() - started) * speedup
                k = int(np.searchsorted(times, elapsed, side="right")) - 1
                ARM.write(positions[min(max(k, 0), len(positions) - 1)])
                if elapsed >= times[-1]:
                    break
                time.sleep(0.005)
        return str(script()["execute_status"])

    def execute_and_wait(self, auto_clear: bool = True) -> ExecutionStatus:
        self.execute(lambda _status: None, auto_clear)
        return self.wait_for_execution()

    def wait_for_execution(self) -> ExecutionStatus:
        if self._thread is not None:
            self._thread.join()
        return self._status

    def stop_execution(self, auto_clear: bool = True) -> None:
        self._halt.set()
        if self._thread is not None:
            self._thread.join()
        record("stop_execution", positions=ARM.read().tolist())
        if auto_clear:
            self._pushed = []

    def get_last_execution_status(self) -> ExecutionStatus:
        return self._status


class _Scene:
    def __init__(self, robot_model: RobotModel) -> None:
        self.current_state = RobotState(robot_model)
        self.current_state.set_joint_group_positions(ARM_GROUP, ARM.read())
        self.current_state.update()


class PlanningSceneMonitor:
    def __init__(self, robot_model: RobotModel) -> None:
        self._model = robot_model
        self.name = "planning_scene_monitor"

    @contextmanager
    def read_only(self) -> Any:
        yield _Scene(self._model)


class MoveItPy:
    def __init__(
        self,
        node_name: str = "moveit_py",
        name_space: str = "",
        launch_params_filepaths: list[str] | None = None,
        config_dict: dict[str, Any] | None = None,
        provide_planning_service: bool = True,
    ) -> None:
        record("MoveItPy", node_name=node_name, config_keys=sorted(config_dict or {}),
               launch_params_filepaths=launch_params_filepaths)  # fmt: skip
        self._model = RobotModel()
        self._manager = TrajectoryExecutionManager()
        self._monitor = PlanningSceneMonitor(self._model)
        publish_joint_states(node_name)

    def get_planning_component(self, planning_component_name: str) -> PlanningComponent:
        return PlanningComponent(planning_component_name, self)

    def get_robot_model(self) -> RobotModel:
        return self._model

    def get_trajectory_execution_manager(self) -> TrajectoryExecutionManager:
        return self._manager

    def get_planning_scene_monitor(self) -> PlanningSceneMonitor:
        return self._monitor

    def shutdown(self) -> None:
        record("shutdown")
