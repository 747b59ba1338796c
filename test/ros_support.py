"""Shared pieces of the ROS node tests: a rendered RGB-D scene as ROS messages and a fake camera.

Only imported by tests that run inside the loopback-only namespace (conftest.ros_sandbox).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import rclpy
from rclpy.executors import MultiThreadedExecutor, SingleThreadedExecutor
from rclpy.node import Node

from vla_r1_ros.core.protocol import format_answer
from vla_r1_ros.ros.sim_camera import (  # noqa: F401  (re-exported for the tests)
    BASE_FRAME,
    OPTICAL_FRAME,
    FakeCamera,
    SceneMessages,
    render_tabletop,
    scene_messages,
)


@contextmanager
def spinning(context: Any, *nodes: Node, threads: int = 1) -> Iterator[Any]:
    """Spin ``nodes`` on one executor thread in the background (as the node's main() does).

    ``threads`` > 1: a MultiThreadedExecutor, for servers whose callbacks block (a held goal).
    """
    executor: Any = (
        SingleThreadedExecutor(context=context)
        if threads == 1
        else MultiThreadedExecutor(num_threads=threads, context=context)
    )
    for node in nodes:
        executor.add_node(node)
    thread = threading.Thread(target=executor.spin, daemon=True)
    thread.start()
    try:
        yield executor
    finally:
        executor.shutdown(timeout_sec=5.0)
        thread.join(timeout=10.0)
        for node in nodes:
            executor.remove_node(node)


def wait_for(condition: Callable[[], bool], timeout: float = 15.0, period: float = 0.01) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(period)
    return condition()


@contextmanager
def ros_context() -> Iterator[Any]:
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        yield context
    finally:
        rclpy.shutdown(context=context)


TRAJECTORY_TEXT = "<think>go around the blue box</think><output>[[0.85, 0.9], [0.7, 0.7], [0.45, 0.5]]</output>"


def box_answer(scene: Any) -> str:
    """The ground-truth box of the scene's target, written the way VLA-R1 answers."""
    return format_answer(scene.object("target").box_2d, "the green box is left of the blue one")


@dataclass
class Harness:
    """A running node under test, a fake camera, and the client (a VlaR1Commander) with its action client."""

    context: Any
    node: Any
    camera: Any
    client_node: Any
    client: Any
    received: dict[str, list[Any]] = field(default_factory=dict)

    def send(self, instruction: str, task: str = "affordance", timeout: float = 30.0) -> tuple[Any, list[Any]]:
        """The Reason result and its feedback as (arrival time, message), through the client facade."""
        result = self.client_node.reason(instruction, task, timeout_s=timeout)
        return result, list(self.client_node.feedback)


def scripted(answer: Any, delay_s: float = 0.0) -> Any:
    from vla_r1_ros.model.backends import ScriptedBackend

    return ScriptedBackend(answer, delay_s=delay_s)
