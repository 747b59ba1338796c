"""The pixels of a ``sensor_msgs/Image`` buffer as a NumPy view: the one reader of image bytes.

Colour (:mod:`vla_r1_ros.ros.images`) and depth (:mod:`vla_r1_ros.core.geometry.depth`) both read
their messages through :func:`buffer_pixels`. It honours ``step`` (row padding) and
``is_bigendian`` without copying, and refuses a buffer that cannot hold the image it claims.
NumPy only: the colour conversion is also tested beside a ROS install's NumPy 1.x.
"""

from __future__ import annotations

import numpy as np

__all__ = ["ImageBufferError", "buffer_pixels"]


class ImageBufferError(ValueError):
    """The buffer cannot hold the image its width, height, step and encoding describe."""


def buffer_pixels(
    data: bytes | bytearray | memoryview,
    width: int,
    height: int,
    step: int,
    dtype: np.dtype,
    channels: int,
    is_bigendian: bool,
    encoding: str,
) -> np.ndarray:
    """A read-only (H, W, channels) view of ``data`` in the message's byte order (``encoding`` names it in errors).

    The last row may omit its padding (``step * (height - 1) + row bytes`` suffice), as some
    drivers send it.
    """
    if width <= 0 or height <= 0:
        raise ImageBufferError(f"image is empty ({width}x{height})")
    pixel = np.dtype(dtype).newbyteorder(">" if is_bigendian else "<")
    row_bytes = width * channels * pixel.itemsize
    if step < row_bytes:
        raise ImageBufferError(
            f"step {step} is shorter than a row of {width} {encoding} pixels ({row_bytes} bytes)"
        )
    buffer = np.frombuffer(data, dtype=np.uint8)
    needed = step * (height - 1) + row_bytes
    if buffer.size < needed:
        raise ImageBufferError(
            f"image data has {buffer.size} bytes; {width}x{height} {encoding} with step {step} needs {needed}"
            + (f" (a full last row: {step * height})" if needed < step * height else "")
        )
    rows = np.lib.stride_tricks.as_strided(buffer, shape=(height, row_bytes), strides=(step, 1), writeable=False)
    return rows.view(pixel).reshape(height, width, channels)  # rows are contiguous: still a view
