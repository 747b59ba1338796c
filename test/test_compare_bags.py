"""Bags for teleop comparisons: writer/reader round trips (MCAP and sqlite3), custom messages read
from the bag's own definitions, damaged bags named in the error, bag discovery, run metadata."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from rosbags.highlevel import AnyReader
from rosbags.typesys import Stores, get_typestore

from vla_r1_ros.core.runs.run import RunData, run_metrics
from vla_r1_ros.experiments.bag_reader import BagError, find_bags, read_bag
from vla_r1_ros.experiments.bag_writer import RunBagWriter, Transform
from vla_r1_ros.experiments.metadata import (
    RunMetadata,
    apply_labels,
    read_labels,
    read_metadata,
    read_tlx,
    sidecar_path,
    write_metadata,
)

ARM = ("j1", "j2")
T0 = 1_700_000_000.0


def _write_run(bag: Path, storage: str) -> None:
    with RunBagWriter(bag, storage=storage) as writer:
        for k, t in enumerate([0.0, 0.011, 0.019, 0.032, 0.04]):  # uneven, as recorded
            writer.joint_state(T0 + t, (*ARM, "finger"), [0.1 * k, -0.2 * k, 0.04])
        writer.joint_state(T0 + 0.025, ("finger",), [0.03])  # a gripper's own publisher on the same topic
        writer.event(T0 + 0.005, "run", "started", goal_id="g1")
        writer.event(T0 + 0.035, "executing", "canceled", "operator stop", goal_id="g1")
        writer.twist(T0 + 0.010, [0.0, 0.0, 0.0])  # released: not input
        writer.twist(T0 + 0.020, [0.0, 0.05, 0.0])
        writer.joy(T0 + 0.030, [0.01, -0.02])  # inside the dead zone
        writer.joy(T0 + 0.031, [0.0, 0.0], buttons=[0, 1])
        writer.transforms(T0, [Transform("world", "panda_link0", (0.0, 0.0, 0.0))], static=True)
        writer.waypoints(T0 + 0.001, "panda_link0", [[0.4, 0.0, 0.2], [0.5, 0.0, 0.1]])
        writer.planned_trajectory(T0 + 0.002, ARM, [[0.0, 0.0], [0.4, -0.8]], [0.0, 0.04])
        writer.prediction(T0 + 0.003, instruction="pick up the red cube", task="trajectory", model_id="test")


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_round_trip(tmp_path: Path, storage: str) -> None:
    bag = tmp_path / f"run_{storage}"
    _write_run(bag, storage)
    assert (bag / "metadata.yaml").is_file()
    assert any(p.suffix == (".mcap" if storage == "mcap" else ".db3") for p in bag.iterdir())
    streams = read_bag(bag)
    assert streams.origin_ns == round(T0 * 1e9)
    times, q = streams.positions_of(("j2", "j1"))  # any order; the gripper-only message is skipped
    assert times == pytest.approx([0.0, 0.011, 0.019, 0.032, 0.04], abs=1e-6)
    assert q[:, 0] == pytest.approx([0.0, -0.2, -0.4, -0.6, -0.8]) and q[:, 1] == pytest.approx(
        [0.0, 0.1, 0.2, 0.3, 0.4]
    )
    assert [(e.phase, e.outcome, e.detail, e.goal_id) for e in streams.events] == [
        ("run", "started", "", "g1"),
        ("executing", "canceled", "operator stop", "g1"),
    ]
    assert streams.events[0].stamp == pytest.approx(0.005, abs=1e-6)
    assert streams.teleop_stamps == pytest.approx([0.020, 0.031], abs=1e-6)
    assert streams.topics["/vla_r1_node/prediction"] == ("vla_r1_ros/msg/Prediction", 1)
    assert streams.topics["/vla_r1_executor/planned_trajectory"] == ("trajectory_msgs/msg/JointTrajectory", 1)
    with pytest.raises(BagError, match="no joint state holds all of j1, elbow"):
        streams.positions_of(("j1", "elbow"))


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_custom_messages_decode_from_the_bag_without_registering(tmp_path: Path, storage: str) -> None:
    bag = tmp_path / "run"
    _write_run(bag, storage)
    assert "vla_r1_ros/msg/Prediction" not in get_typestore(Stores.ROS2_JAZZY).types  # nothing to fall back on
    with AnyReader([bag]) as reader:
        wanted = [c for c in reader.connections if c.msgtype.startswith("vla_r1_ros/")]
        decoded = {c.msgtype: reader.deserialize(raw, c.msgtype) for c, _, raw in reader.messages(connections=wanted)}
    prediction = decoded["vla_r1_ros/msg/Prediction"]
    assert prediction.instruction == "pick up the red cube" and prediction.model_id == "test"
    assert prediction.trajectory.points_px == [] and prediction.affordance.pose.header.frame_id == ""
    assert decoded["vla_r1_ros/msg/ExecutionEvent"].detail == "operator stop"


def test_bag_messages_are_what_rclpy_deserialises(tmp_path: Path) -> None:
    """Our .msg registration in rosbags and the ROS-generated types agree byte for byte."""
    try:
        from rclpy.serialization import deserialize_message
        from vla_r1_ros.msg import ExecutionEvent, Prediction
    except ImportError as err:  # pragma: no cover - only without the colcon build
        pytest.skip(f"rclpy or the generated messages are not importable ({err})")
    bag = tmp_path / "run"
    _write_run(bag, "mcap")
    with AnyReader([bag]) as reader:
        raw = {c.msgtype: bytes(r) for c, _, r in reader.messages() if c.msgtype.startswith("vla_r1_ros/")}
    event = deserialize_message(raw["vla_r1_ros/msg/ExecutionEvent"], ExecutionEvent)
    assert (event.phase, event.outcome, event.detail, event.goal_id) == ("executing", "canceled", "operator stop", "g1")
    assert event.header.stamp.sec == int(T0) and abs(event.header.stamp.nanosec - 35_000_000) < 1_000
    prediction = deserialize_message(raw["vla_r1_ros/msg/Prediction"], Prediction)
    assert prediction.instruction == "pick up the red cube" and prediction.task == "trajectory"


def _damaged_copies(tmp_path: Path) -> dict[str, Path]:
    good_mcap, good_db3 = tmp_path / "good_mcap", tmp_path / "good_db3"
    _write_run(good_mcap, "mcap")
    _write_run(good_db3, "sqlite3")
    damaged = {}
    for name, source, suffix, cut in (
        ("truncated_mcap", good_mcap, ".mcap", lambda b: b[: len(b) // 2]),
        ("garbage_db3", good_db3, ".db3", lambda b: b"\x00not a database" * 64),
    ):
        copy = tmp_path / name
        shutil.copytree(source, copy)
        storage = next(p for p in copy.iterdir() if p.suffix == suffix)
        storage.write_bytes(cut(storage.read_bytes()))
        damaged[name] = copy
    unfinished = tmp_path / "unfinished"
    shutil.copytree(good_mcap, unfinished)
    (unfinished / "metadata.yaml").unlink()  # a recorder killed before it wrote the metadata
    damaged["unfinished"] = unfinished
    return damaged


def test_damaged_bags_name_the_bag_and_its_file(tmp_path: Path) -> None:
    damaged = _damaged_copies(tmp_path)
    with pytest.raises(BagError) as truncated:
        read_bag(damaged["truncated_mcap"])
    message = str(truncated.value)
    assert message.startswith(str(damaged["truncated_mcap"]))
    assert "good_mcap.mcap" in message and "cut short" in message
    with pytest.raises(BagError, match=r"garbage_db3: cannot read the bag \(good_db3\.db3\): .*not a database"):
        read_bag(damaged["garbage_db3"])
    with pytest.raises(BagError, match=r"unfinished: .*no metadata\.yaml.*ros2 bag reindex"):
        read_bag(damaged["unfinished"])


def test_a_bag_without_joint_states_says_what_it_holds(tmp_path: Path) -> None:
    bag = tmp_path / "events_only"
    with RunBagWriter(bag) as writer:
        writer.event(T0, "run", "started")
    with pytest.raises(BagError, match=r"events_only: no /joint_states .* \(topics: /vla_r1_executor/events\)"):
        read_bag(bag)


def test_a_bag_of_joint_states_alone_is_one_run_from_first_to_last_message(tmp_path: Path) -> None:
    bag = tmp_path / "joints_only"
    t = np.cumsum(np.r_[0.0, np.full(199, 0.01)]) + 3.0
    with RunBagWriter(bag, storage="sqlite3") as writer:
        for k, stamp in enumerate(t):
            writer.joint_state(T0 + stamp, ARM, [np.sin(k / 50), 0.0])
    streams = read_bag(bag)
    times, q = streams.positions_of(ARM)
    tool = np.column_stack([q[:, 0], np.zeros(len(q)), np.full(len(q), 0.2)])
    metrics = run_metrics(RunData("joints_only", times, q, ARM, tool, streams.events, streams.teleop_stamps))
    assert metrics.window_source == "joint states"
    assert (metrics.start, metrics.completion_time) == (pytest.approx(0.0), pytest.approx(1.99, abs=1e-6))


def test_find_bags(tmp_path: Path) -> None:
    study = tmp_path / "study"
    for name in ("b", "a", "nested/c"):
        _write_run(study / name, "mcap")
    (study / "a.run.json").write_text("{}")  # sidecars are files, never bags
    assert find_bags([study]) == [study / "a", study / "b", study / "nested" / "c"]
    assert find_bags([study / "b", study]) == [study / "b", study / "a", study / "nested" / "c"]  # each once
    assert find_bags([study / "a" / "a.mcap"]) == [study / "a"]
    with pytest.raises(ValueError, match="missing: no such file or folder"):
        find_bags([tmp_path / "missing"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="empty: no rosbag2 bag"):
        find_bags([tmp_path / "empty"])


# --- run metadata --------------------------------------------------------------------------------


def test_sidecar_round_trip_and_defaults(tmp_path: Path) -> None:
    bag = tmp_path / "t03_vla_2"
    meta = RunMetadata("t03_vla_2", task="t03", instruction="pick up the red cube", scene_seed=17,
                       condition="vla", operator="P07", trial=2, success=True)  # fmt: skip
    path = write_metadata(bag, meta)
    assert path == tmp_path / "t03_vla_2.run.json" == sidecar_path(bag)
    assert json.loads(path.read_text())["schema"] == "vla_r1_ros/run-metadata/1"
    assert read_metadata(bag) == meta
    assert read_metadata(tmp_path / "other") == RunMetadata("other")  # no sidecar: only its name is known
    sidecar_path(tmp_path / "bad").write_text(json.dumps({"condition": "autonomous"}))
    with pytest.raises(ValueError, match=r"bad\.run\.json: condition must be one of vla, teleop, vla\+approval"):
        read_metadata(tmp_path / "bad")
    sidecar_path(tmp_path / "typo").write_text(json.dumps({"conditon": "vla"}))
    with pytest.raises(ValueError, match=r"typo\.run\.json: unknown key\(s\) conditon"):
        read_metadata(tmp_path / "typo")


def test_labels_and_tlx_tables(tmp_path: Path) -> None:
    labels = tmp_path / "labels.csv"
    labels.write_text("run_id,condition,task,trial,success\nr1,teleop,t1,3,yes\nr2,vla,,,\n")
    table = read_labels(labels)
    assert table == {
        "r1": {"condition": "teleop", "task": "t1", "trial": 3, "success": True},
        "r2": {"condition": "vla"},
    }
    merged = apply_labels(RunMetadata("r1", task="old", condition="vla", operator="P1"), table)
    assert (merged.task, merged.condition, merged.trial, merged.operator) == ("t1", "teleop", 3, "P1")
    labels.write_text("run_id,trial\nr1,three\n")
    with pytest.raises(ValueError, match=r"labels\.csv, line 2: trial must be an integer"):
        read_labels(labels)
    tlx = tmp_path / "tlx.csv"
    tlx.write_text(
        "run_id,mental,physical,temporal,performance,effort,frustration\nr1,60,20,40,30,50,10\nr2,0,0,0,0,0,0\n"
    )
    assert read_tlx(tlx) == {"r1": pytest.approx(35.0), "r2": 0.0}
    tlx.write_text("run_id,mental,physical,temporal,performance,effort\nr1,1,2,3,4,5\n")
    with pytest.raises(ValueError, match=r"tlx\.csv: missing column\(s\) frustration"):
        read_tlx(tlx)
