"""The network guard of every tool that creates DDS participants in tests, benchmarks and demos.

DDS discovery multicasts on every interface. Our tests, benchmarks and demo scripts create
participants only inside a loopback-only network namespace (``unshare -n``, ``lo`` up) with
``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST``, and refuse to run anywhere else.
"""

from __future__ import annotations

import os
import socket

__all__ = ["loopback_only_reason", "SANDBOX_COMMAND"]

#: How to run a command inside such a namespace (as root; otherwise ``unshare -r -n``).
SANDBOX_COMMAND = "unshare -n bash -c 'ip link set lo up && exec COMMAND'"


def loopback_only_reason() -> str | None:
    """None when this process may create DDS participants; otherwise why it may not."""
    # if_nameindex asks the kernel about this process's network namespace (/sys/class/net would
    # show the namespace sysfs was mounted in).
    interfaces = sorted(name for _, name in socket.if_nameindex())
    if interfaces != ["lo"]:
        return (
            f"network interfaces {interfaces}: this creates DDS participants and must run in a "
            f"loopback-only network namespace ({SANDBOX_COMMAND})"
        )
    if os.environ.get("ROS_AUTOMATIC_DISCOVERY_RANGE") != "LOCALHOST":
        return "ROS_AUTOMATIC_DISCOVERY_RANGE must be LOCALHOST (source scripts/env.sh)"
    return None
