"""The teacher-forced object-choice margin of the CPU experiment (training/experiments/choice_margin.py)."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from types import ModuleType

import pytest
from experiment_support import load_experiment

pytest.importorskip("vla_r1_training")


def _script() -> ModuleType:
    return load_experiment("choice_margin")


def _two_object_scenes(count: int, cot: str = "short") -> list:
    from vla_r1_ros.datagen.topdown_scenes import TabletopGenerator

    generator = TabletopGenerator(seed=1000, image_size=112, min_objects=2, max_objects=2, cot=cot)
    return list(generator.scenes(count))


def test_the_two_answers_differ_only_in_the_region_step() -> None:
    from vla_r1_ros.datagen.topdown_scenes import region_name

    script = _script()
    scene = next(s for s in _two_object_scenes(20) if script.region_answers(s) is not None)
    named, other = script.region_answers(scene)
    prefix = named[: named.index("3. region:") + len("3. region:")]
    assert other.startswith(prefix) and other != named
    assert scene.ground_truth.startswith(named)  # the named object's answer is the ground truth's start
    assert f"task: {scene.target.name}." in other  # a wrong rollout still names the asked-for object
    assert named.endswith(f" {region_name(scene.target.box.x, scene.target.box.y)}.")
    assert other.endswith(f" {region_name(scene.objects[1].box.x, scene.objects[1].box.y)}.")


def test_scenes_the_region_step_cannot_tell_apart_are_refused_or_skipped() -> None:
    from vla_r1_ros.datagen.topdown_scenes import TabletopGenerator

    script = _script()
    scene = _two_object_scenes(1)[0]
    same_place = dataclasses.replace(scene.objects[1].box, x=scene.target.box.x, y=scene.target.box.y)
    beside = dataclasses.replace(scene.objects[1], box=same_place)
    assert script.region_answers(dataclasses.replace(scene, objects=(scene.target, beside))) is None
    with pytest.raises(ValueError, match="short 4-step CoT"):
        script.region_answers(_two_object_scenes(1, cot="full")[0])
    three = TabletopGenerator(seed=3, min_objects=3, max_objects=3).scene(0)
    with pytest.raises(ValueError, match="3 objects"):
        script.region_answers(three)


def test_batched_log_probabilities_match_one_sequence_at_a_time() -> None:
    """Right padding and different prompt lengths must not shift which tokens are scored."""
    import torch
    from vla_r1_training.data import scenes_to_dataset
    from vla_r1_training.scoring import answer_logprobs

    from vla_r1_ros.model import EMBEDDED_MODEL_DIR
    from vla_r1_ros.model.engine import VLAR1Engine

    script = _script()
    scenes = [s for s in _two_object_scenes(12) if script.region_answers(s) is not None][:4]
    assert len({len(s.instruction) for s in scenes}) > 1  # prompts of different lengths in one batch
    rows = [scenes_to_dataset(scenes)[i] for i in range(len(scenes))]
    answers = [script.region_answers(s)[i % 2] for i, s in enumerate(scenes)]
    engine = VLAR1Engine(str(EMBEDDED_MODEL_DIR), device="cpu", dtype="float32")
    batched = answer_logprobs(engine, rows, answers)

    for row, answer, value in zip(rows, answers, batched):
        prompt = engine.processor.apply_chat_template(row["prompt"], add_generation_prompt=True, tokenize=False)
        image = row["images"][0].convert("RGB")
        prompt_ids = engine.processor(text=[prompt], images=[image], return_tensors="pt")["input_ids"][0]
        inputs = engine.processor(text=[prompt + answer], images=[image], return_tensors="pt")
        ids = inputs["input_ids"][0]
        assert torch.equal(ids[: len(prompt_ids)], prompt_ids)
        with torch.inference_mode():
            logprobs = torch.log_softmax(engine.model(**inputs).logits[0].float(), dim=-1)
        expected = sum(float(logprobs[t - 1, ids[t]]) for t in range(len(prompt_ids), len(ids)))
        assert value == pytest.approx(expected, abs=1e-3)
        assert value < 0.0


def test_the_command_reports_each_model_against_the_first(tmp_path: Path) -> None:
    from vla_r1_ros.model import EMBEDDED_MODEL_DIR

    script = _script()
    out = tmp_path / "margins.json"
    model = str(EMBEDDED_MODEL_DIR)
    assert script.main([model, model, "--scenes", "6", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["palettes"] == [list(p) for p in script.CONFUSABLE]
    first, second = result["models"]
    assert first["model"] == second["model"] == model and "paired_vs_reference" not in first
    rows = first["per_scene"]
    assert 0 < len(rows) <= 6 and second["per_scene"] == rows  # teacher forcing is deterministic
    halves = [set(half) for half in script.CONFUSABLE]
    for row in rows:
        assert any(set(row["colours"].split("/")) <= half for half in halves)
        assert row["chooses_named"] == float(row["margin"] > 0)
        # p_named is the two-way softmax of the margin (rounded like every reported value).
        assert row["p_named"] == pytest.approx(1.0 / (1.0 + math.exp(-row["margin"])), abs=2e-4)
    assert first["n"] == len(rows)
    assert first["chooses_named"] == pytest.approx(sum(r["chooses_named"] for r in rows) / len(rows), abs=1e-4)
    assert second["paired_vs_reference"]["margin"]["mean"] == 0.0
    assert second["paired_vs_reference"]["margin"]["z"] is None


def test_a_step_splits_into_the_part_that_flips_with_it_and_the_part_that_does_not() -> None:
    script = _script()
    parts = script.split_step(minus=[1.0, -2.0], base=[2.0, 0.0], plus=[4.0, 1.0])
    assert parts["change"] == [2.0, 1.0]
    assert parts["direction"] == [1.5, 1.5]  # (plus - minus) / 2
    assert parts["size"] == [0.5, -0.5]  # (plus + minus) / 2 - base
    for change, direction, size in zip(parts["change"], parts["direction"], parts["size"]):
        assert change == pytest.approx(direction + size)
    with pytest.raises(ValueError, match="different lengths"):
        script.split_step([1.0], [1.0, 2.0], [1.0, 2.0])


def test_the_random_step_has_the_trained_steps_norm_in_every_tensor() -> None:
    import torch

    script = _script()
    step = {"a": torch.tensor([[3.0, 0.0], [0.0, 4.0]]), "b": torch.zeros(3), "c": torch.tensor([0.0, -0.1, 0.0])}
    random = script.matched_random_step(step, seed=5)
    assert set(random) == set(step)
    for name in step:
        assert random[name].shape == step[name].shape
        assert float(random[name].norm()) == pytest.approx(float(step[name].norm()), rel=1e-6)
    assert torch.count_nonzero(random["b"]) == 0
    assert torch.count_nonzero(random["a"]) == 4  # spread over the tensor, not the step's own direction
    assert torch.equal(script.matched_random_step(step, seed=5)["a"], random["a"])
    assert not torch.equal(script.matched_random_step(step, seed=6)["a"], random["a"])


def test_decomposing_a_step_scores_the_moved_weights_and_restores_the_reference() -> None:
    import torch

    from vla_r1_ros.model import EMBEDDED_MODEL_DIR

    script = _script()
    scenes = [s for s in _two_object_scenes(16) if script.region_answers(s) is not None][:4]
    engine = script.load_engine(str(EMBEDDED_MODEL_DIR))
    reference = script.parameters(engine)
    base = [row["margin"] for row in script.engine_margins(engine, scenes)]
    generator = torch.Generator().manual_seed(0)
    moved = {name: value + 0.02 * torch.randn(value.shape, generator=generator) for name, value in reference.items()}
    script.set_parameters(engine, moved)
    at_moved = [row["margin"] for row in script.engine_margins(engine, scenes)]
    script.set_parameters(engine, reference)

    result = script.decompose_step(engine, reference, moved, scenes, base, seed=1)
    assert all(torch.equal(p, reference[name]) for name, p in engine.model.named_parameters())
    expected_change = sum(m - b for m, b in zip(at_moved, base)) / len(base)
    assert result["trained"]["change"]["mean"] == pytest.approx(expected_change, abs=2e-3)
    assert result["trained"]["change"]["mean"] != 0.0  # the perturbation moves the margins
    for name in ("trained", "random_same_size"):
        parts = result[name]
        assert parts["change"]["mean"] == pytest.approx(parts["direction"]["mean"] + parts["size"]["mean"], abs=2e-3)
    expected_norm = sum(float((moved[n] - reference[n]).double().norm()) ** 2 for n in reference) ** 0.5
    assert result["step_norm"] == pytest.approx(expected_norm, rel=1e-3)
