"""Colour/depth pairing: newest pair only, stamp tolerance, maximum age, clear reasons."""

from __future__ import annotations

import pytest

from vla_r1_ros.core.frame_sync import FramePair, LatestFramePair, NoFrame, StreamCounts


def test_pairs_the_newest_colour_with_its_depth() -> None:
    frames: LatestFramePair[str, str] = LatestFramePair(tolerance=0.01, max_age=0.5)
    for k in range(10):
        frames.add_color(k * 0.033, f"c{k}")
        frames.add_depth(k * 0.033 + 0.004, f"d{k}")
    pair = frames.latest(now=9 * 0.033 + 0.05)
    assert isinstance(pair, FramePair)
    assert (pair.color, pair.depth) == ("c9", "d9")
    assert pair.skew == pytest.approx(0.004)


def test_falls_back_to_an_older_colour_frame_whose_depth_arrived() -> None:
    frames: LatestFramePair[str, str] = LatestFramePair(tolerance=0.005, max_age=0.5)
    frames.add_color(1.000, "c0")
    frames.add_depth(1.001, "d0")
    frames.add_color(1.033, "c1")  # its depth is still in flight
    pair = frames.latest(now=1.05)
    assert isinstance(pair, FramePair) and pair.color == "c0"


def test_reasons_when_nothing_is_usable() -> None:
    frames: LatestFramePair[str, str] = LatestFramePair(tolerance=0.005, max_age=0.2)
    assert frames.latest(0.0) == NoFrame("no colour image received yet")
    frames.add_color(1.0, "c")
    assert frames.latest(1.0) == NoFrame("no depth image received yet")
    frames.add_depth(1.5, "d")
    stale = frames.latest(2.0)
    assert isinstance(stale, NoFrame) and "1.000 s old (maximum 0.200 s)" in stale.reason
    frames.add_color(1.9, "c2")
    unmatched = frames.latest(2.0)
    assert isinstance(unmatched, NoFrame) and "no depth image within 5 ms" in unmatched.reason


def test_never_returns_a_frame_older_than_the_maximum_age() -> None:
    frames: LatestFramePair[int, int] = LatestFramePair(tolerance=0.001, max_age=0.1, history=3)
    for k in range(100):
        stamp = k * 0.05
        frames.add_color(stamp, k)
        frames.add_depth(stamp, k)
        for lag in (0.0, 0.07, 0.12, 0.3):
            result = frames.latest(now=stamp + lag)
            if isinstance(result, FramePair):
                assert stamp + lag - result.stamp <= 0.1
            else:
                assert lag > 0.1


def test_memory_is_bounded_and_order_enforced() -> None:
    frames: LatestFramePair[int, int] = LatestFramePair(tolerance=0.01, max_age=1.0, history=2)
    for k in range(1000):
        frames.add_color(float(k), k)
    assert len(frames._color) == 2
    frames.add_color(5.0, -1)  # late frame from the past
    assert frames.dropped_out_of_order == 1


def test_colour_only_mode_and_bad_settings() -> None:
    frames: LatestFramePair[str, None] = LatestFramePair(tolerance=0.0, max_age=1.0, require_depth=False)
    frames.add_color(3.0, "c")
    pair = frames.latest(3.5)
    assert isinstance(pair, FramePair) and pair.depth is None and pair.skew == 0.0
    with pytest.raises(ValueError, match="maximum frame age"):
        LatestFramePair(tolerance=0.01, max_age=0.0)
    with pytest.raises(ValueError, match="tolerance"):
        LatestFramePair(tolerance=-1.0, max_age=1.0)


def test_counts_frames_and_the_colour_frames_that_found_their_depth() -> None:
    frames: LatestFramePair[str, str] = LatestFramePair(tolerance=0.005, max_age=0.5)
    for k in range(6):
        frames.add_color(k * 0.033, f"c{k}")
        if k % 3 != 2:  # every third depth frame is lost in transport
            frames.add_depth(k * 0.033 + 0.001, f"d{k}")
    frames.add_depth(0.001, "late")  # out of order: dropped, counted nowhere
    assert frames.counts == StreamCounts(color=6, depth=4, pairs=4)
    frames.add_color(0.2, "c6")  # depth arrives first next time: still one pair, not two
    frames.add_depth(0.199, "d6")
    frames.add_depth(0.2005, "d6-again")
    assert frames.counts == StreamCounts(color=7, depth=6, pairs=5)
    colour_only: LatestFramePair[str, str] = LatestFramePair(tolerance=0.005, max_age=0.5, require_depth=False)
    colour_only.add_color(1.0, "c")
    assert colour_only.counts == StreamCounts(color=1, depth=0, pairs=1)
