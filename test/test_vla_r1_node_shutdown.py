"""vla_r1_node as a real process receiving real signals while a goal generates.

A goal running when SIGINT or SIGTERM arrives ends aborted with "node shutting down", its result
reaches the client, and the process exits 0 without touching destroyed handles. Runs only inside
a loopback-only network namespace (conftest.ros_sandbox).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("rclpy", reason="rclpy is not installed; run scripts/run_tests.sh")
pytestmark = pytest.mark.usefixtures("ros_sandbox")

from ros_support import ros_context, spinning, wait_for  # noqa: E402

# Messages that mean the process tore itself down badly.
CRASH_SIGNS = ("terminate called", "InvalidHandle", "Traceback", "destruction was requested")


@pytest.fixture
def node_process(tmp_path: Any) -> Iterator[Any]:
    """Start vla_r1_node on a random tiny checkpoint (it never says EOS: a goal generates for minutes)."""
    from inference_support import endless_checkpoint_dir

    log = (tmp_path / "node.log").open("w+")
    command = [
        sys.executable, "-m", "vla_r1_ros.ros.vla_r1_node", "--ros-args",
        "-p", f"model:={endless_checkpoint_dir()}", "-p", "device:=cpu", "-p", "use_depth:=false",
        "-p", "max_new_tokens:=20000", "-p", "generation_timeout:=120.0", "-p", "frame_wait_timeout:=10.0",
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ))
    try:
        yield process, log
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        log.close()


def _output(log: Any) -> str:
    log.flush()
    log.seek(0)
    return str(log.read())


@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_during_generation_aborts_the_goal_and_exits_cleanly(
    node_process: Any, scene_msgs: Any, signal_number: int
) -> None:
    import rclpy
    from rclpy.action import ActionClient
    from vla_r1_ros.action import Reason

    from vla_r1_ros.ros.sim_camera import FakeCamera

    process, log = node_process
    with ros_context() as context:
        camera = FakeCamera(scene_msgs, context=context)
        client_node = rclpy.create_node("shutdown_test_client", context=context)
        client = ActionClient(client_node, Reason, "/vla_r1_node/reason")
        feedback: list[str] = []
        with spinning(context, camera, client_node):
            assert client.wait_for_server(timeout_sec=60.0), _output(log)
            sent = client.send_goal_async(
                Reason.Goal(instruction="pick up the green box", task="affordance"),
                feedback_callback=lambda m: feedback.append(m.feedback.stage_name),
            )
            assert wait_for(sent.done, timeout=10.0) and sent.result().accepted
            result = sent.result().get_result_async()
            assert wait_for(lambda: "generating" in feedback, timeout=30.0), _output(log)
            time.sleep(1.0)  # well inside the generation
            assert process.poll() is None and not result.done(), "goal ended before the signal: " + _output(log)[-2000:]
            signalled = time.monotonic()
            process.send_signal(signal_number)
            assert wait_for(result.done, timeout=10.0), "the goal's result never reached the client"
            returned = process.wait(timeout=15.0)
            elapsed = time.monotonic() - signalled
        client.destroy()
        client_node.destroy_node()
        camera.destroy_node()
    output = _output(log)
    assert result.result().status == 6, output  # GoalStatus.STATUS_ABORTED
    assert result.result().result.message.startswith("node shutting down"), result.result().result.message
    assert returned == 0, output
    assert elapsed < 5.0, f"exit took {elapsed:.1f} s (ros2 launch escalates to SIGTERM after 5 s)"
    assert not any(sign in output for sign in CRASH_SIGNS), output


def test_an_idle_node_exits_zero_on_sigint(node_process: Any) -> None:
    process, log = node_process
    assert wait_for(lambda: "vla_r1_node ready" in _output(log), timeout=60.0), _output(log)
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=10.0) == 0, _output(log)
    assert not any(sign in _output(log) for sign in CRASH_SIGNS), _output(log)
