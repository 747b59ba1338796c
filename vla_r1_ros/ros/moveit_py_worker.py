"""The process that owns MoveItPy for the executor's ``moveit_py`` backend (``python -m`` this module).

MoveItPy initialises rclcpp itself, spins its own node on a detached thread and calls the global
``rclcpp::shutdown()`` when it is destroyed, which would take down every other ROS node of its
process. So it lives here, alone, and the executor talks to it over a pipe: one JSON object per
line on stdin (requests) and on the process's original stdout (replies; anything MoveIt prints
goes to stderr). The worker exits when stdin closes, which happens when the executor exits or dies.

Requests carry ``id`` and ``op``; replies carry the same ``id`` and either the op's fields or
``error``. Ops: ``init`` (start MoveItPy), ``fk`` (link poses of joint positions), ``plan``
(one Pilz LIN segment per key pose, each starting where the previous ended), ``current`` (joint
positions from the planning scene monitor), ``execute`` (through the trajectory execution
manager; replies when it ends), ``stop`` (halt the execution now) and ``shutdown``.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import threading
from typing import IO, Any

import numpy as np

__all__ = ["INSTALL_HINT", "MoveItPyWorker", "serve", "main"]

INSTALL_HINT = (
    "install MoveIt 2's Python bindings (sudo apt install ros-jazzy-moveit-py, which brings "
    "ros-jazzy-pilz-industrial-motion-planner) and source /opt/ros/jazzy/setup.bash before starting "
    "vla_r1_executor with backend:=moveit_py"
)


def _merged_parameters(files: list[str]) -> dict[str, Any]:
    """Every ``ros__parameters`` section of ``files`` in one dict: launch keys a dict of parameters
    by the executor's node name, and MoveItPy's node has another name."""
    import yaml

    merged: dict[str, Any] = {}
    for path in files:
        with open(path, encoding="utf-8") as handle:
            document = yaml.safe_load(handle) or {}
        for section in document.values():
            if isinstance(section, dict) and isinstance(section.get("ros__parameters"), dict):
                merged.update(section["ros__parameters"])
    return merged


def _error_name(code: Any) -> str:
    value = getattr(code, "val", code)
    try:
        from moveit_msgs.msg import MoveItErrorCodes

        names = {getattr(MoveItErrorCodes, n): n for n in dir(MoveItErrorCodes) if n.isupper() and n != "SLOT_TYPES"}
        return str(names.get(int(value), value))
    except (ImportError, TypeError, ValueError):
        return str(value)


class MoveItPyWorker:
    """One MoveItPy instance and the planning component of one group."""

    def __init__(self, config: dict[str, Any]) -> None:
        try:  # imported by name: moveit_py has no stubs, and is only ever present in this process
            planning = importlib.import_module("moveit.planning")
            self._state_type = importlib.import_module("moveit.core.robot_state").RobotState
        except ImportError as err:
            raise RuntimeError(f"moveit_py is not installed ({err}): {INSTALL_HINT}") from err
        MoveItPy, PlanRequestParameters = planning.MoveItPy, planning.PlanRequestParameters
        self.group, self.link, self.frame = config["planning_group"], config["ee_link"], config["planning_frame"]
        files = list(config.get("params_files", []))
        if files:
            self.robot = MoveItPy(node_name=config["node_name"], config_dict=_merged_parameters(files))
        else:
            self.robot = MoveItPy(node_name=config["node_name"])
        self.arm = self.robot.get_planning_component(self.group)
        self.model = self.robot.get_robot_model()
        self.manager = self.robot.get_trajectory_execution_manager()
        self.request = PlanRequestParameters(self.robot, config["request_namespace"])
        self.request.planning_pipeline = config["pipeline"]
        self.request.planner_id = config["planner_id"]

    def _state(self, positions: Any) -> Any:
        state = self._state_type(self.model)
        state.set_joint_group_positions(self.group, np.asarray(positions, dtype=float))
        state.update()
        return state

    def fk(self, positions: list[list[float]]) -> list[list[float]]:
        """The link's 4x4 pose (row-major, 16 numbers) in the model frame at each joint vector."""
        return [np.asarray(self._state(q).get_global_link_transform(self.link)).reshape(16).tolist() for q in positions]

    def current(self) -> list[float]:
        with self.robot.get_planning_scene_monitor().read_only() as scene:
            return [float(v) for v in scene.current_state.get_joint_group_positions(self.group)]

    def plan(
        self, start: list[float], poses: list[list[float]], velocity: float, acceleration: float
    ) -> dict[str, Any]:
        """One LIN segment per pose of the link (x y z qx qy qz qw), chained; stops at the first failure."""
        from geometry_msgs.msg import PoseStamped

        self.request.max_velocity_scaling_factor = float(velocity)
        self.request.max_acceleration_scaling_factor = float(acceleration)
        state = self._state(start)
        names: list[str] = []
        times: list[float] = []
        positions: list[list[float]] = []
        velocities: list[list[float]] = []
        failure, segments = "", 0
        for index, pose in enumerate(poses):
            goal = PoseStamped()
            goal.header.frame_id = self.frame
            goal.pose.position.x, goal.pose.position.y, goal.pose.position.z = (float(v) for v in pose[:3])
            o = goal.pose.orientation
            o.x, o.y, o.z, o.w = (float(v) for v in pose[3:])
            self.arm.set_start_state(robot_state=state)
            self.arm.set_goal_state(pose_stamped_msg=goal, pose_link=self.link)
            result = self.arm.plan(single_plan_parameters=self.request)
            if not result:
                failure = f"segment {index + 1} of {len(poses)}: {_error_name(result.error_code)}"
                break
            trajectory = result.trajectory.get_robot_trajectory_msg().joint_trajectory
            names = list(trajectory.joint_names)
            offset = times[-1] if times else 0.0
            for k, point in enumerate(trajectory.points):
                if times and k == 0:
                    continue  # the previous segment's last sample
                times.append(offset + point.time_from_start.sec + point.time_from_start.nanosec * 1e-9)
                positions.append(list(point.positions))
                velocities.append(list(point.velocities) if len(point.velocities) else [0.0] * len(names))
            state = result.trajectory[len(result.trajectory) - 1]
            segments += 1
        return {
            "joint_names": names, "times": times, "positions": positions, "velocities": velocities,
            "segments": segments, "failure": failure,
        }  # fmt: skip

    def execute(self, joint_names: list[str], times: list[float], positions: list[list[float]],
                velocities: list[list[float]]) -> dict[str, Any]:  # fmt: skip
        """Run the trajectory through the trajectory execution manager; blocks until it ends."""
        from builtin_interfaces.msg import Duration
        from moveit_msgs.msg import RobotTrajectory
        from trajectory_msgs.msg import JointTrajectoryPoint

        trajectory = RobotTrajectory()
        trajectory.joint_trajectory.header.frame_id = self.frame
        trajectory.joint_trajectory.joint_names = list(joint_names)
        for t, q, v in zip(times, positions, velocities):
            whole = int(t)
            stamp = Duration(sec=whole, nanosec=round((t - whole) * 1e9) % 1_000_000_000)
            trajectory.joint_trajectory.points.append(
                JointTrajectoryPoint(positions=list(q), velocities=list(v), time_from_start=stamp)
            )
        if not self.manager.push(trajectory, controller=""):
            return {"status": "REJECTED", "succeeded": False}
        status = self.manager.execute_and_wait(auto_clear=True)  # releases the GIL: a stop is still heard
        return {"status": str(status.status), "succeeded": bool(status)}

    def stop(self) -> None:
        self.manager.stop_execution(auto_clear=True)


class _Replies:
    """Replies on the protocol stream, one line each, from any thread."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream, self._lock = stream, threading.Lock()

    def send(self, request_id: Any, **fields: Any) -> None:
        line = json.dumps({"id": request_id, **fields})
        with self._lock:
            self._stream.write(line + "\n")
            self._stream.flush()


def _handle(worker: MoveItPyWorker, request: dict[str, Any]) -> dict[str, Any]:
    op = request["op"]
    if op == "fk":
        return {"poses": worker.fk(request["positions"])}
    if op == "current":
        return {"positions": worker.current()}
    if op == "plan":
        return worker.plan(request["start"], request["poses"], request["velocity_scaling"],
                           request["acceleration_scaling"])  # fmt: skip
    if op == "execute":
        return worker.execute(request["joint_names"], request["times"], request["positions"], request["velocities"])
    raise ValueError(f"unknown op {op!r}")


def _answer(worker: MoveItPyWorker, request: dict[str, Any], replies: _Replies) -> None:
    try:
        replies.send(request.get("id"), **_handle(worker, request))
    except Exception as err:  # every failure is an answer; the executor decides
        replies.send(request.get("id"), error=f"{type(err).__name__}: {err}")


def serve(requests: IO[str], replies: _Replies) -> None:
    """Answer requests until stdin closes or ``shutdown``; execution runs on its own thread so
    ``stop`` is heard while the arm moves."""
    worker: MoveItPyWorker | None = None
    for line in requests:
        request = json.loads(line)
        op, request_id = request.get("op"), request.get("id")
        if op == "init":
            try:
                worker = MoveItPyWorker(request["config"])
                replies.send(request_id, ready=True)
            except Exception as err:
                replies.send(request_id, error=f"moveit_py could not start: {err}")
        elif op == "shutdown":
            break
        elif worker is None:
            replies.send(request_id, error="moveit_py is not started")
        elif op == "stop":
            worker.stop()
            replies.send(request_id, stopped=True)
        elif op == "execute":
            threading.Thread(target=_answer, args=(worker, request, replies), daemon=True).start()
        else:
            _answer(worker, request, replies)
    if worker is not None:
        worker.stop()  # the executor is gone or done: nothing may keep moving


def main() -> None:
    protocol = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1, encoding="utf-8")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # MoveIt's prints must not corrupt the replies
    try:
        serve(sys.stdin, _Replies(protocol))
    finally:
        protocol.flush()
        os._exit(0)  # skip MoveItPy's destructor (it shuts rclcpp down under running threads)


if __name__ == "__main__":
    main()
