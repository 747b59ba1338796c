"""The fake's world: one simulated Panda, what tests script and what the fake records.

Tests talk to the fake across the process boundary through a directory named by
``FAKE_MOVEIT_DIR``: ``script.json`` (read at every call, so a test may change it between goals)
and ``record.jsonl`` (one JSON object per call the fake received). With
``FAKE_MOVEIT_JOINT_STATES=1`` the arm's joints are published on /joint_states (rclpy), as a
robot's joint state broadcaster would.
"""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Any

import numpy as np

from vla_r1_ros.core.execution.limits import PANDA_ARM_JOINTS, PANDA_FINGER_JOINTS
from vla_r1_ros.sim.panda_model import READY_POSITIONS
from vla_r1_ros.sim.panda_planner import PandaCartesianPlanner

SUCCESS, FAILURE, NO_IK_SOLUTION, INVALID_GROUP_NAME = 1, 99999, -31, -15
ARM_GROUP, HAND_LINK_NAME, BASE_FRAME = "panda_arm", "panda_hand", "panda_link0"
DEFAULT_SCRIPT: dict[str, Any] = {"fail_x_above": None, "execute_status": "SUCCEEDED", "speedup": 4.0}


def script() -> dict[str, Any]:
    path = os.path.join(os.environ.get("FAKE_MOVEIT_DIR", ""), "script.json")
    values = dict(DEFAULT_SCRIPT)
    if os.environ.get("FAKE_MOVEIT_DIR") and os.path.exists(path):
        with open(path, encoding="utf-8") as handle:
            values.update(json.load(handle))
    return values


_record_lock = threading.Lock()


def record(call: str, **fields: Any) -> None:
    directory = os.environ.get("FAKE_MOVEIT_DIR")
    if not directory:
        return
    line = json.dumps({"call": call, "time": time.monotonic(), **fields})
    with _record_lock, open(os.path.join(directory, "record.jsonl"), "a", encoding="utf-8") as handle:
        handle.write(line + "\n")


class Arm:
    """The simulated Panda: joint positions, and the pybullet planner/kinematics (one thread at a time)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.positions = np.array(READY_POSITIONS, dtype=float)
        self.kinematics_lock = threading.Lock()
        self.planner = PandaCartesianPlanner(tcp_offset=(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0))

    def read(self) -> np.ndarray:
        with self.lock:
            return self.positions.copy()

    def write(self, q: np.ndarray) -> None:
        with self.lock:
            self.positions = np.asarray(q, dtype=float).copy()


ARM = Arm()


def publish_joint_states(node_name: str) -> None:
    """/joint_states at 50 Hz from a thread (only when FAKE_MOVEIT_JOINT_STATES=1)."""
    if os.environ.get("FAKE_MOVEIT_JOINT_STATES") != "1":
        return
    import rclpy
    from sensor_msgs.msg import JointState

    rclpy.init()
    node = rclpy.create_node(f"{node_name}_joint_states")
    publisher = node.create_publisher(JointState, "/joint_states", 10)

    def loop() -> None:
        while rclpy.ok():
            state = JointState(name=[*PANDA_ARM_JOINTS, *PANDA_FINGER_JOINTS])
            state.position = [*ARM.read().tolist(), 0.04, 0.04]
            state.header.stamp = node.get_clock().now().to_msg()
            publisher.publish(state)
            time.sleep(0.02)

    threading.Thread(target=loop, daemon=True).start()
