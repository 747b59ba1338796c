"""Evaluation with the paper's metrics: IoU for boxes; DFD, HD, RMSE and Avg for trajectories.

Every number comes from :mod:`vla_r1_ros.core.rewards` / :mod:`vla_r1_ros.core.metrics` (the same
scorer, ``score_parsed_batch``, that GRPO's rewards use; each completion is parsed once). Conventions:

* IoU is on corners clipped to [0, 1] (as the reward computes it); a completion with no usable
  box (unparsable, wrong answer type) counts IoU 0, so the mean is over every affordance question;
  success@0.5 is the share with IoU >= 0.5.
* DFD, HD, RMSE, Avg are on the [0, 1000) scale (RMSE after arc-length resampling to a common
  length, see :func:`vla_r1_ros.core.metrics.rmse_aligned`); they are averaged over the
  trajectory answers that parsed, and ``n_scored`` says how many that was.
* format rate: the release's format reward (a think block and a JSON output block);
  valid rate: the answer parses as the asked task's type with numbers in [0, 1].
* The "random object" baseline (synthetic scenes, which record every object's box): the expected
  IoU of a perfect detector that ignores the instruction and answers a uniformly random object
  of the scene; ``paired_delta`` compares two evaluations of the same questions, and
  ``compare_evaluations`` does so for two evaluation folders (``vla-r1-train compare``).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from vla_r1_ros.core.metrics import box_iou_giou
from vla_r1_ros.core.overlay import draw_prediction
from vla_r1_ros.core.protocol import Box2D, ParsedOutput, ParseStatus, Task, parse_completion
from vla_r1_ros.core.rewards import score_parsed_batch

from .config import DECODINGS

if TYPE_CHECKING:
    from vla_r1_ros.model.backends import GenerationSettings

__all__ = [
    "EvalRecord",
    "DECODINGS",
    "decoding_settings",
    "generate_predictions",
    "records_from_dataset",
    "read_predictions",
    "write_predictions",
    "score_records",
    "random_object_iou",
    "picked_object",
    "centre_correlation",
    "paired_delta",
    "compare_evaluations",
    "write_report",
    "evaluate_dataset",
]


@dataclass
class EvalRecord:
    """One question: its id, task, the model's completion, the ground truth and (synthetic) all object boxes."""

    id: str
    task: str
    completion: str
    ground_truth: str
    object_boxes: list[dict[str, float]] | None = None
    instruction: str = ""
    image: np.ndarray | None = None  # RGB, for overlays; not written to JSONL

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "task": self.task,
            "instruction": self.instruction,
            "completion": self.completion,
            "ground_truth": self.ground_truth,
            "object_boxes": self.object_boxes,
        }


def _row_id(row: dict[str, Any], index: int) -> str:
    return str(row.get("scene_id", index))


def _first_image(row: dict[str, Any]) -> Any:
    images = row.get("images") or [row.get("image")]
    return images[0]


def decoding_settings(decoding: str | GenerationSettings, max_new_tokens: int) -> GenerationSettings:
    """The :class:`GenerationSettings` of a named decoding (or given ones), capped at ``max_new_tokens``."""
    from vla_r1_ros.model.backends import GenerationSettings

    if isinstance(decoding, GenerationSettings):
        return decoding.with_(max_new_tokens=max_new_tokens)
    if decoding == "greedy":
        return GenerationSettings(max_new_tokens=max_new_tokens)
    if decoding == "release":
        return GenerationSettings.release(max_new_tokens=max_new_tokens)
    raise ValueError(f"unknown decoding {decoding!r}: expected one of {', '.join(DECODINGS)}")


def generate_predictions(
    model: str | Any,
    dataset: Any,
    batch_size: int = 32,
    max_new_tokens: int = 256,
    progress: bool = True,
    device: str = "auto",
    dtype: str = "auto",
    decoding: str | GenerationSettings = "greedy",
    seed: int = 0,
) -> list[EvalRecord]:
    """Answers of ``model`` (a checkpoint path or a VLAR1Engine) to every row of ``dataset``.

    The checkpoint loads through :class:`vla_r1_ros.model.engine.VLAR1Engine` (the path the node
    uses) on ``device`` in ``dtype`` (see the engine for "auto"); questions are batched across rows
    with left padding. ``decoding`` is one of :data:`DECODINGS` or a ``GenerationSettings``;
    sampled answers are reproducible for the same ``seed`` and ``batch_size``.
    """
    from vla_r1_ros.model.engine import VLAR1Engine

    settings = decoding_settings(decoding, max_new_tokens)
    engine = model if isinstance(model, VLAR1Engine) else VLAR1Engine(str(model), device=device, dtype=dtype)
    records: list[EvalRecord] = []
    rows = range(len(dataset))
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(dataset), desc="eval", unit="q")
    for start in range(0, len(dataset), batch_size):
        batch = [dataset[i] for i in rows[start : start + batch_size]]
        texts = [
            engine.processor.apply_chat_template(row["prompt"], add_generation_prompt=True, tokenize=False)
            for row in batch
        ]
        images = [img.convert("RGB") for row in batch for img in (row.get("images") or [row["image"]])]
        answers = engine.generate(engine.encode(texts, images), _batch_settings(settings, seed, start))
        records.extend(_record(row, start + offset, a.text) for offset, (row, a) in enumerate(zip(batch, answers)))
        if bar is not None:
            bar.update(len(batch))
    if bar is not None:
        bar.close()
    return records


def _batch_settings(settings: GenerationSettings, seed: int, start: int) -> GenerationSettings:
    """Sampling seeded per batch from (seed, first row): reproducible, and independent of what ran
    before (the engine samples in a forked random stream); hashing keeps different seeds apart."""
    if not settings.do_sample:
        return settings
    return settings.with_(seed=int(np.random.SeedSequence([seed, start]).generate_state(1)[0]))


def _record(row: dict[str, Any], index: int, completion: str) -> EvalRecord:
    """The record of dataset row ``row`` (number ``index``) answered with ``completion``."""
    boxes = json.loads(row["object_boxes"]) if row.get("object_boxes") else None
    return EvalRecord(
        _row_id(row, index),
        row["task"],
        completion,
        row["ground_truth"],
        boxes,
        row.get("instruction", ""),
        np.asarray(_first_image(row).convert("RGB")),
    )


def records_from_dataset(dataset: Any, completions: Sequence[str]) -> list[EvalRecord]:
    """Records pairing ``dataset`` rows with given completions (scripted models, tests)."""
    if len(completions) != len(dataset):
        raise ValueError(f"{len(completions)} completions for {len(dataset)} rows")
    return [_record(dataset[index], index, text) for index, text in enumerate(completions)]


def write_predictions(records: Iterable[EvalRecord], path: str | Path) -> None:
    with Path(path).open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record.to_json()) + "\n")


def read_predictions(path: str | Path) -> list[EvalRecord]:
    """Records from a predictions JSONL: one object per line with ``task``, ``completion``, ``ground_truth``
    (and optionally ``id``, ``object_boxes``, ``instruction``, ``image`` = an image file path for overlays)."""
    records = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            image = None
            if item.get("image"):
                bgr = cv2.imread(str(Path(path).parent / item["image"]))
                image = None if bgr is None else bgr[:, :, ::-1].copy()
            records.append(
                EvalRecord(
                    str(item.get("id", number)),
                    str(item["task"]),
                    str(item["completion"]),
                    str(item["ground_truth"]),
                    item.get("object_boxes"),
                    str(item.get("instruction", "")),
                    image,
                )
            )
        except (KeyError, TypeError, json.JSONDecodeError) as err:
            raise ValueError(f"{path}:{number}: not a prediction record ({err})") from None
    return records


def random_object_iou(object_boxes: Sequence[dict[str, float]], truth: Box2D) -> float:
    """Expected IoU with ``truth`` of a uniformly random object's box (the colour-blind detector)."""
    corners = np.clip([Box2D(**b).corners() for b in object_boxes], 0.0, 1.0)
    truth_corners = np.clip(np.asarray(truth.corners()), 0.0, 1.0)
    ious, _ = box_iou_giou(corners, truth_corners[None, :])
    return float(np.mean(ious))


def picked_object(object_boxes: Sequence[dict[str, float]], prediction: Box2D | None) -> str:
    """Which object a predicted box overlaps most: "target" (the first box), "other", or "none".

    Separates the two ways a box answer fails on multi-object scenes: localising the wrong object
    (not following the instruction) or localising badly.
    """
    if prediction is None:
        return "none"
    corners = np.clip([Box2D(**b).corners() for b in object_boxes], 0.0, 1.0)
    ious, _ = box_iou_giou(corners, np.clip(np.asarray(prediction.corners()), 0.0, 1.0)[None, :])
    if float(ious.max()) <= 0.0:
        return "none"
    return "target" if int(np.argmax(ious)) == 0 else "other"


def _mean(values: Sequence[float]) -> float | None:
    return float(np.mean(values)) if len(values) else None


def centre_correlation(centres: Sequence[tuple[float, float, float, float]]) -> dict[str, float | None]:
    """Pearson correlation of predicted and true box centres along x and along y.

    Tells whether answers follow the image on each axis: a model that answers one fixed box, or
    has learned only one coordinate, shows 0 (None when undefined: under 3 answers or no spread).
    """
    values = np.asarray(centres, dtype=np.float64).reshape(-1, 4)
    result: dict[str, float | None] = {}
    for axis, (pred, true) in (("x", (0, 2)), ("y", (1, 3))):
        a, b = values[:, pred], values[:, true]
        ok = len(values) >= 3 and a.std() > 1e-12 and b.std() > 1e-12
        result[axis] = float(np.corrcoef(a, b)[0, 1]) if ok else None
    return result


def score_records(records: Sequence[EvalRecord]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Per-question rows and the summary (see the module docstring for the conventions)."""
    # One parse per text: the reward scores the answer as given; validity judges it against the
    # question's task (ParsedOutput.for_task).
    answers = [parse_completion(r.completion) for r in records]
    truths = [parse_completion(r.ground_truth) for r in records]
    breakdowns = score_parsed_batch(answers, truths, with_metrics=True)
    rows: list[dict[str, Any]] = []
    for record, answer, truth_parse, b in zip(records, answers, truths, breakdowns):
        try:
            parsed = answer.for_task(Task.from_name(record.task))
        except ValueError as err:  # a predictions file's unknown task: the answer cannot be valid
            parsed = ParsedOutput(ParseStatus.TASK_MISMATCH, str(err))
        row: dict[str, Any] = {
            "id": record.id,
            "task": record.task,
            "reward": b.score,
            "format": b.format_score,
            "valid": parsed.ok,
            "parse_status": parsed.status.value,
        }
        if record.task == "affordance":
            row["iou"] = 0.0 if math.isnan(b.iou) else b.iou
            truth = truth_parse.box
            if parsed.box is not None and truth is not None:
                row["centres"] = (parsed.box.x, parsed.box.y, truth.x, truth.y)
            if record.object_boxes and truth is not None:
                row["random_object_iou"] = random_object_iou(record.object_boxes, truth)
                row["n_objects"] = len(record.object_boxes)
                row["picked"] = picked_object(record.object_boxes, parsed.box)
        else:
            for key in ("dfd", "hd", "rmse", "avg"):
                value = getattr(b, key)
                row[key] = None if math.isnan(value) else value
        rows.append(row)

    tasks: dict[str, int] = {}
    for row in rows:
        tasks[row["task"]] = tasks.get(row["task"], 0) + 1
    summary: dict[str, Any] = {
        "n": len(rows),
        "per_task": tasks,
        "format_rate": _mean([r["format"] for r in rows]),
        "valid_rate": _mean([float(r["valid"]) for r in rows]),
        "mean_reward": _mean([r["reward"] for r in rows]),
    }
    box_rows = [r for r in rows if r["task"] == "affordance"]
    if box_rows:
        ious = [r["iou"] for r in box_rows]
        summary["affordance"] = {
            "n": len(box_rows),
            "iou_mean": _mean(ious),
            "success_at_0_5": _mean([float(v >= 0.5) for v in ious]),
            "valid_rate": _mean([float(r["valid"]) for r in box_rows]),
            "centre_correlation": centre_correlation([r["centres"] for r in box_rows if "centres" in r]),
        }
        baseline = [r["random_object_iou"] for r in box_rows if "random_object_iou" in r]
        if baseline:
            summary["affordance"]["random_object_baseline_miou"] = _mean(baseline)
            multi = [r for r in box_rows if r.get("n_objects", 0) > 1]
            summary["affordance"]["multi_object"] = {
                "n": len(multi),
                "iou_mean": _mean([r["iou"] for r in multi]),
                "picked_target": _mean([float(r["picked"] == "target") for r in multi]),
                "picked_other": _mean([float(r["picked"] == "other") for r in multi]),
            }
            by_count: dict[str, list[float]] = {}
            for r in box_rows:
                by_count.setdefault(str(r["n_objects"]), []).append(r["iou"])
            summary["affordance"]["iou_by_object_count"] = {k: _mean(v) for k, v in sorted(by_count.items())}
    path_rows = [r for r in rows if r["task"] == "trajectory"]
    if path_rows:
        scored = [r for r in path_rows if r["dfd"] is not None]
        summary["trajectory"] = {
            "n": len(path_rows),
            "n_scored": len(scored),
            "valid_rate": _mean([float(r["valid"]) for r in path_rows]),
            **{key: _mean([r[key] for r in scored]) for key in ("dfd", "hd", "rmse", "avg")},
        }
    return rows, summary


def _paired_values(
    before: Sequence[dict[str, Any]], after: Sequence[dict[str, Any]], key: str
) -> list[tuple[float, float]]:
    """``(before, after)`` values of ``key`` for the questions (matched by id) that have it in both."""
    first = {r["id"]: r[key] for r in before if r.get(key) is not None}
    return [(first[r["id"]], r[key]) for r in after if r.get(key) is not None and r["id"] in first]


def delta_statistics(pairs: Sequence[tuple[float, float]], key: str) -> dict[str, Any]:
    """Mean, standard error, z and n of ``after - before`` over ``(before, after)`` pairs of ``key``."""
    if len(pairs) < 2:
        raise ValueError(f"need at least two paired questions with {key!r}, got {len(pairs)}")
    deltas = np.array([b - a for a, b in pairs], dtype=np.float64)
    se = float(deltas.std(ddof=1) / math.sqrt(len(deltas)))
    mean = float(deltas.mean())
    # no spread (up to rounding): z is undefined, and None keeps the result valid JSON
    spread = se > 1e-12 * max(1.0, abs(mean))
    return {"n": len(deltas), "mean": mean, "se": se, "z": mean / se if spread else None}


def paired_delta(before: Sequence[dict[str, Any]], after: Sequence[dict[str, Any]], key: str = "iou") -> dict[str, Any]:
    """Mean and standard error of the per-question difference ``after - before`` in ``key``, matched by id."""
    return delta_statistics(_paired_values(before, after, key), key)


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise ValueError(f"{path} not found: compare needs evaluation folders written by vla-r1-train eval")
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise ValueError(f"{path}:{number}: not JSON ({err})") from None
    return rows


def _questions_by_id(folder: Path) -> dict[str, tuple[Any, Any]]:
    """``id -> (instruction, ground truth)`` of an evaluation's predictions; refuses missing or repeated ids."""
    path = folder / "predictions.jsonl"
    questions: dict[str, tuple[Any, Any]] = {}
    for number, row in enumerate(_read_jsonl(path), 1):
        if "id" not in row or "ground_truth" not in row:
            raise ValueError(f"{path}:{number}: a prediction needs an id and a ground_truth to be compared")
        qid = str(row["id"])
        if qid in questions:
            raise ValueError(f"{path}:{number}: id {qid} appears twice")
        questions[qid] = (row.get("instruction"), row["ground_truth"])
    return questions


def compare_evaluations(before: str | Path, after: str | Path) -> dict[str, Any]:
    """Paired per-question differences ``after - before`` between two evaluations of the same questions.

    ``before`` and ``after`` are evaluation folders (``per_question.jsonl`` and ``predictions.jsonl``,
    as :func:`write_report` writes them). Each question is matched by id, and both must have asked the
    same instruction with the same ground truth: comparing different scenes would give a standard
    error that means nothing, so that is refused. Returns, for each measure the evaluations have,
    ``paired_delta``'s mean, standard error, z and n: ``reward`` (every question), ``iou``
    (affordance), ``named_object`` (1 when the box is on the named object, multi-object scenes
    only), and ``dfd`` (trajectories that parsed in both; lower is better). A measure with fewer
    than two paired questions (say, no trajectory parsed after) has ``n`` and ``None`` for the rest.
    """
    folders = Path(before), Path(after)
    questions = [_questions_by_id(folder) for folder in folders]
    if questions[0].keys() != questions[1].keys():
        only = len(questions[0].keys() ^ questions[1].keys())
        raise ValueError(f"the two evaluations have different question ids ({only} not in both)")
    differing = [qid for qid, question in questions[0].items() if questions[1][qid] != question]
    if differing:
        raise ValueError(
            f"{len(differing)} of {len(questions[0])} questions differ between the evaluations (first: id "
            f"{differing[0]}); compare evaluations of the same split"
        )
    rows = [_read_jsonl(folder / "per_question.jsonl") for folder in folders]
    for folder, side in zip(folders, rows):
        if {str(row.get("id")) for row in side} != questions[0].keys() or len(side) != len(questions[0]):
            raise ValueError(
                f"{folder}: per_question.jsonl and predictions.jsonl list different questions (a stale file?)"
            )
        for row in side:
            if row.get("n_objects", 0) > 1:
                row["named_object"] = float(row.get("picked") == "target")
    result: dict[str, Any] = {"before": str(folders[0]), "after": str(folders[1]), "n_questions": len(questions[0])}
    for key in ("reward", "iou", "named_object", "dfd"):
        if not any(row.get(key) is not None for side in rows for row in side):
            continue
        pairs = _paired_values(rows[0], rows[1], key)
        if len(pairs) >= 2:
            result[key] = delta_statistics(pairs, key)
        else:
            result[key] = {"n": len(pairs), "mean": None, "se": None, "z": None}
    return result


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def iou_histogram(ious: Sequence[float], bins: int = 10, size: tuple[int, int] = (480, 320)) -> np.ndarray:
    """An RGB bar chart of IoU values in ``bins`` equal bins over [0, 1] (drawn with cv2)."""
    width, height = size
    counts, _ = np.histogram(np.clip(ious, 0.0, 1.0), bins=bins, range=(0.0, 1.0))
    canvas = np.full((height, width, 3), 255, np.uint8)
    left, right, top, bottom = 50, 15, 30, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max(1, int(counts.max()))
    for i, count in enumerate(counts):
        x0 = left + int(i * plot_w / bins) + 2
        x1 = left + int((i + 1) * plot_w / bins) - 2
        y0 = top + plot_h - int(count / peak * plot_h)
        cv2.rectangle(canvas, (x0, y0), (x1, top + plot_h), (60, 120, 200), -1)
        cv2.putText(
            canvas, str(int(count)), (x0, max(12, y0 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (0, 0, 0), 1, cv2.LINE_AA
        )
    cv2.line(canvas, (left, top + plot_h), (left + plot_w, top + plot_h), (0, 0, 0), 1)
    cv2.line(canvas, (left, top), (left, top + plot_h), (0, 0, 0), 1)
    for i in range(0, bins + 1, 2):
        x = left + int(i * plot_w / bins)
        cv2.putText(
            canvas,
            f"{i / bins:.1f}",
            (x - 10, top + plot_h + 15),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.4,
            (0, 0, 0),
            1,
            cv2.LINE_AA,
        )
    cv2.putText(
        canvas, "IoU", (left + plot_w // 2 - 10, height - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA
    )
    cv2.putText(
        canvas, f"IoU histogram (n={len(ious)})", (left, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA
    )
    return canvas


def overlay(record: EvalRecord, side: int = 336) -> np.ndarray | None:
    """The record's image, enlarged, with the ground truth in white and the prediction drawn by the core."""
    if record.image is None:
        return None
    image = record.image
    scale = side / max(image.shape[:2])
    canvas = cv2.resize(
        image, (round(image.shape[1] * scale), round(image.shape[0] * scale)), interpolation=cv2.INTER_NEAREST
    )
    truth = parse_completion(record.ground_truth)
    h, w = canvas.shape[:2]
    if truth.box is not None:
        box = truth.box.to_pixels(w, h)
        cv2.rectangle(
            canvas,
            (round(box.x_min), round(box.y_min)),
            (round(box.x_max) - 1, round(box.y_max) - 1),
            (255, 255, 255),
            1,
        )
    if truth.trajectory is not None:
        points = np.array([[round(x * w), round(y * h)] for x, y in truth.trajectory.points], np.int32)
        cv2.polylines(canvas, [points], False, (255, 255, 255), 1)
    return draw_prediction(
        np.asarray(canvas, dtype=np.uint8), [(record.task, parse_completion(record.completion, record.task))]
    )


def write_report(
    records: Sequence[EvalRecord],
    output_dir: str | Path,
    title: str = "VLA-R1 evaluation",
    num_overlays: int = 8,
    extra: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Score ``records`` and write metrics.json, predictions.jsonl, per_question.jsonl, report.md and plots.

    Returns (summary, per-question rows), as :func:`score_records` (which it calls once).
    """
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows, summary = score_records(records)
    if extra:
        summary.update(extra)
    (out / "metrics.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    write_predictions(records, out / "predictions.jsonl")
    with (out / "per_question.jsonl").open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")

    lines = [f"# {title}", "", f"{summary['n']} questions: {summary['per_task']}.", ""]
    if summary.get("decoding") == "greedy":
        lines += ["Greedy decoding.", ""]
    elif summary.get("decoding") == "release":
        lines += [
            f"Sampled like the authors' server (T 0.7, top-p 0.9, repetition penalty 1.1), seed {summary.get('seed')}.",
            "",
        ]
    lines += ["| metric | value |", "|---|---|"]
    lines.append(f"| format rate (release format reward) | {summary['format_rate']:.3f} |")
    lines.append(f"| valid answer rate | {summary['valid_rate']:.3f} |")
    lines.append(f"| mean reward (0.9 task + 0.1 format) | {summary['mean_reward']:.3f} |")
    if "affordance" in summary:
        a = summary["affordance"]
        lines.append(f"| IoU mean (affordance, n={a['n']}) | {a['iou_mean']:.4f} |")
        lines.append(f"| success@0.5 | {a['success_at_0_5']:.3f} |")
        for axis, value in a["centre_correlation"].items():
            shown = "-" if value is None else f"{value:.3f}"
            lines.append(f"| correlation of predicted and true box centre, {axis} | {shown} |")
        if "random_object_baseline_miou" in a:
            lines.append(f"| random-object baseline mIoU | {a['random_object_baseline_miou']:.4f} |")
            multi = a["multi_object"]
            if multi["n"]:
                lines.append(f"| scenes with 2-3 objects: box on the named object | {multi['picked_target']:.3f} |")
                lines.append(f"| scenes with 2-3 objects: box on another object | {multi['picked_other']:.3f} |")
            for count, value in a["iou_by_object_count"].items():
                lines.append(f"| IoU mean, {count}-object scenes | {value:.4f} |")
    if "trajectory" in summary:
        t = summary["trajectory"]
        for key in ("dfd", "hd", "rmse", "avg"):
            shown = "-" if t[key] is None else f"{t[key]:.2f}"
            lines.append(f"| {key.upper()} [0,1000) (n_scored={t['n_scored']}/{t['n']}) | {shown} |")
    lines.append("")
    ious = [r["iou"] for r in rows if "iou" in r]
    if ious:
        cv2.imwrite(str(out / "iou_hist.png"), iou_histogram(ious)[:, :, ::-1])
        lines += ["![IoU histogram](iou_hist.png)", ""]
    drawn = 0
    overlay_dir = out / "overlays"
    for record, row in zip(records, rows):
        if drawn >= num_overlays:
            break
        picture = overlay(record)
        if picture is None:
            continue
        overlay_dir.mkdir(exist_ok=True)
        name = f"overlays/{record.id}.png"
        cv2.imwrite(str(out / name), picture[:, :, ::-1])
        detail = f"IoU {row['iou']:.2f}" if "iou" in row else f"DFD {row.get('dfd')}"
        lines.append(f"![{record.id}]({name}) `{record.instruction}` — {detail}, {row['parse_status']}  ")
        drawn += 1
    lines += ["", "White: ground truth; green/blue: prediction; orange: a prediction that failed a check."]
    (out / "report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return summary, rows


def evaluate_dataset(
    model: str | Any,
    dataset: Any,
    output_dir: str | Path,
    batch_size: int = 32,
    max_new_tokens: int = 256,
    num_overlays: int = 8,
    title: str | None = None,
    device: str = "auto",
    dtype: str = "auto",
    decoding: str = "greedy",
    seed: int = 0,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Generate on ``dataset``, write the report, return (summary, per-question rows)."""
    start = time.perf_counter()
    records = generate_predictions(
        model, dataset, batch_size, max_new_tokens, device=device, dtype=dtype, decoding=decoding, seed=seed
    )
    meta: dict[str, Any] = {"model": str(model), "decoding": decoding}
    if decoding != "greedy":
        meta["seed"] = seed
    meta["generate_seconds"] = time.perf_counter() - start
    return write_report(records, output_dir, title or f"Evaluation of {model}", num_overlays, meta)
