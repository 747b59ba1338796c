"""Full-size RGB-D frames from another process reach vla_r1_node and pair (the shipped Fast DDS profile).

With Fast DDS's default transports, a 640x480 depth stream at 30 Hz mostly did not arrive
(benchmarks/bench_transport.py: 1-19 % of depth frames); scripts/env.sh selects
config/fastdds_rgbd.xml for every process started from it. Runs only inside a loopback-only
network namespace (conftest.ros_sandbox).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("rclpy", reason="rclpy is not installed; run scripts/run_tests.sh")
pytestmark = pytest.mark.usefixtures("ros_sandbox")

from ros_support import ros_context, scripted, spinning  # noqa: E402

PROFILE = Path(__file__).resolve().parent.parent / "config" / "fastdds_rgbd.xml"
FRAMES = 150


def test_full_size_rgbd_at_30_hz_from_a_camera_process_pairs_in_the_node() -> None:
    from rclpy.parameter import Parameter

    from vla_r1_ros.ros.vla_r1_node import VlaR1Node

    profile = os.environ.get("FASTRTPS_DEFAULT_PROFILES_FILE", "")
    assert profile and Path(profile).resolve() == PROFILE, (
        f"FASTRTPS_DEFAULT_PROFILES_FILE is {profile!r}; scripts/env.sh must select {PROFILE}"
    )
    camera = [
        sys.executable, "-m", "vla_r1_ros.ros.sim_camera", "--size", "640x480", "--rate", "30",
        "--depth-encoding", "16UC1", "--frames", str(FRAMES), "--namespace", "rgbd", "--wait-for-subscribers",
    ]  # fmt: skip
    with ros_context() as context:
        node: Any = VlaR1Node(
            backend=scripted({"affordance": ""}),
            context=context,
            parameter_overrides=[
                Parameter("camera_namespace", value="rgbd"),
                Parameter("static_camera_transform", value=[0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]),
            ],
        )
        with spinning(context, node):
            finished = subprocess.run(camera, capture_output=True, text=True, timeout=60)
        counts = node.stream_counts()
        node.destroy_node()
    assert finished.returncode == 0, finished.stderr[-2000:]
    print(f"received colour {counts.color}, depth {counts.depth}, pairs {counts.pairs} of {FRAMES}")
    assert counts.color <= FRAMES and counts.depth <= FRAMES
    assert counts.pairs >= 0.9 * FRAMES, f"only {counts.pairs} of {FRAMES} full-size frames paired ({counts})"
