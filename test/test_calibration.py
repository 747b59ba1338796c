"""Calibration YAML files load into the same camera model as a live CameraInfo."""

from __future__ import annotations

from pathlib import Path

import pytest

from vla_r1_ros.core.calibration import CalibrationError, load_camera_info
from vla_r1_ros.core.geometry import CameraModel

CALIBRATION = """
image_width: 640
image_height: 480
camera_name: head
camera_matrix: {rows: 3, cols: 3, data: [600.0, 0.0, 319.5, 0.0, 601.0, 239.5, 0.0, 0.0, 1.0]}
distortion_model: plumb_bob
distortion_coefficients: {rows: 1, cols: 5, data: [0.1, -0.05, 0.0, 0.0, 0.0]}
rectification_matrix: {rows: 3, cols: 3, data: [1, 0, 0, 0, 1, 0, 0, 0, 1]}
projection_matrix: {rows: 3, cols: 4, data: [600.0, 0.0, 319.5, 0.0, 0.0, 601.0, 239.5, 0.0, 0.0, 0.0, 1.0, 0.0]}
"""


def test_loads_a_camera_calibration_file(tmp_path: Path) -> None:
    path = tmp_path / "head.yaml"
    path.write_text(CALIBRATION)
    info = load_camera_info(path, frame_id="head_optical")
    assert (info.width, info.height, info.distortion_model) == (640, 480, "plumb_bob")
    assert info.k[0] == 600.0 and info.d[0] == 0.1 and len(info.p) == 12
    camera = CameraModel.from_camera_info(info)
    assert (camera.width, camera.height, camera.frame_id) == (640, 480, "head_optical")


def test_projection_defaults_from_the_camera_matrix(tmp_path: Path) -> None:
    path = tmp_path / "minimal.yaml"
    path.write_text("image_width: 4\nimage_height: 3\ncamera_matrix: {data: [2, 0, 1.5, 0, 2, 1, 0, 0, 1]}\n")
    info = load_camera_info(path)
    assert info.p == (2.0, 0.0, 1.5, 0.0, 0.0, 2.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    assert info.r == (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0) and info.d == ()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read"),
        ("image_width: [", "not valid YAML"),
        ("- 1\n- 2\n", "does not hold a calibration mapping"),
        ("image_width: 640\n", "needs integer image_width and image_height"),
        ("image_width: 6\nimage_height: 4\n", "calibration has no camera_matrix"),
        ("image_width: 6\nimage_height: 4\ncamera_matrix: {data: [1, 2]}\n", "camera_matrix must hold 9 numbers"),
    ],
)
def test_bad_files_raise_clear_errors(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "camera.yaml"
    if content is not None:
        path.write_text(content)
    with pytest.raises(CalibrationError, match=message):
        load_camera_info(path)
