"""vla_r1_executor through real rclpy: every ExecuteWaypoints outcome, and what reached MoveIt.

The ``move_group`` backend runs against a fake move_group node serving the real moveit_msgs
services and actions (test/fake_move_group.py), which records every request. Runs only inside a
loopback-only network namespace (conftest.ros_sandbox) and needs moveit_msgs and control_msgs.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

pytest.importorskip("rclpy", reason="rclpy is not installed; run scripts/run_tests.sh")
pytestmark = pytest.mark.usefixtures("ros_sandbox", "moveit_installed")

from ros_support import ros_context, spinning, wait_for  # noqa: E402

FRAME = "panda_link0"


@dataclass
class Rig:
    node: Any
    fake: Any
    client_node: Any
    client: Any
    feedback: list[Any]
    events: list[Any]

    def send(self, path: Any, timeout: float = 60.0, **goal_fields: Any) -> tuple[Any, Any]:
        from vla_r1_ros.action import ExecuteWaypoints

        goal = ExecuteWaypoints.Goal(waypoints=path, **goal_fields)
        sent = self.client.send_goal_async(goal, feedback_callback=lambda m: self.feedback.append(m.feedback))
        assert wait_for(sent.done, 10.0) and sent.result().accepted
        return sent.result(), sent.result().get_result_async()

    def run(self, path: Any, **goal_fields: Any) -> Any:
        _, result = self.send(path, **goal_fields)
        assert wait_for(result.done, 60.0), "the goal never ended"
        return result.result()

    def call(self, service: str) -> Any:
        from std_srvs.srv import Trigger

        client = self.client_node.create_client(Trigger, f"/vla_r1_executor/{service}")
        assert client.wait_for_service(timeout_sec=5.0)
        future = client.call_async(Trigger.Request())
        assert wait_for(future.done, 5.0)
        return future.result()


@pytest.fixture
def rig_factory() -> Iterator[Any]:
    import rclpy
    from fake_move_group import FakeMoveGroup
    from rclpy.action import ActionClient
    from rclpy.parameter import Parameter
    from vla_r1_ros.action import ExecuteWaypoints
    from vla_r1_ros.msg import ExecutionEvent

    from vla_r1_ros.ros.executor_node import WaypointExecutorNode

    stack = ExitStack()

    def make(**parameters: Any) -> Rig:
        context = stack.enter_context(ros_context())
        overrides = {"backend": "move_group", "dry_run": False, "require_approval": False, "approval_timeout": 3.0}
        overrides.update(parameters)
        fake = FakeMoveGroup(context=context)
        node = WaypointExecutorNode(
            context=context, parameter_overrides=[Parameter(k, value=v) for k, v in overrides.items()]
        )
        client_node = rclpy.create_node("executor_test_client", context=context)
        events: list[Any] = []
        client_node.create_subscription(ExecutionEvent, "/vla_r1_executor/events", events.append, 50)
        client = ActionClient(client_node, ExecuteWaypoints, "/vla_r1_executor/execute")
        stack.callback(lambda: [each.destroy_node() for each in (node, fake, client_node)])
        stack.enter_context(spinning(context, fake, node, client_node, threads=8))
        assert client.wait_for_server(timeout_sec=10.0)
        assert wait_for(lambda: node.current_positions() is not None, 10.0), "no /joint_states from the fake"
        return Rig(node, fake, client_node, client, [], events)

    yield make
    stack.close()


def descent(rig: Rig, points: int = 8, depth: float = 0.2, x: float = 0.0, stamp: Any = None) -> Any:
    """A straight TCP descent below the ready pose, the hand as it is (what the reasoning node sends)."""
    from geometry_msgs.msg import PoseStamped
    from nav_msgs.msg import Path

    from vla_r1_ros.core.geometry.transforms import quaternion_from_matrix
    from vla_r1_ros.sim.panda_planner import PandaCartesianPlanner

    tcp = PandaCartesianPlanner(tcp_offset=(0.0, 0.0, 0.1034, 0.0, 0.0, 0.0, 1.0)).tcp_pose(
        rig.node.current_positions()
    )
    quaternion = quaternion_from_matrix(tcp[:3, :3])
    path = Path()
    path.header.frame_id = FRAME
    if stamp is not None:
        path.header.stamp = stamp
    for z in np.linspace(tcp[2, 3] - 0.05, tcp[2, 3] - depth, points):
        pose = PoseStamped()
        pose.header.frame_id = FRAME
        pose.pose.position.x, pose.pose.position.y, pose.pose.position.z = tcp[0, 3] + x, tcp[1, 3], z
        pose.pose.orientation.x, pose.pose.orientation.y, pose.pose.orientation.z, pose.pose.orientation.w = (
            float(v) for v in quaternion
        )
        path.poses.append(pose)
    return path


def outcome(result: Any) -> str:
    from vla_r1_ros.ros.commander import OUTCOME_NAMES

    return OUTCOME_NAMES[result.result.outcome]


def test_a_dry_run_checks_and_plans_and_nothing_moves(rig_factory: Any) -> None:
    rig = rig_factory(dry_run=True)
    result = rig.run(descent(rig), grasp_at_end=True)
    assert outcome(result) == "dry_run_ok" and result.result.planned_fraction == pytest.approx(1.0)
    assert rig.fake.recorded.executions == [] and rig.fake.recorded.grippers == []
    request = rig.fake.recorded.cartesian[-1]
    assert (request.header.frame_id, request.group_name, request.link_name) == (FRAME, "panda_arm", "panda_hand")
    assert request.max_step == pytest.approx(0.005) and request.avoid_collisions and request.start_state.is_diff
    assert request.max_velocity_scaling_factor == pytest.approx(0.1) == request.max_acceleration_scaling_factor
    # The TCP waypoints went to MoveIt as panda_hand poses: 0.1034 m back along the hand's z (up).
    asked = descent(rig).poses[0].pose.position
    assert request.waypoints[0].position.z == pytest.approx(asked.z + 0.1034, abs=1e-6)
    table = rig.fake.recorded.scenes[0].scene
    assert table.is_diff and table.world.collision_objects[0].id == "vla_r1_table"
    assert [f.state for f in rig.feedback][:2] == ["checking", "planning"]


def test_an_approved_grasp_runs_gripper_motion_and_lift_through_move_group(rig_factory: Any) -> None:
    rig = rig_factory(require_approval=True)
    _, result = rig.send(descent(rig), grasp_at_end=True, velocity_scaling=0.0)
    assert wait_for(lambda: any(f.state == "awaiting_approval" for f in rig.feedback), 20.0)
    assert rig.fake.recorded.executions == []  # nothing moves before the approval
    answer = rig.call("approve")
    assert answer.success
    assert wait_for(result.done, 60.0)
    assert outcome(result.result()) == "succeeded", result.result().result.reason
    assert [position for position, _ in rig.fake.recorded.grippers] == [0.04, 0.0]
    assert len(rig.fake.recorded.executions) == 2  # approach, then the lift
    for request in rig.fake.recorded.cartesian:  # a 0 from the goal was never passed on
        assert request.max_velocity_scaling_factor == pytest.approx(0.1)
    phases = [(e.phase, e.outcome) for e in rig.events]
    assert ("awaiting_approval", "started") in phases and ("executing", "started") in phases


@pytest.mark.parametrize(
    ("service", "name", "reason"),
    [("reject", "not_approved", "rejected by the operator"), (None, "not_approved", "no approval within the timeout")],
)
def test_without_an_approval_nothing_moves(rig_factory: Any, service: str | None, name: str, reason: str) -> None:
    rig = rig_factory(require_approval=True, approval_timeout=1.0)
    _, result = rig.send(descent(rig))
    assert wait_for(lambda: any(f.state == "awaiting_approval" for f in rig.feedback), 20.0)
    if service:
        assert rig.call(service).success
    assert wait_for(result.done, 10.0)
    assert outcome(result.result()) == name and reason in result.result().result.reason
    assert rig.fake.recorded.executions == []
    assert not rig.call("approve").success  # nothing is waiting any more


def test_the_safety_filter_names_every_rule_it_refuses(rig_factory: Any) -> None:
    rig = rig_factory()
    path = descent(rig)
    path.poses[1].pose.position.z = float("nan")
    path.poses[3].pose.position.x = 2.0
    path.poses[5].pose.position.z = -0.3
    result = rig.run(path)
    assert outcome(result) == "rejected_by_safety"
    assert {"non_finite", "workspace", "min_height", "reach"} <= set(result.result.violated_rules)
    assert rig.fake.recorded.cartesian == []


def test_a_partial_plan_fails_with_its_fraction(rig_factory: Any) -> None:
    rig = rig_factory()
    rig.fake.script.fraction = 0.6
    result = rig.run(descent(rig))
    assert outcome(result) == "planning_failed" and result.result.planned_fraction == pytest.approx(0.6)
    assert "fraction" in result.result.violated_rules and "60.0% of the path" in result.result.reason


def test_a_joint_jump_in_move_groups_plan_is_refused(rig_factory: Any) -> None:
    rig = rig_factory(max_joint_step=0.001)  # every 5 mm step turns some joint by more
    result = rig.run(descent(rig))
    assert outcome(result) == "planning_failed" and "joint_jump" in result.result.violated_rules


def test_a_planning_error_is_reported_with_moveits_code(rig_factory: Any) -> None:
    from moveit_msgs.msg import MoveItErrorCodes

    rig = rig_factory()
    rig.fake.script.plan_error = MoveItErrorCodes.NO_IK_SOLUTION
    result = rig.run(descent(rig))
    assert outcome(result) == "planning_failed" and "NO_IK_SOLUTION" in result.result.reason


def test_an_execution_failure_is_reported_and_the_node_keeps_serving(rig_factory: Any) -> None:
    from moveit_msgs.msg import MoveItErrorCodes

    rig = rig_factory()
    rig.fake.script.execute_error = MoveItErrorCodes.CONTROL_FAILED
    failed = rig.run(descent(rig))
    assert outcome(failed) == "execution_failed" and "CONTROL_FAILED" in failed.result.reason
    rig.fake.script.execute_error = MoveItErrorCodes.SUCCESS
    assert outcome(rig.run(descent(rig, depth=0.1))) == "succeeded"


def test_cancel_mid_motion_cancels_move_groups_execution_and_the_arm_stops(rig_factory: Any) -> None:
    rig = rig_factory(max_velocity_scaling=0.05, max_acceleration_scaling=0.05)
    rig.fake.script.speedup = 1.0
    start = rig.fake.positions.copy()
    handle, result = rig.send(descent(rig, depth=0.25))
    assert wait_for(lambda: rig.fake.moving, 20.0)
    assert wait_for(lambda: not np.allclose(rig.fake.positions, start), 10.0)
    cancelled_at = time.monotonic()
    handle.cancel_goal_async()
    assert wait_for(lambda: not rig.fake.moving, 5.0) and rig.fake.recorded.stop_times
    # The arm's own clock: when the fake stopped it (the test thread may see it later under load).
    stopped_after = rig.fake.recorded.stop_times[0] - cancelled_at
    reached = rig.fake.recorded.cancel_times[0] - cancelled_at
    assert stopped_after < 0.5, f"the arm stopped {stopped_after:.3f} s after the cancel (move_group: {reached:.3f} s)"
    assert wait_for(result.done, 10.0)
    assert outcome(result.result()) == "canceled" and result.result().status == 5
    assert rig.fake.recorded.cancels >= 1
    planned_end = rig.fake.recorded.executions[0].trajectory.joint_trajectory.points[-1].positions
    stopped = rig.fake.positions
    assert not np.allclose(stopped, start) and not np.allclose(stopped, planned_end), "it moved, and stopped short"
    assert result.result().result.waypoints_reached < 8


def test_stale_waypoints_are_refused_by_the_plan_checks(rig_factory: Any) -> None:
    rig = rig_factory(max_prediction_age=1.0)
    old = rig.node.get_clock().now().to_msg()
    old.sec -= 30
    result = rig.run(descent(rig, stamp=old))
    assert outcome(result) == "planning_failed" and "prediction_age" in result.result.violated_rules


def test_waypoints_in_another_frame_are_refused(rig_factory: Any) -> None:
    rig = rig_factory()
    path = descent(rig)
    path.header.frame_id = "camera_color_optical_frame"
    result = rig.run(path)
    assert outcome(result) == "rejected_by_safety" and "the executor plans in 'panda_link0'" in result.result.reason
