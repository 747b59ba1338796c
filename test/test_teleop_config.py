"""The teleop and recording nodes' parameter files list exactly what the nodes declare; the launch file offers them."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent

pytest.importorskip("control_msgs", reason="control_msgs is not installed (vendored ROS 2 build)")
pytest.importorskip("tf2_ros", reason="tf2_ros is not installed (vendored ROS 2 build)")


@pytest.mark.parametrize(
    ("config", "node", "module", "table"),
    [
        ("vla_r1_teleop", "vla_r1_teleop", "teleop_node", "PARAMETERS"),
        ("vla_r1_recorder", "vla_r1_recorder", "recorder", "PARAMETERS"),
        ("scripted_operator", "scripted_operator", "scripted_operator", "PARAMETERS"),
        ("sim_arm_servo", "sim_arm", "sim_arm", "SERVO_PARAMETERS"),
    ],
)
def test_parameter_file_matches_the_declared_parameters(config: str, node: str, module: str, table: str) -> None:
    declared = getattr(importlib.import_module(f"vla_r1_ros.ros.{module}"), table)
    listed = yaml.safe_load((ROOT / "config" / f"{config}.yaml").read_text())[node]["ros__parameters"]
    assert set(listed) == set(declared)
    for name, value in listed.items():
        assert value == declared[name][0], f"{name}: YAML default {value!r} differs from the node's"
        assert len(declared[name][2]) > 10, f"{name} has no description"


def test_the_servo_keeps_to_the_executors_workspace_by_default() -> None:
    from vla_r1_ros.ros.executor_node import PARAMETERS as EXECUTOR
    from vla_r1_ros.ros.sim_arm import SERVO_PARAMETERS

    shared = {"workspace_min", "workspace_max", "table_height", "min_height_above_table", "reach_center", "max_reach"}
    assert shared <= set(SERVO_PARAMETERS)
    for name in shared:
        assert SERVO_PARAMETERS[name][0] == EXECUTOR[name][0], name


def test_demo_launch_offers_record_and_teleop_and_starts_the_nodes_with_their_files() -> None:
    tree = ast.parse((ROOT / "launch" / "demo.launch.py").read_text())
    arguments = next(
        ast.literal_eval(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "ARGUMENTS"
    )
    defaults = {name: default for name, default, _ in arguments}
    assert defaults["record"] == "false" and defaults["teleop"] == "false"
    source = (ROOT / "launch" / "demo.launch.py").read_text()
    for executable, config in (("vla_r1_recorder", "vla_r1_recorder.yaml"), ("vla_r1_teleop", "vla_r1_teleop.yaml")):
        assert f'executable="{executable}"' in source and f'"{config}"' in source
    assert '"sim_arm_servo.yaml"' in source
