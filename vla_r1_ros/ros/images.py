"""Colour sensor_msgs/Image <-> NumPy without cv_bridge (depth: core.geometry.DepthImage.from_image_msg).

cv_bridge is compiled against one NumPy major version (Humble's against 1.x) and crashes the
process when another is loaded; these conversions use only ``numpy.frombuffer`` and work on NumPy
1.x and 2.x alike. Row padding (``step``) and byte order are honoured; colour comes out as RGB.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from vla_r1_ros.core.image_buffer import ImageBufferError, buffer_pixels

__all__ = ["ImageEncodingError", "SUPPORTED_ENCODINGS", "image_to_rgb", "rgb_to_image_fields"]

# encoding -> (dtype, channels)
_LAYOUTS: dict[str, tuple[str, int]] = {
    "rgb8": ("u1", 3),
    "bgr8": ("u1", 3),
    "rgba8": ("u1", 4),
    "bgra8": ("u1", 4),
    "mono8": ("u1", 1),
    "8UC1": ("u1", 1),
    "8UC3": ("u1", 3),
}
SUPPORTED_ENCODINGS = tuple(_LAYOUTS)
_COLOR_ENCODINGS = ("rgb8", "bgr8", "rgba8", "bgra8", "mono8", "8UC1", "8UC3")


class ImageEncodingError(ValueError):
    """The image message cannot be read as the kind of image asked for."""


def _pixels(message: Any) -> NDArray[Any]:
    encoding = str(message.encoding)
    if encoding not in _LAYOUTS:
        raise ImageEncodingError(
            f"unsupported image encoding {encoding!r}; supported: {', '.join(SUPPORTED_ENCODINGS)}"
        )
    kind, channels = _LAYOUTS[encoding]
    data = message.data if isinstance(message.data, (bytes, bytearray, memoryview)) else bytes(message.data)
    try:
        view = buffer_pixels(
            data, int(message.width), int(message.height), int(message.step), np.dtype(kind), channels,
            bool(message.is_bigendian), encoding,
        )
    except ImageBufferError as err:
        raise ImageEncodingError(str(err)) from None
    return np.ascontiguousarray(view, dtype=view.dtype.newbyteorder("="))


def image_to_rgb(message: Any) -> NDArray[np.uint8]:
    """An (H, W, 3) uint8 RGB array from a colour (or mono) sensor_msgs/Image."""
    if message.encoding not in _COLOR_ENCODINGS:
        raise ImageEncodingError(f"expected a colour image ({', '.join(_COLOR_ENCODINGS)}), got {message.encoding!r}")
    pixels = _pixels(message)
    if pixels.shape[2] == 1:
        return np.repeat(pixels, 3, axis=2)
    if message.encoding in ("bgr8", "bgra8"):
        return np.ascontiguousarray(pixels[:, :, 2::-1])
    return np.ascontiguousarray(pixels[:, :, :3])


def rgb_to_image_fields(rgb: NDArray[np.uint8]) -> dict[str, Any]:
    """Fields of an rgb8 sensor_msgs/Image for an (H, W, 3) uint8 array (header left to the caller)."""
    array = np.ascontiguousarray(rgb, dtype=np.uint8)
    if array.ndim != 3 or array.shape[2] != 3:
        raise ImageEncodingError(f"expected an (H, W, 3) RGB array, got shape {array.shape}")
    height, width = array.shape[:2]
    return {
        "height": height,
        "width": width,
        "encoding": "rgb8",
        "is_bigendian": 0,
        "step": width * 3,
        "data": array.tobytes(),
    }
