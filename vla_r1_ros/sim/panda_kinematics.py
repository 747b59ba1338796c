"""Forward and inverse kinematics of the Panda on a private pybullet client (no physics).

Why a client of its own: pybullet's IK starts from the body's current joint state, so solving
on the simulated arm itself would move it. Here the seed is set explicitly for every solve.
The IK call is the one measured to converge (200 iterations, residual 1e-6, tiny damping, no
limits or rest poses: those made it centimetres off); results are checked by FK, never trusted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from vla_r1_ros.core.geometry.transforms import matrix_from_quaternion
from vla_r1_ros.sim.panda_model import ARM_JOINT_INDICES, FINGER_JOINT_INDICES, HAND_LINK, PybulletClient, load_panda

__all__ = ["LinkPose", "PandaKinematics"]


@dataclass(frozen=True, eq=False)
class LinkPose:
    position: np.ndarray  # (3,)
    orientation: np.ndarray  # (4,) x y z w

    def matrix(self) -> np.ndarray:
        pose = np.eye(4)
        pose[:3, :3] = matrix_from_quaternion(self.orientation)
        pose[:3, 3] = self.position
        return pose


class PandaKinematics(PybulletClient):
    """FK of any link and IK of one link, for the 7 arm joints (fingers held open)."""

    def __init__(self) -> None:
        super().__init__()
        self._body = load_panda(self._p, self._client)
        self._movable = ARM_JOINT_INDICES + FINGER_JOINT_INDICES

    def _set(self, q: ArrayLike) -> None:
        values = np.asarray(q, dtype=float)
        if values.shape != (7,) or not np.all(np.isfinite(values)):
            raise ValueError(f"need 7 finite arm joint positions, got {values}")
        for joint, value in zip(ARM_JOINT_INDICES, values.tolist()):
            self._p.resetJointState(self._body, joint, value, physicsClientId=self._client)

    def fk(self, q: ArrayLike, link: int = HAND_LINK) -> LinkPose:
        """World pose of ``link``'s URDF frame at arm joint positions ``q``."""
        self._set(q)
        state = self._p.getLinkState(self._body, link, computeForwardKinematics=True, physicsClientId=self._client)
        return LinkPose(np.array(state[4]), np.array(state[5]))

    def ik(self, position: ArrayLike, orientation: ArrayLike, seed: ArrayLike, link: int = HAND_LINK) -> np.ndarray:
        """Arm joint positions putting ``link`` at the pose, starting from ``seed`` (unchecked: use :meth:`fk`)."""
        self._set(seed)
        solution = self._p.calculateInverseKinematics(
            self._body,
            link,
            np.asarray(position, dtype=float).tolist(),
            np.asarray(orientation, dtype=float).tolist(),
            maxNumIterations=200,
            residualThreshold=1e-6,
            jointDamping=[1e-3] * len(self._movable),
            physicsClientId=self._client,
        )
        return np.array(solution[: len(ARM_JOINT_INDICES)])
