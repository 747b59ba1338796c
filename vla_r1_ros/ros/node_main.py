"""One ``main()`` for a node process: spin until SIGINT or SIGTERM, then stop the node and shut down cleanly.

rclpy's own SIGINT handler shuts the context down at once, under running callbacks; this one only
asks for a clean stop: the node's ``stop()`` (if it has one) runs first, then the executor and the
node are shut down and the process exits 0.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable

import rclpy
import rclpy.utilities
from rclpy.executors import Executor, ExternalShutdownException, MultiThreadedExecutor, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions

__all__ = ["run_node"]


def run_node(make: Callable[[], Node], args: list[str] | None = None, threads: int = 1) -> None:
    """Create the node with ``make`` and spin it (``threads`` > 1: a MultiThreadedExecutor) until a signal."""
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    stop = threading.Event()
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda *_: stop.set())
    executor: Executor = MultiThreadedExecutor(num_threads=threads) if threads > 1 else SingleThreadedExecutor()
    node: Node | None = None
    spinner: threading.Thread | None = None
    try:
        node = make()
        executor.add_node(node)
        spinner = threading.Thread(target=executor.spin, name=f"{node.get_name()}_spin", daemon=True)
        spinner.start()
        while not stop.wait(0.5) and spinner.is_alive():
            pass
        finish = getattr(node, "stop", None)
        if callable(finish):
            finish()
            time.sleep(0.3)  # the executor delivers the results of the goals the stop ended
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        executor.shutdown(timeout_sec=2.0)
        if spinner is not None:
            spinner.join(timeout=5.0)
        if node is not None:
            node.destroy_node()
        if rclpy.utilities.ok():
            rclpy.shutdown()
