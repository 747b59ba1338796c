"""The Franka Panda model that ships with pybullet (``pybullet_data/franka_panda/panda.urdf``).

What the URDF holds (measured): joints 0-6 are ``panda_joint1..7``, 9 and 10 the prismatic
fingers (0-0.04 m each, pybullet ignores the second's mimic tag, so both are commanded), link 8
is ``panda_hand`` (yawed -pi/4 on the flange, like Franka's) and link 11 ``panda_grasptarget``,
the tool centre point 0.105 m along the hand's z axis between the fingertips. Joint names are the
ones ROS uses, so joint states and trajectories map one to one.
"""

from __future__ import annotations

import math
from typing import Any, TypeVar

from vla_r1_ros.core.execution.limits import PANDA_ARM_JOINTS, PANDA_FINGER_JOINTS

__all__ = [
    "PANDA_URDF",
    "ARM_JOINT_INDICES",
    "FINGER_JOINT_INDICES",
    "HAND_LINK",
    "TCP_LINK",
    "HAND_LINK_NAME",
    "PYBULLET_TCP_OFFSET",
    "READY_POSITIONS",
    "JOINT_NAMES",
    "load_panda",
    "panda_urdf_text",
    "PybulletClient",
]

PANDA_URDF = "franka_panda/panda.urdf"
ARM_JOINT_INDICES = (0, 1, 2, 3, 4, 5, 6)
FINGER_JOINT_INDICES = (9, 10)
HAND_LINK = 8
TCP_LINK = 11
HAND_LINK_NAME = "panda_hand"
#: ``panda_grasptarget`` in ``panda_hand``'s frame (x y z qx qy qz qw); Franka's own TCP is at 0.1034.
PYBULLET_TCP_OFFSET = (0.0, 0.0, 0.105, 0.0, 0.0, 0.0, 1.0)
#: MoveIt's named state "ready": the hand points down above the table, out of a camera's way.
READY_POSITIONS = (0.0, -math.pi / 4, 0.0, -3 * math.pi / 4, 0.0, math.pi / 2, math.pi / 4)
JOINT_NAMES = PANDA_ARM_JOINTS + PANDA_FINGER_JOINTS


def load_panda(pybullet: Any, client: int, base_position: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> int:
    """Load the Panda with a fixed base into ``client`` and check its joints are the ones named here."""
    import pybullet_data

    pybullet.setAdditionalSearchPath(pybullet_data.getDataPath(), physicsClientId=client)
    body: int = pybullet.loadURDF(
        PANDA_URDF, list(base_position), useFixedBase=True, flags=pybullet.URDF_USE_INERTIA_FROM_FILE,
        physicsClientId=client,
    )
    names = [pybullet.getJointInfo(body, j, physicsClientId=client)[1].decode() for j in ARM_JOINT_INDICES]
    names += [pybullet.getJointInfo(body, j, physicsClientId=client)[1].decode() for j in FINGER_JOINT_INDICES]
    if tuple(names) != JOINT_NAMES:
        raise RuntimeError(f"unexpected Panda model: joints {names}, expected {JOINT_NAMES}")
    return body


def panda_urdf_text() -> str:
    """The URDF the simulated Panda is built from (published as /robot_description)."""
    import os

    import pybullet_data

    with open(os.path.join(pybullet_data.getDataPath(), PANDA_URDF), encoding="utf-8") as urdf:
        return urdf.read()


_Owner = TypeVar("_Owner", bound="PybulletClient")


class PybulletClient:
    """Owns one private headless pybullet client (``p.DIRECT``): call :meth:`close` or use ``with``.

    Private clients keep simulations, kinematic models and renderers in one process apart.
    """

    def __init__(self) -> None:
        import pybullet  # lazily: it prints a banner on import

        self._p = pybullet
        self._client: int = pybullet.connect(pybullet.DIRECT)

    def close(self) -> None:
        if self._client >= 0:
            self._p.disconnect(physicsClientId=self._client)
            self._client = -1

    def __enter__(self: _Owner) -> _Owner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
