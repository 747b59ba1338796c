"""The executor's ``moveit_py`` backend: MoveItPy plans Pilz LIN segments and executes them, in its own process.

* planning: the dense TCP path (the current TCP, then the waypoints) is reduced to key poses
  (:func:`~vla_r1_ros.core.execution.key_poses.key_pose_indices`), moved back by ``tcp_offset`` to
  the planning link, and planned as one Pilz LIN segment per key pose, each starting where the
  previous one ended; ``fraction`` is the share of the path length the planned segments cover;
* the planned tool path: MoveIt's forward kinematics of every planned sample, TCP offset applied;
* execution: MoveIt's trajectory execution manager runs the plan the executor checked;
  ``stop()`` or ``should_stop`` halts it (``stop_execution``);
* the hand: control_msgs/GripperCommand from the executor's own node (any object with
  ``move(position, max_effort)``, e.g. :class:`~vla_r1_ros.ros.action_calls.GripperClient`).

MoveItPy runs in :mod:`vla_r1_ros.ros.moveit_py_worker` (it owns rclcpp and shuts it down when it
is destroyed); :mod:`vla_r1_ros.ros.moveit_py_client` speaks JSON lines with it. A worker that
dies turns into failed plans and ABORTED/REJECTED executions with its exit code, never into a
crash of the executor.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from vla_r1_ros.core.execution.backend import JointGroup
from vla_r1_ros.core.execution.key_poses import key_pose_indices, path_lengths
from vla_r1_ros.core.execution.limits import PANDA_ARM_LIMITS
from vla_r1_ros.core.execution.tcp import link_poses_from_tcp, tcp_offset_matrix
from vla_r1_ros.core.execution.types import (
    CartesianPlan,
    CartesianSettings,
    ExecutionOutcome,
    ExecutionResult,
    GripperResult,
    JointLimits,
    Poses,
)
from vla_r1_ros.core.geometry.transforms import quaternion_from_matrix
from vla_r1_ros.ros.moveit_py_client import WorkerClient, WorkerError
from vla_r1_ros.ros.parameters import DOUBLE, STRING, ParameterTable

__all__ = [
    "MOVEIT_PY_PARAMETERS",
    "MoveItPyConfig",
    "MoveItPyBackend",
    "MoveItPyUnavailable",
    "moveit_py_config",
    "params_files_from_argv",
]

PILZ_PIPELINE, PILZ_LIN = "pilz_industrial_motion_planner", "LIN"

#: The executor's parameters for this backend (declared with the others).
MOVEIT_PY_PARAMETERS: ParameterTable = {
    "moveit_py_node_name": ("vla_r1_moveit_py", STRING, "name of MoveItPy's node (moveit_py backend)"),
    "moveit_py_params_file": ("", STRING, "MoveIt's parameters for MoveItPy (YAML); empty: this node's --params-file"),
    "pilz_namespace": ("pilz_lin", STRING, "namespace of the Pilz LIN plan request parameters (moveit_py backend)"),
    "key_pose_tolerance": (0.003, DOUBLE, "straight LIN segments stay this close (m) to the path (moveit_py backend)"),
    "key_pose_turn": (0.35, DOUBLE, "a sharper turn (rad) of the path is a LIN segment's end (moveit_py backend)"),
}


class Gripper(Protocol):
    def move(self, position: float, max_effort: float) -> GripperResult: ...


class MoveItPyUnavailable(RuntimeError):
    """MoveItPy could not be started (moveit_py missing, MoveIt's parameters missing)."""


@dataclass(frozen=True)
class MoveItPyConfig:
    """What the backend needs (the executor's parameters of the same meaning)."""

    node_name: str = "vla_r1_moveit_py"
    params_files: tuple[str, ...] = ()  # MoveIt's parameters (robot_description, pipelines, ...)
    planning_group: str = "panda_arm"
    ee_link: str = "panda_hand"
    planning_frame: str = "panda_link0"
    request_namespace: str = "pilz_lin"
    tcp_offset: tuple[float, ...] = (0.0, 0.0, 0.1034, 0.0, 0.0, 0.0, 1.0)
    key_pose_tolerance: float = 0.003
    key_pose_turn: float = 0.35
    execution_timeout: float = 60.0
    start_timeout: float = 60.0
    call_timeout: float = 60.0


def params_files_from_argv(argv: Sequence[str]) -> tuple[str, ...]:
    """The ``--params-file`` arguments of a ROS command line (launch passes MoveIt's parameters so)."""
    return tuple(argv[i + 1] for i, arg in enumerate(argv[:-1]) if arg == "--params-file")


def moveit_py_config(settings: Any, argv: Sequence[str]) -> MoveItPyConfig:
    """The backend's configuration from the executor's settings and command line."""
    files = (settings.moveit_py_params_file,) if settings.moveit_py_params_file else params_files_from_argv(argv)
    return MoveItPyConfig(
        node_name=settings.moveit_py_node_name, params_files=files, planning_group=settings.planning_group,
        ee_link=settings.ee_link, planning_frame=settings.planning_frame, request_namespace=settings.pilz_namespace,
        tcp_offset=tuple(settings.tcp_offset), key_pose_tolerance=settings.key_pose_tolerance,
        key_pose_turn=settings.key_pose_turn, execution_timeout=settings.execution_timeout,
    )  # fmt: skip


class MoveItPyBackend(JointGroup):
    """:class:`~vla_r1_ros.core.execution.MotionBackend` over MoveItPy with Pilz LIN segments."""

    def __init__(
        self,
        config: MoveItPyConfig,
        gripper: Gripper,
        joint_limits: JointLimits = PANDA_ARM_LIMITS,
        python: str = sys.executable,
        env: dict[str, str] | None = None,
    ) -> None:
        """Start the worker and MoveItPy in it; MoveItPyUnavailable says what is missing."""
        super().__init__(joint_limits)
        self.config, self._gripper = config, gripper
        self._tcp = tcp_offset_matrix(config.tcp_offset)
        self._stop = threading.Event()
        self._worker = WorkerClient(python, env if env is not None else dict(os.environ))
        settings = {
            "node_name": config.node_name, "params_files": list(config.params_files),
            "planning_group": config.planning_group, "ee_link": config.ee_link,
            "planning_frame": config.planning_frame, "request_namespace": config.request_namespace,
            "pipeline": PILZ_PIPELINE, "planner_id": PILZ_LIN,
        }  # fmt: skip
        try:
            self._worker.call("init", config.start_timeout, config=settings)
        except WorkerError as err:
            self._worker.close()
            raise MoveItPyUnavailable(f"backend moveit_py: {err}") from err

    # ------------------------------------------------------------------ kinematics
    def _tcp_poses(self, positions: np.ndarray) -> np.ndarray:
        """(N, 4, 4) TCP poses at the joint vectors by MoveIt's forward kinematics."""
        if len(positions) == 0:
            return np.zeros((0, 4, 4))
        reply = self._worker.call("fk", self.config.call_timeout, positions=np.asarray(positions).tolist())
        poses: np.ndarray = np.reshape(reply["poses"], (-1, 4, 4)) @ self._tcp
        return poses

    def tcp_orientation(self, q: np.ndarray) -> np.ndarray:
        return np.asarray(quaternion_from_matrix(self._tcp_poses(np.reshape(q, (1, -1)))[0][:3, :3]))

    # ------------------------------------------------------------------ planning
    def plan_cartesian(self, waypoints: Poses, start: np.ndarray, settings: CartesianSettings) -> CartesianPlan:
        start_q = np.asarray(start, dtype=float)
        if start_q.shape != (len(self.joint_names),) or not np.all(np.isfinite(start_q)):
            return CartesianPlan.failed(self.joint_names, f"start state must be {len(self.joint_names)} finite numbers")
        try:
            return self._plan(waypoints, start_q, settings)
        except (WorkerError, ValueError, KeyError) as err:
            return CartesianPlan.failed(self.joint_names, f"moveit_py: {err}")

    def _plan(self, waypoints: Poses, start: np.ndarray, settings: CartesianSettings) -> CartesianPlan:
        begin = self._tcp_poses(start[None])[0]
        dense = Poses(
            np.vstack([begin[:3, 3], waypoints.positions]),
            np.vstack([quaternion_from_matrix(begin[:3, :3]), waypoints.orientations]),
        )
        keys = key_pose_indices(dense, self.config.key_pose_tolerance, self.config.key_pose_turn)[1:]
        goals = link_poses_from_tcp(Poses(dense.positions[keys], dense.orientations[keys]), self.config.tcp_offset)
        reply = self._worker.call(
            "plan", self.config.call_timeout, start=start.tolist(),
            poses=np.hstack([goals.positions, goals.orientations]).tolist(),
            velocity_scaling=settings.velocity_scaling, acceleration_scaling=settings.acceleration_scaling,
        )  # fmt: skip
        segments = int(reply["segments"])
        fraction = _covered(path_lengths(dense.positions), keys, segments)
        error = "" if segments == len(keys) else (
            f"Pilz LIN planned {segments} of {len(keys)} segments "
            f"({100 * fraction:.1f}% of the path): {reply['failure']}"
        )  # fmt: skip
        if segments == 0:
            return CartesianPlan.failed(self.joint_names, error)
        times, positions, velocities = _in_order(reply, self.joint_names)
        tcp = self._tcp_poses(positions)[:, :3, 3]
        return CartesianPlan(self.joint_names, positions, velocities, times, tcp, fraction, error)

    # ------------------------------------------------------------------ execution
    def execute(self, plan: CartesianPlan, should_stop: Callable[[], bool] | None = None) -> ExecutionResult:
        self._stop.clear()
        if len(plan) == 0:
            return ExecutionResult(ExecutionOutcome.REJECTED, "the plan is empty", 0.0, self._positions())

        def stopping() -> bool:
            return self._stop.is_set() or (should_stop is not None and should_stop())

        timeout = plan.duration + self.config.execution_timeout
        started = time.monotonic()
        try:
            reply = self._worker.call(
                "execute", timeout, stopping, joint_names=list(plan.joint_names), times=plan.times.tolist(),
                positions=plan.positions.tolist(), velocities=plan.velocities.tolist(),
            )  # fmt: skip
        except WorkerError as err:
            self._halt()
            outcome = ExecutionOutcome.ABORTED if time.monotonic() - started > 0.1 else ExecutionOutcome.REJECTED
            return ExecutionResult(outcome, str(err), time.monotonic() - started, self._positions())
        elapsed = time.monotonic() - started
        if reply is None or stopping():
            self._halt()
            return ExecutionResult(ExecutionOutcome.CANCELED, "moveit_py execution was stopped", elapsed,
                                   self._positions())  # fmt: skip
        if reply["succeeded"]:
            return ExecutionResult(ExecutionOutcome.SUCCEEDED, "", elapsed, self._positions())
        outcome = ExecutionOutcome.REJECTED if reply["status"] == "REJECTED" else ExecutionOutcome.ABORTED
        return ExecutionResult(outcome, f"moveit_py: {reply['status']}", elapsed, self._positions())

    def _halt(self) -> None:
        try:
            self._worker.call("stop", 5.0)
        except WorkerError:
            pass

    def _positions(self) -> np.ndarray:
        """The group's joints from MoveIt's current state (NaN when the worker cannot say)."""
        try:
            return np.asarray(self._worker.call("current", 5.0)["positions"], dtype=float)
        except (WorkerError, KeyError):
            return np.full(len(self.joint_names), np.nan)

    def stop(self) -> None:
        """Halt now (any thread): stop_execution in the worker; a running execute returns CANCELED."""
        self._stop.set()
        try:
            self._worker.send("stop")
        except WorkerError:
            pass

    def gripper(self, position: float, max_effort: float) -> GripperResult:
        return self._gripper.move(position, max_effort)

    def close(self) -> None:
        """Stop the arm and end the worker (MoveItPy and its rclcpp go with it)."""
        self.stop()
        self._worker.close()


def _covered(lengths: np.ndarray, keys: np.ndarray, segments: int) -> float:
    """Share of the path length up to the last planned key pose (by segments for a turn on the spot)."""
    if len(keys) == 0 or segments >= len(keys):
        return 1.0
    if lengths[-1] <= 1e-9:
        return segments / len(keys)
    return float(lengths[keys[segments - 1]] / lengths[-1]) if segments else 0.0


def _in_order(reply: dict[str, Any], joint_names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Times, positions and velocities of the worker's trajectory in the backend's joint order."""
    names = list(reply["joint_names"])
    missing = [name for name in joint_names if name not in names]
    if missing:
        raise ValueError(f"MoveIt's trajectory lacks joints {missing} (it has {names})")
    order = [names.index(name) for name in joint_names]
    positions = np.asarray(reply["positions"], dtype=float)[:, order]
    velocities = np.asarray(reply["velocities"], dtype=float)[:, order]
    times = np.asarray(reply["times"], dtype=float)
    keep = np.r_[True, np.diff(times) > 0.0]  # a repeated stamp where two segments meet
    return times[keep] - times[0], positions[keep], velocities[keep]
