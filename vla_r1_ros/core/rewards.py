"""VLA-R1's verifiable rewards, as the authors' release computes them, plus evaluation metrics.

One home for scoring: GRPO training calls :func:`score_batch` through thin TRL adapters, and
``vla-r1 score`` / evaluation call the same function. Both go through the protocol's parser.

The release's reward (``RewardVariant.RELEASE``, the default):

* format = 1 when the completion has a ``<think>...</think>`` block and an ``<output>`` block
  whose text decodes as JSON (any JSON; tag order and surrounding text are not checked);
* box task = (GIoU + 1) / 2 on corners clipped to [0, 1] (absolute width/height);
* trajectory task = 1 - min(1, D / (sqrt(2) + 0.25 pi + 0.1 ln 10)), D the orientation- and
  length-aware discrete Fréchet distance on points clipped to [0, 1];
* anything else (unparsable, a box for a trajectory question, numbers that are not finite,
  [x, y, depth] triples) scores task = 0;
* score = 0.9 task + 0.1 format.

Pathologies kept for parity: a repeated consecutive waypoint has length 0, so its length term
becomes |ln(1e-12 / l)| ~ 25 and zeroes the trajectory reward; a completion without ``<think>``
still earns 0.9 task. ``RewardVariant.DEDUPLICATED`` removes repeated consecutive waypoints from
both trajectories before scoring and is otherwise identical.

Deliberate differences from the release, each where the release fails rather than decides:
non-finite numbers (``NaN``, ``Infinity``, 1e999) score task 0 instead of propagating NaN;
trajectories are scored iteratively up to the parser's 2048-point cap (the release's recursive
program raises ``RecursionError`` beyond ~1000 points in total and scores 0; longer answers score
task 0 here too); numbers must be JSON numbers (the release's ``float("0.5")`` would accept a
string).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from .metrics import (
    EPS,
    PAPER_SCALE,
    FloatArray,
    box_iou_giou,
    oriented_frechet_batch,
    trajectory_metrics,
)
from .protocol import Box2D, ParsedOutput, ParseStatus, parse_completion

__all__ = [
    "FORMAT_WEIGHT",
    "TASK_WEIGHT",
    "LAMBDA_THETA",
    "LAMBDA_RATIO",
    "ORIENTED_FRECHET_NORMALISER",
    "RewardVariant",
    "ScoreBreakdown",
    "format_score",
    "score",
    "score_batch",
    "score_parsed_batch",
]

TASK_WEIGHT = 0.9
FORMAT_WEIGHT = 0.1
LAMBDA_THETA = 0.25
LAMBDA_RATIO = 0.10
#: Caps of the three cost terms: distance <= sqrt(2), angle <= pi, |ln ratio| counted up to ln 10.
ORIENTED_FRECHET_NORMALISER = math.sqrt(2.0) + LAMBDA_THETA * math.pi + LAMBDA_RATIO * math.log(10.0)


class RewardVariant(str, enum.Enum):
    """Which reward definition to use."""

    RELEASE = "release"
    DEDUPLICATED = "dedup_waypoints"


@dataclass(frozen=True)
class ScoreBreakdown:
    """Reward and diagnostics for one completion. NaN marks metrics that do not apply.

    ``task`` is "affordance", "trajectory" or "none" (nothing comparable: unparsable answer,
    wrong answer type, ...). Box metrics (``iou``, ``giou``) are on [0, 1] and [-1, 1];
    ``os_frechet`` is the reward's raw distance and ``os_frechet_norm`` its normalised value;
    ``dfd``, ``hd``, ``rmse`` and ``avg`` are the paper's metrics on the [0, 1000) scale.
    """

    score: float
    format_score: float
    task_score: float
    task: str
    parse_status: str
    parse_error: str
    iou: float = math.nan
    giou: float = math.nan
    os_frechet: float = math.nan
    os_frechet_norm: float = math.nan
    dfd: float = math.nan
    hd: float = math.nan
    rmse: float = math.nan
    avg: float = math.nan

    def to_json(self) -> dict[str, object]:
        """A JSON-ready dict; NaN metrics become ``None`` (strict JSON has no NaN)."""
        return {
            key: (None if isinstance(value, float) and math.isnan(value) else value)
            for key, value in asdict(self).items()
        }


def format_score(parsed: ParsedOutput) -> float:
    """1.0 when the completion has a think block and a JSON-decodable output block."""
    return 1.0 if parsed.has_think and _release_json(parsed) else 0.0


def _release_json(parsed: ParsedOutput) -> bool:
    # The release decodes the raw <output> text; a completion we could only read after a lenient
    # repair (a stripped code fence) was not JSON to it. NaN/Infinity are JSON to Python's json.
    return (parsed.json_decoded or parsed.status is ParseStatus.NON_FINITE) and not parsed.repairs


def _comparable_box(parsed: ParsedOutput) -> Box2D | None:
    if parsed.box is None or parsed.repairs:
        return None
    return parsed.box


def _comparable_points(parsed: ParsedOutput) -> FloatArray | None:
    trajectory = parsed.trajectory
    if trajectory is None or parsed.repairs or trajectory.depths is not None:
        return None
    return np.clip(np.asarray(trajectory.points, dtype=np.float64), 0.0, 1.0).astype(np.float64)


def _dedup_consecutive(points: FloatArray) -> FloatArray:
    if len(points) < 2:
        return points
    steps = np.hypot(*np.diff(points, axis=0).T)
    keep = np.concatenate([[True], steps >= EPS])
    return np.asarray(points[keep], dtype=np.float64)


def score_parsed_batch(
    completions: Sequence[ParsedOutput],
    ground_truths: Sequence[ParsedOutput],
    variant: RewardVariant = RewardVariant.RELEASE,
    with_metrics: bool = True,
) -> list[ScoreBreakdown]:
    """Score parsed completions against parsed ground truths; trajectories in one vector pass.

    ``with_metrics=False`` skips the paper's diagnostic metrics (DFD, HD, RMSE), which training
    does not need.
    """
    if len(completions) != len(ground_truths):
        raise ValueError(f"{len(completions)} completions but {len(ground_truths)} ground truths")
    variant = RewardVariant(variant)
    rows: list[dict[str, object]] = []
    box_pairs: list[tuple[int, Box2D, Box2D]] = []
    trajectory_pairs: list[tuple[int, FloatArray, FloatArray]] = []
    for index, (pred, truth) in enumerate(zip(completions, ground_truths)):
        rows.append(
            {
                "format_score": format_score(pred),
                "task_score": 0.0,
                "task": "none",
                "parse_status": pred.status.value,
                "parse_error": pred.error,
            }
        )
        pred_box, truth_box = _comparable_box(pred), _comparable_box(truth)
        if pred_box is not None and truth_box is not None:
            box_pairs.append((index, pred_box, truth_box))
            continue
        pred_points, truth_points = _comparable_points(pred), _comparable_points(truth)
        if pred_points is not None and truth_points is not None:
            if variant is RewardVariant.DEDUPLICATED:
                pred_points, truth_points = _dedup_consecutive(pred_points), _dedup_consecutive(truth_points)
            trajectory_pairs.append((index, pred_points, truth_points))

    if box_pairs:
        pred_corners = np.clip([p.corners() for _, p, _ in box_pairs], 0.0, 1.0)
        truth_corners = np.clip([t.corners() for _, _, t in box_pairs], 0.0, 1.0)
        ious, gious = box_iou_giou(pred_corners, truth_corners)
        for (index, _, _), iou, giou in zip(box_pairs, ious, gious):
            rows[index].update(
                task="affordance", task_score=(float(giou) + 1.0) / 2.0, iou=float(iou), giou=float(giou)
            )

    if trajectory_pairs:
        preds = [p for _, p, _ in trajectory_pairs]
        truths = [t for _, _, t in trajectory_pairs]
        distances = oriented_frechet_batch(truths, preds, LAMBDA_THETA, LAMBDA_RATIO)
        for (index, pred_points, truth_points), distance in zip(trajectory_pairs, distances):
            normalised = min(1.0, float(distance) / ORIENTED_FRECHET_NORMALISER)
            row = rows[index]
            row.update(
                task="trajectory", task_score=1.0 - normalised, os_frechet=float(distance), os_frechet_norm=normalised
            )
            if with_metrics:
                metrics = trajectory_metrics(pred_points, truth_points, PAPER_SCALE)
                row.update(dfd=metrics.dfd, hd=metrics.hd, rmse=metrics.rmse, avg=metrics.avg)

    results = []
    for row in rows:
        task_score = float(row["task_score"])  # type: ignore[arg-type]
        if not math.isfinite(task_score):
            task_score = 0.0
        row["task_score"] = task_score
        row["score"] = TASK_WEIGHT * task_score + FORMAT_WEIGHT * float(row["format_score"])  # type: ignore[arg-type]
        results.append(ScoreBreakdown(**row))  # type: ignore[arg-type]
    return results


def score_batch(
    completions: Iterable[str],
    ground_truths: Iterable[str],
    variant: RewardVariant = RewardVariant.RELEASE,
    with_metrics: bool = True,
) -> list[ScoreBreakdown]:
    """Score completion texts against ground-truth answer texts (both with ``<output>`` tags)."""
    parsed_completions = [parse_completion(text) for text in completions]
    parsed_truths = [parse_completion(text) for text in ground_truths]
    return score_parsed_batch(parsed_completions, parsed_truths, variant, with_metrics)


def score(completion: str, ground_truth: str, variant: RewardVariant = RewardVariant.RELEASE) -> ScoreBreakdown:
    """Score one completion; see the module docstring for the definition."""
    return score_batch([completion], [ground_truth], variant)[0]
