"""Node parameters into settings: one table of safety limits for both nodes, settings by field name."""

from __future__ import annotations

from array import array

import pytest

pytest.importorskip("rclpy", reason="rclpy is not installed; run scripts/run_tests.sh")

from vla_r1_ros.core.execution import PlanCheckLimits
from vla_r1_ros.core.geometry import SafetyLimits
from vla_r1_ros.ros.executor_node import PARAMETERS as EXECUTOR
from vla_r1_ros.ros.parameters import settings_from
from vla_r1_ros.ros.safety_parameters import safety_limits, safety_parameters
from vla_r1_ros.ros.vla_r1_node_parameters import PARAMETERS as REASONING


def test_both_nodes_declare_the_same_safety_limits_in_their_own_frame() -> None:
    for table, frame in ((REASONING, "target_frame"), (EXECUTOR, "planning_frame")):
        shared = safety_parameters(frame)
        assert {name: table[name] for name in shared} == shared
        assert frame in table["workspace_min"][2]


def test_the_declared_defaults_are_the_cores_defaults() -> None:
    defaults = {name: row[0] for name, row in safety_parameters("f").items()}
    assert safety_limits(defaults) == SafetyLimits()


def test_settings_take_same_named_values_arrays_as_tuples_and_keep_other_defaults() -> None:
    values = {"workspace_min": array("d", [-0.5, -0.4, 0.0]), "max_reach": 0.7, "unrelated": "x"}
    limits = settings_from(SafetyLimits, values)
    assert limits.workspace_min == (-0.5, -0.4, 0.0) and limits.max_reach == 0.7
    assert limits.max_path_length == SafetyLimits().max_path_length
    checks = settings_from(PlanCheckLimits, {"max_joint_step": 0.1}, safety=limits)
    assert checks.safety is limits and checks.max_joint_step == 0.1


def test_a_bad_value_is_refused_by_the_settings_own_checks() -> None:
    with pytest.raises(ValueError):
        settings_from(SafetyLimits, {"max_reach": -1.0})


def test_only_number_arrays_become_floats() -> None:
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class Settings:
        names: tuple[str, ...] = ()
        flags: tuple[bool, ...] = ()
        offsets: tuple[float, ...] = ()

    made = settings_from(Settings, {"names": ["a", "b"], "flags": [True, False], "offsets": [1, 2.5]})
    assert made == Settings(("a", "b"), (True, False), (1.0, 2.5)) and isinstance(made.offsets[0], float)
