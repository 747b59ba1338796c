"""The simulated arm, the executor and the reasoning node together, through real rclpy.

sim_arm (pybullet Panda, camera, ros2_control-style actions), vla_r1_executor on its ``sim``
backend and vla_r1_node answering with the oracle (the rendered truth): a pick through the two
actions lifts the named object, like ``vla-r1 sim-eval`` does for the same seed; a cancel stops
the physical arm. Runs only inside a loopback-only network namespace and needs control_msgs and
pybullet.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pytest

pytest.importorskip("rclpy", reason="rclpy is not installed; run scripts/run_tests.sh")
pytest.importorskip("pybullet")
pytestmark = pytest.mark.usefixtures("ros_sandbox", "moveit_installed", "tf2_installed")

from ros_support import ros_context, spinning, wait_for  # noqa: E402

SCALING = 0.5
SEEDS = (3, 7)


@dataclass
class Stack:
    sim: Any
    reasoning: Any
    executor: Any
    client: Any
    context: Any


@pytest.fixture
def stack_factory() -> Iterator[Any]:
    from rclpy.parameter import Parameter

    from vla_r1_ros.ros.commander import VlaR1Commander
    from vla_r1_ros.ros.executor_node import WaypointExecutorNode
    from vla_r1_ros.ros.sim_arm import SimArmNode
    from vla_r1_ros.ros.vla_r1_node import VlaR1Node
    from vla_r1_ros.sim.pick import OracleBackend

    exits = ExitStack()

    def make(seed: int, **executor_parameters: Any) -> Stack:
        context = exits.enter_context(ros_context())

        def params(values: dict[str, Any]) -> list[Any]:
            return [Parameter(k, value=v) for k, v in values.items()]

        sim = SimArmNode(context=context, parameter_overrides=params({"seed": seed}))
        reasoning = VlaR1Node(
            backend=OracleBackend(sim.world),
            context=context,
            parameter_overrides=params(
                {"target_frame": "panda_link0", "grasp_depth": 0.02, "approach_height": 0.1, "max_frame_age": 1.0}
            ),
        )
        executor_values = {
            "backend": "sim",
            "dry_run": False,
            "require_approval": False,
            "tcp_offset": [0.0, 0.0, 0.105, 0.0, 0.0, 0.0, 1.0],
            "max_velocity_scaling": SCALING,
            "max_acceleration_scaling": SCALING,
        }
        executor_values.update(executor_parameters)
        executor = WaypointExecutorNode(context=context, parameter_overrides=params(executor_values))
        client = VlaR1Commander(context=context)
        exits.callback(lambda: [node.destroy_node() for node in (client, executor, reasoning, sim)])
        exits.enter_context(spinning(context, sim, reasoning, executor, threads=6))
        assert wait_for(lambda: executor.current_positions() is not None, 20.0), "no /joint_states from sim_arm"
        return Stack(sim, reasoning, executor, client, context)

    yield make
    exits.close()


def sim_eval_outcome(seed: int) -> Any:
    """What ``vla-r1 sim-eval --predictor oracle`` gets for ``seed`` with the same executor limits."""
    from vla_r1_ros.sim.panda import PandaWorld
    from vla_r1_ros.sim.pick import OracleBackend, PickSettings, run_pick_episode
    from vla_r1_ros.sim.sim_backend import SimMotionBackend

    settings = PickSettings()
    settings = replace(
        settings, executor=replace(settings.executor, max_velocity_scaling=SCALING, max_acceleration_scaling=SCALING)
    )
    with PandaWorld() as world:
        backend = SimMotionBackend(world)
        try:
            return run_pick_episode(world, backend, OracleBackend(world), seed, settings)
        finally:
            backend.kinematics.close()


@pytest.mark.parametrize("seed", SEEDS)
def test_a_pick_through_both_actions_lifts_the_named_object_like_sim_eval(stack_factory: Any, seed: int) -> None:
    stack = stack_factory(seed)
    target = stack.sim.scene.target.name
    start_z = stack.sim.world.object_pose(target)[2, 3]
    answer, outcome = stack.client.pick(stack.sim.scene.instruction, timeout_s=120.0)
    assert answer.success, answer.message
    assert outcome is not None and outcome.outcome == outcome.OUTCOME_SUCCEEDED, outcome and outcome.reason
    rise = stack.sim.world.object_pose(target)[2, 3] - start_z
    held = target in stack.sim.world.held_objects()
    reference = sim_eval_outcome(seed)
    assert (rise >= 0.05 and held) == reference.success, (rise, held, reference.to_json())
    assert reference.success


def send_sideways_path(stack: Stack) -> Any:
    """Send the executor a 28 cm sideways path 10 cm below the tool; the accepted goal's handle."""
    from geometry_msgs.msg import PoseStamped
    from nav_msgs.msg import Path
    from rclpy.action import ActionClient
    from vla_r1_ros.action import ExecuteWaypoints

    tcp = stack.executor._backend.planner.tcp_pose(stack.executor.current_positions())
    path = Path()
    path.header.frame_id = "panda_link0"
    for dy in np.linspace(0.02, 0.3, 15):
        pose = PoseStamped()
        pose.header.frame_id = "panda_link0"
        pose.pose.position.x, pose.pose.position.y, pose.pose.position.z = tcp[0, 3], tcp[1, 3] + dy, tcp[2, 3] - 0.1
        pose.pose.orientation.x = 1.0  # pointing down, as the ready pose does (nearer grasp tried first anyway)
        pose.pose.orientation.w = 0.0
        path.poses.append(pose)
    client = ActionClient(stack.client, ExecuteWaypoints, "/vla_r1_executor/execute")
    stack.client.spin_for(0.5)
    assert client.server_is_ready()
    sent = client.send_goal_async(ExecuteWaypoints.Goal(waypoints=path))
    assert stack.client.spin_until(sent, 10.0)
    return sent.result()


def test_joint_state_stamps_follow_simulated_time(stack_factory: Any) -> None:
    """Differentiating /joint_states by their stamps gives the speeds the simulator reports.

    Stamped with the wall clock at publication, the physics thread's catch-up bursts put 10 ms of
    motion 1 ms apart and the differentiated speed came out several times too high.
    """
    from sensor_msgs.msg import JointState

    stack = stack_factory(SEEDS[0], max_velocity_scaling=0.3, max_acceleration_scaling=0.3)
    states: list[tuple[int, list[float], list[float]]] = []

    def keep(m: JointState) -> None:
        states.append((m.header.stamp.sec * 10**9 + m.header.stamp.nanosec, list(m.position[:7]), list(m.velocity[:7])))

    stack.client.create_subscription(JointState, "/joint_states", keep, 200)
    result = send_sideways_path(stack).get_result_async()
    assert stack.client.spin_until(result, 60.0)
    stamps = np.array([s[0] for s in states], dtype=np.int64)
    positions, reported = np.array([s[1] for s in states]), np.array([s[2] for s in states])
    assert np.all(np.diff(stamps) >= 0), "stamps went back in time"
    spacing = np.diff(stamps) / 1e9
    assert 0.009 <= float(np.median(spacing)) <= 0.011, "joint states are published every 10 ms of simulated time"
    moving = (np.abs(reported[1:]).max(axis=1) > 0.05) & (spacing > 0.0)
    differentiated = np.abs(np.diff(positions, axis=0)[moving] / spacing[moving, None]).max(axis=1)
    peak = float(np.abs(reported).max())
    assert moving.sum() > 50, "the arm hardly moved"
    assert float(np.percentile(differentiated, 99)) <= 1.3 * peak, (np.percentile(differentiated, 99), peak)


def test_cancel_mid_motion_stops_the_simulated_arm_within_half_a_second(stack_factory: Any) -> None:
    from sensor_msgs.msg import JointState
    from vla_r1_ros.action import ExecuteWaypoints

    stack = stack_factory(SEEDS[0], max_velocity_scaling=0.3, max_acceleration_scaling=0.3)
    speeds: list[tuple[float, float]] = []
    stack.client.create_subscription(
        JointState,
        "/joint_states",
        lambda m: speeds.append((time.monotonic(), float(np.abs(m.velocity[:7]).max()))),
        50,
    )
    handle = send_sideways_path(stack)
    deadline = time.monotonic() + 30.0
    while time.monotonic() < deadline and not (speeds and speeds[-1][1] > 0.1):
        stack.client.spin_for(0.05)
    assert speeds and speeds[-1][1] > 0.1, "the arm never moved"
    cancelled_at = time.monotonic()
    cancel = handle.cancel_goal_async()
    result = handle.get_result_async()
    assert stack.client.spin_until(result, 10.0) and cancel.done()
    assert result.result().status == 5 and result.result().result.outcome == ExecuteWaypoints.Result.OUTCOME_CANCELED
    stack.client.spin_for(1.0)
    still = [t - cancelled_at for t, speed in speeds if t > cancelled_at and speed < 0.01]
    assert still and still[0] < 0.5, f"joint velocities fell below 0.01 rad/s only {still[:1]} s after the cancel"
    assert all(speed < 0.01 for t, speed in speeds if t > cancelled_at + 0.5)
