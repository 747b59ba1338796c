"""The release's reward: worked values, parity with a pure-Python oracle, pathologies, the variant."""

from __future__ import annotations

import json
import math
import random

import numpy as np
import pytest
from oracle_release_reward import box_task_score, plain_frechet, trajectory_task_score

from vla_r1_ros.core.metrics import frechet_batch, oriented_frechet_batch
from vla_r1_ros.core.protocol import Box2D, Trajectory2D, format_answer
from vla_r1_ros.core.rewards import RewardVariant, score, score_batch

BOX = {"x": 0.5, "y": 0.5, "width": 0.2, "height": 0.2}
PATH = [[0.1, 0.1], [0.2, 0.3], [0.5, 0.5], [0.6, 0.8]]


def answer(payload: object, think: bool = True) -> str:
    prefix = "<think>reasoning</think> so, the answer is " if think else ""
    return f"{prefix}<output>{json.dumps(payload)}</output>"


def test_worked_values_from_the_reference() -> None:
    truth = answer(BOX)
    assert score(answer(BOX), truth).score == pytest.approx(1.0, abs=1e-12)
    touching = score(answer({**BOX, "x": 0.7}), truth)
    assert touching.score == pytest.approx(0.55)
    assert touching.iou == 0.0 and touching.giou == pytest.approx(0.0)
    assert score('<think>r</think><output>{"x": 0.5,</output>', truth).score == 0.0
    mismatch = score(answer(BOX), answer(PATH))
    assert mismatch.score == pytest.approx(0.1) and mismatch.task == "none"


def test_breakdown_fields() -> None:
    result = score(answer({**BOX, "x": 0.55}), answer(BOX))
    assert result.task == "affordance" and result.format_score == 1.0
    assert result.iou == pytest.approx(0.15 * 0.2 / (2 * 0.04 - 0.15 * 0.2))
    assert result.score == pytest.approx(0.9 * result.task_score + 0.1)
    assert math.isnan(result.dfd)
    trajectory = score(answer(PATH), answer(PATH))
    assert trajectory.task == "trajectory" and trajectory.score == pytest.approx(1.0)
    assert trajectory.dfd == 0.0 and trajectory.avg == 0.0 and math.isnan(trajectory.iou)
    assert trajectory.to_json()["iou"] is None


def test_format_reward_rules() -> None:
    truth = answer(BOX)
    no_think = score(answer(BOX, think=False), truth)
    assert no_think.format_score == 0.0 and no_think.score == pytest.approx(0.9)  # release pathology
    assert score("<think>x</think> no output at all", truth).score == 0.0
    # Any JSON counts as "parsable" for the format reward, whatever its shape.
    assert score('<think>x</think><output>"hello"</output>', truth).score == pytest.approx(0.1)
    assert score(
        '<think>x</think><output>{"x": NaN, "y": 0.5, "width": 0.1, "height": 0.1}</output>', truth
    ).score == pytest.approx(0.1)
    # The release decodes the raw <output> text, so a fenced answer earns nothing there.
    fenced = score(f"<think>x</think><output>```json\n{json.dumps(BOX)}\n```</output>", truth)
    assert fenced.score == 0.0 and fenced.parse_status == "ok"


def test_box_clipping_and_absolute_size_follow_the_release() -> None:
    truth = answer(BOX)
    negative = score(answer({**BOX, "width": -0.2, "height": -0.2}), truth)
    assert negative.score == pytest.approx(1.0)  # absolute width/height
    outside = score(
        answer({"x": 1.1, "y": 0.5, "width": 0.4, "height": 0.2}),
        answer({"x": 0.95, "y": 0.5, "width": 0.1, "height": 0.2}),
    )
    assert outside.iou == pytest.approx(1.0)  # both clip to x in [0.9, 1.0]


def test_duplicate_waypoint_pathology_and_the_corrected_variant() -> None:
    duplicated = [PATH[0], PATH[1], PATH[1], PATH[2], PATH[3]]
    release = score(answer(duplicated), answer(PATH))
    assert release.task_score == 0.0 and release.score == pytest.approx(0.1)
    fixed = score(answer(duplicated), answer(PATH), RewardVariant.DEDUPLICATED)
    assert fixed.score == pytest.approx(1.0)
    # The variant changes nothing for trajectories without repeats.
    near = [[x + 0.01, y] for x, y in PATH]
    assert score(answer(near), answer(PATH), "dedup_waypoints").score == pytest.approx(
        score(answer(near), answer(PATH)).score
    )


def test_depth_triples_are_not_scored_as_2d_trajectories() -> None:
    triples = [[x, y, 0.5] for x, y in PATH]
    assert score(answer(triples), answer(PATH)).task == "none"


def _random_path(rng: random.Random, scale: float = 1.0) -> list[list[float]]:
    count = rng.randint(1, 12)
    points = [[rng.uniform(-0.1, 1.1) * scale, rng.uniform(-0.1, 1.1) * scale] for _ in range(count)]
    if count > 2 and rng.random() < 0.2:
        points.insert(1, list(points[1]))  # a repeated waypoint
    if count > 2 and rng.random() < 0.2:
        points[2] = [2 * points[1][0] - points[0][0], 2 * points[1][1] - points[0][1]]  # straight line
    if rng.random() < 0.1:
        points = [points[0][:] for _ in range(count)]  # all points identical
    return points


def test_parity_with_the_pure_python_oracle() -> None:
    rng = random.Random(7)
    preds, truths, oracle = [], [], []
    for _ in range(400):
        if rng.random() < 0.5:
            pred_path, truth_path = _random_path(rng), _random_path(rng)
            preds.append(answer(pred_path))
            truths.append(answer(truth_path))
            oracle.append(0.9 * trajectory_task_score(pred_path, truth_path) + 0.1)
        else:
            pred_box = {k: rng.uniform(-0.2, 1.2) for k in ("x", "y", "width", "height")}
            truth_box = {k: rng.uniform(0.0, 1.0) for k in ("x", "y", "width", "height")}
            if rng.random() < 0.1:
                truth_box = dict(pred_box)
            preds.append(answer(pred_box))
            truths.append(answer(truth_box))
            oracle.append(0.9 * box_task_score(pred_box, truth_box) + 0.1)
    got = [s.score for s in score_batch(preds, truths)]
    assert np.allclose(got, oracle, rtol=0.0, atol=1e-9)


def test_plain_frechet_matches_the_oracle() -> None:
    rng = random.Random(3)
    refs = [_random_path(rng, 1000.0) for _ in range(200)]
    cands = [_random_path(rng, 1000.0) for _ in range(200)]
    expected = [plain_frechet([tuple(p) for p in r], [tuple(q) for q in c]) for r, c in zip(refs, cands)]
    assert np.allclose(frechet_batch(refs, cands), expected, rtol=0.0, atol=1e-9)


def test_batch_and_single_agree() -> None:
    rng = random.Random(11)
    pairs = [(_random_path(rng), _random_path(rng)) for _ in range(30)]
    batched = oriented_frechet_batch([t for t, _ in pairs], [p for _, p in pairs])
    singles = [oriented_frechet_batch([t], [p])[0] for t, p in pairs]
    assert np.allclose(batched, singles, rtol=0.0, atol=1e-12)


def test_format_answer_round_trip_scores_one() -> None:
    truth = format_answer(Trajectory2D(((0.1, 0.2), (0.4, 0.5), (0.8, 0.9))))
    assert score(truth, truth).score == pytest.approx(1.0)
    box_truth = format_answer(Box2D(0.2, 0.3, 0.1, 0.1))
    assert score(box_truth, box_truth).score == pytest.approx(1.0)
