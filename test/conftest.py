"""Shared fixtures. ROS tests run only inside a loopback-only network namespace."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))  # the test oracle


def loopback_only_reason() -> str | None:
    """None when this process may create DDS participants; otherwise why it may not."""
    # if_nameindex asks the kernel about this process's network namespace (/sys/class/net would
    # show the namespace sysfs was mounted in).
    interfaces = sorted(name for _, name in socket.if_nameindex())
    if interfaces != ["lo"]:
        return (
            f"network interfaces {interfaces}: ROS tests create DDS participants and must run in a "
            "loopback-only network namespace (scripts/run_tests.sh does this)"
        )
    if os.environ.get("ROS_AUTOMATIC_DISCOVERY_RANGE") != "LOCALHOST":
        return "ROS_AUTOMATIC_DISCOVERY_RANGE must be LOCALHOST for ROS tests"
    return None


@pytest.fixture(scope="session")
def ros_sandbox() -> None:
    """Refuse (skip, or fail when VLA_R1_REQUIRE_ROS=1) outside a loopback-only namespace."""
    reason = loopback_only_reason()
    if reason is None:
        try:
            import rclpy  # noqa: F401
            import vla_r1_ros.msg  # noqa: F401
        except ImportError as err:
            reason = (
                f"rclpy or the generated messages are not importable ({err}); "
                "run scripts/setup_env.sh and source scripts/env.sh"
            )
    if reason is not None:
        if os.environ.get("VLA_R1_REQUIRE_ROS") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
