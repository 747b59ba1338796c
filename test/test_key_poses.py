"""Key poses for Pilz LIN: the ends, the corners, and enough poses that straight lines stay on the path."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from vla_r1_ros.core.execution import Poses, key_pose_indices, path_lengths
from vla_r1_ros.core.geometry.transforms import slerp

DOWN = np.array([1.0, 0.0, 0.0, 0.0])  # the hand pointing down (x y z w)


def poses(points: np.ndarray, quaternions: np.ndarray | None = None) -> Poses:
    points = np.asarray(points, dtype=float)
    return Poses(points, np.tile(DOWN, (len(points), 1)) if quaternions is None else quaternions)


def line(a: list[float], b: list[float], n: int) -> np.ndarray:
    return np.linspace(a, b, n)


def max_deviation(points: np.ndarray, keys: np.ndarray) -> float:
    """Largest distance of a dense point from the straight segment between its surrounding key poses."""
    worst = 0.0
    for i, j in itertools.pairwise(keys):
        a, b = points[i], points[j]
        for p in points[i : j + 1]:
            t = np.clip((p - a) @ (b - a) / max((b - a) @ (b - a), 1e-12), 0.0, 1.0)
            worst = max(worst, float(np.linalg.norm(p - (a + t * (b - a)))))
    return worst


def test_a_straight_path_keeps_only_its_ends() -> None:
    path = poses(line([0.3, 0.0, 0.5], [0.3, 0.0, 0.3], 21))
    assert key_pose_indices(path).tolist() == [0, 20]


def test_a_corner_is_kept_even_where_it_is_small() -> None:
    down = line([0.3, 0.0, 0.5], [0.3, 0.0, 0.4], 11)
    across = line([0.3, 0.0, 0.4], [0.4, 0.0, 0.4], 11)[1:]
    assert key_pose_indices(poses(np.vstack([down, across]))).tolist() == [0, 10, 20]
    # A 1 mm kink (under the distance tolerance) still turns the tool by 90 degrees.
    kink = np.array([[0.3, 0.0, 0.5], [0.3, 0.0, 0.499], [0.301, 0.0, 0.499], [0.301, 0.0, 0.498]])
    assert key_pose_indices(poses(kink)).tolist() == [0, 1, 2, 3]
    assert key_pose_indices(poses(kink), turn_tolerance=math.pi).tolist() == [0, 3]


def test_an_arc_keeps_enough_poses_for_straight_segments_to_stay_within_the_tolerance() -> None:
    angles = np.linspace(0.0, math.pi / 2, 40)
    arc = np.c_[0.3 + 0.2 * np.cos(angles), 0.2 * np.sin(angles), np.full(40, 0.4)]
    for tolerance in (0.002, 0.01):
        keys = key_pose_indices(poses(arc), distance_tolerance=tolerance, turn_tolerance=math.pi)
        assert keys[0] == 0 and keys[-1] == 39 and 3 <= len(keys) < 40
        assert max_deviation(arc, keys) <= tolerance
    loose = key_pose_indices(poses(arc), distance_tolerance=0.01, turn_tolerance=math.pi)
    tight = key_pose_indices(poses(arc), distance_tolerance=0.002, turn_tolerance=math.pi)
    assert len(tight) > len(loose)


def test_orientation_that_does_not_follow_the_interpolation_is_kept() -> None:
    points = line([0.3, 0.0, 0.5], [0.3, 0.0, 0.3], 11)
    turned = np.array([0.0, 1.0, 0.0, 0.0])  # half a turn about z from DOWN
    steady = slerp(DOWN, turned, np.linspace(0.0, 1.0, 11))
    assert key_pose_indices(poses(points, steady)).tolist() == [0, 10]  # LIN interpolates this itself
    late = slerp(DOWN, turned, np.r_[np.zeros(6), np.linspace(0.2, 1.0, 5)])  # holds, then turns
    keys = key_pose_indices(poses(points, late))
    assert 0 < len(keys) - 2 and set(keys[1:-1]) & {4, 5, 6}


def test_short_paths_and_bad_tolerances() -> None:
    assert key_pose_indices(poses(np.zeros((1, 3)))).tolist() == [0]
    assert key_pose_indices(poses(line([0, 0, 0], [0, 0, 0.1], 2))).tolist() == [0, 1]
    with pytest.raises(ValueError, match="distance_tolerance"):
        key_pose_indices(poses(line([0, 0, 0], [0, 0, 0.1], 5)), distance_tolerance=0.0)
    with pytest.raises(ValueError, match="turn_tolerance"):
        key_pose_indices(poses(line([0, 0, 0], [0, 0, 0.1], 5)), turn_tolerance=float("nan"))


def test_path_lengths_accumulate_from_zero() -> None:
    lengths = path_lengths(np.array([[0, 0, 0], [0, 0, 0.1], [0, 0.2, 0.1]], dtype=float))
    assert lengths == pytest.approx([0.0, 0.1, 0.3])
    assert path_lengths(np.zeros((0, 3))).shape == (0,)
