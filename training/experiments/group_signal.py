"""How much GRPO's rollouts can teach a model: the outcomes of sampled groups on two-object scenes.

GRPO learns only from groups whose rollouts score differently. For each two-object held-out scene
this samples ``--samples`` answers the way the GRPO rollouts do (temperature 1, top-p 1; the
config's ``grpo`` section) and counts how many boxes land on the named object rather than on the
other one. Per kind of colour pair (the pairs colour_confusion.py found the model cannot tell apart,
and the others) it reports:

* the histogram of right answers per group (0..K);
* the share of mixed groups (some right, some wrong): the only groups whose object choice GRPO
  can reinforce; uniform groups teach at most box precision;
* the mean rate of right answers, over all groups and within the mixed ones;
* the mean within-group spread (std) of the release reward, i.e. GRPO's raw advantages;
* whether the box follows the object the chain of thought chose (its step "3. region: ..."), and
  the reward when that step names the named object's region or the other's: how much of the
  reward a rollout's written choice earns::

    python training/experiments/group_signal.py training/runs/cpu_tiny/sft_hue2 --samples 8 \\
        --out training/results/group_signal_sft_hue2.json
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
COLOUR_PAIRS = ROOT / "training/results/colour_pairs.json"


def group_outcomes(rows: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, list[Any]]]:
    """``{scene id: {"right": [bool...], "reward": [float...]}}`` from ``score_records`` rows.

    "right" is whether a rollout's box overlaps the named object most (``picked == "target"``).
    """
    groups: dict[str, dict[str, list[Any]]] = {}
    for row in rows:
        group = groups.setdefault(str(row["id"]), {"right": [], "reward": []})
        group["right"].append(row.get("picked") == "target")
        group["reward"].append(float(row["reward"]))
    return groups


def summarise_groups(groups: Sequence[Mapping[str, Sequence[Any]]], samples: int) -> dict[str, Any]:
    """Histogram of right answers per group, mixed-group share, right rates and reward spread."""
    if not groups:
        return {"n_groups": 0}
    for group in groups:
        if len(group["right"]) != samples:
            raise ValueError(f"a group has {len(group['right'])} rollouts, expected {samples}")
    right = np.array([sum(group["right"]) for group in groups])
    mixed = (right > 0) & (right < samples)
    spread = [float(np.std(group["reward"])) for group in groups]
    return {
        "n_groups": len(groups),
        "samples": samples,
        "right_per_group_histogram": np.bincount(right, minlength=samples + 1).tolist(),
        "share_mixed": round(float(mixed.mean()), 3),
        "share_all_right": round(float((right == samples).mean()), 3),
        "share_all_wrong": round(float((right == 0).mean()), 3),
        "right_rate": round(float(right.mean() / samples), 3),
        "right_rate_in_mixed": round(float(right[mixed].mean() / samples), 3) if mixed.any() else None,
        "reward_std_mean": round(float(np.mean(spread)), 4),
        "reward_std_mean_mixed": round(float(np.mean(np.array(spread)[mixed])), 4) if mixed.any() else None,
        "reward_std_mean_uniform": round(float(np.mean(np.array(spread)[~mixed])), 4) if (~mixed).any() else None,
    }


def written_choice(completion: str, object_boxes: Sequence[Mapping[str, float]]) -> str:
    """Which object a rollout's region step chose: "named" (the first box's region), "other" (the
    second's), or "none" (no such step, another region, or both objects in one region)."""
    from vla_r1_ros.datagen.topdown_scenes import region_name, written_region

    if len(object_boxes) != 2:
        raise ValueError(f"the written choice needs two objects, got {len(object_boxes)}")
    written = written_region(completion)
    named, other = (region_name(box["x"], box["y"]) for box in object_boxes)
    if written is None or named == other:
        return "none"
    return {named: "named", other: "other"}.get(written, "none")


def region_coupling(choices: Sequence[str], picked: Sequence[str], rewards: Sequence[float]) -> dict[str, Any]:
    """How the written choice, the boxed object ("target"/"other"/"none") and the reward go together.

    ``box_follows_region``: of the rollouts that wrote one of the two objects' regions and boxed one
    of the two objects, the share whose box is on the object they wrote.
    """
    if not len(choices) == len(picked) == len(rewards):
        raise ValueError(f"{len(choices)} choices, {len(picked)} boxes, {len(rewards)} rewards")
    chose = [(c, p) for c, p in zip(choices, picked) if c != "none" and p != "none"]
    follows = [(c == "named") == (p == "target") for c, p in chose]

    def mean_reward(choice: str) -> float | None:
        values = [r for c, r in zip(choices, rewards) if c == choice]
        return round(float(np.mean(values)), 4) if values else None

    return {
        "n_rollouts": len(choices),
        "wrote_named": round(choices.count("named") / len(choices), 3) if choices else None,
        "wrote_other": round(choices.count("other") / len(choices), 3) if choices else None,
        "box_follows_region": round(float(np.mean(follows)), 3) if follows else None,
        "reward_wrote_named": mean_reward("named"),
        "reward_wrote_other": mean_reward("other"),
    }


def pair_name(colours: Iterable[str]) -> str:
    """ "blue/red" for red and blue: the order-free name colour_confusion.py also uses."""
    return "/".join(sorted(colours))


def confusable_pairs(path: Path = COLOUR_PAIRS) -> list[str]:
    """The colour pairs the first model in colour_confusion.py's JSON could not tell apart."""
    result = json.loads(path.read_text(encoding="utf-8"))
    return list(next(iter(result.values()))["not_told_apart"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="checkpoint to sample from")
    parser.add_argument("--config", default=str(ROOT / "training/configs/cpu_tiny.yaml"))
    parser.add_argument("--scenes", type=int, default=1000, help="held-out scenes to draw (two-object ones are used)")
    parser.add_argument("--samples", type=int, default=8, help="rollouts per scene (GRPO's num_generations)")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed")
    parser.add_argument("--confusable", help="comma-separated pairs (default: from training/results/colour_pairs.json)")
    parser.add_argument("--out", help="write the summary here as JSON")
    args = parser.parse_args(argv)
    if args.samples < 2:
        parser.error("--samples must be at least 2 (a group of one is never mixed)")

    from vla_r1_training.common import relative_to, synthetic_options
    from vla_r1_training.config import GRPO_DEFAULTS, load_config, trainer_kwargs
    from vla_r1_training.data import scenes_to_dataset
    from vla_r1_training.evaluate import generate_predictions, score_records

    from vla_r1_ros.datagen.topdown_scenes import COLOURS, TabletopGenerator
    from vla_r1_ros.model.backends import GenerationSettings

    named = args.confusable.split(",") if args.confusable else confusable_pairs()
    confusable = {pair_name(pair.split("/")) for pair in named}
    unknown = {colour for pair in confusable for colour in pair.split("/")} - set(COLOURS)
    if unknown or any(pair.count("/") != 1 for pair in confusable):
        parser.error(f"--confusable: pairs must look like red/blue, of the colours {', '.join(COLOURS)}")
    config = load_config(args.config)
    # the held-out scenes (the evaluation's split), drawn once: their rows and their objects' colours
    generator = TabletopGenerator(seed=config.data.eval_seed, **synthetic_options(config.data))
    scenes = [scene for scene in generator.scenes(args.scenes) if len(scene.objects) == 2]
    pair_of = {str(scene.scene_id): pair_name(obj.colour for obj in scene.objects) for scene in scenes}
    rollouts = scenes_to_dataset(scenes).select([i for i in range(len(scenes)) for _ in range(args.samples)])
    grpo, _ = trainer_kwargs(config.grpo, GRPO_DEFAULTS)
    settings = GenerationSettings(do_sample=True, temperature=grpo["temperature"], top_p=grpo["top_p"])
    records = generate_predictions(
        args.model,
        rollouts,
        batch_size=args.samples * 8,
        max_new_tokens=grpo["max_completion_length"],
        decoding=settings,
        seed=args.seed,
    )
    rows = score_records(records)[0]
    groups = group_outcomes(rows)
    choices = [written_choice(r.completion, r.object_boxes or []) for r in records]
    result: dict[str, Any] = {
        "model": args.model,
        "config": relative_to(ROOT, args.config),
        "scenes": args.scenes,
        "seed": args.seed,
    }
    for kind, wanted in (("not_told_apart", True), ("told_apart", False)):
        selected = [group for scene, group in groups.items() if (pair_of[scene] in confusable) == wanted]
        result[kind] = summarise_groups(selected, args.samples)
        mine = [i for i, row in enumerate(rows) if (pair_of[str(row["id"])] in confusable) == wanted]
        result[kind]["written_region"] = region_coupling(
            [choices[i] for i in mine], [rows[i].get("picked", "none") for i in mine], [rows[i]["reward"] for i in mine]
        )
        print(f"{kind}: {json.dumps(result[kind])}")
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
