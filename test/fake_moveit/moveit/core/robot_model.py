"""moveit.core.robot_model (fake): the Panda's model, its arm group only."""

from __future__ import annotations

from typing import Any

from moveit._fake import ARM_GROUP, BASE_FRAME
from vla_r1_ros.core.execution.limits import PANDA_ARM_JOINTS


class JointModelGroup:
    def __init__(self, name: str) -> None:
        self.name = name
        self.active_joint_model_names = list(PANDA_ARM_JOINTS)
        self.joint_model_names = list(PANDA_ARM_JOINTS)


class RobotModel:
    name = "panda"
    model_frame = BASE_FRAME

    def get_joint_model_group(self, joint_model_group_name: str) -> Any:
        if joint_model_group_name != ARM_GROUP:
            raise RuntimeError(f"no joint model group {joint_model_group_name!r}")
        return JointModelGroup(joint_model_group_name)
