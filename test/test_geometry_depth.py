"""Depth decoding (REP 118 encodings, sensor_msgs/Image buffers) and the registration check."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from geometry_reference import normalised_to_cv_pixels, pixel_to_ray

from vla_r1_ros.core.geometry.camera import CameraModel
from vla_r1_ros.core.geometry.depth import (
    DepthEncodingError,
    DepthImage,
    DepthRange,
    DepthRegistrationError,
    decode_depth,
    depth_from_buffer,
    encode_depth,
    register_depth,
)


def test_16uc1_is_millimetres_with_zero_invalid() -> None:
    raw = np.array([[0, 1000, 1234], [65535, 50, 999]], dtype=np.uint16)
    m = decode_depth(raw, "16UC1", DepthRange(0.1, 10.0))
    assert m.dtype == np.float32
    assert np.isnan(m[0, 0]) and np.isnan(m[1, 0]) and np.isnan(m[1, 1])  # 0, too far, too near
    np.testing.assert_allclose(m[0, 1:], [1.0, 1.234], rtol=1e-6)
    assert m[1, 2] == pytest.approx(0.999)


def test_32fc1_is_metres_with_nan_inf_zero_negative_invalid() -> None:
    raw = np.array([[np.nan, np.inf, -np.inf, 0.0, -1.0, 0.75]], dtype=np.float32)
    m = decode_depth(raw, "32FC1")
    assert np.isnan(m[0, :5]).all() and m[0, 5] == pytest.approx(0.75)


def test_dtype_must_match_encoding() -> None:
    with pytest.raises(DepthEncodingError, match="needs dtype uint16"):
        decode_depth(np.ones((2, 2), np.float32), "16UC1")
    with pytest.raises(DepthEncodingError, match="unsupported depth encoding"):
        decode_depth(np.ones((2, 2), np.uint8), "8UC1")


@pytest.mark.parametrize("bigendian", [False, True])
@pytest.mark.parametrize("encoding", ["16UC1", "32FC1"])
def test_image_buffer_with_row_padding_and_endianness(encoding: str, bigendian: bool) -> None:
    metres = np.array([[0.5, 1.0, np.nan], [1.5, 2.25, 0.8]])
    array = encode_depth(metres, encoding)
    dtype = array.dtype.newbyteorder(">" if bigendian else "<")
    rows = [array[r].astype(dtype).tobytes() + b"\xee" * 6 for r in range(2)]  # 6 padding bytes a row
    step = len(rows[0])
    raw = depth_from_buffer(b"".join(rows), 3, 2, step, encoding, bigendian)
    np.testing.assert_array_equal(raw, array)
    msg = SimpleNamespace(
        data=b"".join(rows), width=3, height=2, step=step, encoding=encoding, is_bigendian=bigendian,
        header=SimpleNamespace(frame_id="cam"),
    )
    image = DepthImage.from_image_msg(msg)
    assert image.frame_id == "cam"
    np.testing.assert_allclose(image.metres, metres, rtol=1e-6, equal_nan=True)
    with pytest.raises(DepthEncodingError, match="needs"):
        depth_from_buffer(b"".join(rows)[:-10], 3, 2, step, encoding, bigendian)


def test_depth_image_is_read_only() -> None:
    image = DepthImage(np.ones((4, 4), np.float32))
    with pytest.raises(ValueError):
        image.metres[0, 0] = 2.0


def _cam(w: int, h: int, scale: float = 1.0, frame: str = "color_optical", fx: float = 600.0) -> CameraModel:
    cx, cy = (320.0 + 0.5) * scale - 0.5, (240.0 + 0.5) * scale - 0.5
    return CameraModel.from_intrinsics(fx * scale, fx * scale, cx, cy, w, h, frame_id=frame)


def test_registered_same_size_same_frame_is_accepted() -> None:
    reg = register_depth(DepthImage(np.ones((480, 640)), "color_optical"), _cam(640, 480))
    assert reg.camera is reg.color_camera


def test_size_mismatch_without_intrinsics_is_a_clear_error() -> None:
    with pytest.raises(DepthRegistrationError, match="320x240 but the colour CameraInfo describes 640x480"):
        register_depth(DepthImage(np.ones((240, 320)), "color_optical"), _cam(640, 480))


def test_frame_mismatch_is_a_clear_error() -> None:
    with pytest.raises(DepthRegistrationError, match="must be registered to the colour frame"):
        register_depth(DepthImage(np.ones((480, 640)), "depth_optical"), _cam(640, 480))


def test_scaled_depth_with_consistent_intrinsics_is_mapped() -> None:
    depth_cam = _cam(320, 240, scale=0.5)
    reg = register_depth(DepthImage(np.ones((240, 320)), "color_optical"), _cam(640, 480), depth_cam)
    assert reg.camera is depth_cam
    # The same normalised point gives the same ray through either camera.
    pt = np.array([[0.3, 0.7]])
    ray_c = pixel_to_ray(_cam(640, 480), normalised_to_cv_pixels(pt, 640, 480))
    ray_d = pixel_to_ray(depth_cam, normalised_to_cv_pixels(pt, 320, 240))
    np.testing.assert_allclose(ray_c, ray_d, atol=1e-12)


def test_scaled_depth_with_other_intrinsics_is_refused() -> None:
    other = _cam(320, 240, scale=0.5, fx=580.0)
    with pytest.raises(DepthRegistrationError, match="not the colour intrinsics"):
        register_depth(DepthImage(np.ones((240, 320)), "color_optical"), _cam(640, 480), other)


def test_same_size_with_different_intrinsics_is_refused() -> None:
    with pytest.raises(DepthRegistrationError, match="not registered"):
        register_depth(DepthImage(np.ones((480, 640)), "color_optical"), _cam(640, 480), _cam(640, 480, fx=580.0))
