"""N-D discrete Fréchet, DTW, Hausdorff, resampling and RMSE (core/metrics.py) against brute force.

The 2-D results are covered by test_metrics.py and test_rewards.py; here the same functions take
3-D tool paths (and 1-D and 5-D points) and must agree with a direct dynamic program.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from vla_r1_ros.core.metrics import dtw_batch, frechet_batch, hausdorff, resample_by_arc_length, rmse_aligned
from vla_r1_ros.core.runs.similarity import path_similarity


def _coupling(p: np.ndarray, q: np.ndarray, combine) -> float:
    """C(i, j) = combine(d(i, j), min of the three predecessors), filled row by row in plain Python."""
    inf = math.inf
    table = [[inf] * len(q) for _ in range(len(p))]
    for i in range(len(p)):
        for j in range(len(q)):
            d = math.dist(p[i].tolist(), q[j].tolist())
            if i == 0 and j == 0:
                table[i][j] = d
                continue
            before = min(
                table[i - 1][j] if i else inf,
                table[i][j - 1] if j else inf,
                table[i - 1][j - 1] if i and j else inf,
            )
            table[i][j] = combine(d, before)
    return table[-1][-1]


@pytest.mark.parametrize("dim", [1, 3, 5])
def test_frechet_and_dtw_match_brute_force_in_any_dimension(dim: int) -> None:
    rng = np.random.default_rng(dim)
    refs = [rng.normal(size=(int(rng.integers(1, 12)), dim)) for _ in range(40)]
    cands = [rng.normal(size=(int(rng.integers(1, 12)), dim)) for _ in range(40)]
    frechet = frechet_batch(refs, cands)
    dtw = dtw_batch(refs, cands)
    for k, (p, q) in enumerate(zip(refs, cands)):
        assert frechet[k] == pytest.approx(_coupling(p, q, max), rel=1e-12)
        assert dtw[k] == pytest.approx(_coupling(p, q, lambda d, b: d + b), rel=1e-12)


def test_large_3d_batches_split_across_threads_give_the_same_values() -> None:
    rng = np.random.default_rng(11)
    refs = [rng.uniform(size=(int(rng.integers(4, 40)), 3)) for _ in range(400)]
    cands = [rng.uniform(size=(int(rng.integers(4, 40)), 3)) for _ in range(400)]
    for batch in (frechet_batch, dtw_batch):
        together = batch(refs, cands)
        alone = np.array([batch([r], [c])[0] for r, c in zip(refs, cands)])
        assert np.array_equal(together, alone)


def test_3d_known_values() -> None:
    line = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [2.0, 0.0, 0.0]])
    above = line + np.array([0.0, 0.0, 0.5])
    assert frechet_batch([line], [above])[0] == pytest.approx(0.5)
    assert dtw_batch([line], [above])[0] == pytest.approx(1.5)  # three matched pairs, 0.5 each
    assert dtw_batch([line], [line])[0] == 0.0
    assert hausdorff(line, above[::-1]) == pytest.approx(0.5)
    assert rmse_aligned(above, line) == pytest.approx(0.5)
    # Frechet sees the reversed direction, Hausdorff does not.
    assert frechet_batch([line], [above[::-1]])[0] == pytest.approx(math.hypot(2.0, 0.5))


def test_hausdorff_matches_brute_force_in_3d() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(57, 3)), rng.normal(size=(31, 3))
    d = np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))
    expected = max(d.min(axis=1).max(), d.min(axis=0).max())
    assert hausdorff(a, b, chunk_cells=100) == pytest.approx(expected, rel=1e-12)


def test_resampling_a_3d_polyline_by_arc_length() -> None:
    corner = [[0.0, 0.0, 0.0], [0.0, 0.0, 3.0], [0.0, 4.0, 3.0]]  # legs of 3 and 4
    points = resample_by_arc_length(corner, 8)
    assert points.shape == (8, 3)
    assert np.allclose(np.linalg.norm(np.diff(points, axis=0), axis=1)[[0, 1, 4, 5, 6]], 1.0)
    assert np.allclose(points[[0, 3, 7]], corner)
    assert np.allclose(resample_by_arc_length([[2.0], [0.0], [1.0]], 4).ravel(), [2.0, 1.0, 0.0, 1.0])


def test_mixed_dimensions_are_refused() -> None:
    with pytest.raises(ValueError, match="one dimension"):
        frechet_batch([[[0.0, 0.0, 0.0]], [[0.0, 0.0]]], [[[0.0, 0.0, 0.0]], [[0.0, 0.0]]])
    with pytest.raises(ValueError, match="2-D and 3-D"):
        hausdorff([[0.0, 0.0]], [[0.0, 0.0, 0.0]])
    with pytest.raises(ValueError, match="2-D and 3-D"):
        rmse_aligned([[0.0, 0.0]], [[0.0, 0.0, 0.0]])


def test_path_similarity_resamples_before_comparing() -> None:
    # The same straight path sampled densely and sparsely is the same path; a parallel one 2 cm off is 2 cm away.
    dense = np.stack([np.linspace(0.0, 0.4, 400), np.zeros(400), np.full(400, 0.2)], axis=1)
    sparse = dense[::57]
    sparse = np.vstack([sparse, dense[-1:]])
    same = path_similarity(dense, sparse, count=100)
    assert same.frechet == pytest.approx(0.0, abs=1e-12) and same.dtw == pytest.approx(0.0, abs=1e-10)
    shifted = path_similarity(dense, sparse + np.array([0.0, 0.02, 0.0]), count=100)
    assert shifted.frechet == pytest.approx(0.02)
    assert shifted.dtw == pytest.approx(100 * 0.02)
    assert shifted.dtw_per_point == pytest.approx(0.02)
    assert shifted.count == 100
