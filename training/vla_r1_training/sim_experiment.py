"""The steps of the simulator experiment (``sim_tiny``) that ``vla-r1-train`` does not do.

::

    python -m vla_r1_training.sim_experiment init --out training/runs/sim_tiny/init
    python -m vla_r1_training.sim_experiment report --config training/configs/sim_tiny.yaml \\
        --model training/runs/sim_tiny/sft --out training/runs/sim_tiny/report_sft
    python -m vla_r1_training.sim_experiment compare training/runs/sim_tiny/report_sft \\
        training/runs/sim_tiny/report_grpo --out training/runs/sim_tiny/grpo_vs_sft.json

``init`` copies a model folder (default: the shipped embedded model) and sets its processor's
image size (min = max pixels; 37 632 = 224 x 168, what a 640 x 480 frame becomes).

``report`` evaluates a model on the held-out sim splits (``data.eval_seed``: the standard scenes;
``data.eval_seed + 1``: the shifted variant), one affordance and one carry question per frame,
with :func:`vla_r1_training.evaluate.write_report` (one folder per variant), and adds what the
targets need: affordance mIoU and the named-object rate on 2-3-object scenes, and two straight-line
baselines for every carry question, scored with the same metrics (``score_records``):

* ``line_from_detections``: the same model is asked for the box of the moved object and of the
  reference on the same frame; the line runs from the moved object's box centre to the reference's
  box centre moved by the true offset from the reference to its place (so its ends are where the
  model's own detections put them) with as many evenly spaced points as the truth;
* ``line_between_true_ends``: the line from the true path's first point to its last (only the
  shape is missing).

For each, the paired difference model - baseline (question by question, where both parsed) of
Avg, DFD, HD, RMSE and the trajectory reward, with its standard error, and the relative change
of the mean Avg. ``compare`` gives the paired differences (after - before) between two reports
of the same questions, per task: the reward, IoU and named object (affordance), the reward and
DFD, HD, RMSE, Avg (trajectory).
"""

from __future__ import annotations

import argparse
import copy
import json
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vla_r1_ros.core.protocol import Box2D, Task, Trajectory2D, build_messages, format_answer, parse_completion

from .config import DataArguments, load_config
from .evaluate import EvalRecord, delta_statistics, generate_predictions, score_records, write_report
from .sim_data import sim_dataset

__all__ = ["init_model", "straight_line", "report", "compare_reports", "main"]

TRAJECTORY_KEYS = ("avg", "dfd", "hd", "rmse")


def init_model(out: str | Path, model: str = "embedded", pixels: int = 37632) -> Path:
    """Copy ``model``'s folder to ``out`` with the processor's image size set to ``pixels`` (min = max)."""
    from vla_r1_ros.model import resolve_model

    source, target = Path(resolve_model(model)), Path(out)
    if pixels % (28 * 28):
        raise ValueError(f"pixels must be a multiple of 28 x 28 = 784 (whole merged patches), got {pixels}")
    if target.exists():
        raise FileExistsError(f"{target} exists; remove it or choose another folder")
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("README.md"))
    config_path = target / "processor_config.json"
    processor = json.loads(config_path.read_text(encoding="utf-8"))
    for key in ("image_processor", "video_processor"):
        processor[key]["size"] = {"longest_edge": pixels, "shortest_edge": pixels}
    config_path.write_text(json.dumps(processor, indent=2) + "\n", encoding="utf-8")
    return target


def straight_line(start: Sequence[float], end: Sequence[float], count: int) -> Trajectory2D:
    """``count`` evenly spaced points from ``start`` to ``end`` (normalised, clipped, two decimals)."""
    line = np.linspace(np.asarray(start, dtype=float), np.asarray(end, dtype=float), count)
    return Trajectory2D(tuple((round(float(np.clip(x, 0, 1)), 2), round(float(np.clip(y, 0, 1)), 2)) for x, y in line))


def _detection_rows(dataset: Any) -> list[dict[str, Any]]:
    """For each carry question: "pick up the X" and "pick up the Y" on its frame, answered by X's and Y's true boxes."""
    rows = []
    for row in dataset:
        if row["task"] != Task.TRAJECTORY.value:
            continue
        names = json.loads(row["meta"])["names"]
        boxes = json.loads(row["object_boxes"])
        for role, (name, box) in enumerate(zip(names[:2], boxes[:2])):
            truth = format_answer(Box2D(**box))
            rows.append({
                "images": row["images"], "prompt": build_messages(f"pick up the {name}", Task.AFFORDANCE),
                "task": Task.AFFORDANCE.value, "ground_truth": truth, "scene_id": f"{row['scene_id']}:{role}",
                "instruction": f"pick up the {name}", "object_boxes": json.dumps([box]),
            })
    return rows


def _baselines(dataset: Any, detections: list[EvalRecord]) -> dict[str, list[EvalRecord]]:
    """The two straight-line baselines of every carry question, as records (``None`` answers when undetected)."""
    found = {record.id: parse_completion(record.completion, Task.AFFORDANCE).box for record in detections}
    from_detections, between_ends = [], []
    for row in dataset:
        if row["task"] != Task.TRAJECTORY.value:
            continue
        truth = parse_completion(row["ground_truth"], Task.TRAJECTORY).trajectory
        assert truth is not None
        points = np.asarray(truth.points)
        reference = Box2D(**json.loads(row["object_boxes"])[1])
        offset = points[-1] - (reference.x, reference.y)  # the true reference centre to its place
        mover, seen = found.get(f"{row['scene_id']}:0"), found.get(f"{row['scene_id']}:1")
        line = "" if mover is None or seen is None else format_answer(
            straight_line((mover.x, mover.y), np.array((seen.x, seen.y)) + offset, len(points))
        )
        qid = str(row["scene_id"])
        from_detections.append(EvalRecord(qid, row["task"], line, row["ground_truth"]))
        between = format_answer(straight_line(points[0], points[-1], len(points)))
        between_ends.append(EvalRecord(qid, row["task"], between, row["ground_truth"]))
    return {"line_from_detections": from_detections, "line_between_true_ends": between_ends}


def _paired(model_rows: list[dict[str, Any]], other_rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Paired model - other over the carry questions both answered with a path, per metric and the reward."""
    other = {row["id"]: row for row in other_rows}
    both = [(other[row["id"]], row) for row in model_rows
            if row["task"] == "trajectory" and row.get("avg") is not None and other.get(row["id"], {}).get("avg")
            is not None]
    result: dict[str, Any] = {"n": len(both)}
    if len(both) < 2:
        return result
    for key in (*TRAJECTORY_KEYS, "reward"):
        result[key] = delta_statistics([(a[key], b[key]) for a, b in both], key)
    model_avg = float(np.mean([b["avg"] for _, b in both]))
    other_avg = float(np.mean([a["avg"] for a, _ in both]))
    result["mean_avg"] = {"model": model_avg, "baseline": other_avg, "relative_change": model_avg / other_avg - 1.0}
    return result


def _trajectory_means(rows: list[dict[str, Any]]) -> dict[str, Any]:
    paths = [row for row in rows if row["task"] == "trajectory"]
    scored = [row for row in paths if row.get("avg") is not None]
    out: dict[str, Any] = {"n": len(paths), "n_scored": len(scored)}
    for key in (*TRAJECTORY_KEYS, "reward"):
        out[key] = float(np.mean([row[key] for row in scored])) if scored else None
    return out


def report(config_path: str | None, model: str, out: str | Path, num_eval: int | None = None,
           overrides: Sequence[str] = (), batch_size: int = 50, max_new_tokens: int = 200) -> dict[str, Any]:
    """Evaluate ``model`` on the standard and shifted held-out splits; write ``out/summary.json`` and reports."""
    config = load_config(config_path, overrides)
    folder = Path(out)
    summary: dict[str, Any] = {"model": model, "config": config_path, "overrides": list(overrides)}
    for variant, split in (("standard", config.data.eval_seed), ("shifted", config.data.eval_seed + 1)):
        data: DataArguments = copy.deepcopy(config.data)
        data.sim_variant, data.sim_affordance_per_scene, data.sim_trajectory_per_scene = variant, 1, 1
        count = num_eval or data.num_eval
        dataset = sim_dataset(data, count, split)
        records = generate_predictions(model, dataset, batch_size, max_new_tokens, progress=False)
        metrics, rows = write_report(records, folder / variant,
                                     f"{model} on held-out sim scenes ({variant}, split {split})",
                                     extra={"model": model, "split": split, "variant": variant})
        detections = generate_predictions(model, _detection_rows(dataset), batch_size, max_new_tokens, progress=False)
        _, detection_summary = score_records(detections)
        part: dict[str, Any] = {
            "split": split,
            "questions": metrics["per_task"],
            "format_rate": metrics["format_rate"],
            "valid_rate": metrics["valid_rate"],
            "affordance": metrics.get("affordance"),
            "trajectory": _trajectory_means(rows),
            "detections_for_the_baseline": {"n": detection_summary["n"],
                                            "iou_mean": detection_summary["affordance"]["iou_mean"]},
            "baselines": {},
        }
        for name, baseline in _baselines(dataset, detections).items():
            baseline_rows, _ = score_records(baseline)
            part["baselines"][name] = {"means": _trajectory_means(baseline_rows), "model_minus_baseline":
                                       _paired(rows, baseline_rows)}
        summary[variant] = part
        (folder / variant / "summary.json").write_text(json.dumps(part, indent=2) + "\n", encoding="utf-8")
    (folder / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary


def _rows(folder: Path) -> list[dict[str, Any]]:
    path = folder / "per_question.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def compare_reports(before: str | Path, after: str | Path) -> dict[str, Any]:
    """Paired differences after - before between two reports of the same questions, per variant and task."""
    from .evaluate import compare_evaluations

    result: dict[str, Any] = {"before": str(before), "after": str(after)}
    for variant in ("standard", "shifted"):
        b_folder, a_folder = Path(before) / variant, Path(after) / variant
        if not (b_folder / "per_question.jsonl").is_file():
            continue
        compare_evaluations(b_folder, a_folder)  # refuses reports of different questions
        b_rows, a_rows = _rows(b_folder), _rows(a_folder)
        part: dict[str, Any] = {}
        for task, keys in (("affordance", ("reward", "iou")), ("trajectory", ("reward", *TRAJECTORY_KEYS))):
            first = {row["id"]: row for row in b_rows if row["task"] == task}
            part[task] = {}
            for key in keys:
                pairs = [(first[row["id"]][key], row[key]) for row in a_rows
                         if row["task"] == task and row.get(key) is not None and first.get(row["id"], {}).get(key)
                         is not None]
                part[task][key] = delta_statistics(pairs, key) if len(pairs) >= 2 else {"n": len(pairs)}
            if task == "affordance":
                pairs = [(float(first[row["id"]]["picked"] == "target"), float(row["picked"] == "target"))
                         for row in a_rows if row["task"] == task and row.get("n_objects", 0) > 1]
                part[task]["named_object"] = delta_statistics(pairs, "named_object") if len(pairs) >= 2 else {}
        result[variant] = part
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vla_r1_training.sim_experiment", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    init = sub.add_parser("init", help="the starting model folder (a copy with the processor's image size set)")
    init.add_argument("--out", required=True)
    init.add_argument("--model", default="embedded")
    init.add_argument("--pixels", type=int, default=37632, help="min = max pixels of the processor (224 x 168)")
    rep = sub.add_parser("report", help="held-out sim evaluation with the straight-line baselines")
    rep.add_argument("--config", required=True)
    rep.add_argument("--model", required=True)
    rep.add_argument("--out", required=True)
    rep.add_argument("--num-eval", type=int, default=None, help="questions per variant (default data.num_eval)")
    rep.add_argument("overrides", nargs="*", help="section.key=value overrides of the config")
    cmp = sub.add_parser("compare", help="paired differences between two reports of the same questions")
    cmp.add_argument("before")
    cmp.add_argument("after")
    cmp.add_argument("--out")
    args = parser.parse_args(argv)
    if args.command == "init":
        print(init_model(args.out, args.model, args.pixels))
        return 0
    if args.command == "report":
        result = report(args.config, args.model, args.out, args.num_eval, args.overrides)
    else:
        result = compare_reports(args.before, args.after)
        if args.out:
            Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
