"""Pairing colour and depth frames by stamp, keeping only the newest pair.

Slow inference must never be fed old frames: callbacks only store the newest few frames of each
stream, and a consumer asks for the newest colour frame that has a depth frame within the stamp
tolerance and is younger than the maximum age. Nothing queues up while a model is busy.

Pure core: stamps are float seconds, payloads are whatever the caller stores.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["FramePair", "NoFrame", "LatestFramePair", "StreamCounts"]

ColorT = TypeVar("ColorT")
DepthT = TypeVar("DepthT")


@dataclass(frozen=True)
class FramePair(Generic[ColorT, DepthT]):
    """A colour frame and the depth frame closest to it in time (``depth`` None if not needed)."""

    stamp: float
    color: ColorT
    depth: DepthT | None
    depth_stamp: float | None

    @property
    def skew(self) -> float:
        """Seconds between the colour and depth stamps (0 without depth)."""
        return 0.0 if self.depth_stamp is None else abs(self.stamp - self.depth_stamp)


@dataclass(frozen=True)
class StreamCounts:
    """Frames received per stream, and colour frames that found a depth frame within the tolerance.

    ``pairs / color`` is the fraction of the camera's frames a goal could have used: what transport
    losses cost (see the README's transport section).
    """

    color: int = 0
    depth: int = 0
    pairs: int = 0


@dataclass(frozen=True)
class NoFrame:
    """Why no usable pair is available right now."""

    reason: str


class LatestFramePair(Generic[ColorT, DepthT]):
    """Holds the newest few colour and depth frames and pairs them on request.

    ``history`` bounds memory: only that many frames of each stream are kept (the newest), which
    is enough to pair streams whose stamps interleave. ``require_depth`` False lets the colour
    stream alone produce pairs (for 2-D-only use).
    """

    def __init__(self, tolerance: float, max_age: float, history: int = 4, require_depth: bool = True) -> None:
        if tolerance < 0.0:
            raise ValueError(f"stamp tolerance must be >= 0 s, got {tolerance}")
        if max_age <= 0.0:
            raise ValueError(f"maximum frame age must be > 0 s, got {max_age}")
        if history < 1:
            raise ValueError(f"history must be >= 1, got {history}")
        self.tolerance = tolerance
        self.max_age = max_age
        self.require_depth = require_depth
        self._color: collections.deque[tuple[float, ColorT]] = collections.deque(maxlen=history)
        self._depth: collections.deque[tuple[float, DepthT]] = collections.deque(maxlen=history)
        self._paired: collections.deque[float] = collections.deque(maxlen=history)  # colour stamps
        self.dropped_out_of_order = 0
        self.counts = StreamCounts()

    def add_color(self, stamp: float, frame: ColorT) -> None:
        if self._in_order(self._color[-1][0] if self._color else None, stamp):
            self._color.append((stamp, frame))
            self._count(color=1)
            if not self.require_depth or any(abs(d - stamp) <= self.tolerance for d, _ in self._depth):
                self._pair(stamp)

    def add_depth(self, stamp: float, frame: DepthT) -> None:
        if self._in_order(self._depth[-1][0] if self._depth else None, stamp):
            self._depth.append((stamp, frame))
            self._count(depth=1)
            for color_stamp, _ in self._color:
                if abs(color_stamp - stamp) <= self.tolerance and color_stamp not in self._paired:
                    self._pair(color_stamp)

    def _count(self, color: int = 0, depth: int = 0, pairs: int = 0) -> None:
        c = self.counts
        self.counts = StreamCounts(c.color + color, c.depth + depth, c.pairs + pairs)

    def _pair(self, color_stamp: float) -> None:
        self._paired.append(color_stamp)
        self._count(pairs=1)

    def _in_order(self, newest: float | None, stamp: float) -> bool:
        # A frame older than one already held is late or from a restarted driver; keep each
        # stream monotonic so that "newest" stays meaningful.
        if newest is not None and stamp < newest:
            self.dropped_out_of_order += 1
            return False
        return True

    def latest(self, now: float) -> FramePair[ColorT, DepthT] | NoFrame:
        """The newest colour frame with a matching depth frame, if it is fresh enough."""
        if not self._color:
            return NoFrame("no colour image received yet")
        if self.require_depth and not self._depth:
            return NoFrame("no depth image received yet")
        for stamp, color in reversed(self._color):
            if now - stamp > self.max_age:
                break
            if not self.require_depth:
                return FramePair(stamp, color, None, None)
            depth_stamp, depth = min(self._depth, key=lambda item: abs(item[0] - stamp))
            if abs(depth_stamp - stamp) <= self.tolerance:
                return FramePair(stamp, color, depth, depth_stamp)
        newest = self._color[-1][0]
        if now - newest > self.max_age:
            return NoFrame(f"newest colour image is {now - newest:.3f} s old (maximum {self.max_age:.3f} s)")
        nearest = min(abs(d - newest) for d, _ in self._depth)
        return NoFrame(
            f"no depth image within {self.tolerance * 1e3:.0f} ms of a recent colour image "
            f"(nearest {nearest * 1e3:.0f} ms); are the streams registered and synchronised?"
        )

    def clear(self) -> None:
        self._color.clear()
        self._depth.clear()
