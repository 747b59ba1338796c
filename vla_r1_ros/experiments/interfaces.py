"""The package's message types for rosbags, and the topics a recorded run holds.

rosbags reads and writes CDR without ROS: a typestore holds the message classes. Ours come from
the package's own ``msg/*.msg`` files, registered on the Jazzy store (Prediction nests the
others, and std_msgs / geometry_msgs / nav_msgs come from the store itself).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rosbags.interfaces import Nodetype
from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

__all__ = [
    "PACKAGE",
    "EXECUTION_EVENT",
    "Topics",
    "msg_directory",
    "our_typestore",
    "new_message",
    "time_msg",
]

PACKAGE = "vla_r1_ros"
EXECUTION_EVENT = f"{PACKAGE}/msg/ExecutionEvent"


@dataclass(frozen=True)
class Topics:
    """Where a run's streams are recorded (the nodes' defaults; ``~/x`` resolves under the node's name)."""

    joint_states: str = "/joint_states"
    tf: str = "/tf"
    tf_static: str = "/tf_static"
    prediction: str = "/vla_r1_node/prediction"
    waypoints: str = "/vla_r1_node/waypoints"
    planned_trajectory: str = "/vla_r1_executor/planned_trajectory"
    events: str = "/vla_r1_executor/events"
    teleop_twist: str = "/servo_node/delta_twist_cmds"
    teleop_joy: str = "/joy"


def msg_directory() -> Path:
    """The package's ``msg/`` folder: the source checkout's, else an installed ``share/vla_r1_ros/msg``."""
    candidates = [Path(__file__).resolve().parents[2] / "msg"]
    for prefix in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep):
        if prefix:
            candidates.append(Path(prefix) / "share" / PACKAGE / "msg")
    for candidate in candidates:
        if (candidate / "ExecutionEvent.msg").is_file():
            return candidate
    raise FileNotFoundError(
        f"cannot find {PACKAGE}'s msg/*.msg (looked in {', '.join(str(c) for c in candidates)}); "
        "run from a source checkout or source the colcon install"
    )


def our_typestore(msg_dir: Path | None = None) -> Typestore:
    """The Jazzy typestore with every ``vla_r1_ros/msg/*`` type registered."""
    folder = msg_dir or msg_directory()
    store = get_typestore(Stores.ROS2_JAZZY)
    types: dict[str, Any] = {}
    for path in sorted(folder.glob("*.msg")):
        types.update(get_types_from_msg(path.read_text(encoding="utf-8"), f"{PACKAGE}/msg/{path.stem}"))
    store.register(types)
    return store


_NUMPY_TYPES = {
    "bool": np.bool_, "byte": np.uint8, "char": np.uint8, "int8": np.int8, "uint8": np.uint8,
    "int16": np.int16, "uint16": np.uint16, "int32": np.int32, "uint32": np.uint32,
    "int64": np.int64, "uint64": np.uint64, "float32": np.float32, "float64": np.float64,
}  # fmt: skip


def _default(store: Typestore, node: int, spec: Any) -> Any:
    if node == Nodetype.BASE:
        name = spec[0]
        return "" if name == "string" else False if name == "bool" else _NUMPY_TYPES[name](0).item()
    if node == Nodetype.NAME:
        return new_message(store, spec)
    inner_node, inner_spec = spec[0]
    primitive = inner_node == Nodetype.BASE and inner_spec[0] != "string"
    size = spec[1] if node == Nodetype.ARRAY else 0
    if primitive:
        return np.zeros(size, dtype=_NUMPY_TYPES[inner_spec[0]])
    return [_default(store, inner_node, inner_spec) for _ in range(size)]


def new_message(store: Typestore, msgtype: str, **fields: Any) -> Any:
    """A message of ``msgtype`` with the given fields and every other field at its zero value.

    Primitive arrays are NumPy arrays, as rosbags serialises them; an unknown field is an error.
    """
    if msgtype not in store.fielddefs:
        raise KeyError(f"message type {msgtype} is not in the typestore")
    _, definitions = store.fielddefs[msgtype]
    names = [name for name, _ in definitions]
    unknown = sorted(set(fields) - set(names))
    if unknown:
        raise TypeError(f"{msgtype} has no field(s) {', '.join(unknown)}; fields: {', '.join(names)}")
    values = {name: fields[name] if name in fields else _default(store, *spec) for name, spec in definitions}
    return store.types[msgtype](**values)


def time_msg(store: Typestore, nanoseconds: int) -> Any:
    """builtin_interfaces/Time of a stamp in integer nanoseconds."""
    sec, nanosec = divmod(int(nanoseconds), 1_000_000_000)
    return store.types["builtin_interfaces/msg/Time"](sec=sec, nanosec=nanosec)
