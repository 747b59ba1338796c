"""Forward kinematics of a URDF with pinocchio: the tool path from recorded joint positions.

Only the kinematic tree is loaded (no meshes, no collision models), so any URDF works without
its mesh packages. The tool is a link (a URDF body frame); its path needs only the joints that
move it, so joint states of other joints (grippers, other arms) are never required.

The default arm is the Franka Panda of pybullet_data (the URDF the simulated arm uses), with the
tool at ``panda_grasptarget``: the tool centre point between the fingertips, 0.105 m along
``panda_hand``'s z axis.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from vla_r1_ros.sim.panda_model import PANDA_URDF

__all__ = ["DEFAULT_PANDA_LINK", "default_panda_urdf", "ToolKinematics"]

DEFAULT_PANDA_LINK = "panda_grasptarget"


def default_panda_urdf() -> Path:
    """pybullet_data's Panda URDF; FileNotFoundError saying what to do when pybullet is not installed."""
    try:
        import pybullet_data
    except ImportError:
        raise FileNotFoundError(
            "the default Panda URDF comes with pybullet (pip install pybullet, or the package's sim extra); "
            "for another arm pass --urdf FILE --link LINK"
        ) from None
    path = Path(pybullet_data.getDataPath()) / PANDA_URDF
    if not path.is_file():
        raise FileNotFoundError(f"{path}: pybullet_data has no Panda URDF; pass --urdf FILE --link LINK")
    return path


class ToolKinematics:
    """The pose of one link of a URDF as a function of the joints that move it.

    ``joint_names``: those joints, root to tip, in the order :meth:`positions` takes them.
    """

    def __init__(self, urdf: Path | str, link: str) -> None:
        import pinocchio

        self._pin: Any = pinocchio
        self.urdf = Path(urdf)
        if not self.urdf.is_file():
            raise FileNotFoundError(f"{self.urdf}: no such URDF file")
        try:
            self.model = pinocchio.buildModelFromUrdf(str(self.urdf))
        except (RuntimeError, ValueError) as err:
            raise ValueError(f"{self.urdf}: pinocchio cannot load it: {err}") from err
        links = [f.name for f in self.model.frames if f.type == pinocchio.FrameType.BODY]
        if link not in links:
            raise ValueError(f"{self.urdf}: no link named {link!r}; links: {', '.join(links)}")
        self.link = link
        self.frame = self.model.getFrameId(link, pinocchio.FrameType.BODY)
        chain = [j for j in self.model.supports[self.model.frames[self.frame].parentJoint] if j > 0]
        self._joints = [(self.model.joints[j].idx_q, self.model.joints[j].nq) for j in chain]
        for j, (_, nq) in zip(chain, self._joints):
            if nq not in (1, 2):
                raise ValueError(f"{self.urdf}: joint {self.model.names[j]} has {nq} coordinates (floating?)")
        self.joint_names = tuple(str(self.model.names[j]) for j in chain)
        self.data = self.model.createData()

    def _configuration(self, values: NDArray[np.float64]) -> NDArray[np.float64]:
        q = np.asarray(self._pin.neutral(self.model), dtype=np.float64)
        for (index, nq), value in zip(self._joints, values):
            if nq == 1:
                q[index] = value
            else:  # a continuous joint: pinocchio stores (cos, sin) of the angle
                q[index], q[index + 1] = np.cos(value), np.sin(value)
        return q

    def poses(self, positions: ArrayLike) -> NDArray[np.float64]:
        """(n, 4, 4) poses of the link in the URDF's root frame for (n, k) joint positions."""
        rows = np.asarray(positions, dtype=np.float64)
        rows = rows.reshape(1, -1) if rows.ndim == 1 else rows
        if rows.shape[1] != len(self.joint_names):
            raise ValueError(
                f"{self.link} moves with {len(self.joint_names)} joints, got {rows.shape[1]} positions per row"
            )
        out = np.empty((len(rows), 4, 4))
        for i, row in enumerate(rows):
            self._pin.framesForwardKinematics(self.model, self.data, self._configuration(row))
            out[i] = self.data.oMf[self.frame].homogeneous
        return out

    def positions(self, positions: ArrayLike) -> NDArray[np.float64]:
        """(n, 3) positions of the link for (n, k) joint positions in :attr:`joint_names` order."""
        return self.poses(positions)[:, :3, 3]
