"""The executor's motion backend for a :class:`PandaWorld` in this process (no ROS): plans with
:class:`PandaCartesianPlanner`, runs plans with the simulated joint controller and gripper."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

import numpy as np

from vla_r1_ros.core.execution.limits import PANDA_ARM_LIMITS
from vla_r1_ros.core.execution.types import CartesianPlan, ExecutionOutcome, ExecutionResult, GripperResult, JointLimits
from vla_r1_ros.sim.panda import PandaWorld
from vla_r1_ros.sim.panda_control import ControllerSettings, follow_trajectory, move_gripper
from vla_r1_ros.sim.panda_kinematics import PandaKinematics
from vla_r1_ros.sim.panda_model import PYBULLET_TCP_OFFSET
from vla_r1_ros.sim.panda_planner import IKTolerance, PandaCartesianPlanner

__all__ = ["SimMotionBackend"]


class SimMotionBackend(PandaCartesianPlanner):
    """:class:`~vla_r1_ros.core.execution.MotionBackend` for a :class:`PandaWorld` in this process."""

    def __init__(
        self,
        world: PandaWorld,
        kinematics: PandaKinematics | None = None,
        tcp_offset: Sequence[float] = PYBULLET_TCP_OFFSET,
        joint_limits: JointLimits = PANDA_ARM_LIMITS,
        controller: ControllerSettings | None = None,
        start_tolerance: float = 0.01,
        ik_tolerance: IKTolerance | None = None,
    ) -> None:
        super().__init__(kinematics, tcp_offset, joint_limits, ik_tolerance or IKTolerance())
        self.world = world
        self.controller = controller or ControllerSettings()
        self.start_tolerance = start_tolerance
        self._stop = threading.Event()

    def execute(self, plan: CartesianPlan, should_stop: Callable[[], bool] | None = None) -> ExecutionResult:
        current = self.world.arm_positions()
        if len(plan) == 0:
            return ExecutionResult(ExecutionOutcome.REJECTED, "the plan is empty", 0.0, current)
        if plan.joint_names != self.joint_names:
            problem = f"plan joints {plan.joint_names} are not the arm's {self.joint_names}"
            return ExecutionResult(ExecutionOutcome.REJECTED, problem, 0.0, current)
        offset = float(np.abs(plan.positions[0] - current).max())
        if offset > self.start_tolerance:
            return ExecutionResult(
                ExecutionOutcome.REJECTED,
                f"the plan starts {offset:.4f} rad from the current state (tolerance {self.start_tolerance})",
                0.0,
                current,
            )
        self._stop.clear()

        def stop_requested() -> bool:
            return self._stop.is_set() or (should_stop is not None and should_stop())

        return follow_trajectory(self.world, plan.times, plan.positions, stop_requested, self.controller)

    def gripper(self, position: float, max_effort: float) -> GripperResult:
        return move_gripper(self.world, position, max_effort, self.controller)

    def stop(self) -> None:
        self._stop.set()
