"""``vla_r1_recorder``: one rosbag2 MCAP folder per run, with the topics ``vla-r1 compare-runs`` reads and a sidecar.

Recorded (the defaults of :class:`~vla_r1_ros.experiments.interfaces.Topics`): ``/joint_states``,
``/tf``, ``/tf_static``, the reasoning node's ``~/prediction`` and ``~/waypoints``, the
executor's ``~/planned_trajectory`` and ``~/events``, the teleop twists (MoveIt Servo's
``/servo_node/delta_twist_cmds``) and ``/joy``, this node's own ``~/events`` and, optionally, the
camera as a downscaled JPEG (``sensor_msgs/CompressedImage`` on ``<camera_topic>/compressed``).

Writers (``writer``):

* ``rosbags``: this node writes the bag itself with the rosbags library
  (:class:`~vla_r1_ros.experiments.bag_writer.RunBagWriter`), no rosbag2 needed; the bag starts
  with the latched ``/tf_static`` and the last ``preroll`` seconds before the run began.
* ``ros2bag``: one ``ros2 bag record -s mcap`` process per run (a ROS install with rosbag2),
  stopped with SIGINT at the run's end; the run's events reach it over ``~/events``.

Runs: ``~/start`` and ``~/stop`` (std_srvs/Trigger) delimit one by hand; with ``auto_runs`` a run
starts at the first reasoning goal, executor event or non-zero teleop input and ends
``idle_timeout`` seconds after the last one once no goal or phase is open
(:class:`~vla_r1_ros.core.runs.segmenter.RunSegmenter`). Each run gets ExecutionEvents ``run``
``started`` and ``run`` ``succeeded`` on ``~/events`` (and in the bag), plus a ``model`` phase
from each prediction's stage latencies (the reasoning node publishes no events of its own), and
a sidecar ``<bag>.run.json`` (:mod:`vla_r1_ros.experiments.metadata`) with the run id, the
``task``, ``instruction``, ``scene_seed``, ``condition``, ``operator`` and ``trial`` parameters
as they were at the start (set them with ``ros2 param set`` between runs; the instruction
defaults to the prediction's). ``~/judge`` (std_srvs/SetBool) records the last run's success.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import shutil
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar, cast

import numpy as np
from action_msgs.msg import GoalStatus, GoalStatusArray
from geometry_msgs.msg import TwistStamped
from nav_msgs.msg import Path as PathMsg
from rcl_interfaces.msg import ParameterType
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from rclpy.serialization import deserialize_message
from sensor_msgs.msg import Image, JointState, Joy
from std_srvs.srv import SetBool, Trigger
from tf2_msgs.msg import TFMessage
from trajectory_msgs.msg import JointTrajectory

from vla_r1_ros.core.runs.events import RUN_PHASE, STARTED
from vla_r1_ros.core.runs.segmenter import RunSegmenter

# What counts as teleop input is the reader's rule, so a run starts where compare-runs sees input.
from vla_r1_ros.experiments.bag_reader import teleop_active
from vla_r1_ros.experiments.bag_writer import RunBagWriter
from vla_r1_ros.experiments.interfaces import Topics, our_typestore
from vla_r1_ros.experiments.metadata import RunMetadata, read_metadata, write_metadata
from vla_r1_ros.msg import ExecutionEvent, Prediction
from vla_r1_ros.ros.images import image_to_rgb
from vla_r1_ros.ros.node_main import run_node
from vla_r1_ros.ros.parameters import BOOL, DOUBLE, INT, STRING, ParameterTable, declare_table
from vla_r1_ros.ros.phase_events import PhaseEvents

__all__ = ["PARAMETERS", "RecorderNode", "ros2_bag_command", "main"]

STRINGS = ParameterType.PARAMETER_STRING_ARRAY
PARAMETERS: ParameterTable = {
    "output_folder": ("runs", STRING, "folder the runs' bags and sidecars go into (created)"),
    "writer": ("auto", STRING, "ros2bag (one `ros2 bag record -s mcap` per run), rosbags (this node writes MCAP "
               "itself) or auto (ros2bag where rosbag2 is installed)"),
    "storage": ("mcap", STRING, "storage of the rosbags writer: mcap or sqlite3"),
    "auto_runs": (True, BOOL, "start a run at the first goal, executor event or teleop input; end it when idle"),
    "idle_timeout": (3.0, DOUBLE, "seconds without activity (and no goal or phase open) that end an automatic run"),
    "preroll": (1.0, DOUBLE, "seconds of messages before a run's start that go into its bag (rosbags writer)"),
    "condition": ("", STRING, "the runs' condition for the sidecar: vla, teleop or vla+approval"),
    "operator": ("", STRING, "who operated or approved (sidecar)"),
    "task": ("", STRING, "what is compared across conditions, e.g. a scene (sidecar; default: the instruction)"),
    "instruction": ("", STRING, "the runs' instruction (sidecar; default: the reasoning node's latest)"),
    "notes": ("", STRING, "free text for the sidecar (how the runs were made)"),
    "scene_seed": (-1, INT, "scene seed for the sidecar (-1: none)"),
    "trial": (1, INT, "trial number of the next run; counts up by one per run"),
    "record_camera": (True, BOOL, "record the colour camera as a downscaled JPEG"),
    "camera_topic": ("/camera/color/image_raw", STRING, "colour image topic (its /compressed twin is recorded)"),
    "camera_rate": (1.0, DOUBLE, "camera frames per second kept"),
    "camera_scale": (0.5, DOUBLE, "downscale factor of the recorded camera frames (rosbags writer)"),
    "reasoning_node": ("/vla_r1_node", STRING, "the reasoning node (its prediction, waypoints and reason goals)"),
    "executor_node": ("/vla_r1_executor", STRING, "the waypoint executor (its planned trajectory and events)"),
    "operator_events": (["/vla_r1_teleop/events", "/scripted_operator/events"], STRINGS,
                        "other ExecutionEvent topics to record and watch (the teleop node's, the scripted operator's)"),
    "twist_topic": ("/servo_node/delta_twist_cmds", STRING, "teleop TwistStamped commands (MoveIt Servo's)"),
    "joy_topic": ("/joy", STRING, "teleop Joy input"),
}  # fmt: skip

_RELIABLE, _LATCH = ReliabilityPolicy.RELIABLE, DurabilityPolicy.TRANSIENT_LOCAL
_LATCHED = QoSProfile(depth=100, durability=_LATCH, reliability=_RELIABLE)  # /tf_static from every publisher
_ACTION_STATUS = QoSProfile(depth=1, durability=_LATCH, reliability=_RELIABLE)  # rcl_action's status QoS
_OPEN_GOAL = (GoalStatus.STATUS_ACCEPTED, GoalStatus.STATUS_EXECUTING, GoalStatus.STATUS_CANCELING)


def _type_name(cls: type) -> str:
    """``sensor_msgs/msg/JointState`` for the rclpy class."""
    return f"{cls.__module__.split('.')[0]}/msg/{cls.__name__}"


def _writer(asked: str) -> str:
    """The writer to use: ``auto`` is ros2bag where rosbag2's ``ros2 bag`` verb is installed."""
    has_rosbag2 = importlib.util.find_spec("ros2bag") is not None and shutil.which("ros2") is not None
    if asked == "auto":
        return "ros2bag" if has_rosbag2 else "rosbags"
    if asked not in ("rosbags", "ros2bag"):
        raise ValueError(f"parameter writer must be auto, rosbags or ros2bag, got {asked!r}")
    if asked == "ros2bag" and not has_rosbag2:
        raise ValueError("writer ros2bag needs rosbag2's `ros2 bag` (source your ROS install) or use rosbags")
    return asked


def ros2_bag_command(bag: Path, topics: list[str]) -> list[str]:
    """The ``ros2 bag record`` command line of one run (MCAP, exactly ``topics``)."""
    return ["ros2", "bag", "record", "-s", "mcap", "-o", str(bag), *topics]


_Method = TypeVar("_Method", bound=Callable[..., Any])


def _locked(method: _Method) -> _Method:
    """Run ``method`` holding the recorder's lock: the run and its writer change under one thread at a time."""

    @functools.wraps(method)
    def wrapper(self: RecorderNode, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return method(self, *args, **kwargs)

    return cast(_Method, wrapper)


@dataclass
class _Run:
    """The run being recorded."""

    metadata: RunMetadata
    bag: Path
    started: float  # s, node clock
    manual: bool
    writer: RunBagWriter | None = None
    process: subprocess.Popen[bytes] | None = None
    opened: float = 0.0  # s, node clock: when the bag was open and taking messages


class RecorderNode(Node):
    """Records runs into bags (see the module docstring)."""

    def __init__(self, **node_options: Any) -> None:
        super().__init__("vla_r1_recorder", **node_options)
        value = declare_table(self, PARAMETERS, read_only=False)
        self.writer, self.storage = _writer(str(value["writer"])), str(value["storage"])
        self.output = Path(str(value["output_folder"]))
        self.preroll, self.camera_rate = float(value["preroll"]), float(value["camera_rate"])
        self.camera_scale = float(value["camera_scale"])
        reasoning, executor = str(value["reasoning_node"]).rstrip("/"), str(value["executor_node"]).rstrip("/")
        self.topics = Topics(
            prediction=f"{reasoning}/prediction", waypoints=f"{reasoning}/waypoints",
            planned_trajectory=f"{executor}/planned_trajectory", events=f"{executor}/events",
            teleop_twist=str(value["twist_topic"]), teleop_joy=str(value["joy_topic"]),
        )  # fmt: skip
        self.event_topics = (self.topics.events, *(str(t) for t in value["operator_events"]))
        self.camera_topic = str(value["camera_topic"]) if value["record_camera"] else ""
        self.segmenter = RunSegmenter(float(value["idle_timeout"])) if value["auto_runs"] else None
        self.store = our_typestore()
        self.run: _Run | None = None
        self.last_bag: Path | None = None
        self._instruction = ""
        self._static: list[tuple[float, bytes]] = []
        self._preroll: deque[tuple[str, str, float, bytes]] = deque()
        self._next_frame = 0.0
        self._group = MutuallyExclusiveCallbackGroup()  # callbacks in arrival order, one at a time
        self._lock = threading.RLock()  # and callers on other threads (begin, finish, judge) in between
        self.events = PhaseEvents(self)
        self._subscribe(reasoning)
        self.create_service(Trigger, "~/start", self._on_start, callback_group=self._group)
        self.create_service(Trigger, "~/stop", self._on_stop, callback_group=self._group)
        self.create_service(SetBool, "~/judge", self._on_judge, callback_group=self._group)
        self.create_timer(0.2, self._poll, callback_group=self._group)
        self.get_logger().info(
            f"vla_r1_recorder: {self.writer} into {self.output}/, runs "
            + ("automatic and by ~/start, ~/stop" if self.segmenter else "by ~/start and ~/stop")
        )

    # ------------------------------------------------------------------ subscriptions
    def _subscribe(self, reasoning: str) -> None:
        t = self.topics
        recorded = [
            (JointState, t.joint_states, 100), (TFMessage, t.tf, 100), (Prediction, t.prediction, 10),
            (PathMsg, t.waypoints, 10), (JointTrajectory, t.planned_trajectory, 10),
            (TwistStamped, t.teleop_twist, 50), (Joy, t.teleop_joy, 50),
            *((ExecutionEvent, topic, 50) for topic in self.event_topics),
        ]  # fmt: skip
        for cls, topic, depth in recorded:
            self._raw(cls, topic, depth)
        self._raw(TFMessage, t.tf_static, _LATCHED)
        self.create_subscription(
            GoalStatusArray, f"{reasoning}/reason/_action/status", self._on_goal_status, _ACTION_STATUS,
            callback_group=self._group,
        )  # fmt: skip
        if self.camera_topic and self.writer == "rosbags":
            self.create_subscription(
                Image, self.camera_topic, self._on_image, qos_profile_sensor_data, callback_group=self._group
            )

    def _raw(self, cls: type, topic: str, qos: Any) -> None:
        kind = _type_name(cls)
        # raw=True hands over the serialized bytes (a bytes object; rclpy types it as a message).
        callback = lambda raw: self._on_message(topic, kind, cls, cast(bytes, raw))  # noqa: E731
        self.create_subscription(cls, topic, callback, qos, raw=True, callback_group=self._group)

    @_locked
    def _on_message(self, topic: str, kind: str, cls: type, raw: bytes) -> None:
        now = self.now()
        if topic == self.topics.tf_static:
            self._static.append((now, raw))
        self._watch(topic, cls, raw, now)
        if self.run is not None and self.run.writer is not None:
            self._write(topic, kind, now, raw)
        elif self.writer == "rosbags" and self.preroll > 0.0 and topic != self.topics.tf_static:
            self._preroll.append((topic, kind, now, raw))
            while self._preroll and self._preroll[0][2] < now - self.preroll:
                self._preroll.popleft()

    def _watch(self, topic: str, cls: type, raw: bytes, now: float) -> None:
        """What the run segmentation and the sidecar need from a message."""
        t = self.topics
        if topic in self.event_topics:
            event = deserialize_message(raw, ExecutionEvent)
            self._activity(now, f"{topic}:{event.goal_id}", event.outcome == STARTED)
        elif topic == t.prediction:
            self._on_prediction(deserialize_message(raw, Prediction), now)
        elif topic in (t.teleop_twist, t.teleop_joy) and teleop_active(_type_name(cls), deserialize_message(raw, cls)):
            self._activity(now)

    @_locked
    def _on_goal_status(self, message: GoalStatusArray) -> None:
        now = self.now()
        for status in message.status_list:
            key = "reason:" + bytes(status.goal_info.goal_id.uuid).hex()
            self._activity(now, key, status.status in _OPEN_GOAL)

    def _on_prediction(self, prediction: Prediction, now: float) -> None:
        self._instruction = prediction.instruction or self._instruction
        if self.run is None:
            return
        thinking = sum(s.seconds for s in prediction.latencies if s.stage != "frame_age")
        began = max(self.run.started, now - thinking)
        outcome = "succeeded" if prediction.parse_status == Prediction.PARSE_OK else "failed"
        self.emit("model", STARTED, f"from the prediction's stage latencies ({thinking:.3f} s)", began)
        self.emit("model", outcome, prediction.parse_error, now)

    @_locked
    def _on_image(self, message: Image) -> None:
        now = self.now()
        if self.run is None or self.run.writer is None or now < self._next_frame:
            return
        self._next_frame = now + 1.0 / self.camera_rate
        import cv2

        rgb = image_to_rgb(message)
        small = cv2.resize(rgb, None, fx=self.camera_scale, fy=self.camera_scale, interpolation=cv2.INTER_AREA)
        ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(small, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 80])
        if ok:
            header = self.run.writer.header(now, message.header.frame_id)
            self.run.writer.message(
                f"{self.camera_topic}/compressed", "sensor_msgs/msg/CompressedImage", now,
                header=header, format="jpeg", data=np.asarray(jpeg, dtype=np.uint8).reshape(-1),
            )  # fmt: skip

    # ------------------------------------------------------------------ runs
    def _activity(self, now: float, key: str | None = None, open_: bool | None = None) -> None:
        if self.segmenter is not None and self.segmenter.activity(now, key, open_) and self.run is None:
            self.begin(now, manual=False)

    @_locked
    def _poll(self) -> None:
        if self.segmenter is None or self.run is None or self.run.manual:
            return
        now = self.now()
        # Opening the first bag can take a second (the writer's first imports); the input that came
        # meanwhile is still queued behind this lock, so the idle time counts from the opening.
        if now - self.run.opened < self.segmenter.idle_timeout:
            return
        end = self.segmenter.poll(now)
        if end is not None:
            self.finish(end)

    def _on_start(self, _request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        if self.run is not None:
            response.success, response.message = False, f"already recording {self.run.metadata.run_id}"
            return response
        run = self.begin(self.now(), manual=True)
        response.success, response.message = True, str(run.bag)
        return response

    def _on_stop(self, _request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        if self.run is None:
            response.success, response.message = False, "no run is being recorded"
            return response
        response.success, response.message = True, str(self.finish(self.now()))
        return response

    def _on_judge(self, request: SetBool.Request, response: SetBool.Response) -> SetBool.Response:
        try:
            response.message = str(self.judge(bool(request.data)))
            response.success = True
        except ValueError as err:
            response.success, response.message = False, str(err)
        return response

    @_locked
    def begin(self, stamp: float, manual: bool = True) -> _Run:
        """Start recording a run at ``stamp`` (node clock, s) with the metadata parameters as they are now."""
        if self.run is not None:
            raise ValueError(f"already recording {self.run.metadata.run_id}")
        metadata = self._metadata()
        self.output.mkdir(parents=True, exist_ok=True)
        bag = self.output / metadata.run_id
        run = _Run(metadata, bag, stamp, manual)
        if self.writer == "rosbags":
            own_events = replace(self.topics, events=self.events.publisher.topic_name)  # where writer.event() writes
            run.writer = RunBagWriter(bag, storage=self.storage, topics=own_events, store=self.store)
            for received, raw in self._static:
                self._write_to(run.writer, self.topics.tf_static, "tf2_msgs/msg/TFMessage", received, raw)
            for topic, kind, received, raw in self._preroll:
                self._write_to(run.writer, topic, kind, received, raw)
            self._preroll.clear()
        else:
            run.process = self._start_ros2_bag(bag)
        run.opened = self.now()
        self.run = run
        self.emit(RUN_PHASE, STARTED, metadata.instruction or metadata.run_id, stamp)
        self.get_logger().info(f"recording run {metadata.run_id} into {bag}")
        return run

    @_locked
    def finish(self, stamp: float, outcome: str = "succeeded") -> Path:
        """End the run at ``stamp``: its last event, the bag closed, the sidecar written; returns the bag."""
        run = self.run
        if run is None:
            raise ValueError("no run is being recorded")
        self.emit(RUN_PHASE, outcome, "run ended", max(stamp, run.started))
        if run.writer is not None:
            run.writer.close()
        if run.process is not None:
            _stop_process(run.process)
        metadata = run.metadata
        if not metadata.instruction and self._instruction:
            metadata = replace(metadata, instruction=self._instruction, task=metadata.task or self._instruction)
        write_metadata(run.bag, metadata)
        self.run, self.last_bag = None, run.bag
        if self.segmenter is not None:
            self.segmenter.reset()
        self.get_logger().info(f"run {metadata.run_id} recorded: {run.bag}")
        return run.bag

    @_locked
    def judge(self, success: bool) -> Path:
        """Record the last finished run's success in its sidecar; returns the bag."""
        if self.last_bag is None:
            raise ValueError("no run has been recorded yet")
        write_metadata(self.last_bag, replace(read_metadata(self.last_bag), success=success))
        return self.last_bag

    def emit(self, phase: str, outcome: str, detail: str, stamp: float) -> None:
        """Publish an ExecutionEvent on ``~/events`` and, with the rosbags writer, write it into the run's bag."""
        self.events.goal_id = self.run.metadata.run_id if self.run else ""
        message = self.events.emit(phase, outcome, detail, stamp)
        if self.run is not None and self.run.writer is not None:
            self.run.writer.event(stamp, phase, outcome, message.detail, message.goal_id)

    def _metadata(self) -> RunMetadata:
        p = {name: self.get_parameter(name).value for name in ("condition", "operator", "task", "instruction", "notes")}
        seed, trial = int(self.get_parameter("scene_seed").value), int(self.get_parameter("trial").value)
        self.set_parameters([Parameter("trial", value=trial + 1)])
        instruction = str(p["instruction"]) or self._instruction
        base = "_".join(part for part in (str(p["task"]) or "run", str(p["condition"]), f"t{trial:02d}") if part)
        run_id = _unused(self.output, base.replace("/", "-").replace(" ", "-").replace("+", "-"))
        return RunMetadata(
            run_id=run_id, task=str(p["task"]) or instruction, instruction=instruction,
            scene_seed=None if seed < 0 else seed, condition=str(p["condition"]), operator=str(p["operator"]),
            trial=trial, notes=str(p["notes"]),
        )  # fmt: skip

    def _start_ros2_bag(self, bag: Path) -> subprocess.Popen[bytes]:
        topics = [getattr(self.topics, name) for name in self.topics.__dataclass_fields__]
        topics += [*self.event_topics[1:], self.events.publisher.topic_name]
        if self.camera_topic:
            topics.append(f"{self.camera_topic}/compressed")
        subscribers = self.events.publisher.get_subscription_count()
        process = subprocess.Popen(ros2_bag_command(bag, topics), start_new_session=True)
        deadline = time.monotonic() + 15.0  # the run's first event must reach the new recorder
        while self.events.publisher.get_subscription_count() <= subscribers and time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"ros2 bag record exited with {process.returncode}: is rosbag2 installed?")
            time.sleep(0.05)
        return process

    # ------------------------------------------------------------------ helpers
    def _write(self, topic: str, kind: str, stamp: float, raw: bytes) -> None:
        assert self.run is not None and self.run.writer is not None
        self._write_to(self.run.writer, topic, kind, stamp, raw)

    def _write_to(self, writer: RunBagWriter, topic: str, kind: str, stamp: float, raw: bytes) -> None:
        # rmw's serialized buffers may carry trailing bytes that rosbags' strict size check refuses;
        # the message's own decoder reads exactly its fields.
        definition = self.store.get_msgdef(kind)
        decode = definition.deserialize_cdr_le if raw[1] else definition.deserialize_cdr_be
        message, _ = decode(memoryview(raw)[4:], 0, definition.cls, self.store)
        writer.write(topic, kind, stamp, message)

    def now(self) -> float:
        """The node clock in seconds (the stamps of runs and events)."""
        return float(self.get_clock().now().nanoseconds) * 1e-9

    def stop(self) -> None:
        """End a run in progress (the node is shutting down): its bag stays readable."""
        if self.run is not None:
            self.finish(self.now(), outcome="failed")

    def destroy_node(self) -> None:
        self.stop()
        super().destroy_node()


def _unused(folder: Path, base: str) -> str:
    """``base``, or ``base-2``, ``base-3``, ... : a run id whose bag folder does not exist yet."""
    name, k = base, 1
    while (folder / name).exists():
        k += 1
        name = f"{base}-{k}"
    return name


def _stop_process(process: subprocess.Popen[bytes]) -> None:
    """SIGINT a ``ros2 bag record`` (it finishes the file), after its last event had time to arrive."""
    time.sleep(0.5)
    for number, wait in ((signal.SIGINT, 10.0), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(process.pid, number)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def main(args: list[str] | None = None) -> None:
    run_node(RecorderNode, args)


if __name__ == "__main__":
    main()
