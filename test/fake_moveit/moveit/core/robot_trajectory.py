"""moveit.core.robot_trajectory (fake): RobotTrajectory of way points with durations."""

from __future__ import annotations

from typing import Any

import numpy as np

from moveit.core.robot_state import RobotState
from vla_r1_ros.core.execution.limits import PANDA_ARM_JOINTS


class RobotTrajectory:
    def __init__(self, robot_model: Any, joint_model_group_name: str = "") -> None:
        self.robot_model = robot_model
        self.joint_model_group_name = joint_model_group_name
        self._times = np.zeros(0)
        self._positions = np.zeros((0, 7))
        self._velocities = np.zeros((0, 7))

    def _fill(self, times: np.ndarray, positions: np.ndarray, velocities: np.ndarray) -> RobotTrajectory:
        self._times, self._positions, self._velocities = times, positions, velocities
        return self

    def __len__(self) -> int:
        return len(self._times)

    def __getitem__(self, index: int) -> RobotState:
        state = RobotState(self.robot_model)
        state.set_joint_group_positions(self.joint_model_group_name, self._positions[index])
        state.update()
        return state

    @property
    def duration(self) -> float:
        return float(self._times[-1]) if len(self._times) else 0.0

    def get_robot_trajectory_msg(self, joint_filter: list[str] | None = None) -> Any:
        from moveit_msgs.msg import RobotTrajectory as RobotTrajectoryMsg
        from trajectory_msgs.msg import JointTrajectoryPoint

        from vla_r1_ros.ros.motion_messages import _duration

        message = RobotTrajectoryMsg()
        message.joint_trajectory.joint_names = list(PANDA_ARM_JOINTS)
        for t, q, v in zip(self._times, self._positions, self._velocities):
            message.joint_trajectory.points.append(
                JointTrajectoryPoint(positions=q.tolist(), velocities=v.tolist(), time_from_start=_duration(float(t)))
            )
        return message
