"""The synthetic top-down RGB-D frame (the CPU-trained model's demo scene) is geometrically exact."""

from __future__ import annotations

import numpy as np
import pytest

from vla_r1_ros.core.geometry import lift_box
from vla_r1_ros.datagen.topdown_scenes import COLOURS, TabletopGenerator, top_down_frame
from vla_r1_ros.sim.scene import depth_scene


@pytest.mark.parametrize("index", range(6))
def test_lifting_the_true_box_lands_on_the_target_top_face(index: int) -> None:
    frame = top_down_frame(TabletopGenerator(seed=1000).scene(index))
    lifted = lift_box(frame.scene.target.box, depth_scene(frame, base_frame="base"))
    assert lifted.ok, lifted.reason
    error = np.linalg.norm(np.asarray(lifted.target.position) - frame.true_target_top())
    assert error < 0.003, f"lifted {lifted.target.position} vs true {frame.true_target_top()}"


def test_frame_layout_follows_rep103_and_the_optical_convention() -> None:
    scene = TabletopGenerator(seed=3).scene(0)
    frame = top_down_frame(scene, pixels=224, camera_height=0.5, object_height=0.03, table_centre=(0.4, 0.1))
    # The optical axis looks down; the camera sits above the table centre.
    assert np.allclose(frame.T_world_optical[:3, 2], [0.0, 0.0, -1.0])
    assert np.allclose(frame.T_world_optical[:3, 3], [0.4, 0.1, 0.5])
    assert np.isclose(np.linalg.det(frame.T_world_optical[:3, :3]), 1.0)
    # The image centre is the table centre; image right is base -y, image down is base -x.
    assert np.allclose(frame.base_point(0.5, 0.5, 0.0), [0.4, 0.1, 0.0])
    right, down = frame.base_point(0.9, 0.5, 0.0), frame.base_point(0.5, 0.9, 0.0)
    assert right[1] < 0.1 and np.isclose(right[0], 0.4) and down[0] < 0.4 and np.isclose(down[1], 0.1)
    # Object pixels are raised by the object height, the rest is table.
    target_pixels = np.abs(frame.rgb.astype(int) - COLOURS[scene.target.colour]).sum(axis=2) < 60
    assert target_pixels.any()
    assert np.allclose(frame.depth[target_pixels], 0.47)
    assert np.isclose(np.median(frame.depth), 0.5)


def test_bad_frame_settings_are_refused() -> None:
    scene = TabletopGenerator(seed=3).scene(0)
    with pytest.raises(ValueError, match="multiple"):
        top_down_frame(scene, pixels=300)
    with pytest.raises(ValueError, match="object_height"):
        top_down_frame(scene, object_height=0.7)
