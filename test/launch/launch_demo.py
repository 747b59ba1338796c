"""launch_testing check of demo.launch.py: run by test/test_launch_demo.py as `launch_test THIS_FILE`.

Starts the launch file through launch itself (with launch arguments) and checks that vla_r1_node
comes up with the parameters of config/vla_r1_node.yaml and the launch arguments applied, and
with the Fast DDS profile the launch file selects. Not collected by pytest directly: Jazzy's
launch_testing pytest plugin does not load under pytest 9 (see pytest.ini).
"""

from __future__ import annotations

import os
import time
import unittest
from pathlib import Path

import launch
import launch.launch_description_sources
import launch_testing.actions
import rclpy
import yaml
from ament_index_python.packages import get_package_share_directory
from rcl_interfaces.srv import GetParameters

ARGUMENTS = {
    "model": "embedded",
    "device": "cpu",
    "rviz": "false",
    "camera_namespace": "cam_test",
    "target_frame": "world",
}


def generate_test_description() -> launch.LaunchDescription:
    demo = os.path.join(get_package_share_directory("vla_r1_ros"), "launch", "demo.launch.py")
    return launch.LaunchDescription(
        [
            launch.actions.IncludeLaunchDescription(
                launch.launch_description_sources.PythonLaunchDescriptionSource(demo),
                launch_arguments=ARGUMENTS.items(),
            ),
            launch_testing.actions.ReadyToTest(),
        ]
    )


def _node_environment() -> dict[str, str]:
    """The environment of the running vla_r1_node process (found by its command line)."""
    for proc in Path("/proc").iterdir():
        try:
            command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            if "vla_r1_node" in command and "__node:=vla_r1_node" in command:
                pairs = (proc / "environ").read_bytes().split(b"\0")
                return dict(p.decode().split("=", 1) for p in pairs if b"=" in p)
        except OSError:
            continue
    return {}


class TestDemoLaunch(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        rclpy.init()
        cls.node = rclpy.create_node("demo_launch_probe")

    @classmethod
    def tearDownClass(cls) -> None:
        cls.node.destroy_node()
        rclpy.shutdown()

    def _parameters(self, names: list[str]) -> dict[str, object]:
        client = self.node.create_client(GetParameters, "/vla_r1_node/get_parameters")
        self.assertTrue(client.wait_for_service(timeout_sec=90.0), "vla_r1_node never came up")
        # The parameter service exists while the node is still loading its model (it answers once
        # it spins), and on a busy machine a first reply can be lost while discovery catches up
        # (Fast DDS: "client will not receive response"): ask again every 5 s, for up to 90 s.
        deadline = time.monotonic() + 90.0
        response = None
        while response is None and time.monotonic() < deadline:
            future = client.call_async(GetParameters.Request(names=names))
            attempt = time.monotonic() + 5.0
            while not future.done() and time.monotonic() < min(attempt, deadline):
                rclpy.spin_once(self.node, timeout_sec=0.1)
            if future.done():
                response = future.result()
            else:
                client.remove_pending_request(future)
        self.assertIsNotNone(response, "vla_r1_node never answered get_parameters within 90 s")
        values = response.values
        fields = {1: "bool_value", 2: "integer_value", 3: "double_value", 4: "string_value", 8: "double_array_value"}
        return {name: getattr(value, fields[value.type]) for name, value in zip(names, values)}

    def test_launch_arguments_and_the_parameter_file_are_applied(self) -> None:
        share = get_package_share_directory("vla_r1_ros")
        defaults = yaml.safe_load(Path(share, "config", "vla_r1_node.yaml").read_text())["vla_r1_node"][
            "ros__parameters"
        ]
        got = self._parameters(
            [
                "model",
                "device",
                "camera_namespace",
                "target_frame",
                "max_new_tokens",
                "workspace_min",
                "max_prompt_tokens",
            ]
        )
        for name in ("model", "device", "camera_namespace", "target_frame"):
            self.assertEqual(got[name], ARGUMENTS[name], name)
        for name in ("max_new_tokens", "max_prompt_tokens"):
            self.assertEqual(got[name], defaults[name], name)
        self.assertEqual(list(got["workspace_min"]), defaults["workspace_min"])

    def test_the_node_runs_with_the_rgbd_transport_profile(self) -> None:
        self._parameters(["model"])  # the node is up
        profile = _node_environment().get("FASTRTPS_DEFAULT_PROFILES_FILE", "")
        self.assertTrue(profile.endswith("fastdds_rgbd.xml"), profile)
        self.assertTrue(Path(profile).is_file(), profile)


@launch_testing.post_shutdown_test()
class TestShutdown(unittest.TestCase):
    def test_the_node_exits_cleanly(self, proc_info: launch_testing.ProcInfoHandler) -> None:
        launch_testing.asserts.assertExitCodes(proc_info)
