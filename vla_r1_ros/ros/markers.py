"""RViz markers for one prediction: the lifted box, its grasp, the waypoints and the reasoning."""

from __future__ import annotations

import numpy as np
from geometry_msgs.msg import Point, Pose
from std_msgs.msg import ColorRGBA, Header
from visualization_msgs.msg import Marker, MarkerArray

from vla_r1_ros.core.geometry import Target3D, WaypointPath
from vla_r1_ros.core.geometry.transforms import quaternion_from_matrix

__all__ = ["prediction_markers", "execution_markers", "MARKER_NAMESPACE", "EXECUTION_NAMESPACE"]

MARKER_NAMESPACE = "vla_r1"
EXECUTION_NAMESPACE = "vla_r1_execution"
_TEXT_CHARACTERS = 240  # RViz text markers become unreadable beyond a few lines

_BOX_COLOUR = ColorRGBA(r=1.0, g=0.85, b=0.1, a=0.45)
_GRASP_COLOUR = ColorRGBA(r=0.9, g=0.1, b=0.1, a=1.0)
_PATH_COLOUR = ColorRGBA(r=0.1, g=0.8, b=0.9, a=1.0)
_WAYPOINT_COLOUR = ColorRGBA(r=0.1, g=0.4, b=1.0, a=1.0)
_TEXT_COLOUR = ColorRGBA(r=1.0, g=1.0, b=1.0, a=1.0)
_REQUESTED_COLOUR = ColorRGBA(r=0.2, g=0.4, b=1.0, a=0.8)
# The planned tool path by state: waiting for approval, moving, done, refused.
_PLAN_COLOURS = {
    "awaiting_approval": ColorRGBA(r=1.0, g=0.75, b=0.0, a=1.0),
    "executing": ColorRGBA(r=0.1, g=0.9, b=0.2, a=1.0),
    "succeeded": ColorRGBA(r=0.1, g=0.6, b=0.1, a=1.0),
    "refused": ColorRGBA(r=0.9, g=0.1, b=0.1, a=1.0),
}


def _pose(position: np.ndarray, rotation: np.ndarray | None = None, quaternion: np.ndarray | None = None) -> Pose:
    pose = Pose()
    pose.position.x, pose.position.y, pose.position.z = (float(v) for v in position)
    if quaternion is not None:
        q = quaternion
    else:
        q = quaternion_from_matrix(rotation if rotation is not None else np.eye(3))
    pose.orientation.x, pose.orientation.y, pose.orientation.z, pose.orientation.w = (float(v) for v in q)
    return pose


def _marker(header: Header, marker_id: int, kind: int, colour: ColorRGBA) -> Marker:
    marker = Marker(header=header, ns=MARKER_NAMESPACE, id=marker_id, type=kind, action=Marker.ADD, color=colour)
    marker.pose.orientation.w = 1.0
    return marker


def prediction_markers(
    header: Header, target: Target3D | None, path: WaypointPath | None, reasoning: str
) -> MarkerArray:
    """Markers in ``header.frame_id`` (the target frame); the first one clears the previous set."""
    markers = [Marker(header=header, ns=MARKER_NAMESPACE, action=Marker.DELETEALL)]
    anchor: np.ndarray | None = None
    if target is not None:
        box = _marker(header, 1, Marker.CUBE, _BOX_COLOUR)
        box.pose = _pose(target.position, rotation=target.axes)
        extent = np.nan_to_num(np.asarray(target.extent, dtype=float), nan=0.01)
        box.scale.x, box.scale.y, box.scale.z = (max(float(v), 0.005) for v in extent)
        markers.append(box)
        grasp = _marker(header, 2, Marker.ARROW, _GRASP_COLOUR)
        tip = np.asarray(target.grasp.position, dtype=float)
        tail = tip - 0.1 * np.asarray(target.grasp.approach, dtype=float)
        grasp.points = [Point(x=float(a), y=float(b), z=float(c)) for a, b, c in (tail, tip)]
        grasp.scale.x, grasp.scale.y, grasp.scale.z = 0.008, 0.016, 0.02
        markers.append(grasp)
        anchor = tip
    if path is not None and len(path) > 0:
        points = [Point(x=float(x), y=float(y), z=float(z)) for x, y, z in np.asarray(path.positions)]
        line = _marker(header, 3, Marker.LINE_STRIP, _PATH_COLOUR)
        line.points, line.scale.x = points, 0.004
        spheres = _marker(header, 4, Marker.SPHERE_LIST, _WAYPOINT_COLOUR)
        spheres.points = points
        spheres.scale.x = spheres.scale.y = spheres.scale.z = 0.008
        markers.extend([line, spheres])
        anchor = np.asarray(path.positions[-1], dtype=float) if anchor is None else anchor
    if reasoning and anchor is not None:
        text = _marker(header, 5, Marker.TEXT_VIEW_FACING, _TEXT_COLOUR)
        text.pose = _pose(anchor + np.array([0.0, 0.0, 0.15]))
        shown = reasoning if len(reasoning) <= _TEXT_CHARACTERS else reasoning[: _TEXT_CHARACTERS - 1] + "…"
        text.text, text.scale.z = shown, 0.025
        markers.append(text)
    return MarkerArray(markers=markers)


def _line(header: Header, marker_id: int, points: np.ndarray, colour: ColorRGBA, width: float) -> Marker:
    line = _marker(header, marker_id, Marker.LINE_STRIP, colour)
    line.ns = EXECUTION_NAMESPACE
    line.points = [Point(x=float(x), y=float(y), z=float(z)) for x, y, z in np.asarray(points, dtype=float)]
    line.scale.x = width
    return line


def execution_markers(header: Header, requested: np.ndarray, planned: np.ndarray | None, state: str) -> MarkerArray:
    """The requested waypoints (blue) against the planned tool path, coloured by ``state``
    (awaiting_approval, executing, succeeded, refused)."""
    markers = [Marker(header=header, ns=EXECUTION_NAMESPACE, action=Marker.DELETEALL)]
    markers.append(_line(header, 1, requested, _REQUESTED_COLOUR, 0.003))
    if planned is not None and len(planned) > 1:
        markers.append(_line(header, 2, planned, _PLAN_COLOURS.get(state, _PLAN_COLOURS["refused"]), 0.006))
    return MarkerArray(markers=markers)
