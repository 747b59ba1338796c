"""Launch files and parameter files, checked statically (launch/launch_ros are not installable here).

Every executable a launch file starts must be installed, every file it references must exist,
every launch argument must be declared with a description, and the node's parameter YAML must
list exactly the parameters the node declares, with the same defaults.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
LAUNCH_FILES = sorted((ROOT / "launch").glob("*.launch.py"))


def _calls(tree: ast.AST, name: str) -> list[ast.Call]:
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == name
    ]


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _installed_executables() -> set[str]:
    cmake = (ROOT / "CMakeLists.txt").read_text()
    block = re.search(r"install\(PROGRAMS(.*?)DESTINATION", cmake, re.DOTALL)
    assert block, "CMakeLists.txt installs no executables"
    return {Path(entry).name for entry in block.group(1).split()}


def test_there_is_a_demo_launch_file() -> None:
    assert ROOT / "launch" / "demo.launch.py" in LAUNCH_FILES


@pytest.mark.parametrize("launch_file", LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_file_references_exist(launch_file: Path) -> None:
    tree = ast.parse(launch_file.read_text())
    assert any(isinstance(n, ast.FunctionDef) and n.name == "generate_launch_description" for n in tree.body)
    installed = _installed_executables()
    nodes = _calls(tree, "Node")
    assert nodes, "the launch file starts no node"
    for node in nodes:
        package = ast.literal_eval(_keyword(node, "package"))  # type: ignore[arg-type]
        executable = ast.literal_eval(_keyword(node, "executable"))  # type: ignore[arg-type]
        if package == "vla_r1_ros":
            assert executable in installed, f"{executable} is not installed by CMakeLists.txt"
            assert (ROOT / "scripts" / executable).stat().st_mode & 0o111
    for join in _calls(tree, "PathJoinSubstitution"):
        parts = join.args[0]
        assert isinstance(parts, ast.List)
        literal = [ast.literal_eval(p) for p in parts.elts if isinstance(p, ast.Constant)]
        assert (ROOT.joinpath(*literal)).is_file(), f"{'/'.join(literal)} referenced by {launch_file.name} is missing"


@pytest.mark.parametrize("launch_file", LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_arguments_are_declared_with_descriptions(launch_file: Path) -> None:
    tree = ast.parse(launch_file.read_text())
    declared: dict[str, str] = {}
    for assign in ast.walk(tree):
        if isinstance(assign, ast.Assign) and getattr(assign.targets[0], "id", "") == "ARGUMENTS":
            for name, _default, description in ast.literal_eval(assign.value):
                declared[name] = description
    for call in _calls(tree, "DeclareLaunchArgument"):
        if call.args and isinstance(call.args[0], ast.Constant):
            description = _keyword(call, "description")
            declared[call.args[0].value] = ast.literal_eval(description) if description is not None else ""
    assert declared, "no launch arguments declared"
    for name, description in declared.items():
        assert len(description) > 10, f"launch argument {name!r} needs a description"
    used = {
        ast.literal_eval(c.args[0]) for c in _calls(tree, "LaunchConfiguration") if isinstance(c.args[0], ast.Constant)
    }
    assert used <= set(declared), f"undeclared launch arguments used: {sorted(used - set(declared))}"
    assert {"model", "device", "camera_namespace", "target_frame", "rviz"} <= set(declared)


@pytest.mark.parametrize(
    ("node", "module"),
    [("vla_r1_node", "vla_r1_node_parameters"), ("vla_r1_executor", "executor_node"), ("sim_arm", "sim_arm")],
)
def test_node_parameter_file_matches_the_declared_parameters(node: str, module: str) -> None:
    import importlib

    if module == "sim_arm":
        pytest.importorskip("control_msgs", reason="control_msgs is not installed (vendored ROS 2 build)")
    PARAMETERS = importlib.import_module(f"vla_r1_ros.ros.{module}").PARAMETERS
    document = yaml.safe_load((ROOT / "config" / f"{node}.yaml").read_text())
    parameters = document[node]["ros__parameters"]
    assert set(parameters) == set(PARAMETERS)
    for name, value in parameters.items():
        assert value == PARAMETERS[name][0], f"{name}: YAML default {value!r} differs from the node's"
        assert PARAMETERS[name][2], f"{name} has no description"


def test_rviz_config_shows_the_node_outputs() -> None:
    config = yaml.safe_load((ROOT / "config" / "vla_r1.rviz").read_text())
    topics = {
        display.get("Topic", {}).get("Value")
        for display in config["Visualization Manager"]["Displays"]
        if isinstance(display.get("Topic"), dict)
    }
    assert {"/vla_r1_node/annotated_image", "/vla_r1_node/markers", "/vla_r1_node/waypoints"} <= topics


def _executor_overrides(**arguments: str) -> dict:
    """What demo.launch.py gives the executor for these launch arguments (the others at their defaults)."""
    import importlib.util

    from conftest import require_installed

    require_installed("launch", "ROS 2 launch")
    from launch import LaunchContext

    spec = importlib.util.spec_from_file_location("demo_launch", ROOT / "launch" / "demo.launch.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    context = LaunchContext()
    context.launch_configurations.update({name: default for name, default, _ in module.ARGUMENTS})
    context.launch_configurations.update(arguments)
    return {k: v for k, v in module.executor_overrides(context).items() if k != "planning_frame"}


def test_the_demo_moves_the_simulated_arm_and_only_checks_plans_for_a_real_one() -> None:
    simulated = _executor_overrides()
    assert simulated["backend"] == "sim" and not simulated["dry_run"] and not simulated["require_approval"]
    assert simulated["tcp_offset"][2] == pytest.approx(0.105)
    real = _executor_overrides(sim="false")
    assert real == {"backend": "move_group", "dry_run": True, "require_approval": True}
    approved_moves = _executor_overrides(sim="false", dry_run="false")
    assert not approved_moves["dry_run"] and approved_moves["require_approval"]


def test_the_moveit_py_backend_gets_moveit_s_parameters_file() -> None:
    overrides = _executor_overrides(sim="false", backend="moveit_py", moveit_params="/robot/moveit_py.yaml")
    assert overrides["backend"] == "moveit_py" and overrides["moveit_py_params_file"] == "/robot/moveit_py.yaml"
    assert overrides["dry_run"] and overrides["require_approval"]
