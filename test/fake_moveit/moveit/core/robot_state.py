"""moveit.core.robot_state (fake): RobotState(robot_model) with group positions and forward kinematics."""

from __future__ import annotations

from typing import Any

import numpy as np

from moveit._fake import ARM, ARM_GROUP, HAND_LINK_NAME
from vla_r1_ros.sim.panda_model import HAND_LINK, READY_POSITIONS


class RobotState:
    def __init__(self, robot_model: Any) -> None:
        self.robot_model = robot_model
        self._positions = np.array(READY_POSITIONS, dtype=float)
        self.dirty = False

    def set_joint_group_positions(self, joint_model_group_name: str, position_values: Any) -> None:
        if joint_model_group_name != ARM_GROUP:
            raise RuntimeError(f"no joint model group {joint_model_group_name!r}")
        values = np.asarray(position_values, dtype=float)
        if values.shape != (7,):
            raise ValueError(f"{joint_model_group_name} has 7 variables, got {values.shape}")
        self._positions, self.dirty = values.copy(), True

    def get_joint_group_positions(self, joint_model_group_name: str) -> np.ndarray:
        if joint_model_group_name != ARM_GROUP:
            raise RuntimeError(f"no joint model group {joint_model_group_name!r}")
        return self._positions.copy()

    def update(self, force: bool = False) -> None:
        self.dirty = False

    def get_global_link_transform(self, link_name: str) -> np.ndarray:
        if link_name != HAND_LINK_NAME:
            raise RuntimeError(f"the fake knows only {HAND_LINK_NAME}, not {link_name!r}")
        if self.dirty:
            raise RuntimeError("RobotState is dirty: call update() before asking for transforms")
        with ARM.kinematics_lock:
            return np.asarray(ARM.planner.kinematics.fk(self._positions, HAND_LINK).matrix())
