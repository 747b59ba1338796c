"""`ros2 launch vla_r1_ros demo.launch.py` on a machine without RViz (a robot PC, CI, a container).

RViz is an optional viewer: with the default rviz:=true the launch file starts everything else,
says once that RViz is missing and how to silence it. Runs only inside a loopback-only network
namespace (conftest.ros_sandbox).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import time

import pytest

pytestmark = pytest.mark.usefixtures("ros_sandbox", "launch_installed")


def test_the_demo_launches_without_rviz_and_says_so_once() -> None:
    if importlib.util.find_spec("rviz2") is not None or shutil.which("rviz2"):
        pytest.skip("RViz is installed here: nothing to check")
    command = [
        "ros2", "launch", "vla_r1_ros", "demo.launch.py", "sim:=false", "executor:=false",
        "model:=embedded", "device:=cpu", "use_depth:=false",
    ]  # fmt: skip
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    lines: list[str] = []
    deadline = time.monotonic() + 90.0
    try:
        assert process.stdout is not None
        os.set_blocking(process.stdout.fileno(), False)
        while time.monotonic() < deadline and not any("vla_r1_node ready" in line for line in lines):
            chunk = process.stdout.readline()
            if chunk:
                lines.append(chunk)
            elif process.poll() is not None:
                break
            else:
                time.sleep(0.05)
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
    output = "".join(lines)
    assert any("vla_r1_node ready" in line for line in lines), output[-3000:]
    assert output.count("RViz (rviz2) is not installed: starting without it; rviz:=false silences this") == 1
    assert "package 'rviz2' not found" not in output
