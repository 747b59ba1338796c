"""The executor's ``moveit_py`` backend against a fake moveit_py (test/fake_moveit), then through the node.

MoveItPy cannot be installed here. The fake follows moveit_py's Jazzy signatures and behaves like
a Panda (pybullet LIN segments, forward kinematics, real-time execution that can be stopped); it
runs in the backend's worker process, records every call in ``record.jsonl`` and reads
``script.json`` (see test/fake_moveit/moveit/_fake.py). Only the workers started here get it on
PYTHONPATH.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from vla_r1_ros.core.execution import (
    FRANKA_HAND_TCP_OFFSET,
    CartesianSettings,
    ExecutionOutcome,
    GripperResult,
    PlanCheckLimits,
    PlanRule,
    Poses,
    check_plan,
)
from vla_r1_ros.core.execution.limits import PANDA_ARM_LIMITS
from vla_r1_ros.core.geometry.transforms import matrix_from_quaternion, quaternion_from_matrix
from vla_r1_ros.sim.panda_model import READY_POSITIONS

pytestmark = pytest.mark.usefixtures("moveit_installed")  # the fake's trajectories are moveit_msgs

FAKE = Path(__file__).resolve().parent / "fake_moveit"
READY = np.array(READY_POSITIONS)


class Fake:
    """The fake's files: what it is told, what it received."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def script(self, **values: Any) -> None:
        (self.directory / "script.json").write_text(json.dumps(values))

    def calls(self, name: str) -> list[dict[str, Any]]:
        path = self.directory / "record.jsonl"
        lines = path.read_text().splitlines() if path.exists() else []
        return [entry for entry in map(json.loads, lines) if entry["call"] == name]


def fake_env(directory: Path, joint_states: bool = False, with_fake: bool = True) -> dict[str, str]:
    env = dict(os.environ, FAKE_MOVEIT_DIR=str(directory), FAKE_MOVEIT_JOINT_STATES="1" if joint_states else "0")
    if with_fake:
        env["PYTHONPATH"] = os.pathsep.join([str(FAKE), env.get("PYTHONPATH", "")])
    return env


class RecordingGripper:
    def __init__(self) -> None:
        self.moves: list[tuple[float, float]] = []

    def move(self, position: float, max_effort: float) -> GripperResult:
        self.moves.append((position, max_effort))
        return GripperResult(position, max_effort, False, True)


@pytest.fixture
def fake(tmp_path: Path) -> Fake:
    return Fake(tmp_path)


@pytest.fixture
def backend(fake: Fake) -> Iterator[Any]:
    from vla_r1_ros.ros.moveit_py_backend import MoveItPyBackend, MoveItPyConfig

    made = MoveItPyBackend(MoveItPyConfig(), RecordingGripper(), env=fake_env(fake.directory))
    yield made
    made.close()


def ready_tcp() -> np.ndarray:
    from vla_r1_ros.sim.panda_planner import PandaCartesianPlanner

    return PandaCartesianPlanner(tcp_offset=FRANKA_HAND_TCP_OFFSET).tcp_pose(READY)


def tcp_path(*legs: tuple[float, float, float], step: float = 0.01) -> Poses:
    """1 cm TCP waypoints from the ready pose along ``legs`` (dx, dy, dz), the hand as it is."""
    tcp = ready_tcp()
    points, here = [], tcp[:3, 3].copy()
    for leg in legs:
        steps = max(1, round(float(np.linalg.norm(leg)) / step))
        for k in range(1, steps + 1):
            points.append(here + np.asarray(leg) * k / steps)
        here = points[-1]
    return Poses(np.array(points), np.tile(quaternion_from_matrix(tcp[:3, :3]), (len(points), 1)))


def accepted(plan: Any, path: Poses) -> Any:
    return check_plan(plan, path.positions, READY, PANDA_ARM_LIMITS, PlanCheckLimits())


def test_a_straight_descent_is_one_pilz_lin_segment_of_the_link(backend: Any, fake: Fake) -> None:
    path = tcp_path((0.0, 0.0, -0.15))
    plan = backend.plan_cartesian(path, READY, CartesianSettings(velocity_scaling=0.3, acceleration_scaling=0.2))
    assert plan.error == "" and plan.fraction == 1.0 and len(plan) > 10
    assert accepted(plan, path).accepted, accepted(plan, path).message()
    [call] = fake.calls("plan")
    assert (call["pipeline"], call["planner_id"], call["namespace"]) == ("pilz_industrial_motion_planner", "LIN",
                                                                       "pilz_lin")  # fmt: skip
    assert (call["velocity"], call["acceleration"]) == (0.3, 0.2)
    assert (call["group"], call["link"], call["frame"]) == ("panda_arm", "panda_hand", "panda_link0")
    assert call["start"] == pytest.approx(READY.tolist())
    # The goal is panda_hand's pose: the TCP moved back 0.1034 m along the hand's z axis.
    hand_z = matrix_from_quaternion(np.array(call["goal"][3:]))[:, 2]
    assert np.asarray(call["goal"][:3]) + 0.1034 * hand_z == pytest.approx(path.positions[-1], abs=1e-9)
    assert plan.tcp_positions[-1] == pytest.approx(path.positions[-1], abs=1e-3)  # MoveIt's FK, TCP applied
    assert plan.positions[0] == pytest.approx(READY)


def test_a_corner_makes_two_chained_segments_that_stop_at_it(backend: Any, fake: Fake) -> None:
    path = tcp_path((0.0, 0.0, -0.08), (0.08, 0.0, 0.0))
    plan = backend.plan_cartesian(path, READY, CartesianSettings())
    assert plan.fraction == 1.0 and accepted(plan, path).accepted, accepted(plan, path).message()
    first, second = fake.calls("plan")
    corner = int(np.argmin(np.linalg.norm(plan.tcp_positions - path.positions[7], axis=1)))
    assert plan.tcp_positions[corner] == pytest.approx(path.positions[7], abs=1e-3)
    assert second["start"] == pytest.approx(plan.positions[corner].tolist(), abs=1e-9), "chained at the corner"
    assert first["goal"][:3] != pytest.approx(second["goal"][:3], abs=0.01)
    assert np.linalg.norm(plan.velocities[corner]) < 1e-6, "a LIN segment ends at rest"
    assert np.all(np.diff(plan.times) > 0) and plan.times[0] == 0.0


def test_a_segment_that_fails_gives_a_partial_plan_the_fraction_rule_refuses(backend: Any, fake: Fake) -> None:
    path = tcp_path((0.0, 0.0, -0.08), (0.08, 0.0, 0.0))
    fake.script(fail_x_above=float(ready_tcp()[0, 3]) + 0.04)  # the second segment's goal
    plan = backend.plan_cartesian(path, READY, CartesianSettings())
    assert plan.fraction == pytest.approx(0.5, abs=0.01) and len(plan) > 1
    assert "planned 1 of 2 segments" in plan.error and "NO_IK_SOLUTION" in plan.error
    checks = accepted(plan, path)
    assert PlanRule.FRACTION in checks.rules and "50.0% of the path was planned" in checks.message()
    fake.script(fail_x_above=-10.0)  # nothing can be planned
    nothing = backend.plan_cartesian(path, READY, CartesianSettings())
    assert len(nothing) == 0 and nothing.fraction == 0.0 and "segment 1 of 2: NO_IK_SOLUTION" in nothing.error


def test_execution_runs_the_checked_plan_and_stop_halts_it(backend: Any, fake: Fake) -> None:
    plan = backend.plan_cartesian(tcp_path((0.0, 0.0, -0.1)), READY, CartesianSettings())
    result = backend.execute(plan)
    assert result.outcome is ExecutionOutcome.SUCCEEDED
    assert result.final_positions == pytest.approx(plan.positions[-1], abs=1e-9)
    [push] = fake.calls("push")
    assert push["points"] == len(plan) and push["first"] == pytest.approx(plan.positions[0].tolist())
    # Back up, slowly, and stop it from another thread halfway.
    fake.script(speedup=1.0)
    back = backend.plan_cartesian(Poses.single(ready_tcp()[:3, 3], quaternion_from_matrix(ready_tcp()[:3, :3])),
                                  result.final_positions, CartesianSettings(velocity_scaling=0.05))  # fmt: skip
    assert back.duration > 1.0
    threading.Timer(0.5, backend.stop).start()
    started = time.monotonic()
    stopped = backend.execute(back)
    assert stopped.outcome is ExecutionOutcome.CANCELED and time.monotonic() - started < 1.5
    assert fake.calls("stop_execution")
    at = stopped.final_positions
    assert not np.allclose(at, back.positions[0], atol=1e-4) and not np.allclose(at, back.positions[-1], atol=1e-4)
    time.sleep(0.3)
    assert backend._positions() == pytest.approx(at), "the arm stays where it stopped"


def test_should_stop_cancels_and_a_controller_failure_aborts(backend: Any, fake: Fake) -> None:
    fake.script(speedup=1.0)
    plan = backend.plan_cartesian(tcp_path((0.0, 0.0, -0.1)), READY, CartesianSettings(velocity_scaling=0.05))
    asked = time.monotonic() + 0.4
    result = backend.execute(plan, should_stop=lambda: time.monotonic() > asked)
    assert result.outcome is ExecutionOutcome.CANCELED
    fake.script(execute_status="ABORTED", speedup=20.0)
    again = backend.plan_cartesian(tcp_path((0.0, 0.0, -0.05)), result.final_positions, CartesianSettings())
    aborted = backend.execute(again)
    assert aborted.outcome is ExecutionOutcome.ABORTED and "ABORTED" in aborted.message
    # A plan that does not start where the arm is fails in the execution manager, not silently.
    stale = backend.execute(plan)
    assert stale.outcome is ExecutionOutcome.ABORTED


def test_a_dead_worker_gives_failures_with_its_exit_code_never_a_crash(backend: Any, fake: Fake) -> None:
    fake.script(speedup=1.0)
    plan = backend.plan_cartesian(tcp_path((0.0, 0.0, -0.1)), READY, CartesianSettings(velocity_scaling=0.05))
    threading.Timer(0.4, backend._worker.process.kill).start()
    result = backend.execute(plan)
    assert result.outcome is ExecutionOutcome.ABORTED and "exited with code -9" in result.message
    assert np.isnan(result.final_positions).all()
    failed = backend.plan_cartesian(tcp_path((0.0, 0.0, -0.1)), READY, CartesianSettings())
    assert len(failed) == 0 and "exited with code -9" in failed.error
    refused = backend.execute(plan)
    assert refused.outcome is ExecutionOutcome.REJECTED and "exited" in refused.message
    backend.stop()  # still safe to call


def test_without_moveit_py_the_backend_says_what_to_install(tmp_path: Path) -> None:
    from vla_r1_ros.ros.moveit_py_backend import MoveItPyBackend, MoveItPyConfig, MoveItPyUnavailable

    with pytest.raises(MoveItPyUnavailable, match="ros-jazzy-moveit-py") as raised:
        MoveItPyBackend(MoveItPyConfig(), RecordingGripper(), env=fake_env(tmp_path, with_fake=False))
    assert "No module named 'moveit'" in str(raised.value)


def test_the_worker_exits_when_the_executor_dies(tmp_path: Path) -> None:
    parent = (
        "import os, sys\n"
        "from vla_r1_ros.ros.moveit_py_backend import MoveItPyBackend, MoveItPyConfig\n"
        "class G:\n    def move(self, p, e): pass\n"
        "b = MoveItPyBackend(MoveItPyConfig(), G())\n"
        "print(b._worker.process.pid, flush=True)\n"
        "os._exit(1)\n"  # no close(): as if killed
    )
    done = subprocess.run([sys.executable, "-c", parent], env=fake_env(tmp_path), capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    worker = int(done.stdout.split()[0])
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline and Path(f"/proc/{worker}").exists():
        if Path(f"/proc/{worker}/stat").read_text().split()[2] == "Z":
            break  # exited, waiting to be reaped
        time.sleep(0.05)
    alive = Path(f"/proc/{worker}").exists() and Path(f"/proc/{worker}/stat").read_text().split()[2] != "Z"
    assert not alive, "the moveit_py worker outlived the executor"
    assert [c["node_name"] for c in Fake(tmp_path).calls("MoveItPy")] == ["vla_r1_moveit_py"]


def test_params_files_come_from_the_command_line_or_the_parameter() -> None:
    from types import SimpleNamespace

    from vla_r1_ros.ros.moveit_py_backend import moveit_py_config, params_files_from_argv

    argv = ["executor", "--ros-args", "--params-file", "/tmp/a.yaml", "-p", "x:=1", "--params-file", "/tmp/b.yaml"]
    assert params_files_from_argv(argv) == ("/tmp/a.yaml", "/tmp/b.yaml")
    settings = SimpleNamespace(
        moveit_py_params_file="", moveit_py_node_name="n", planning_group="g", ee_link="l", planning_frame="f",
        pilz_namespace="ns", tcp_offset=(0.0,) * 6 + (1.0,), key_pose_tolerance=0.002, key_pose_turn=0.3,
        execution_timeout=5.0,
    )  # fmt: skip
    assert moveit_py_config(settings, argv).params_files == ("/tmp/a.yaml", "/tmp/b.yaml")
    settings.moveit_py_params_file = "/tmp/moveit.yaml"
    config = moveit_py_config(settings, argv)
    assert config.params_files == ("/tmp/moveit.yaml",) and config.request_namespace == "ns"


def test_the_worker_gives_moveit_py_the_parameters_of_every_section(tmp_path: Path) -> None:
    from vla_r1_ros.ros.moveit_py_worker import _merged_parameters

    path = tmp_path / "params.yaml"
    path.write_text(
        "/vla_r1_executor:\n  ros__parameters:\n    robot_description: '<robot/>'\n    backend: moveit_py\n"
        "/**:\n  ros__parameters:\n    planning_pipelines:\n      pipeline_names: [pilz_industrial_motion_planner]\n"
    )
    merged = _merged_parameters([str(path)])
    assert merged["robot_description"] == "<robot/>"
    assert merged["planning_pipelines"] == {"pipeline_names": ["pilz_industrial_motion_planner"]}


# ---------------------------------------------------------------------- through the executor node
@pytest.fixture
def node_rig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ros_sandbox: None) -> Iterator[Any]:
    """Make the executor node with backend:=moveit_py (the fake publishes /joint_states from its
    process) and a GripperCommand server; returns (node, action client, gripper goals)."""
    from contextlib import ExitStack

    import rclpy
    from control_msgs.action import GripperCommand
    from rclpy.action import ActionClient, ActionServer
    from rclpy.parameter import Parameter
    from ros_support import ros_context, spinning, wait_for
    from vla_r1_ros.action import ExecuteWaypoints

    from vla_r1_ros.ros.executor_node import WaypointExecutorNode

    for key, value in fake_env(tmp_path, joint_states=True).items():
        monkeypatch.setenv(key, value)  # inherited by the worker only: this process imported nothing from it
    stack = ExitStack()

    def make(**parameters: Any) -> tuple[Any, Any, list[float]]:
        context = stack.enter_context(ros_context())
        overrides = {"backend": "moveit_py", "dry_run": False, "require_approval": False}
        overrides.update(parameters)
        node = WaypointExecutorNode(context=context, parameter_overrides=[Parameter(k, value=v)
                                                                           for k, v in overrides.items()])  # fmt: skip
        helper = rclpy.create_node("moveit_py_test_client", context=context)
        grips: list[float] = []

        def grip(goal: Any) -> Any:
            grips.append(goal.request.command.position)
            goal.succeed()
            return GripperCommand.Result(position=goal.request.command.position, reached_goal=True)

        server = ActionServer(helper, GripperCommand, "/panda_hand_controller/gripper_cmd", execute_callback=grip)
        client = ActionClient(helper, ExecuteWaypoints, "/vla_r1_executor/execute")
        stack.callback(lambda: [server.destroy(), node.destroy_node(), helper.destroy_node()])
        stack.enter_context(spinning(context, node, helper, threads=6))
        assert client.wait_for_server(timeout_sec=10.0)
        assert wait_for(lambda: node.current_positions() is not None, 15.0), "no /joint_states from the fake"
        return node, client, grips

    yield make
    stack.close()


def goal_path(path: Poses) -> Any:
    from geometry_msgs.msg import PoseStamped
    from nav_msgs.msg import Path as PathMsg

    message = PathMsg()
    message.header.frame_id = "panda_link0"
    for p, q in zip(path.positions, path.orientations):
        pose = PoseStamped()
        pose.header.frame_id = "panda_link0"
        pose.pose.position.x, pose.pose.position.y, pose.pose.position.z = (float(v) for v in p)
        o = pose.pose.orientation
        o.x, o.y, o.z, o.w = (float(v) for v in q)
        message.poses.append(pose)
    return message


def send(client: Any, path: Poses, **fields: Any) -> tuple[Any, Any]:
    from ros_support import wait_for
    from vla_r1_ros.action import ExecuteWaypoints

    sent = client.send_goal_async(ExecuteWaypoints.Goal(waypoints=goal_path(path), **fields))
    assert wait_for(sent.done, 10.0) and sent.result().accepted
    return sent.result(), sent.result().get_result_async()


def finished(future: Any) -> Any:
    from ros_support import wait_for

    from vla_r1_ros.ros.commander import OUTCOME_NAMES

    assert wait_for(future.done, 30.0), "the goal never ended"
    result = future.result().result
    return OUTCOME_NAMES[result.outcome], result


def test_the_executor_plans_runs_and_refuses_partial_plans_with_moveit_py(node_rig: Any, fake: Fake) -> None:
    node, client, grips = node_rig()  # the fake's directory is this test's tmp_path too
    name, result = finished(send(client, tcp_path((0.0, 0.0, -0.1)), dry_run=True)[1])
    assert name == "dry_run_ok" and result.planned_fraction == pytest.approx(1.0) and not fake.calls("push")
    name, result = finished(send(client, tcp_path((0.0, 0.0, -0.1)), grasp_at_end=True)[1])
    assert name == "succeeded", result.reason
    assert grips == [0.04, 0.0] and len(fake.calls("push")) == 2  # the approach, then the lift
    assert [c["status"] for c in fake.calls("status")] == ["SUCCEEDED", "SUCCEEDED"]
    fake.script(fail_x_above=float(ready_tcp()[0, 3]) + 0.04)  # the corner's second segment fails
    here = node.current_positions()
    pushed = len(fake.calls("push"))
    name, result = finished(send(client, tcp_path((0.0, 0.0, -0.08), (0.08, 0.0, 0.0)))[1])
    assert name == "planning_failed" and "fraction" in result.violated_rules
    assert "of the path was planned" in result.reason and "planned 1 of 2 segments" in result.reason
    assert 0.2 < result.planned_fraction < 0.8 and len(fake.calls("push")) == pushed
    assert node.current_positions() == pytest.approx(here, abs=1e-6), "a refused plan moves nothing"


def test_cancel_mid_motion_stops_the_arm_through_moveit_py(node_rig: Any, fake: Fake) -> None:
    from ros_support import wait_for

    node, client, _ = node_rig(max_velocity_scaling=0.05, max_acceleration_scaling=0.05)
    fake.script(speedup=1.0)
    start = node.current_positions()
    handle, future = send(client, tcp_path((0.0, 0.0, -0.15)))
    assert wait_for(lambda: not np.allclose(node.current_positions(), start, atol=1e-3), 20.0), "it never moved"
    cancelled = time.monotonic()
    handle.cancel_goal_async()
    name, result = finished(future)
    assert name == "canceled" and result.waypoints_reached < 15
    [stop] = fake.calls("stop_execution")[:1]
    assert stop["time"] - cancelled < 1.0  # monotonic clocks of one machine
    planned_end = fake.calls("push")[0]["last"]
    time.sleep(0.3)
    held = node.current_positions()
    assert held == pytest.approx(stop["positions"], abs=1e-6), "the arm stays where it stopped"
    assert not np.allclose(held, start, atol=1e-3) and not np.allclose(held, planned_end, atol=1e-3)


def test_the_executor_fails_at_start_up_naming_what_to_install(tmp_path: Path, ros_sandbox: None,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    from rclpy.parameter import Parameter
    from ros_support import ros_context

    from vla_r1_ros.ros.executor_node import WaypointExecutorNode
    from vla_r1_ros.ros.moveit_py_backend import MoveItPyUnavailable

    for key, value in fake_env(tmp_path, with_fake=False).items():
        monkeypatch.setenv(key, value)
    with ros_context() as context, pytest.raises(MoveItPyUnavailable, match="sudo apt install ros-jazzy-moveit-py"):
        WaypointExecutorNode(context=context, parameter_overrides=[Parameter("backend", value="moveit_py")])
