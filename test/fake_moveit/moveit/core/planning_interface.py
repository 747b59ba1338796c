"""moveit.core.planning_interface (fake): MotionPlanResponse, truthy when planning succeeded."""

from __future__ import annotations

from typing import Any

from moveit._fake import SUCCESS


class MoveItErrorCode:
    def __init__(self, val: int) -> None:
        self.val = val


class MotionPlanResponse:
    def __init__(self, trajectory: Any, error_code: int, planner_id: str, planning_time: float = 0.01) -> None:
        self.trajectory = trajectory
        self.error_code = MoveItErrorCode(error_code)
        self.planner_id = planner_id
        self.planning_time = planning_time

    def __bool__(self) -> bool:
        return self.error_code.val == SUCCESS
