"""Node parameters from one table: declared with descriptors (``ros2 param describe`` shows the text).

Each node keeps a table ``name -> (default, type, description)``; its ``config/*.yaml`` lists the
same names and defaults (a test holds them together), and the node validates the values into a
frozen settings dataclass.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

from rcl_interfaces.msg import ParameterDescriptor, ParameterType
from rclpy.node import Node

__all__ = ["STRING", "DOUBLE", "INT", "BOOL", "DOUBLES", "ParameterTable", "declare_table", "settings_from"]

T = TypeVar("T")

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


def settings_from(cls: type[T], value: dict[str, Any], **given: Any) -> T:
    """The settings dataclass ``cls`` from the parameters named like its fields (arrays as tuples,
    of floats for number arrays), ``given`` for the others; a field with neither keeps its default."""
    fields = {f.name for f in dataclasses.fields(cls)} - given.keys()  # type: ignore[arg-type]
    found = {name: _frozen(value[name]) for name in fields if name in value}
    return cls(**found, **given)


def _frozen(value: Any) -> Any:
    """A parameter's value as a frozen dataclass field holds it: arrays (list, array.array) as tuples."""
    if isinstance(value, str) or not hasattr(value, "__len__"):
        return value
    items = tuple(value)
    numbers = all(isinstance(x, int | float) and not isinstance(x, bool) for x in items)
    return tuple(float(x) for x in items) if numbers else items
