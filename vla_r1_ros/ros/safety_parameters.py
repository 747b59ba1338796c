"""The waypoint safety limits as node parameters: the reasoning node and the executor declare the same ones."""

from __future__ import annotations

from typing import Any

from vla_r1_ros.core.geometry import SafetyLimits
from vla_r1_ros.ros.parameters import DOUBLE, DOUBLES, ParameterTable, settings_from

__all__ = ["safety_parameters", "safety_limits"]


def safety_parameters(frame: str) -> ParameterTable:
    """The waypoint safety limits (:class:`SafetyLimits`) as parameters, in the named frame parameter."""
    return {
        "workspace_min": ([-0.8, -0.8, -0.05], DOUBLES, f"lower corner (m) of the allowed workspace box in {frame}"),
        "workspace_max": ([0.8, 0.8, 1.0], DOUBLES, f"upper corner (m) of the allowed workspace box in {frame}"),
        "table_height": (0.0, DOUBLE, f"table surface height (m) in {frame}"),
        "min_height_above_table": (0.005, DOUBLE, "waypoints (the tool centre) stay this far (m) above the table"),
        "max_segment_length": (0.05, DOUBLE, "longest allowed step (m) between waypoints"),
        "max_path_length": (2.0, DOUBLE, "longest allowed path (m)"),
        "reach_center": ([0.0, 0.0, 0.333], DOUBLES, f"centre (m) of the arm's reach sphere in {frame}"),
        "max_reach": (0.85, DOUBLE, "radius (m) of the arm's reach sphere"),
    }


def safety_limits(value: dict[str, Any]) -> SafetyLimits:
    """The declared :func:`safety_parameters` values as :class:`SafetyLimits`."""
    return settings_from(SafetyLimits, value)
