"""How strongly a model prefers the named object over the other one, teacher-forced, per scene.

Greedy "named object" rates move in whole scenes and need thousands of training scenes before a
change shows. This measures the preference itself, so that short runs can be compared: on
two-object held-out scenes it scores, under teacher forcing, the step of the chain of thought where
the model commits to an object: "3. region: ...". Both answers share everything before it (the
"task" line names the instruction's object, as a wrong rollout's does), so::

    margin = log p(named object's region | prefix) - log p(other object's region | prefix)

The box that follows is left out: its digits measure precision, not the choice (a greedy answer
boxes the object of the region it wrote). Scenes whose two objects share a region are skipped.

``sigmoid(margin)`` is the model's probability of the named object when the choice is between the
two; ``margin > 0`` is the teacher-forced choice. The first model is the reference: every other one
is reported with the paired per-scene difference from it (mean, standard error, z)::

    python training/experiments/choice_margin.py vla_r1_ros/models/tabletop_tiny \\
        training/runs/cpu_tiny/grpoM/checkpoint-20 --out /tmp/margins.json

``--decompose`` asks, of each model's change, whether its training pushed the margin that way or
whether any step that size would have. With ``d`` the weights' change from the reference and
``m(w)`` the per-scene margin at weights ``w``, ``m(ref + d) - m(ref)`` splits into
``(m(ref + d) - m(ref - d)) / 2``, the part that flips with the step's direction, and
``(m(ref + d) + m(ref - d)) / 2 - m(ref)``, the part that does not (second order: what a step of
that size does whichever way it points). The same split of a random step with the same norm in
every tensor shows what size alone costs.

By default the scenes are the confusable halves (red/green/blue, purple/yellow/orange) of the
config's held-out seed, as in ``data.palettes`` of the grpo_palettes experiment.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from vla_r1_training.scoring import answer_logprobs

ROOT = Path(__file__).resolve().parents[2]
CONFUSABLE = (("red", "green", "blue"), ("purple", "yellow", "orange"))


def region_answers(scene: Any) -> tuple[str, str] | None:
    """The answer up to the region step, for the named object and for the other one.

    None when both objects lie in the same region (the region step does not choose between them).
    Only the short chain of thought has the step "3. region: ...", so other scenes are refused.
    """
    from vla_r1_ros.datagen.topdown_scenes import region_name, region_step

    if len(scene.objects) != 2:
        raise ValueError(f"scene {scene.scene_id} has {len(scene.objects)} objects; the margin needs two")
    target, other = scene.objects
    here, there = (region_name(o.box.x, o.box.y) for o in (target, other))
    step = region_step(here)
    if scene.reasoning.count(step) != 1:
        raise ValueError(f"scene {scene.scene_id}: reasoning {scene.reasoning!r} is not the short 4-step CoT")
    if here == there:
        return None
    prefix = scene.ground_truth[: scene.ground_truth.index(step)]
    return prefix + step, prefix + region_step(there)


def engine_margins(engine: Any, scenes: Sequence[Any], batch_size: int = 32) -> list[dict[str, Any]]:
    """Per scene (of those whose objects lie in different regions): id, colours, margin, the named
    object's probability and the teacher-forced choice, for the weights ``engine`` holds now."""
    from vla_r1_training.data import scenes_to_dataset

    choices = [(scene, region_answers(scene)) for scene in scenes]
    chosen = [(scene, answers) for scene, answers in choices if answers is not None]
    dataset = scenes_to_dataset([scene for scene, _ in chosen])
    results = []
    for start in range(0, len(chosen), batch_size):
        chunk = chosen[start : start + batch_size]
        rows = [dataset[i] for i in range(start, start + len(chunk))]
        right = answer_logprobs(engine, rows, [answers[0] for _, answers in chunk])
        wrong = answer_logprobs(engine, rows, [answers[1] for _, answers in chunk])
        for (scene, _), lp_right, lp_wrong in zip(chunk, right, wrong):
            margin = lp_right - lp_wrong
            results.append(
                {
                    "id": str(scene.scene_id),
                    "colours": "/".join(sorted(o.colour for o in scene.objects)),
                    "margin": round(margin, 4),
                    "p_named": round(float(1.0 / (1.0 + np.exp(-np.clip(margin, -50.0, 50.0)))), 4),
                    "chooses_named": float(margin > 0),
                }
            )
    return results


def load_engine(model: str) -> Any:
    from vla_r1_ros.model.engine import VLAR1Engine

    return VLAR1Engine(model, device="cpu", dtype="float32")


def parameters(engine: Any) -> dict[str, Any]:
    """A detached copy of every trainable tensor of the engine's model, by name."""
    return {name: p.detach().clone() for name, p in engine.model.named_parameters()}


def set_parameters(engine: Any, values: Mapping[str, Any]) -> None:
    import torch

    with torch.no_grad():
        for name, p in engine.model.named_parameters():
            p.copy_(values[name])


def matched_random_step(step: Mapping[str, Any], seed: int) -> dict[str, Any]:
    """A random direction with the same norm as ``step`` in every tensor (zero where it is zero)."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    result = {}
    for name, delta in step.items():
        noise = torch.randn(delta.shape, generator=generator, dtype=delta.dtype)
        size = float(delta.norm())
        result[name] = noise * (size / float(noise.norm())) if size > 0 else torch.zeros_like(delta)
    return result


def split_step(minus: Sequence[float], base: Sequence[float], plus: Sequence[float]) -> dict[str, list[float]]:
    """Per scene, a step's margin change ``plus - base`` split into the part that flips sign with the
    step (``(plus - minus) / 2``: the step's direction) and the part that does not
    (``(plus + minus) / 2 - base``: what any step of that size costs or gains, to second order)."""
    minus_, base_, plus_ = (np.asarray(v, dtype=float) for v in (minus, base, plus))
    if not minus_.shape == base_.shape == plus_.shape:
        raise ValueError(f"per-scene margins of different lengths: {len(minus_)}, {len(base_)}, {len(plus_)}")
    return {
        "change": (plus_ - base_).tolist(),
        "direction": ((plus_ - minus_) / 2).tolist(),
        "size": ((plus_ + minus_) / 2 - base_).tolist(),
    }


def _rounded(statistics: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in statistics.items()}


def _statistics(values: Sequence[float], part: str) -> dict[str, Any]:
    from vla_r1_training.evaluate import delta_statistics

    return _rounded(delta_statistics([(0.0, v) for v in values], part))


def decompose_step(
    engine: Any,
    reference: Mapping[str, Any],
    moved: Mapping[str, Any],
    scenes: Sequence[Any],
    base: Sequence[float],
    seed: int = 0,
) -> dict[str, Any]:
    """Margin changes of the step ``moved - reference`` and of a random step of the same per-tensor
    norms, each split by :func:`split_step` and summarised with standard errors. ``engine`` holds
    ``reference`` (and does again on return); ``base`` is its per-scene margins."""
    step = {name: moved[name] - reference[name] for name in reference}
    random_step = matched_random_step(step, seed)

    def margins_at(delta: Mapping[str, Any], sign: float) -> list[float]:
        set_parameters(engine, {name: reference[name] + sign * delta[name] for name in reference})
        return [row["margin"] for row in engine_margins(engine, scenes)]

    try:
        trained = split_step(margins_at(step, -1.0), base, margins_at(step, 1.0))
        random = split_step(margins_at(random_step, -1.0), base, margins_at(random_step, 1.0))
    finally:
        set_parameters(engine, reference)
    norm = float(sum(float(d.double().norm()) ** 2 for d in step.values()) ** 0.5)
    return {
        "step_norm": round(norm, 4),
        "reference_norm": round(float(sum(float(v.double().norm()) ** 2 for v in reference.values()) ** 0.5), 4),
        "trained": {part: _statistics(values, part) for part, values in trained.items()},
        "random_same_size": {part: _statistics(values, part) for part, values in random.items()},
    }


def summarise(rows: Sequence[dict[str, Any]], reference: Sequence[dict[str, Any]] | None) -> dict[str, Any]:
    """Means over scenes and, given the reference model's rows, paired differences from it."""
    from vla_r1_training.evaluate import paired_delta

    summary: dict[str, Any] = {"n": len(rows)}
    for key in ("margin", "p_named", "chooses_named"):
        summary[key] = round(float(np.mean([r[key] for r in rows])), 4)
    if reference is not None:
        summary["paired_vs_reference"] = {
            key: _rounded(paired_delta(reference, rows, key)) for key in ("margin", "p_named", "chooses_named")
        }
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", help="checkpoints; the first is the reference")
    parser.add_argument("--config", default=str(ROOT / "training/configs/cpu_tiny.yaml"))
    parser.add_argument("--scenes", type=int, default=1000, help="two-object held-out scenes to score")
    parser.add_argument("--all-colours", action="store_true", help="any colours, not only the confusable halves")
    parser.add_argument(
        "--decompose",
        action="store_true",
        help="split each model's change from the reference into its direction and its size, next to a random "
        "step of the same size (three more scorings per model)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the random step of --decompose")
    parser.add_argument("--out", help="write the summaries (and per-scene margins) here as JSON")
    parser.add_argument("--summaries-only", action="store_true", help="leave the per-scene margins out of --out")
    args = parser.parse_args(argv)

    from vla_r1_training.common import relative_to
    from vla_r1_training.config import load_config

    from vla_r1_ros.datagen.topdown_scenes import TabletopGenerator

    config = load_config(args.config)
    if config.data.cot != "short":
        parser.error(f"the margin needs the short chain of thought; {args.config} has data.cot={config.data.cot}")
    generator = TabletopGenerator(
        seed=config.data.eval_seed,
        image_size=config.data.image_size,
        min_objects=2,
        max_objects=2,
        cot="short",
        palettes=None if args.all_colours else CONFUSABLE,
    )
    scenes = list(generator.scenes(args.scenes))
    result: dict[str, Any] = {
        "config": relative_to(ROOT, args.config),
        "eval_seed": config.data.eval_seed,
        "palettes": None if args.all_colours else [list(p) for p in CONFUSABLE],
        "models": [],
    }
    reference: tuple[Any, dict[str, Any], list[dict[str, Any]]] | None = None
    for model in args.models:
        engine = load_engine(model)
        rows = engine_margins(engine, scenes)
        summary = summarise(rows, None if reference is None else reference[2])
        if reference is None:
            reference = engine, parameters(engine), rows
        elif args.decompose:
            base = [row["margin"] for row in reference[2]]
            summary["step"] = decompose_step(reference[0], reference[1], parameters(engine), scenes, base, args.seed)
        result["models"].append({"model": model, **summary, **({} if args.summaries_only else {"per_scene": rows})})
        print(f"{model}: {json.dumps(summary)}", flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
