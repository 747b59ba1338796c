"""Depth decoding: source pixels (uint16 millimetres or float32 metres) to float32 metres, NaN when invalid."""

from __future__ import annotations

import numpy as np

from vla_r1_ros.core.geometry.kernels.jit import inner, jit

__all__ = ["decode_window", "decode_pixels"]


@inner
def _decoded(
    value: float, scale: np.float32, low: np.float32, low_mode: int, high: np.float32, high_mode: int
) -> np.float32:
    """One source pixel in float32 metres, NaN when invalid: ``depth._decode``'s rule.

    Scaled in float32 (when ``scale`` is not 1); invalid below the range (``low_mode`` 0:
    zero and negatives, 1: below ``low``) or above it (``high_mode`` 0: +inf, 1: above
    ``high``), compared in float32 as NumPy compares a float32 array with a Python float.
    """
    metres = np.float32(value)
    if scale != np.float32(1.0):
        metres = metres * scale
    bad = metres <= np.float32(0.0) if low_mode == 0 else metres < low
    if high_mode == 0:
        bad = bad or metres == np.float32(np.inf)
    else:
        bad = bad or metres > high
    return np.float32(np.nan) if bad else metres


@jit
def decode_window(
    source: np.ndarray,
    rows: tuple[int, int, int],
    cols: tuple[int, int, int],
    scale: np.float32,
    low: np.float32,
    low_mode: int,
    high: np.float32,
    high_mode: int,
) -> np.ndarray:
    """The pixels ``source[rows, cols]`` (each a start, step and count) decoded to float32 metres."""
    out = np.empty((rows[2], cols[2]), np.float32)
    for i in range(rows[2]):
        r = rows[0] + i * rows[1]
        for j in range(cols[2]):
            out[i, j] = _decoded(source[r, cols[0] + j * cols[1]], scale, low, low_mode, high, high_mode)
    return out


@jit
def decode_pixels(
    source: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    scale: np.float32,
    low: np.float32,
    low_mode: int,
    high: np.float32,
    high_mode: int,
) -> tuple[bool, np.ndarray]:
    """The pixels ``source[rows[k], cols[k]]`` (1-D index arrays of one length) decoded to float32 metres.

    Returns whether every index lay in the image (non-negative and below its size) and, only
    then, the metres; the caller lets NumPy index the others (negative indices, errors).
    """
    h, w = source.shape
    out = np.empty(rows.size, np.float32)
    for k in range(rows.size):
        r, c = rows[k], cols[k]
        if not (0 <= r < h and 0 <= c < w):
            return False, out
        out[k] = _decoded(source[r, c], scale, low, low_mode, high, high_mode)
    return True, out
