"""The ROS package without running ROS: layout, manifest, interface files, import boundaries."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
INTERFACES = sorted([*ROOT.glob("msg/*.msg"), *ROOT.glob("action/*.action")])


def test_layout() -> None:
    for name in ("package.xml", "CMakeLists.txt", "setup.py", "README.md", ".ci/run"):
        assert (ROOT / name).is_file(), name
    for name in ("vla_r1_ros", "launch", "config", "msg", "action", "training", "test", "benchmarks"):
        assert (ROOT / name).is_dir(), name
    assert (ROOT / "training" / "vla_r1_training" / "__init__.py").is_file()


def test_manifest_is_valid_format_3() -> None:
    from catkin_pkg.package import parse_package

    package = parse_package(str(ROOT / "package.xml"))
    package.validate()
    assert package.name == "vla_r1_ros" and package.package_format == 3
    assert package.get_build_type() == "ament_cmake"
    assert "rosidl_interface_packages" in [group.name for group in package.member_of_groups]


def test_cmake_generates_every_interface_file() -> None:
    code_lines = [line.split("#", 1)[0] for line in (ROOT / "CMakeLists.txt").read_text().splitlines()]
    cmake = "\n".join(code_lines)
    listed = set(re.findall(r'"((?:msg|action)/\w+\.(?:msg|action))"', cmake))
    assert listed == {str(path.relative_to(ROOT)) for path in INTERFACES}
    assert "ament_python_install_package" not in cmake  # clashes with rosidl's own call in Jazzy


def _rosidl_translate(files: list[Path], out: Path) -> subprocess.CompletedProcess[str]:
    rosidl = shutil.which("rosidl", path="/usr/bin")
    if rosidl is None:
        pytest.skip("Debian's rosidl-tools are not installed (scripts/setup_env.sh installs them)")
    relative = [str(path.relative_to(files[0].parent.parent)) for path in files]
    return subprocess.run(
        [rosidl, "translate", "--to", "idl", "-o", str(out), "vla_r1_ros", *relative],
        cwd=files[0].parent.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_interfaces_pass_rosidl_translate(tmp_path: Path) -> None:
    result = _rosidl_translate(INTERFACES, tmp_path)
    assert result.returncode == 0, result.stderr
    for path in INTERFACES:
        idl = tmp_path / path.parent.name / (path.stem + ".idl")
        assert idl.is_file(), f"no IDL for {path.name}"
    prediction = (tmp_path / "msg" / "Prediction.idl").read_text()
    assert "std_msgs::msg::Header header;" in prediction
    assert "sequence<vla_r1_ros::msg::StageLatency> latencies;" in prediction


def test_rosidl_rejects_a_broken_interface(tmp_path: Path) -> None:
    broken = tmp_path / "pkg" / "msg" / "Broken.msg"
    broken.parent.mkdir(parents=True)
    broken.write_text("float64 x\nnot a valid field line !\n")
    assert _rosidl_translate([broken], tmp_path / "out").returncode != 0


def test_core_never_imports_ros_or_training() -> None:
    forbidden = ("rclpy", "std_msgs", "geometry_msgs", "vla_r1_ros.msg", "vla_r1_ros.ros", "vla_r1_training")
    for path in (ROOT / "vla_r1_ros" / "core").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert not name.startswith(forbidden), f"{path.name} imports {name}"
    probe = (
        "import sys, vla_r1_ros.core.rewards, vla_r1_ros.cli; print(any(m.startswith('rclpy') for m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "False", result.stderr


def test_executables_are_installed_and_executable() -> None:
    cmake = (ROOT / "CMakeLists.txt").read_text()
    for program in re.findall(r"^\s+(scripts/\S+)$", cmake, flags=re.MULTILINE):
        path = ROOT / program
        assert path.is_file() and path.stat().st_mode & 0o111, program
