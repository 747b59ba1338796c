"""demo.launch.py started through launch itself (launch_testing's own runner, in a subprocess).

The launch_testing file is test/launch/launch_demo.py; Jazzy's launch_testing pytest plugin does
not load under pytest 9, so it runs as `launch_test FILE`, as a ROS user would run it. Runs only
inside a loopback-only network namespace (conftest.ros_sandbox).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.usefixtures("ros_sandbox", "launch_installed")

LAUNCH_TEST = Path(__file__).resolve().parent / "launch" / "launch_demo.py"


def test_demo_launch_brings_the_node_up_with_its_parameters() -> None:
    runner = shutil.which("launch_test")
    assert runner, "launch_testing is importable but its launch_test command is not on PATH"
    done = subprocess.run([runner, str(LAUNCH_TEST)], capture_output=True, text=True, timeout=240)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    assert "Ran 2 tests" in output and "Ran 1 test" in output and "FAILED" not in output, output[-4000:]
