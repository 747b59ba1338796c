"""The colour-pair diagnostic of the CPU experiment (training/experiments/colour_confusion.py)."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import pytest
from experiment_support import load_experiment

from vla_r1_ros.core.protocol import format_answer
from vla_r1_ros.datagen.topdown_scenes import TabletopGenerator

pytest.importorskip("vla_r1_training")
from vla_r1_training.evaluate import EvalRecord


def _script() -> ModuleType:
    return load_experiment("colour_confusion")


def _record(scene: object, box_of: int) -> EvalRecord:
    """A prediction on ``scene`` that boxes its object number ``box_of`` (0 is the named one)."""
    return EvalRecord(
        str(scene.scene_id),  # type: ignore[attr-defined]
        "affordance",
        format_answer(scene.objects[box_of].box),  # type: ignore[attr-defined]
        scene.ground_truth,  # type: ignore[attr-defined]
        instruction=scene.instruction,  # type: ignore[attr-defined]
    )


def test_pairs_count_right_and_wrong_picks_and_skip_other_scene_sizes() -> None:
    script = _script()
    generator = TabletopGenerator(seed=5, min_objects=1, max_objects=3, tasks=("affordance",), cot="short")
    scenes = [generator.scene(i) for i in range(40)]
    # right on even scenes, the other object on odd ones (where there is one)
    records = [_record(s, 0 if i % 2 == 0 or len(s.objects) == 1 else 1) for i, s in enumerate(scenes)]
    counts = script.pair_accuracy(scenes, records)
    two = [(i, s) for i, s in enumerate(scenes) if len(s.objects) == 2]
    assert 0 < len(two) < len(scenes)  # one- and three-object scenes are left out
    assert sum(n for _, n in counts.values()) == len(two)
    assert sum(right for right, _ in counts.values()) == sum(1 for i, _ in two if i % 2 == 0)
    _, scene = two[0]
    assert tuple(sorted(o.colour for o in scene.objects)) in counts

    summary = script.summarise({("blue", "red"): [5, 10], ("red", "yellow"): [19, 20]})
    assert summary["not_told_apart"] == ["blue/red"]
    assert summary["accuracy_told_apart"] == 0.95 and summary["accuracy_not_told_apart"] == 0.5
    assert summary["n_two_object_scenes"] == 30
    assert summary["pairs"][0] == {"pair": "blue/red", "n": 10, "accuracy": 0.5, "se": 0.158}
    # compared on given pairs: a model that learned blue/red is scored on it all the same
    fixed = script.summarise({("blue", "red"): [9, 10], ("red", "yellow"): [19, 20]}, confusable=["blue/red"])
    assert fixed["not_told_apart"] == ["blue/red"] and fixed["accuracy_not_told_apart"] == 0.9


def test_predictions_from_other_scenes_are_refused(tmp_path: Path) -> None:
    script = _script()
    scenes = [TabletopGenerator(seed=5, min_objects=2, max_objects=2).scene(i) for i in range(3)]
    others = [TabletopGenerator(seed=6, min_objects=2, max_objects=2).scene(i) for i in range(3)]
    with pytest.raises(ValueError, match="wrong seed"):
        script.pair_accuracy(scenes, [_record(s, 0) for s in others])
    with pytest.raises(ValueError, match="2 predictions for 3 scenes"):
        script.pair_accuracy(scenes, [_record(s, 0) for s in scenes[:2]])

    # the command line: predictions written like an evaluation's, scenes redrawn from --seed
    config = tmp_path / "config.yaml"
    config.write_text("data:\n  min_objects: 2\n  max_objects: 2\n  tasks: [affordance]\n  cot: short\n")
    predictions = tmp_path / "predictions.jsonl"
    predictions.write_text("".join(json.dumps(_record(s, 1).to_json()) + "\n" for s in scenes))
    out = tmp_path / "pairs.json"
    assert script.main([str(predictions), "--config", str(config), "--seed", "5", "--out", str(out)]) == 0
    summary = json.loads(out.read_text())[str(predictions)]
    assert summary["n_two_object_scenes"] == 3 and summary["accuracy_not_told_apart"] == 0.0
