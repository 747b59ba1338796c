"""Forward kinematics of a URDF with pinocchio (the tool path of vla-r1 compare-runs) against pybullet."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from vla_r1_ros.experiments.kinematics import DEFAULT_PANDA_LINK, ToolKinematics, default_panda_urdf
from vla_r1_ros.sim.panda_kinematics import PandaKinematics
from vla_r1_ros.sim.panda_model import HAND_LINK, PANDA_ARM_JOINTS, TCP_LINK

LOWER = np.array([-2.8973, -1.7628, -2.8973, -3.0718, -2.8973, -0.0175, -2.8973])
UPPER = np.array([2.8973, 1.7628, 2.8973, -0.0698, 2.8973, 3.7525, 2.8973])


@pytest.mark.parametrize(("link", "index"), [("panda_hand", HAND_LINK), (DEFAULT_PANDA_LINK, TCP_LINK)])
def test_panda_fk_matches_pybullet_link_states(link: str, index: int) -> None:
    kinematics = ToolKinematics(default_panda_urdf(), link)
    assert kinematics.joint_names == tuple(PANDA_ARM_JOINTS)
    configurations = np.random.default_rng(0).uniform(LOWER, UPPER, size=(60, 7))
    poses = kinematics.poses(configurations)
    with PandaKinematics() as reference:
        for q, pose in zip(configurations, poses):
            expected = reference.fk(q, index).matrix()  # pybullet's getLinkState of the URDF frame
            assert np.abs(pose[:3, 3] - expected[:3, 3]).max() < 1e-6
            assert np.abs(pose[:3, :3] - expected[:3, :3]).max() < 1e-5
    assert np.array_equal(kinematics.positions(configurations), poses[:, :3, 3])


def test_errors_name_the_urdf_and_the_choices(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"panda\.urdf: no link named 'tool0'; links: .*panda_hand"):
        ToolKinematics(default_panda_urdf(), "tool0")
    with pytest.raises(FileNotFoundError, match="no such URDF"):
        ToolKinematics(tmp_path / "arm.urdf", "tool")
    with pytest.raises(ValueError, match="moves with 7 joints, got 9 positions"):
        ToolKinematics(default_panda_urdf(), "panda_hand").positions(np.zeros((2, 9)))


TWO_LINK = """<?xml version="1.0"?>
<robot name="two_link">
  <link name="base"/><link name="upper"/><link name="slider"/><link name="tool"/><link name="aside"/>
  <joint name="shoulder" type="continuous">
    <parent link="base"/><child link="upper"/><origin xyz="0 0 0.1"/><axis xyz="0 0 1"/>
  </joint>
  <joint name="extend" type="prismatic">
    <parent link="upper"/><child link="slider"/><origin xyz="0.3 0 0"/><axis xyz="1 0 0"/>
    <limit lower="0" upper="0.2" effort="1" velocity="1"/>
  </joint>
  <joint name="flange" type="fixed"><parent link="slider"/><child link="tool"/><origin xyz="0 0 -0.05"/></joint>
  <joint name="other" type="revolute">
    <parent link="base"/><child link="aside"/><axis xyz="0 1 0"/>
    <limit lower="-1" upper="1" effort="1" velocity="1"/>
  </joint>
</robot>
"""


def test_any_urdf_continuous_and_prismatic_joints_only_the_tools_chain(tmp_path: Path) -> None:
    urdf = tmp_path / "two_link.urdf"
    urdf.write_text(TWO_LINK)
    kinematics = ToolKinematics(urdf, "tool")
    assert kinematics.joint_names == ("shoulder", "extend")  # "other" does not move the tool
    angle, reach = 2.5, 0.15  # beyond pi/2: a continuous joint is stored as (cos, sin) in pinocchio
    position = kinematics.positions([[angle, reach]])[0]
    radius = 0.3 + reach
    assert position == pytest.approx([radius * math.cos(angle), radius * math.sin(angle), 0.05])
