"""Joint limits of the arms the executor knows by name.

Why these numbers: position limits are the Franka datasheet's (the URDF's soft limits, which
MoveIt's Panda configuration plans within); velocity limits are the URDF's; acceleration limits
are MoveIt's Panda ``joint_limits.yaml`` (a quarter of the datasheet's), the ones its time
parameterisation scales.
"""

from __future__ import annotations

import numpy as np

from vla_r1_ros.core.execution.types import JointLimits

__all__ = ["PANDA_ARM_JOINTS", "PANDA_FINGER_JOINTS", "PANDA_ARM_LIMITS"]

PANDA_ARM_JOINTS = tuple(f"panda_joint{i}" for i in range(1, 8))
PANDA_FINGER_JOINTS = ("panda_finger_joint1", "panda_finger_joint2")

PANDA_ARM_LIMITS = JointLimits(
    names=PANDA_ARM_JOINTS,
    lower=np.array((-2.8973, -1.7628, -2.8973, -3.0718, -2.8973, -0.0175, -2.8973)),
    upper=np.array((2.8973, 1.7628, 2.8973, -0.0698, 2.8973, 3.7525, 2.8973)),
    max_velocity=np.array((2.175, 2.175, 2.175, 2.175, 2.61, 2.61, 2.61)),
    max_acceleration=np.array((3.75, 1.875, 2.5, 3.125, 3.75, 5.0, 5.0)),
)
