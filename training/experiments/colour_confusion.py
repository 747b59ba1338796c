"""Which colours a model tells apart: its accuracy for each pair of colours on two-object scenes.

Reads an evaluation's ``predictions.jsonl`` (``vla-r1-train eval``, ``cpu_tiny.py``), redraws the
same synthetic scenes from the config's held-out seed to learn each object's colour, and scores
every two-object scene: did the predicted box overlap the named object more than the other one?
The result, per unordered colour pair, separates "cannot see the difference" (accuracy near 0.5)
from "follows the colour word" (near 1), which the overall named-object rate mixes together::

    python training/experiments/colour_confusion.py training/results/cpu_tiny_eval/sft/predictions.jsonl \\
        --out training/results/colour_confusion_sft.json

The scenes must be the ones the predictions were made on: ``--config`` gives the generator's
settings (its ``data`` section) and the seed (``data.eval_seed`` unless ``--seed``); a prediction
whose instruction differs from the redrawn scene's stops the script.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def pair_accuracy(scenes: Sequence[Any], records: Sequence[Any]) -> dict[tuple[str, str], list[int]]:
    """``{(colour, colour): [right, n]}`` over the two-object scenes, colours sorted within a pair.

    ``scenes[i]`` is the :class:`~vla_r1_ros.datagen.topdown_scenes.SyntheticScene` that ``records[i]``
    (an :class:`~vla_r1_training.evaluate.EvalRecord`) answered; the target is the scene's first object.
    """
    from vla_r1_training.evaluate import picked_object

    from vla_r1_ros.core.protocol import parse_completion

    if len(scenes) != len(records):
        raise ValueError(f"{len(records)} predictions for {len(scenes)} scenes")
    counts: dict[tuple[str, str], list[int]] = {}
    for scene, record in zip(scenes, records):
        if record.ground_truth != scene.ground_truth or record.instruction not in ("", scene.instruction):
            raise ValueError(
                f"prediction {record.id} ({record.instruction!r}) is not about the redrawn scene "
                f"({scene.instruction!r}): wrong seed or generator settings"
            )
        if len(scene.objects) != 2:
            continue
        boxes = [obj.box.to_json() for obj in scene.objects]
        picked = picked_object(boxes, parse_completion(record.completion, record.task).box)
        pair = tuple(sorted(obj.colour for obj in scene.objects))
        right_and_n = counts.setdefault((pair[0], pair[1]), [0, 0])
        right_and_n[0] += picked == "target"
        right_and_n[1] += 1
    return counts


def summarise(
    counts: dict[tuple[str, str], list[int]], chance_band: float = 0.75, confusable: Sequence[str] | None = None
) -> dict[str, Any]:
    """Per-pair rows (accuracy, standard error) and the pairs the model cannot separate.

    A pair counts as "not told apart" when its accuracy is below ``chance_band`` (with 1/2 as
    chance), or, given ``confusable`` ("blue/red", ...), when it is one of those: to compare models
    on the same pairs.
    """
    rows = []
    for (first, second), (right, n) in sorted(counts.items()):
        accuracy = right / n
        rows.append(
            {
                "pair": f"{first}/{second}",
                "n": n,
                "accuracy": round(accuracy, 3),
                "se": round(math.sqrt(accuracy * (1 - accuracy) / n), 3),
            }
        )

    def is_confused(row: dict[str, Any]) -> bool:
        return row["pair"] in confusable if confusable is not None else row["accuracy"] < chance_band

    apart = [row for row in rows if not is_confused(row)]
    confused = [row for row in rows if is_confused(row)]

    def pooled(selected: list[dict[str, Any]]) -> float | None:
        n = sum(row["n"] for row in selected)
        return round(sum(row["accuracy"] * row["n"] for row in selected) / n, 3) if n else None

    return {
        "pairs": rows,
        "not_told_apart": [row["pair"] for row in confused],
        "accuracy_told_apart": pooled(apart),
        "accuracy_not_told_apart": pooled(confused),
        "n_two_object_scenes": sum(row["n"] for row in rows),
        "chance_band": chance_band,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "predictions",
        nargs="+",
        help="predictions.jsonl file(s) on the same scenes; the pairs the first one cannot tell apart "
        "are the ones reported as such for all",
    )
    parser.add_argument("--config", default=str(ROOT / "training/configs/cpu_tiny.yaml"))
    parser.add_argument("--seed", type=int, help="scene seed (default: the config's data.eval_seed)")
    parser.add_argument("--out", help="write the summaries here as JSON")
    args = parser.parse_args(argv)

    from vla_r1_training.common import synthetic_options
    from vla_r1_training.config import load_config
    from vla_r1_training.evaluate import read_predictions

    from vla_r1_ros.datagen.topdown_scenes import TabletopGenerator

    data = load_config(args.config).data
    generator = TabletopGenerator(seed=data.eval_seed if args.seed is None else args.seed, **synthetic_options(data))
    result: dict[str, Any] = {}
    confusable = None  # the first file's pairs: later files are compared on the same ones
    for path in args.predictions:
        records = read_predictions(path)
        scenes = [generator.scene(int(record.id)) for record in records]
        summary = summarise(pair_accuracy(scenes, records), confusable=confusable)
        confusable = summary["not_told_apart"] if confusable is None else confusable
        result[path] = summary
        print(f"{path}: {summary['n_two_object_scenes']} two-object scenes")
        for row in summary["pairs"]:
            print(f"  {row['pair']:>15}  n {row['n']:3d}  accuracy {row['accuracy']:.3f} +- {row['se']:.3f}")
        print(
            f"  told apart: {summary['accuracy_told_apart']}; not told apart "
            f"({', '.join(summary['not_told_apart']) or 'none'}): {summary['accuracy_not_told_apart']}"
        )
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
