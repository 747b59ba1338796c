"""The generated interfaces with real rclpy: every message published and received, both actions run.

Runs only inside a loopback-only network namespace (see conftest.ros_sandbox).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

pytestmark = pytest.mark.usefixtures("ros_sandbox")
pytest.importorskip("rclpy", reason="rclpy is not installed; run scripts/run_tests.sh")

from ros_support import ros_context, spinning, wait_for  # noqa: E402


@pytest.fixture(scope="module")
def node() -> Iterator[Any]:
    import rclpy

    with ros_context() as context:
        test_node = rclpy.create_node("vla_r1_interface_test", context=context)
        try:
            with spinning(context, test_node, threads=4):
                yield test_node
        finally:
            test_node.destroy_node()


def sample_messages() -> dict[str, Any]:
    from std_msgs.msg import Header
    from vla_r1_ros.msg import Point2D, StageLatency

    from vla_r1_ros.core.protocol import Task, parse_completion
    from vla_r1_ros.ros.conversions import affordance_region_msg, prediction_msg, trajectory_msg

    header = Header(frame_id="camera_color_optical_frame")
    header.stamp.sec, header.stamp.nanosec = 1_700_000_000, 123
    box_text = (
        "<think>the red mug</think> so, the answer is "
        '<output>{"x": 0.5, "y": 0.25, "width": 0.2, "height": 0.1}</output>'
    )
    path_text = "<think>move right</think><output>[[0.1, 0.9], [0.4, 0.5], [0.6, 0.3]]</output>"
    box_parsed, path_parsed = parse_completion(box_text), parse_completion(path_text)
    assert box_parsed.box is not None and path_parsed.trajectory is not None
    prediction = prediction_msg(
        header=header,
        instruction="pick up the red mug",
        task=Task.AFFORDANCE,
        raw_output=box_text,
        parsed=box_parsed,
        image_width=640,
        image_height=480,
        latencies=[("generate", 0.75), ("parse", 0.0001)],
        model_id="GigaAI-Research/vla-r1",
    )
    return {
        "Point2D": Point2D(x=0.25, y=0.75),
        "StageLatency": StageLatency(stage="lift", seconds=0.002),
        "AffordanceRegion": affordance_region_msg(box_parsed.box, 640, 480, header),
        "Trajectory2D": trajectory_msg(path_parsed.trajectory, 640, 480, header),
        "Prediction": prediction,
    }


@pytest.mark.parametrize("name", ["Point2D", "StageLatency", "AffordanceRegion", "Trajectory2D", "Prediction"])
def test_publish_and_receive(node: Any, name: str) -> None:
    from rclpy.qos import QoSProfile, ReliabilityPolicy

    message = sample_messages()[name]
    received: list[Any] = []
    qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
    topic = f"/vla_r1_test/{name.lower()}"
    subscription = node.create_subscription(type(message), topic, received.append, qos)
    publisher = node.create_publisher(type(message), topic, qos)
    try:
        assert wait_for(lambda: publisher.get_subscription_count() > 0), "subscriber never matched"
        publisher.publish(message)
        assert wait_for(lambda: len(received) > 0), f"{name} was published but never received"
        assert received[0] == message  # every field survived serialisation
    finally:
        node.destroy_publisher(publisher)
        node.destroy_subscription(subscription)


def test_prediction_content(node: Any) -> None:
    prediction = sample_messages()["Prediction"]
    assert prediction.parse_status == prediction.PARSE_OK and prediction.has_affordance
    assert not prediction.has_trajectory
    region = prediction.affordance
    assert (region.x_min_px, region.y_min_px, region.x_max_px, region.y_max_px) == pytest.approx((256, 96, 384, 144))
    assert prediction.reasoning == "the red mug"
    assert [lat.stage for lat in prediction.latencies] == ["generate", "parse"]
    trajectory = sample_messages()["Trajectory2D"]
    flat = [value for p in trajectory.points_px for value in (p.x, p.y)]
    assert flat == pytest.approx([64, 432, 256, 240, 384, 144])


def test_reason_action_round_trip(node: Any) -> None:
    from rclpy.action import ActionClient, ActionServer
    from vla_r1_ros.action import Reason

    prediction = sample_messages()["Prediction"]

    def execute(goal_handle: Any) -> Any:
        feedback = Reason.Feedback(stage=Reason.Feedback.STAGE_GENERATING, stage_name="generating", elapsed=0.1)
        goal_handle.publish_feedback(feedback)
        goal_handle.succeed()
        return Reason.Result(success=True, predictions=[prediction])

    server = ActionServer(node, Reason, "/vla_r1_test/reason", execute)
    client = ActionClient(node, Reason, "/vla_r1_test/reason")
    feedback: list[Any] = []
    try:
        assert client.wait_for_server(timeout_sec=10.0)
        goal = Reason.Goal(instruction="pick up the red mug", task=Reason.Goal.TASK_AFFORDANCE)
        sent = client.send_goal_async(goal, feedback_callback=lambda msg: feedback.append(msg.feedback))
        assert wait_for(sent.done) and sent.result().accepted
        result_future = sent.result().get_result_async()
        assert wait_for(result_future.done)
        result = result_future.result().result
        assert result.success and result.predictions[0] == prediction
        assert wait_for(lambda: len(feedback) > 0) and feedback[0].stage_name == "generating"
    finally:
        client.destroy()
        server.destroy()


def test_execute_waypoints_action_round_trip(node: Any) -> None:
    from geometry_msgs.msg import PoseStamped
    from rclpy.action import ActionClient, ActionServer
    from vla_r1_ros.action import ExecuteWaypoints

    def execute(goal_handle: Any) -> Any:
        goal = goal_handle.request
        goal_handle.publish_feedback(
            ExecuteWaypoints.Feedback(
                current_waypoint=0, total_waypoints=len(goal.waypoints.poses), progress=0.0, state="checking safety"
            )
        )
        goal_handle.succeed()
        outcome = (
            ExecuteWaypoints.Result.OUTCOME_DRY_RUN_OK if goal.dry_run else ExecuteWaypoints.Result.OUTCOME_SUCCEEDED
        )
        return ExecuteWaypoints.Result(outcome=outcome, waypoints_reached=0, planned_fraction=1.0)

    server = ActionServer(node, ExecuteWaypoints, "/vla_r1_test/execute", execute)
    client = ActionClient(node, ExecuteWaypoints, "/vla_r1_test/execute")
    try:
        assert client.wait_for_server(timeout_sec=10.0)
        goal = ExecuteWaypoints.Goal(dry_run=True, velocity_scaling=0.1, acceleration_scaling=0.1)
        goal.waypoints.header.frame_id = "base_link"
        goal.waypoints.poses = [PoseStamped() for _ in range(3)]
        sent = client.send_goal_async(goal)
        assert wait_for(sent.done) and sent.result().accepted
        result_future = sent.result().get_result_async()
        assert wait_for(result_future.done)
        assert result_future.result().result.outcome == ExecuteWaypoints.Result.OUTCOME_DRY_RUN_OK
    finally:
        client.destroy()
        server.destroy()


def test_the_executor_interfaces_import_and_build_requests(request: Any) -> None:
    """moveit_msgs and control_msgs (exec dependencies for the executor) are real packages here."""
    request.getfixturevalue("moveit_installed")
    from control_msgs.action import FollowJointTrajectory, GripperCommand
    from moveit_msgs.action import ExecuteTrajectory
    from moveit_msgs.srv import ApplyPlanningScene, GetCartesianPath

    cartesian = GetCartesianPath.Request(group_name="panda_arm", link_name="panda_hand", max_step=0.005)
    cartesian.max_velocity_scaling_factor = 0.1
    assert cartesian.max_step == 0.005 and cartesian.avoid_collisions is False
    gripper = GripperCommand.Goal()
    gripper.command.position, gripper.command.max_effort = 0.04, 20.0
    follow = FollowJointTrajectory.Goal()
    follow.trajectory.joint_names = [f"panda_joint{i}" for i in range(1, 8)]
    assert ExecuteTrajectory.Goal().trajectory.joint_trajectory.points == []
    assert ApplyPlanningScene.Request().scene.is_diff is False
