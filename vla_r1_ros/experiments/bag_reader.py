"""Read a recorded run from a rosbag2 folder (MCAP or sqlite3) with rosbags, without ROS.

Types come from the definitions the bag embeds (rosbag2 and :mod:`.bag_writer` store them), so
our ``vla_r1_ros/msg/*`` messages decode without registering anything; the Jazzy store is only
the fallback for bags without definitions.

What is read:
- ``/joint_states`` (sensor_msgs/JointState): every message, by joint name (a message may carry
  a subset, e.g. a gripper's own publisher on the same topic);
- events: ``vla_r1_ros/msg/ExecutionEvent`` on any topic named ``.../events``;
- teleop input: the stamps of non-zero geometry_msgs/TwistStamped or Twist and sensor_msgs/Joy
  messages on any topic (Joy axes within :data:`JOY_DEADZONE` of zero count as released).

Stamps: each message's header stamp, or its receive time where it has no header or a zero stamp,
in seconds after the first joint state (``origin_ns`` keeps the absolute time).

A bag that cannot be read raises :class:`BagError`, naming the bag and its storage files.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from rosbags.highlevel import AnyReader
from rosbags.typesys import Stores, get_typestore

from vla_r1_ros.core.runs.events import RunEvent
from vla_r1_ros.experiments.interfaces import EXECUTION_EVENT

__all__ = ["BagError", "BagStreams", "JOY_DEADZONE", "find_bags", "is_bag", "read_bag", "teleop_active"]

FloatArray = NDArray[np.float64]

STORAGE_SUFFIXES = (".mcap", ".db3")
JOY_DEADZONE = 0.05
TWIST_TYPES = frozenset({"geometry_msgs/msg/TwistStamped", "geometry_msgs/msg/Twist"})
JOY_TYPE = "sensor_msgs/msg/Joy"
JOINT_STATE_TYPE = "sensor_msgs/msg/JointState"


class BagError(Exception):
    """A bag that cannot be used, with the reason; ``str()`` names the bag (and its files)."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


def _storage_files(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.suffix in STORAGE_SUFFIXES) if path.is_dir() else []


def is_bag(path: Path) -> bool:
    """A rosbag2 folder: it holds metadata.yaml or storage files (an unfinished recording has no metadata)."""
    return path.is_dir() and ((path / "metadata.yaml").is_file() or bool(_storage_files(path)))


def find_bags(paths: Sequence[Path | str]) -> list[Path]:
    """The bags among ``paths``: bag folders as given, other folders searched for bags (sorted).

    A missing path, or a folder without any bag, is a ValueError naming it.
    """
    bags: list[Path] = []
    for given in map(Path, paths):
        if not given.exists():
            raise ValueError(f"{given}: no such file or folder")
        if given.is_file() and given.suffix in STORAGE_SUFFIXES and is_bag(given.parent):
            bags.append(given.parent)
        elif is_bag(given):
            bags.append(given)
        elif given.is_dir():
            found = []
            for root, dirs, _ in os.walk(given):
                dirs.sort()
                here = Path(root)
                if here != given and is_bag(here):
                    found.append(here)
                    dirs.clear()  # a bag's own folder holds no further bags
            if not found:
                raise ValueError(f"{given}: no rosbag2 bag (a folder with metadata.yaml and .mcap or .db3 files) in it")
            bags.extend(found)
        else:
            raise ValueError(f"{given}: not a rosbag2 bag folder")
    seen: set[Path] = set()
    unique = []
    for bag in bags:  # a bag named twice (or inside a folder also given) is read once
        if bag.resolve() not in seen:
            seen.add(bag.resolve())
            unique.append(bag)
    return unique


@dataclass
class BagStreams:
    """What :func:`read_bag` found in one bag. Times in seconds after ``origin_ns``."""

    path: Path
    origin_ns: int
    topics: dict[str, tuple[str, int]]  # topic -> (message type, message count)
    joint_stamps: FloatArray
    joint_names: list[tuple[str, ...]]
    joint_positions: list[FloatArray]
    events: tuple[RunEvent, ...] = ()
    teleop_stamps: FloatArray = field(default_factory=lambda: np.zeros(0))

    def positions_of(self, names: Sequence[str]) -> tuple[FloatArray, FloatArray]:
        """Times (n,) and positions (n, len(names)) from the joint states that hold all ``names``."""
        wanted = tuple(names)
        rows: list[FloatArray] = []
        times: list[float] = []
        columns: dict[tuple[str, ...], list[int] | None] = {}
        for stamp, message_names, positions in zip(self.joint_stamps, self.joint_names, self.joint_positions):
            if message_names not in columns:
                index = {name: i for i, name in enumerate(message_names)}
                columns[message_names] = [index[n] for n in wanted] if all(n in index for n in wanted) else None
            picked = columns[message_names]
            if picked is not None and len(positions) == len(message_names):
                rows.append(positions[picked])
                times.append(float(stamp))
        if not rows:
            seen = sorted({n for names_ in self.joint_names for n in names_})
            raise BagError(
                self.path,
                f"no joint state holds all of {', '.join(wanted)} (joints recorded: {', '.join(seen) or 'none'})",
            )
        return np.asarray(times), np.asarray(rows, dtype=np.float64).reshape(len(rows), len(wanted))


def _describe(path: Path, err: BaseException) -> str:
    files = ", ".join(p.name for p in _storage_files(path)) or "no .mcap or .db3 file"
    text = str(err) or type(err).__name__
    hint = ""
    if isinstance(err, FileNotFoundError) and "metadata" in text:
        hint = " (no metadata.yaml: was the recording stopped before it finished? `ros2 bag reindex` rebuilds it)"
    elif "magic" in text:
        hint = " (the file is cut short or not MCAP: a recording that was killed? `mcap recover` may repair it)"
    return f"cannot read the bag ({files}): {text}{hint}"


def _stamp_ns(message: Any, received_ns: int) -> int:
    header = getattr(message, "header", None)
    if header is not None:
        stamp = int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)
        if stamp > 0:
            return stamp
    return received_ns


def teleop_active(msgtype: str, message: Any) -> bool:
    if msgtype == JOY_TYPE:
        axes = np.asarray(message.axes, dtype=np.float64)
        return bool(np.any(np.abs(axes) > JOY_DEADZONE) or np.any(np.asarray(message.buttons) != 0))
    twist = message.twist if msgtype == "geometry_msgs/msg/TwistStamped" else message
    values = [twist.linear.x, twist.linear.y, twist.linear.z, twist.angular.x, twist.angular.y, twist.angular.z]
    return any(abs(float(v)) > 1e-9 for v in values)


def _messages(path: Path, reader: AnyReader, connections: list[Any]) -> Iterator[tuple[Any, int, Any]]:
    """(connection, receive time, message); any failure of rosbags becomes a BagError."""
    stream = reader.messages(connections=connections)
    while True:
        try:
            connection, received, raw = next(stream)
            message = reader.deserialize(raw, connection.msgtype)
        except StopIteration:
            return
        except Exception as err:  # a damaged bag can fail anywhere inside the parser
            raise BagError(path, _describe(path, err)) from err
        yield connection, received, message


def read_bag(path: Path | str, joint_states_topic: str = "/joint_states") -> BagStreams:
    """Joint states, events and teleop input of the bag at ``path`` (see the module docstring)."""
    bag = Path(path)
    try:
        reader = AnyReader([bag], default_typestore=get_typestore(Stores.ROS2_JAZZY))
        reader.open()
    except Exception as err:  # rosbags raises several kinds for damaged files; all mean "unreadable"
        raise BagError(bag, _describe(bag, err)) from err
    try:
        topics = {c.topic: (c.msgtype, int(c.msgcount)) for c in reader.connections}
        joints = [c for c in reader.connections if c.topic == joint_states_topic and c.msgtype == JOINT_STATE_TYPE]
        events = [
            c for c in reader.connections if c.msgtype == EXECUTION_EVENT and c.topic.rsplit("/", 1)[-1] == "events"
        ]
        teleop = [c for c in reader.connections if c.msgtype in TWIST_TYPES or c.msgtype == JOY_TYPE]
        if not joints:
            listed = ", ".join(sorted(topics)) or "none"
            raise BagError(bag, f"no {joint_states_topic} ({JOINT_STATE_TYPE}) in the bag (topics: {listed})")
        joint_ns: list[int] = []
        names: list[tuple[str, ...]] = []
        positions: list[FloatArray] = []
        event_rows: list[tuple[int, Any]] = []
        teleop_ns: list[int] = []
        for connection, received, message in _messages(bag, reader, joints + events + teleop):
            stamp = _stamp_ns(message, received)
            if connection in joints:
                joint_ns.append(stamp)
                names.append(tuple(message.name))
                positions.append(np.asarray(message.position, dtype=np.float64))
            elif connection in events:
                event_rows.append((stamp, message))
            elif teleop_active(connection.msgtype, message):
                teleop_ns.append(stamp)
    finally:
        reader.close()
    if not joint_ns:
        raise BagError(bag, f"{joint_states_topic} has no messages")
    origin = min(joint_ns)

    def seconds(ns: Sequence[int]) -> FloatArray:
        return np.asarray([(n - origin) * 1e-9 for n in ns], dtype=np.float64)

    run_events = tuple(
        RunEvent(float((n - origin) * 1e-9), m.phase, m.outcome, m.detail, m.goal_id) for n, m in event_rows
    )
    return BagStreams(bag, origin, topics, seconds(joint_ns), names, positions, run_events, seconds(teleop_ns))
