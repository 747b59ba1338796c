"""Cartesian planning with the Panda's IK, as MoveIt's compute_cartesian_path plans (no execution).

Planning follows MoveIt's compute_cartesian_path: the TCP path from the start state through the
waypoints is cut into ``max_step`` pieces, each piece is solved by IK seeded with the previous
solution, and planning stops at the first sample that cannot be reached (IK off by more than
``ik_tolerance``, a joint outside its limits) or that would move a joint more than
``max_joint_step``; ``fraction`` says how much of the path was planned. Waypoints are TCP poses;
the planner solves for ``panda_hand`` with ``tcp_offset`` removed, as a MoveIt setup whose
ee_link is the hand does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vla_r1_ros.core.execution.backend import JointGroup
from vla_r1_ros.core.execution.densify import covered_fraction, densify_path
from vla_r1_ros.core.execution.limits import PANDA_ARM_LIMITS
from vla_r1_ros.core.execution.tcp import link_poses_from_tcp, tcp_offset_matrix
from vla_r1_ros.core.execution.timing import time_parameterize
from vla_r1_ros.core.execution.types import CartesianPlan, CartesianSettings, JointLimits, Poses
from vla_r1_ros.core.geometry.transforms import quaternion_from_matrix
from vla_r1_ros.sim.panda_kinematics import PandaKinematics
from vla_r1_ros.sim.panda_model import HAND_LINK, PYBULLET_TCP_OFFSET

__all__ = ["IKTolerance", "PandaCartesianPlanner"]


@dataclass(frozen=True)
class IKTolerance:
    """How close an IK solution's FK must come to the requested link pose to count as reached."""

    position: float = 1e-3
    orientation: float = 1e-2


def _rotation_angle(q0: np.ndarray, q1: np.ndarray) -> float:
    return float(2.0 * np.arccos(min(1.0, abs(float(q0 @ q1)))))


class PandaCartesianPlanner(JointGroup):
    """Cartesian paths for the Panda with pybullet's IK, as MoveIt's compute_cartesian_path plans them.

    Plans only (its own pybullet client: planning never moves an arm); the simulated world runs
    the plans (:class:`SimMotionBackend`), and so can a ros2_control joint trajectory controller.
    """

    def __init__(
        self,
        kinematics: PandaKinematics | None = None,
        tcp_offset: Sequence[float] = PYBULLET_TCP_OFFSET,
        joint_limits: JointLimits = PANDA_ARM_LIMITS,
        ik_tolerance: IKTolerance = IKTolerance(),
    ) -> None:
        self.kinematics = kinematics or PandaKinematics()
        self.tcp_offset = tuple(float(v) for v in tcp_offset)
        self._tcp = tcp_offset_matrix(self.tcp_offset)
        super().__init__(joint_limits)
        self.ik_tolerance = ik_tolerance

    def tcp_pose(self, q: np.ndarray) -> np.ndarray:
        """4x4 TCP pose at arm joint positions ``q`` (the planner's FK)."""
        hand: np.ndarray = self.kinematics.fk(q, HAND_LINK).matrix() @ self._tcp
        return hand

    def tcp_orientation(self, q: np.ndarray) -> np.ndarray:
        """The TCP's quaternion (x y z w) at ``q``: lets the executor try the nearer equivalent grasp first."""
        return np.asarray(quaternion_from_matrix(self.tcp_pose(q)[:3, :3]))

    def plan_cartesian(self, waypoints: Poses, start: np.ndarray, settings: CartesianSettings) -> CartesianPlan:
        start_q = np.asarray(start, dtype=float)
        if start_q.shape != (self.joint_limits.count,) or not np.all(np.isfinite(start_q)):
            problem = f"start state must be {self.joint_limits.count} finite numbers"
            return CartesianPlan.failed(self.joint_names, problem)
        # 1. The TCP path from the start through the waypoints, cut into small steps.
        start_tcp = self.tcp_pose(start_q)
        start_pose = Poses.single(start_tcp[:3, 3], quaternion_from_matrix(start_tcp[:3, :3]))
        dense = densify_path(start_pose, waypoints, settings.max_step, settings.max_rotation_step)
        # 2. The hand poses that put the TCP there.
        targets = link_poses_from_tcp(dense.poses, self.tcp_offset)
        # 3. IK sample by sample, stopping at the first unreachable or jumping one.
        solutions, tcp_points = [start_q], [start_tcp[:3, 3]]
        error = ""
        for i in range(1, len(dense)):
            q, problem = self._solve(targets.positions[i], targets.orientations[i], solutions[-1], settings)
            if problem:
                error = f"stopped at sample {i} of {len(dense) - 1} (towards waypoint {int(dense.leg[i])}): {problem}"
                break
            solutions.append(q)
            tcp_points.append(self.tcp_pose(q)[:3, 3])
        # 4. Times under the scaled joint limits.
        positions = np.array(solutions)
        limits = self.joint_limits
        timed = time_parameterize(positions, limits, settings.velocity_scaling, settings.acceleration_scaling)
        return CartesianPlan(
            self.joint_names,
            positions,
            timed.velocities,
            timed.times,
            np.array(tcp_points),
            covered_fraction(dense, len(solutions)),
            error,
        )

    def _solve(
        self, position: np.ndarray, orientation: np.ndarray, seed: np.ndarray, settings: CartesianSettings
    ) -> tuple[np.ndarray, str]:
        q = self.kinematics.ik(position, orientation, seed, HAND_LINK)
        reached = self.kinematics.fk(q, HAND_LINK)
        offset = float(np.linalg.norm(reached.position - position))
        turn = _rotation_angle(reached.orientation, orientation)
        if offset > self.ik_tolerance.position or turn > self.ik_tolerance.orientation:
            return q, f"no IK solution (off by {1000 * offset:.1f} mm, {turn:.3f} rad)"
        limits = self.joint_limits
        outside = np.flatnonzero((q < limits.lower) | (q > limits.upper))
        if len(outside):
            return q, f"IK solution puts {limits.names[int(outside[0])]} outside its limits ({q[outside[0]]:.3f} rad)"
        jump = float(np.abs(q - seed).max())
        if jump > settings.max_joint_step:
            return q, f"joint jump of {jump:.3f} rad (more than max_joint_step {settings.max_joint_step})"
        return q, ""
