"""Node parameters from one table: declared with descriptors (``ros2 param describe`` shows the text).

Each node keeps a table ``name -> (default, type, description)``; its ``config/*.yaml`` lists the
same names and defaults (a test holds them together), and the node validates the values into a
frozen settings dataclass.
"""

from __future__ import annotations

from typing import Any

from rcl_interfaces.msg import ParameterDescriptor, ParameterType
from rclpy.node import Node

__all__ = ["STRING", "DOUBLE", "INT", "BOOL", "DOUBLES", "ParameterTable", "declare_table"]

STRING, DOUBLE, INT, BOOL = (
    ParameterType.PARAMETER_STRING,
    ParameterType.PARAMETER_DOUBLE,
    ParameterType.PARAMETER_INTEGER,
    ParameterType.PARAMETER_BOOL,
)
DOUBLES = ParameterType.PARAMETER_DOUBLE_ARRAY

#: name -> (default, ParameterType, description)
ParameterTable = dict[str, tuple[Any, int, str]]


def declare_table(node: Node, table: ParameterTable, read_only: bool = True) -> dict[str, Any]:
    """Declare every parameter of ``table`` on ``node`` and return their values by name."""
    for name, (default, kind, description) in table.items():
        node.declare_parameter(
            name, default, ParameterDescriptor(description=description, type=kind, read_only=read_only)
        )
    return {name: node.get_parameter(name).value for name in table}
