"""Core types → the package's ROS messages. Pure functions; no node, no rclpy import."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from geometry_msgs.msg import PoseStamped
from nav_msgs.msg import Path
from std_msgs.msg import Header

from vla_r1_ros.core.geometry import Target3D, WaypointPath
from vla_r1_ros.core.protocol import Box2D, ParsedOutput, Task, Trajectory2D, trajectory_to_pixels
from vla_r1_ros.msg import AffordanceRegion, Point2D, Prediction, StageLatency
from vla_r1_ros.msg import Trajectory2D as Trajectory2DMsg

__all__ = ["affordance_region_msg", "trajectory_msg", "prediction_msg", "set_lifted_target", "waypoints_path"]


def affordance_region_msg(box: Box2D, image_width: int, image_height: int, header: Header) -> AffordanceRegion:
    """A 2-D affordance region (not lifted: ``is_lifted`` false) for a box on a W x H image."""
    pixels = box.to_pixels(image_width, image_height)
    return AffordanceRegion(
        header=header,
        image_width=image_width,
        image_height=image_height,
        center_x=box.x,
        center_y=box.y,
        width=box.width,
        height=box.height,
        x_min_px=pixels.x_min,
        y_min_px=pixels.y_min,
        x_max_px=pixels.x_max,
        y_max_px=pixels.y_max,
        is_lifted=False,
        lift_status="not lifted",
    )


def trajectory_msg(trajectory: Trajectory2D, image_width: int, image_height: int, header: Header) -> Trajectory2DMsg:
    """A 2-D trajectory message with normalised and pixel points (and depths when given)."""
    pixels = trajectory_to_pixels(trajectory, image_width, image_height)
    return Trajectory2DMsg(
        header=header,
        image_width=image_width,
        image_height=image_height,
        points_normalized=[Point2D(x=x, y=y) for x, y in trajectory.points],
        points_px=[Point2D(x=u, y=v) for u, v in pixels],
        depths=list(trajectory.depths or ()),
    )


def _pose_stamped(header: Header, position: np.ndarray, quaternion: np.ndarray) -> PoseStamped:
    pose = PoseStamped(header=header)
    pose.pose.position.x, pose.pose.position.y, pose.pose.position.z = (float(v) for v in position)
    o = pose.pose.orientation
    o.x, o.y, o.z, o.w = (float(v) for v in quaternion)
    return pose


def set_lifted_target(region: AffordanceRegion, target: Target3D, depth_coverage: float) -> None:
    """Fill the 3-D part of an affordance region from a lifted target (grasp pose, extent, normal)."""
    header = Header(stamp=region.header.stamp, frame_id=target.frame_id)
    region.is_lifted = True
    region.pose = _pose_stamped(header, target.grasp.position, target.grasp.orientation)
    extent = np.nan_to_num(np.asarray(target.extent, dtype=float), nan=0.0)
    region.extent.x, region.extent.y, region.extent.z = (float(v) for v in extent)
    region.surface_normal.x, region.surface_normal.y, region.surface_normal.z = (float(v) for v in target.normal)
    region.depth_coverage = float(depth_coverage)
    region.lift_status = "lifted" + (f" ({target.note})" if target.note else "")


def waypoints_path(path: WaypointPath, header: Header) -> Path:
    """A nav_msgs/Path of the waypoints, in the path's frame, stamped like ``header``."""
    stamped = Header(stamp=header.stamp, frame_id=path.frame_id)
    return Path(
        header=stamped,
        poses=[_pose_stamped(stamped, p, q) for p, q in zip(np.asarray(path.positions), np.asarray(path.orientations))],
    )


def prediction_msg(
    *,
    header: Header,
    instruction: str,
    task: Task,
    raw_output: str,
    parsed: ParsedOutput,
    image_width: int,
    image_height: int,
    latencies: Iterable[tuple[str, float]] = (),
    model_id: str = "",
) -> Prediction:
    """The full prediction message for one parsed completion (2-D only; lifting adds waypoints)."""
    message = Prediction(
        header=header,
        instruction=instruction,
        task=task.value,
        reasoning=parsed.reasoning,
        raw_output=raw_output,
        parse_status=parsed.status.value,
        parse_error=parsed.error,
        latencies=[StageLatency(stage=stage, seconds=float(seconds)) for stage, seconds in latencies],
        model_id=model_id,
    )
    message.waypoints.header = header
    if parsed.box is not None:
        message.has_affordance = True
        message.affordance = affordance_region_msg(parsed.box, image_width, image_height, header)
    if parsed.trajectory is not None:
        message.has_trajectory = True
        message.trajectory = trajectory_msg(parsed.trajectory, image_width, image_height, header)
    return message
