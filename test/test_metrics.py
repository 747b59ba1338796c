"""The paper's metrics: IoU/GIoU, discrete Fréchet, Hausdorff, aligned RMSE, on the x1000 scale."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vla_r1_ros.core.metrics import (
    box_iou_giou,
    frechet_batch,
    hausdorff,
    resample_by_arc_length,
    rmse_aligned,
    trajectory_features,
    trajectory_metrics,
)


def test_iou_and_giou_known_values() -> None:
    iou, giou = box_iou_giou([0.0, 0.0, 0.5, 0.5], [0.25, 0.25, 0.75, 0.75])
    assert iou == pytest.approx(0.0625 / (0.5 - 0.0625))
    assert giou == pytest.approx(iou - (0.5625 - 0.4375) / 0.5625)
    far_iou, far_giou = box_iou_giou([0.0, 0.0, 0.1, 0.1], [0.9, 0.9, 1.0, 1.0])
    assert far_iou == 0.0 and far_giou == pytest.approx(0.02 / 1.0 - 1.0)
    # Degenerate boxes follow the release: no area anywhere gives IoU 0 and a finite GIoU.
    zero_iou, zero_giou = box_iou_giou([0.5, 0.5, 0.5, 0.5], [0.5, 0.5, 0.5, 0.5])
    assert zero_iou == 0.0 and math.isfinite(float(zero_giou))


def test_iou_broadcasts_over_batches() -> None:
    boxes = np.array([[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 0.5, 1.0]])
    iou, _ = box_iou_giou(boxes, np.array([0.0, 0.0, 1.0, 1.0]))
    assert iou.tolist() == pytest.approx([1.0, 0.5])


def test_frechet_known_values() -> None:
    a = [[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]]
    b = [[0.0, 1.0], [1.0, 1.0], [2.0, 1.0]]
    assert frechet_batch([a], [b])[0] == pytest.approx(1.0)
    # Fréchet respects order where Hausdorff does not.
    reversed_b = b[::-1]
    assert frechet_batch([a], [reversed_b])[0] == pytest.approx(math.hypot(2.0, 1.0))
    assert hausdorff(a, reversed_b) == pytest.approx(1.0)
    assert frechet_batch([[[0.0, 0.0]]], [[[3.0, 4.0], [0.0, 0.0]]])[0] == pytest.approx(5.0)


def test_frechet_handles_long_trajectories_without_recursion() -> None:
    t = np.linspace(0.0, 1.0, 3_000)
    a = np.stack([t, np.zeros_like(t)], axis=1)
    b = np.stack([t, np.full_like(t, 0.25)], axis=1)
    assert frechet_batch([a], [b])[0] == pytest.approx(0.25)
    assert hausdorff(a, b) == pytest.approx(0.25)


def test_tangents_and_lengths_follow_the_definition() -> None:
    features = trajectory_features([[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]], [[0.5, 0.5]]])

    def tangent(point: int, trajectory: int) -> list[float]:
        return [float(features.tangent_x[point, trajectory]), float(features.tangent_y[point, trajectory])]

    assert tangent(0, 0) == pytest.approx([1.0, 0.0])
    assert tangent(1, 0) == pytest.approx([math.sqrt(0.5), math.sqrt(0.5)])
    assert tangent(2, 0) == pytest.approx([0.0, 1.0])
    assert features.length[:, 0].tolist() == pytest.approx([1.0, 1.0, 1.0])
    assert tangent(0, 1) == [0.0, 0.0] and features.length[0, 1] == 0.0
    assert features.counts.tolist() == [3, 1]
    # A U-turn: the two unit vectors cancel, so the incoming direction is used.
    u_turn = trajectory_features([[[0.0, 0.0], [1.0, 0.0], [0.0, 0.0]]])
    assert [u_turn.tangent_x[1, 0], u_turn.tangent_y[1, 0]] == pytest.approx([1.0, 0.0])


def test_rmse_alignment_of_unequal_lengths() -> None:
    ref = [[0.0, 0.0], [10.0, 0.0]]
    dense = [[0.0, 0.0], [5.0, 0.0], [10.0, 0.0]]
    assert rmse_aligned(dense, ref) == pytest.approx(0.0)  # same polyline, different sampling
    shifted = [[0.0, 3.0], [10.0, 3.0]]
    assert rmse_aligned(shifted, ref) == pytest.approx(3.0)
    assert resample_by_arc_length([[0.0, 0.0], [0.0, 0.0]], 3).tolist() == [[0.0, 0.0]] * 3
    corner = resample_by_arc_length([[0.0, 0.0], [4.0, 0.0], [4.0, 4.0]], 3)
    assert np.allclose(corner, [[0.0, 0.0], [4.0, 0.0], [4.0, 4.0]])


def test_paper_scale_and_average() -> None:
    metrics = trajectory_metrics([[0.0, 0.1], [0.5, 0.1]], [[0.0, 0.0], [0.5, 0.0]])
    assert metrics.dfd == pytest.approx(100.0)
    assert metrics.hd == pytest.approx(100.0)
    assert metrics.rmse == pytest.approx(100.0)
    assert metrics.avg == pytest.approx(100.0)


def test_input_errors_are_clear() -> None:
    with pytest.raises(ValueError, match="at least one point"):
        frechet_batch([[]], [[[0.0, 0.0]]])
    with pytest.raises(ValueError, match="2 reference trajectories but 1"):
        frechet_batch([[[0.0, 0.0]], [[0.0, 0.0]]], [[[0.0, 0.0]]])
    with pytest.raises(ValueError, match="non-empty"):
        hausdorff([], [[0.0, 0.0]])


def test_a_batch_gives_each_pair_the_value_it_has_alone() -> None:
    from vla_r1_ros.core import metrics

    rng = np.random.default_rng(5)
    refs = [rng.uniform(0.0, 1.0, size=(int(rng.integers(1, 33)), 2)) for _ in range(600)]
    cands = [rng.uniform(0.0, 1.0, size=(int(rng.integers(1, 33)), 2)) for _ in range(600)]
    for batch in (metrics.oriented_frechet_batch, metrics.frechet_batch, metrics.dtw_batch):
        together = batch(refs, cands)
        alone = np.array([batch([r], [c])[0] for r, c in zip(refs, cands)])
        assert np.array_equal(together, alone), batch.__name__
