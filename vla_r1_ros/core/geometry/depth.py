"""Depth images as ROS encodes them, decoded to metres, and the registration check.

Why here and not via ``cv_bridge``: cv_bridge on Humble is built against NumPy 1 and breaks under
NumPy 2; decoding ``sensor_msgs/Image`` bytes needs ten lines of NumPy. ROS's REP 118 says depth
is ``16UC1`` in millimetres (0 = no reading) or ``32FC1`` in metres (NaN / +-inf / 0 = no reading).
Everything downstream sees float32 metres with NaN for "no reading" and nothing else.

A depth pixel is only meaningful for a colour pixel when the depth image is *registered* to the
colour camera (same optical frame, same pixel grid). Lifting unregistered depth silently puts the
target centimetres away, so :func:`register_depth` refuses it with an error that says what to do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from vla_r1_ros.core.geometry.camera import CameraModel, focal_scale_consistent
from vla_r1_ros.core.geometry.kernels.decode import decode_pixels, decode_window
from vla_r1_ros.core.image_buffer import ImageBufferError, buffer_pixels

__all__ = [
    "DepthEncodingError",
    "DepthRegistrationError",
    "DepthRange",
    "DepthImage",
    "RegisteredDepth",
    "decode_depth",
    "depth_from_buffer",
    "encode_depth",
    "register_depth",
]

_ENCODINGS: dict[str, np.dtype[np.uint16] | np.dtype[np.float32]] = {
    "16UC1": np.dtype(np.uint16),
    "mono16": np.dtype(np.uint16),
    "32FC1": np.dtype(np.float32),
}


class DepthEncodingError(ValueError):
    """The depth data does not match its declared encoding, size or layout."""


class DepthRegistrationError(ValueError):
    """Depth is not registered to the colour frame and nothing says how to map it."""


@dataclass(frozen=True)
class DepthRange:
    """Readings outside ``[min_m, max_m]`` are treated as invalid (sensor blind zone, far noise)."""

    min_m: float = 0.1
    max_m: float = 10.0

    def __post_init__(self) -> None:
        if not (np.isfinite(self.min_m) and self.min_m >= 0.0 and self.max_m > self.min_m):
            raise ValueError(f"invalid depth range [{self.min_m}, {self.max_m}] m")


def decode_depth(data: np.ndarray, encoding: str, valid_range: DepthRange = DepthRange()) -> np.ndarray:
    """Decode a depth array to float32 metres, NaN where there is no valid reading.

    ``16UC1`` / ``mono16``: uint16 millimetres, 0 = invalid. ``32FC1``: float32 metres, NaN,
    +-inf, 0 and negative values are invalid. The dtype must match the encoding: a float array
    labelled 16UC1 is a bug upstream, not something to guess about.
    """
    array = _check_encoded(data, encoding)
    return _decode(array, _SCALES[encoding], valid_range)


# Source units per metre: ROS integer depth is millimetres, float depth is metres.
_SCALES = {"16UC1": 0.001, "mono16": 0.001, "32FC1": None}


def _check_encoded(data: np.ndarray, encoding: str) -> np.ndarray:
    """``data`` as a 2-D array after checking that its dtype is the one ``encoding`` declares."""
    if encoding not in _ENCODINGS:
        raise DepthEncodingError(f"unsupported depth encoding {encoding!r}; expected 16UC1, mono16 or 32FC1")
    array = np.asarray(data)
    if array.ndim != 2:
        raise DepthEncodingError(f"depth must be a 2-D (H, W) array, got shape {array.shape}")
    expected = _ENCODINGS[encoding]
    if array.dtype.newbyteorder("=") != expected.newbyteorder("="):
        raise DepthEncodingError(f"encoding {encoding} needs dtype {expected}, got {array.dtype}")
    return array


def _decode(source: np.ndarray, scale: float | None, valid_range: DepthRange | None) -> np.ndarray:
    """Source pixels -> a new float32 array of metres with NaN for every invalid reading.

    The one decoding rule, used for whole frames and for the few pixels a lifting request reads,
    so both give bit-identical values: zero, negative, NaN and +-inf are invalid (an integer
    source can only be zero), and so is anything outside ``valid_range`` when one is given.
    """
    metres = source.astype(np.float32)  # a copy, also for a byte-swapped or strided source
    if scale is not None:
        metres *= np.float32(scale)
    # The complement of "0 < m < inf (and min_m <= m <= max_m)" as one test per bound; a NaN
    # fails both comparisons and stays what it is. (Comparisons run in float32, as they did
    # when written as the valid range, so the bounds round the same way.)
    if valid_range is None or valid_range.min_m == 0.0:
        below = metres <= 0.0
    else:
        below = metres < valid_range.min_m  # min_m > 0 also rules out zero and negatives
    if valid_range is not None and _finite_in_float32(valid_range.max_m):
        below |= metres > valid_range.max_m  # a finite bound also rules out +inf
    else:
        below |= metres == np.inf
    np.putmask(metres, below, np.float32(np.nan))
    return metres


_DecodeRule = tuple[np.float32, np.float32, int, np.float32, int]


def _compiled_rule(source: np.ndarray, scale: float | None, valid_range: DepthRange | None) -> _DecodeRule | None:
    """:func:`_decode`'s rule as the arguments of the compiled decode_window / decode_pixels.

    None where the compiled decoder does not apply: a source in non-native byte order (a
    big-endian message) or not C-contiguous (row padding; each memory layout would be
    compiled on its own). Those take :func:`_decode`, which gives the same values.
    """
    if not (source.dtype.isnative and source.flags.c_contiguous and source.dtype in (np.uint16, np.float32)):
        return None
    low_mode, low = (0, 0.0) if valid_range is None or valid_range.min_m == 0.0 else (1, valid_range.min_m)
    bounded = valid_range is not None and _finite_in_float32(valid_range.max_m)
    high_mode, high = (1, valid_range.max_m) if valid_range is not None and bounded else (0, 0.0)
    with np.errstate(over="ignore"):  # a bound beyond float32 is never used (its mode says so)
        return np.float32(1.0 if scale is None else scale), np.float32(low), low_mode, np.float32(high), high_mode


def _finite_in_float32(value: float) -> bool:
    if value < 3.0e38:  # the usual case, without the cast
        return math.isfinite(value)
    with np.errstate(over="ignore"):
        return math.isfinite(np.float32(value))


def _buffer_view(
    data: bytes | bytearray | memoryview, width: int, height: int, step: int, encoding: str, is_bigendian: bool
) -> np.ndarray:
    """The (H, W) pixels of a ``sensor_msgs/Image`` buffer as a view in the message's byte order."""
    if encoding not in _ENCODINGS:
        raise DepthEncodingError(f"unsupported depth encoding {encoding!r}; expected 16UC1, mono16 or 32FC1")
    try:
        return buffer_pixels(data, width, height, step, _ENCODINGS[encoding], 1, is_bigendian, encoding)[:, :, 0]
    except ImageBufferError as err:
        raise DepthEncodingError(str(err)) from None


def depth_from_buffer(
    data: bytes | bytearray | memoryview,
    width: int,
    height: int,
    step: int,
    encoding: str,
    is_bigendian: bool = False,
) -> np.ndarray:
    """View the bytes of a ``sensor_msgs/Image`` as an (H, W) array of the encoding's dtype.

    Honours ``step`` (row padding) and ``is_bigendian``; returns a native-endian copy.
    """
    view = _buffer_view(data, width, height, step, encoding, is_bigendian)
    return view.astype(view.dtype.newbyteorder("="))


def encode_depth(metres: np.ndarray, encoding: str) -> np.ndarray:
    """Metres (NaN = invalid) -> a ROS depth array (for simulators, bags and tests)."""
    metres = np.asarray(metres, dtype=np.float64)
    if encoding in ("16UC1", "mono16"):
        mm = np.where(np.isfinite(metres), np.round(metres * 1000.0), 0.0)
        return np.clip(mm, 0, 65535).astype(np.uint16)
    if encoding == "32FC1":
        return metres.astype(np.float32)
    raise DepthEncodingError(f"unsupported depth encoding {encoding!r}; expected 16UC1, mono16 or 32FC1")


class DepthImage:
    """A depth frame: read-only float32 metres (NaN = invalid) and its optical frame.

    Why decoding is lazy: a 640x480 frame has 300k pixels and one lifting request reads a few
    thousand of them, yet masking the invalid readings of the whole frame costs more than the
    whole lifting. So the image keeps its source pixels (read-only, never aliased with anything
    the caller can still write) and decodes on demand: :meth:`window` and :meth:`pixels` decode
    only what they read, and :attr:`metres`, the full frame for callers that want it, is decoded
    once on first access. All paths apply the same rule, so the values are the same either way.
    """

    def __init__(self, metres: np.ndarray, frame_id: str = "") -> None:
        """From float metres (any float dtype; NaN, +-inf, zero and negative mean no reading).

        The pixels are copied: later edits to the caller's array cannot change this frame.
        """
        self._init(np.array(metres, dtype=np.float32), None, None, frame_id)

    def _init(self, source: np.ndarray, scale: float | None, valid_range: DepthRange | None, frame_id: str) -> None:
        if source.ndim != 2 or source.size == 0:
            raise DepthEncodingError(f"depth must be a non-empty 2-D array, got shape {source.shape}")
        if source.flags.writeable:
            source.flags.writeable = False  # only ever our own copy (or an immutable buffer's view)
        self._source = source
        self._scale = scale
        self._range = valid_range
        self._rule = _compiled_rule(source, scale, valid_range)
        self.frame_id = frame_id

    @classmethod
    def _adopt(
        cls, source: np.ndarray, scale: float | None, valid_range: DepthRange | None, frame_id: str
    ) -> DepthImage:
        """Wrap source pixels that nobody else can modify (our own copy, a view of ``bytes``)."""
        image = cls.__new__(cls)
        image._init(source, scale, valid_range, frame_id)
        return image

    @classmethod
    def from_ros(
        cls, data: np.ndarray, encoding: str, frame_id: str = "", valid_range: DepthRange = DepthRange()
    ) -> DepthImage:
        """From an (H, W) array in a ROS depth encoding (copied; decoded on demand)."""
        source = np.array(_check_encoded(data, encoding))
        return cls._adopt(source, _SCALES[encoding], valid_range, frame_id)

    @classmethod
    def from_image_msg(cls, msg: object, valid_range: DepthRange = DepthRange()) -> DepthImage:
        """From anything shaped like ``sensor_msgs/msg/Image`` (duck-typed, no ROS import).

        ``bytes(msg.data)`` is the only full-frame copy: ``bytes`` are immutable, so the image
        reads the pixels straight out of it (row padding and byte order are handled per read).
        """
        encoding = str(msg.encoding)  # type: ignore[attr-defined]
        source = _buffer_view(
            bytes(msg.data), int(msg.width), int(msg.height), int(msg.step), encoding,  # type: ignore[attr-defined]
            bool(msg.is_bigendian),  # type: ignore[attr-defined]
        )
        header = getattr(msg, "header", None)
        return cls._adopt(source, _SCALES[encoding], valid_range, getattr(header, "frame_id", ""))

    @cached_property
    def metres(self) -> np.ndarray:
        """The whole frame in metres, NaN where there is no valid reading (decoded once)."""
        metres = _decode(self._source, self._scale, self._range)
        metres.flags.writeable = False
        return metres

    def window(self, rows: slice, cols: slice) -> np.ndarray:
        """Metres of a (possibly strided) sub-grid, decoding only those pixels."""
        if "metres" in self.__dict__:  # already decoded: no need to decode again
            return self.metres[rows, cols]
        if self._rule is not None:  # one compiled pass instead of five NumPy calls
            r, c = range(self.height)[rows], range(self.width)[cols]
            window: np.ndarray = decode_window(
                self._source, (r.start, r.step, len(r)), (c.start, c.step, len(c)), *self._rule
            )
            return window
        return _decode(self._source[rows, cols], self._scale, self._range)

    def pixels(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Metres at integer pixel indices (NumPy fancy indexing), decoding only those pixels.

        1-D int64 index arrays of one length (what lifting reads) take one compiled pass.
        """
        decoded: np.ndarray
        if "metres" in self.__dict__:
            decoded = self.metres[rows, cols]
            return decoded
        if self._rule is not None and _flat_indices(rows, cols):
            inside, decoded = decode_pixels(self._source, rows, cols, *self._rule)
            if inside:
                return decoded
        return _decode(self._source[rows, cols], self._scale, self._range)

    @property
    def width(self) -> int:
        return int(self._source.shape[1])

    @property
    def height(self) -> int:
        return int(self._source.shape[0])


def _flat_indices(rows: object, cols: object) -> bool:
    """Whether ``rows`` and ``cols`` are 1-D C-contiguous int64 arrays of one length (the compiled decoder's input)."""
    return (
        isinstance(rows, np.ndarray)
        and isinstance(cols, np.ndarray)
        and rows.dtype == np.int64
        and cols.dtype == np.int64
        and rows.ndim == 1
        and rows.shape == cols.shape
        and rows.flags.c_contiguous
        and cols.flags.c_contiguous
    )


@dataclass(frozen=True, eq=False)
class RegisteredDepth:
    """Depth that may be read at colour pixels: ``camera`` describes the depth image's pixel grid.

    Normalised (protocol) coordinates map to depth pixels through the depth image's own size,
    which is exact because :func:`register_depth` checked that the depth intrinsics are the colour
    intrinsics scaled to that size.
    """

    depth: DepthImage
    camera: CameraModel
    color_camera: CameraModel


def register_depth(
    depth: DepthImage,
    color_camera: CameraModel,
    depth_camera: CameraModel | None = None,
) -> RegisteredDepth:
    """Check that ``depth`` is registered to the colour camera; return what lifting needs.

    Accepted: the same optical frame (when both name one) and either the colour image size, or a
    different size whose depth CameraInfo is the colour one scaled to it. Anything else raises
    :class:`DepthRegistrationError` naming the mismatch and the fix.
    """
    frames = {name for name in (depth.frame_id, color_camera.frame_id) if name}
    if depth_camera is not None and depth_camera.frame_id:
        frames.add(depth_camera.frame_id)
    if len(frames) > 1:
        raise DepthRegistrationError(
            f"depth is in frame {depth.frame_id!r} but the colour image is in {color_camera.frame_id!r}"
            + (f" (depth CameraInfo: {depth_camera.frame_id!r})" if depth_camera is not None else "")
            + ": depth must be registered to the colour frame (e.g. realsense align_depth, "
            "or depth_image_proc/register) before lifting"
        )
    same_size = (depth.width, depth.height) == (color_camera.width, color_camera.height)
    if depth_camera is None:
        if not same_size:
            raise DepthRegistrationError(
                f"depth image is {depth.width}x{depth.height} but the colour CameraInfo describes "
                f"{color_camera.width}x{color_camera.height}; pass the depth CameraInfo so its intrinsics say "
                "how to map between them, or register depth to the colour image"
            )
        return RegisteredDepth(depth, color_camera, color_camera)
    if (depth_camera.width, depth_camera.height) != (depth.width, depth.height):
        raise DepthRegistrationError(
            f"depth CameraInfo describes {depth_camera.width}x{depth_camera.height} but the depth image is "
            f"{depth.width}x{depth.height}"
        )
    if same_size:
        if not depth_camera.same_intrinsics(color_camera, tolerance=1e-4):
            raise DepthRegistrationError(
                f"depth and colour images are both {depth.width}x{depth.height} but their intrinsics differ "
                f"({depth_camera!r} vs {color_camera!r}): the depth image is not registered to the colour camera"
            )
        return RegisteredDepth(depth, color_camera, color_camera)
    if not focal_scale_consistent(color_camera, depth_camera):
        raise DepthRegistrationError(
            f"depth image is {depth.width}x{depth.height} and colour is {color_camera.width}x{color_camera.height}, "
            f"but the depth intrinsics ({depth_camera!r}) are not the colour intrinsics ({color_camera!r}) scaled "
            "to that size: register depth to the colour image first"
        )
    return RegisteredDepth(depth, depth_camera, color_camera)
