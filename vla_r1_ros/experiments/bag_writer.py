"""Write a run's topics into a rosbag2 folder with rosbags (MCAP by default, or sqlite3), without ROS.

The recording side (the simulated study, the closed-loop benchmark) writes the same topics a
``ros2 bag record`` of a physical run holds, so ``vla-r1 compare-runs`` scores both alike. The
bag embeds every type's definition, our ``vla_r1_ros/msg/*`` ones included, so readers need not
know them. Stamps are seconds (float, ~0.2 us resolution at today's epoch) on the run's clock,
used for both the header and the bag's receive time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys.store import Typestore

from vla_r1_ros.experiments.interfaces import (
    EXECUTION_EVENT,
    PACKAGE,
    Topics,
    new_message,
    our_typestore,
    time_msg,
)

__all__ = ["STORAGES", "Transform", "RunBagWriter"]

STORAGES = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}
PREDICTION = f"{PACKAGE}/msg/Prediction"


@dataclass(frozen=True)
class Transform:
    """``child`` in ``parent``: translation (m) and rotation quaternion (x, y, z, w)."""

    parent: str
    child: str
    translation: tuple[float, float, float]
    rotation: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 1.0)


def _nanoseconds(stamp: float) -> int:
    if not np.isfinite(stamp) or stamp < 0.0:
        raise ValueError(f"stamps are non-negative seconds, got {stamp}")
    return round(stamp * 1e9)


class RunBagWriter:
    """A rosbag2 folder being written (use as a context manager; the folder must not exist yet)."""

    def __init__(
        self, path: Path | str, storage: str = "mcap", topics: Topics | None = None, store: Typestore | None = None
    ) -> None:
        if storage not in STORAGES:
            raise ValueError(f"storage must be one of {', '.join(STORAGES)}, got {storage!r}")
        self.path = Path(path)
        self.topics = topics or Topics()
        self.store = store or our_typestore()
        self._writer = Writer(self.path, version=9, storage_plugin=STORAGES[storage])
        self._writer.open()
        self._connections: dict[tuple[str, str], Any] = {}

    def __enter__(self) -> RunBagWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Finish the bag (writes metadata.yaml); idempotent."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None  # type: ignore[assignment]

    # --- any message -------------------------------------------------------------------------

    def header(self, stamp: float, frame_id: str = "") -> Any:
        return new_message(
            self.store, "std_msgs/msg/Header", stamp=time_msg(self.store, _nanoseconds(stamp)), frame_id=frame_id
        )

    def write(self, topic: str, msgtype: str, stamp: float, message: Any) -> None:
        """Write ``message`` (a ``self.store`` message of ``msgtype``) on ``topic`` at ``stamp``."""
        if self._writer is None:
            raise RuntimeError(f"{self.path}: the bag is closed")
        key = (topic, msgtype)
        if key not in self._connections:
            self._connections[key] = self._writer.add_connection(topic, msgtype, typestore=self.store)
        self._writer.write(self._connections[key], _nanoseconds(stamp), self.store.serialize_cdr(message, msgtype))

    def message(self, topic: str, msgtype: str, stamp: float, **fields: Any) -> None:
        """Write a ``msgtype`` built from ``fields`` (others zero; ``header`` stamped with ``stamp``)."""
        _, definitions = self.store.fielddefs[msgtype]
        if "header" not in fields and any(name == "header" for name, _ in definitions):
            fields["header"] = self.header(stamp)
        self.write(topic, msgtype, stamp, new_message(self.store, msgtype, **fields))

    # --- a run's topics ----------------------------------------------------------------------

    def joint_state(
        self, stamp: float, names: Sequence[str], positions: ArrayLike, velocities: ArrayLike | None = None
    ) -> None:
        position = np.asarray(positions, dtype=np.float64).reshape(-1)
        if len(position) != len(names):
            raise ValueError(f"{len(names)} joint names but {len(position)} positions")
        velocity = np.zeros(0) if velocities is None else np.asarray(velocities, dtype=np.float64).reshape(-1)
        self.message(
            self.topics.joint_states,
            "sensor_msgs/msg/JointState",
            stamp,
            name=list(names),
            position=position,
            velocity=velocity,
        )

    def event(self, stamp: float, phase: str, outcome: str, detail: str = "", goal_id: str = "") -> None:
        """One ``vla_r1_ros/msg/ExecutionEvent`` on the events topic."""
        self.message(
            self.topics.events, EXECUTION_EVENT, stamp, goal_id=goal_id, phase=phase, outcome=outcome, detail=detail
        )

    def twist(self, stamp: float, linear: ArrayLike, angular: ArrayLike = (0.0, 0.0, 0.0), frame_id: str = "") -> None:
        """A teleop velocity command (TwistStamped, m/s and rad/s), as MoveIt Servo takes it."""
        vector = self.store.types["geometry_msgs/msg/Vector3"]
        lin, ang = (np.asarray(v, dtype=np.float64).reshape(3).tolist() for v in (linear, angular))
        twist = self.store.types["geometry_msgs/msg/Twist"](linear=vector(*lin), angular=vector(*ang))
        self.message(
            self.topics.teleop_twist,
            "geometry_msgs/msg/TwistStamped",
            stamp,
            header=self.header(stamp, frame_id),
            twist=twist,
        )

    def joy(self, stamp: float, axes: ArrayLike, buttons: Sequence[int] = ()) -> None:
        """A joystick / SpaceMouse reading (sensor_msgs/Joy)."""
        self.message(
            self.topics.teleop_joy,
            "sensor_msgs/msg/Joy",
            stamp,
            axes=np.asarray(axes, dtype=np.float32).reshape(-1),
            buttons=np.asarray(list(buttons), dtype=np.int32),
        )

    def transforms(self, stamp: float, transforms: Sequence[Transform], static: bool = False) -> None:
        """A tf2_msgs/TFMessage on /tf (or /tf_static)."""
        types = self.store.types
        stamped = [
            types["geometry_msgs/msg/TransformStamped"](
                header=self.header(stamp, t.parent),
                child_frame_id=t.child,
                transform=types["geometry_msgs/msg/Transform"](
                    translation=types["geometry_msgs/msg/Vector3"](*map(float, t.translation)),
                    rotation=types["geometry_msgs/msg/Quaternion"](*map(float, t.rotation)),
                ),
            )
            for t in transforms
        ]
        topic = self.topics.tf_static if static else self.topics.tf
        self.message(topic, "tf2_msgs/msg/TFMessage", stamp, transforms=stamped)

    def _path(self, stamp: float, frame_id: str, positions: ArrayLike, orientations: ArrayLike | None) -> Any:
        types = self.store.types
        points = np.asarray(positions, dtype=np.float64).reshape(-1, 3)
        quats = np.tile([0.0, 0.0, 0.0, 1.0], (len(points), 1)) if orientations is None else np.asarray(orientations)
        poses = [
            types["geometry_msgs/msg/PoseStamped"](
                header=self.header(stamp, frame_id),
                pose=types["geometry_msgs/msg/Pose"](
                    position=types["geometry_msgs/msg/Point"](*p.tolist()),
                    orientation=types["geometry_msgs/msg/Quaternion"](*np.asarray(q, dtype=float).tolist()),
                ),
            )
            for p, q in zip(points, quats.reshape(-1, 4))
        ]
        return types["nav_msgs/msg/Path"](header=self.header(stamp, frame_id), poses=poses)

    def waypoints(
        self, stamp: float, frame_id: str, positions: ArrayLike, orientations: ArrayLike | None = None
    ) -> None:
        """The VLA's 3-D waypoints (nav_msgs/Path), as vla_r1_node publishes them."""
        self.write(
            self.topics.waypoints, "nav_msgs/msg/Path", stamp, self._path(stamp, frame_id, positions, orientations)
        )

    def prediction(self, stamp: float, **fields: Any) -> None:
        """A ``vla_r1_ros/msg/Prediction`` with the given fields (e.g. instruction, task, raw_output)."""
        self.message(self.topics.prediction, PREDICTION, stamp, **fields)

    def planned_trajectory(
        self, stamp: float, joint_names: Sequence[str], positions: ArrayLike, time_from_start: ArrayLike
    ) -> None:
        """The executor's plan (trajectory_msgs/JointTrajectory): (n, k) positions at n offsets (s)."""
        types = self.store.types
        rows = np.asarray(positions, dtype=np.float64).reshape(len(np.atleast_1d(time_from_start)), len(joint_names))
        points = []
        for row, offset in zip(rows, np.atleast_1d(np.asarray(time_from_start, dtype=np.float64))):
            sec, nanosec = divmod(_nanoseconds(float(offset)), 1_000_000_000)
            points.append(
                new_message(
                    self.store,
                    "trajectory_msgs/msg/JointTrajectoryPoint",
                    positions=row,
                    time_from_start=types["builtin_interfaces/msg/Duration"](sec=sec, nanosec=nanosec),
                )
            )
        self.message(
            self.topics.planned_trajectory,
            "trajectory_msgs/msg/JointTrajectory",
            stamp,
            joint_names=list(joint_names),
            points=points,
        )
