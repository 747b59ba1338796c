"""Colour image conversion without cv_bridge; runs under NumPy 1.x too (scripts/run_tests.sh).

Only NumPy and this module are imported, so the NumPy-1 check can run it in a bare venv.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from vla_r1_ros.ros.images import ImageEncodingError, image_to_rgb, rgb_to_image_fields

RGB = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)


def message(pixels: np.ndarray, encoding: str, padding: int = 0, bigendian: bool = False) -> SimpleNamespace:
    height, width = pixels.shape[:2]
    rows = pixels.reshape(height, -1).view(np.uint8)
    padded = np.zeros((height, rows.shape[1] + padding), np.uint8)
    padded[:, : rows.shape[1]] = rows
    return SimpleNamespace(
        height=height,
        width=width,
        encoding=encoding,
        is_bigendian=int(bigendian),
        step=padded.shape[1],
        data=padded.tobytes(),
    )


@pytest.mark.parametrize("padding", [0, 3])
def test_colour_encodings_come_out_as_rgb(padding: int) -> None:
    assert np.array_equal(image_to_rgb(message(RGB, "rgb8", padding)), RGB)
    assert np.array_equal(image_to_rgb(message(RGB[:, :, ::-1].copy(), "bgr8", padding)), RGB)
    rgba = np.concatenate([RGB, np.full((4, 5, 1), 255, np.uint8)], axis=2)
    assert np.array_equal(image_to_rgb(message(rgba, "rgba8", padding)), RGB)
    assert np.array_equal(image_to_rgb(message(rgba[:, :, [2, 1, 0, 3]].copy(), "bgra8", padding)), RGB)
    mono = RGB[:, :, :1].copy()
    assert np.array_equal(image_to_rgb(message(mono, "mono8", padding)), np.repeat(mono, 3, axis=2))


def test_round_trip_through_message_fields() -> None:
    fields = rgb_to_image_fields(RGB)
    assert (fields["encoding"], fields["step"], fields["height"], fields["width"]) == ("rgb8", 15, 4, 5)
    assert np.array_equal(image_to_rgb(SimpleNamespace(**fields)), RGB)


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"encoding": "yuv422"}, "expected a colour image"),
        ({"encoding": "32FC1"}, "expected a colour image"),
        ({"step": 10}, "step 10 is shorter"),
        ({"data": b"\x00" * 10}, "image data has 10 bytes"),
        ({"height": 0}, "image is empty"),
    ],
)
def test_bad_messages_raise_clear_errors(changes: dict[str, object], fragment: str) -> None:
    fields = vars(message(RGB, "rgb8")) | changes
    with pytest.raises(ImageEncodingError, match=fragment):
        image_to_rgb(SimpleNamespace(**fields))


def test_refuses_non_rgb_arrays() -> None:
    with pytest.raises(ImageEncodingError, match=r"expected an \(H, W, 3\) RGB array"):
        rgb_to_image_fields(np.zeros((4, 5), np.uint8))
