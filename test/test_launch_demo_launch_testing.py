"""launch_testing check of demo.launch.py, for machines with a ROS 2 install.

launch, launch_ros and launch_testing are not installable from PyPI, so on machines without ROS 2
this module is skipped (test_launch_files.py checks the same launch file statically). With ROS 2
sourced and this package built, run: `launch_test test/test_launch_demo_launch_testing.py`.
"""

from __future__ import annotations

import os
import unittest

import pytest

pytest.importorskip(
    "launch_testing", reason="launch_testing is not installed (needs a ROS 2 install); see test_launch_files.py"
)
import launch
import launch.launch_description_sources
import launch_testing.actions
import rclpy
from ament_index_python.packages import get_package_share_directory


@pytest.mark.launch_test
def generate_test_description() -> launch.LaunchDescription:
    demo = os.path.join(get_package_share_directory("vla_r1_ros"), "launch", "demo.launch.py")
    model = os.environ.get("VLA_R1_TEST_MODEL", "/tmp/vla-r1-tiny")  # vla-r1 make-tiny-model /tmp/vla-r1-tiny
    return launch.LaunchDescription(
        [
            launch.actions.IncludeLaunchDescription(
                launch.launch_description_sources.PythonLaunchDescriptionSource(demo),
                launch_arguments={"model": model, "device": "cpu", "rviz": "false"}.items(),
            ),
            launch_testing.actions.ReadyToTest(),
        ]
    )


class TestDemoLaunch(unittest.TestCase):
    def test_reason_action_server_comes_up(self) -> None:
        from rclpy.action import ActionClient
        from vla_r1_ros.action import Reason

        rclpy.init()
        node = rclpy.create_node("demo_launch_probe")
        try:
            client = ActionClient(node, Reason, "/vla_r1_node/reason")
            self.assertTrue(client.wait_for_server(timeout_sec=60.0))
        finally:
            node.destroy_node()
            rclpy.shutdown()
