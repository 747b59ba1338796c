"""The paper's claim, reproduced small: SFT, then GRPO from the SFT checkpoint, on the CPU.

Exact command (from the repository root, venv active; ~1.5-2 h on 2 shared cores)::

    mkdir -p training/runs/cpu_tiny/results
    nohup python training/experiments/cpu_tiny.py > training/runs/cpu_tiny/results/cpu_tiny.log 2>&1 &
    # once it has finished, and only if its results should replace the committed ones:
    python training/experiments/cpu_tiny.py --promote training/runs/cpu_tiny/results

What it does (``section.key=value`` overrides for the main config may follow on the command line):

1. builds the 3 M-parameter "small" tiny Qwen2.5-VL (rope_theta 10, mrope_section [4, 14, 14]);
2. stage 1, localisation (``training/configs/cpu_tiny_localise.yaml``): SFT on single-object
   scenes, box answer without CoT, evaluated on single-object held-out scenes;
3. stage 2, SFT (``training/configs/cpu_tiny.yaml``, TRL SFTTrainer, loss on the answer only) from
   the stage-1 model on 1-3-object scenes with the chain of thought, then stage 2b
   (``training/configs/cpu_tiny_sft_phases.yaml``): the same SFT continued phase by phase on
   fresh scenes at lower learning rates;
4. GRPO (TRL GRPOTrainer, release rewards format + task, KL 0.01 k3) from the SFT checkpoint on
   fresh scenes of the same stream (indices after the SFT scenes);
5. greedy evaluation of both checkpoints on ``data.num_eval`` held-out scenes of seed
   ``data.eval_seed`` (1-3 objects), the "random object of the scene" baseline on the same
   scenes, and the paired per-scene IoU difference GRPO - SFT with its standard error.

A run writes under ``--results`` (default ``training/runs/cpu_tiny/results``, git-ignored): its
``cpu_tiny.json`` after every phase (``"partial": true`` until the end), evaluation reports in
``cpu_tiny_eval/{sft,grpo}/`` and the final model (safetensors, <= 15 MB) in ``cpu_tiny_model/``.
Running never touches the committed evidence in ``training/results/``; ``--promote RUN`` copies a
finished run's files there (and the log, ``cpu_tiny.log``, when it is in the run's folder).

A finished phase can be reused instead of rerun: ``--localise-model DIR`` skips training stage 1
(the model is still evaluated) and ``--sft-model DIR`` skips stages 2 and 2b (and stage 1 unless
``--localise-model`` is given too); the JSON records which models were reused. ``--grpo-model DIR``
skips GRPO training and scores that run instead. ``--validation N`` scores every saved GRPO
checkpoint (and the SFT model, for reference) greedily on N validation scenes of seed
``--validation-seed`` and takes the best GRPO one to the held-out evaluation.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from vla_r1_training.checkpoints import run_candidates, select_checkpoint, trainer_progress
from vla_r1_training.common import relative_to

ROOT = Path(__file__).resolve().parents[2]


#: A trainer checkpoint's files that are not the model (left out of sizes and of the shipped copy).
TRAINER_STATE = ("optimizer.pt", "scheduler.pt", "rng_state*.pth", "trainer_state.json", "training_args.bin")


def _size_mb(folder: Path) -> float:
    """The model's size in ``folder`` (a run's output or one checkpoint), without checkpoints or optimiser state."""
    files = [
        f
        for f in folder.rglob("*")
        if f.is_file()
        and not any(part.startswith("checkpoint-") for part in f.relative_to(folder).parts)
        and not any(f.match(pattern) for pattern in TRAINER_STATE)
    ]
    return sum(f.stat().st_size for f in files) / 1e6


def _sft_phases(path: str) -> list[dict[str, Any]]:
    """The stage-2b phases (name and overrides each) from ``path``; none for 'none'."""
    if path.lower() == "none":
        return []
    import yaml

    document = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    phases = document.get("phases") or []
    for index, phase in enumerate(phases):
        if not isinstance(phase, dict) or not isinstance(phase.get("name"), str):
            raise ValueError(f"{path}: phase {index} needs a name and a list of overrides")
        if not all(isinstance(item, str) and "=" in item for item in phase.get("overrides", [])):
            raise ValueError(f"{path}: phase {phase['name']!r}: overrides must be section.key=value strings")
        phase.setdefault("overrides", [])
    return phases


#: What --promote copies from a finished run into training/results/ (whichever exist).
PROMOTED = ("cpu_tiny.json", "cpu_tiny.log", "cpu_tiny_eval", "cpu_tiny_model")


def promote(run: Path, results: Path) -> list[str]:
    """Copy a finished run's results (:data:`PROMOTED`) from ``run`` into ``results``; return what was copied.

    The explicit step that replaces committed evidence: a partial run is refused, and the JSON's
    ``shipped_model`` is pointed at the promoted copy of the model.
    """
    document = json.loads((run / "cpu_tiny.json").read_text(encoding="utf-8"))
    if document.get("partial", True):
        raise ValueError(f"{run / 'cpu_tiny.json'} is from an unfinished run (partial); promote finished runs only")
    results.mkdir(parents=True, exist_ok=True)
    copied = []
    for name in PROMOTED:
        source, target = run / name, results / name
        if not source.exists():
            continue
        if source.is_dir():
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(source, target)
        else:
            shutil.copy2(source, target)
        copied.append(name)
    if "shipped_model" in document and "cpu_tiny_model" in copied:
        document["shipped_model"] = relative_to(ROOT, results / "cpu_tiny_model")
    document["promoted_from"] = relative_to(ROOT, run)
    (results / "cpu_tiny.json").write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return copied


def validation_miou(model: Path, dataset: Any, settings: Any) -> float:
    """Mean IoU of ``model`` on ``dataset``, decoded as the eval section says (no report written)."""
    from vla_r1_training.evaluate import generate_predictions, score_records

    records = generate_predictions(str(model), dataset, **settings.generation_options())
    _, summary = score_records(records)
    return float(summary["affordance"]["iou_mean"])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=str(ROOT / "training/configs/cpu_tiny.yaml"))
    parser.add_argument(
        "--results",
        default=str(ROOT / "training/runs/cpu_tiny/results"),
        help="where the run writes its JSON, reports and model (git-ignored by default; see --promote)",
    )
    parser.add_argument(
        "--promote",
        metavar="RUN",
        help="copy the finished run in folder RUN (its --results) into training/results/, then exit",
    )
    parser.add_argument(
        "--localise-config",
        default=str(ROOT / "training/configs/cpu_tiny_localise.yaml"),
        help="stage-1 config (single-object localisation SFT); 'none' starts stage 2 from the random model",
    )
    parser.add_argument(
        "--sft-phases",
        default=str(ROOT / "training/configs/cpu_tiny_sft_phases.yaml"),
        help="stage-2b config: SFT phases continuing stage 2 at lower learning rates ('none' skips them)",
    )
    parser.add_argument("--localise-model", help="reuse this stage-1 model instead of training it")
    parser.add_argument("--sft-model", help="reuse this SFT model (skips stages 1, 2 and 2b)")
    parser.add_argument(
        "--grpo-model",
        help="reuse this finished GRPO run (its final model and checkpoint-* folders) instead of training GRPO",
    )
    parser.add_argument(
        "--grpo-min-objects",
        type=int,
        help="fewest objects in a GRPO prompt's scene (default data.min_objects); 2 leaves out the "
        "single-object scenes, where the named object is never in doubt",
    )
    parser.add_argument(
        "--validation",
        type=int,
        default=0,
        help="score every saved GRPO checkpoint greedily on this many validation scenes (seed "
        "--validation-seed) and keep the best one as the GRPO model; 0 keeps the final model",
    )
    parser.add_argument("--validation-seed", type=int, default=2000, help="seed of the validation scenes")
    parser.add_argument("overrides", nargs="*")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.promote:
        copied = promote(Path(args.promote), ROOT / "training/results")
        print(f"promoted {', '.join(copied)} from {args.promote} to training/results/")
        return 0

    import torch
    from vla_r1_training.common import ensure_model, synthetic_options
    from vla_r1_training.config import load_config
    from vla_r1_training.data import synthetic_dataset
    from vla_r1_training.evaluate import evaluate_dataset, paired_delta
    from vla_r1_training.grpo import run_grpo
    from vla_r1_training.sft import run_sft

    wall_start = time.perf_counter()
    config = load_config(args.config, args.overrides)
    results_dir = Path(args.results)
    results_dir.mkdir(parents=True, exist_ok=True)
    out_json = results_dir / "cpu_tiny.json"
    data = config.data
    result: dict[str, Any] = {
        "partial": True,
        "command": "python training/experiments/cpu_tiny.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "config": relative_to(ROOT, args.config),
        "localise_config": None,
        "reused": {"localise_model": args.localise_model, "sft_model": args.sft_model, "grpo_model": args.grpo_model},
        "overrides": args.overrides,
        "seeds": {
            "model_init": config.model.tiny_seed,
            "train_scenes": data.train_seed,
            "heldout_scenes": data.eval_seed,
            "sft_trainer": config.sft.get("seed", 42),
            "grpo_trainer": config.grpo.get("seed", 42),
        },
        "machine": {
            "platform": platform.platform(),
            "torch_threads": torch.get_num_threads(),
            "python": sys.version.split()[0],
        },
        "phases_s": {},
    }

    def save() -> None:
        result["wall_time_s"] = round(time.perf_counter() - wall_start, 1)
        out_json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")

    t = time.perf_counter()
    init = ensure_model(config.model)
    options = synthetic_options(data)
    sft_steps = int(config.sft.get("max_steps", 0)) or 1
    grpo_steps = int(config.grpo.get("max_steps", 0)) or 1
    grpo_prompts = (
        grpo_steps
        * int(config.grpo.get("per_device_train_batch_size", 32))
        * int(config.grpo.get("gradient_accumulation_steps", 1))
        // int(config.grpo.get("num_generations", 8))
    )
    sft_train = None if args.sft_model else synthetic_dataset(data.num_train, seed=data.train_seed, **options)
    if args.validation and args.validation_seed in (data.train_seed, data.eval_seed):
        raise SystemExit(f"--validation-seed {args.validation_seed} must differ from the train and held-out seeds")
    grpo_options = {**options, "min_objects": args.grpo_min_objects or data.min_objects}
    grpo_train = (
        None
        if args.grpo_model
        else synthetic_dataset(max(grpo_prompts, 64), seed=data.train_seed, start=data.num_train, **grpo_options)
    )
    heldout = synthetic_dataset(data.num_eval, seed=data.eval_seed, **options)
    result["phases_s"]["data"] = round(time.perf_counter() - t, 1)
    # A reused stage was trained elsewhere: this run's config says nothing about it.
    result.update(
        n_train_sft=None if args.sft_model else data.num_train,
        n_train_grpo=None if grpo_train is None else len(grpo_train),
        grpo_prompt_objects=None if args.grpo_model else [grpo_options["min_objects"], data.max_objects],
        n_heldout=len(heldout),
        sft_max_steps=None if args.sft_model else sft_steps,
        grpo_max_steps=None if args.grpo_model else grpo_steps,
    )
    if args.grpo_model:
        result["reused_grpo_progress"] = trainer_progress(Path(args.grpo_model))
    save()

    eval_dir = results_dir / "cpu_tiny_eval"

    def evaluate(phase: str, model: str | Path, dataset: Any, settings: Any, title: str) -> tuple[Any, Any]:
        """Evaluation into ``cpu_tiny_eval/<phase>``, timed as phase ``eval_<phase>``."""
        t = time.perf_counter()
        summary, rows = evaluate_dataset(
            str(model),
            dataset,
            eval_dir / phase,
            num_overlays=settings.num_overlays,
            title=title,
            **settings.generation_options(),
        )
        result["phases_s"][f"eval_{phase}"] = round(time.perf_counter() - t, 1)
        return summary, rows

    def record_heldout(phase: str, summary: dict[str, Any]) -> None:
        result[f"{phase}_heldout_miou"] = summary["affordance"]["iou_mean"]
        result[f"{phase}_heldout_success_at_0_5"] = summary["affordance"]["success_at_0_5"]
        result[f"{phase}_heldout_valid_rate"] = summary["valid_rate"]

    # 1. Stage 1: localisation on single-object scenes, from the random tiny model (skipped, or
    # only evaluated, when its model is given; skipped entirely when a finished SFT model is).
    start_model = init
    localise = load_config(args.localise_config) if args.localise_config.lower() != "none" else None
    if localise is not None and (args.localise_model or not args.sft_model):
        result["localise_config"] = relative_to(ROOT, args.localise_config)
        result["seeds"]["localise_scenes"] = localise.data.train_seed
        if args.localise_model:
            start_model = args.localise_model
        else:
            t = time.perf_counter()
            localise.model.model_name_or_path = init
            start_model = str(run_sft(localise))
            result["phases_s"]["localise"] = round(time.perf_counter() - t, 1)
        single_heldout = synthetic_dataset(
            localise.data.num_eval,
            seed=localise.data.eval_seed,
            image_size=localise.data.image_size,
            min_objects=1,
            max_objects=1,
            tasks=tuple(localise.data.tasks),
            cot=localise.data.cot,
        )
        localise_summary, _ = evaluate(
            "localise",
            start_model,
            single_heldout,
            localise.eval,
            "Stage 1 (localisation), held-out single-object scenes",
        )
        result["localise_heldout_single_object_miou"] = localise_summary["affordance"]["iou_mean"]
        result["localise_model"] = relative_to(ROOT, start_model)
        save()

    # 2. Stage 2: SFT with the chain of thought on 1-3 objects, then stage 2b: the same SFT
    # continued on fresh scenes at lower learning rates, phase after phase.
    phases = _sft_phases(args.sft_phases)
    result["sft_phases"] = phases
    if args.sft_model:
        sft_out = Path(args.sft_model)
    else:
        t = time.perf_counter()
        config.model.model_name_or_path = start_model
        sft_out = run_sft(config, train_dataset=sft_train)
        result["phases_s"]["sft"] = round(time.perf_counter() - t, 1)
        for phase in phases:
            t = time.perf_counter()
            phase_config = load_config(args.config, [*args.overrides, *phase["overrides"]])
            phase_config.model.model_name_or_path = str(sft_out)
            sft_out = run_sft(phase_config)
            result["phases_s"][phase["name"]] = round(time.perf_counter() - t, 1)
            save()
    result["sft_checkpoint_mb"] = round(_size_mb(sft_out), 2)
    save()

    sft_summary, sft_rows = evaluate("sft", sft_out, heldout, config.eval, "SFT, held-out scenes")
    record_heldout("sft", sft_summary)
    result["random_object_baseline_miou"] = sft_summary["affordance"]["random_object_baseline_miou"]
    colour_blind = [{"id": row["id"], "iou": row.get("random_object_iou")} for row in sft_rows]
    versus = paired_delta(colour_blind, sft_rows, "iou")
    result["sft_vs_random_object"] = {
        "paired_delta_mean": versus["mean"],
        "paired_delta_se": versus["se"],
        "z": versus["z"],
        "n": versus["n"],
    }
    save()

    # 3. GRPO from the SFT checkpoint (or a finished run's folder), then, with --validation, the
    # checkpoint that scores best on validation scenes (never the held-out ones).
    if args.grpo_model:
        grpo_out = Path(args.grpo_model)
    else:
        t = time.perf_counter()
        config.model.model_name_or_path = str(sft_out)
        grpo_out = run_grpo(config, train_dataset=grpo_train)
        result["phases_s"]["grpo"] = round(time.perf_counter() - t, 1)
    if args.validation:
        t = time.perf_counter()
        validation = synthetic_dataset(args.validation, seed=args.validation_seed, **options)
        grpo_out, scores = select_checkpoint(
            run_candidates(grpo_out), lambda path: validation_miou(path, validation, config.eval)
        )
        scores = {sft_out: validation_miou(sft_out, validation, config.eval), **scores}
        result["grpo_validation"] = {
            "seed": args.validation_seed,
            "n": len(validation),
            "miou": {relative_to(ROOT, path): score for path, score in scores.items()},
            "selected": relative_to(ROOT, grpo_out),
        }
        result["phases_s"]["validation"] = round(time.perf_counter() - t, 1)
    result["grpo_model"] = relative_to(ROOT, grpo_out)
    result["grpo_checkpoint_mb"] = round(_size_mb(grpo_out), 2)
    save()

    grpo_summary, grpo_rows = evaluate("grpo", grpo_out, heldout, config.eval, "GRPO, held-out scenes")
    record_heldout("grpo", grpo_summary)
    delta = paired_delta(sft_rows, grpo_rows, "iou")
    result.update(
        paired_delta_mean=delta["mean"], paired_delta_se=delta["se"], paired_delta_z=delta["z"], paired_n=delta["n"]
    )
    sft_miou = result["sft_heldout_miou"]
    result["grpo_relative_gain"] = (result["grpo_heldout_miou"] - sft_miou) / sft_miou if sft_miou else None
    result["targets"] = {
        "sft_beats_random_object_baseline": result["sft_heldout_miou"] > result["random_object_baseline_miou"],
        "grpo_delta_at_least_3_se": delta["mean"] > 0 and delta["mean"] >= 3 * delta["se"],
        "grpo_relative_gain_at_least_20pct": bool(result["grpo_relative_gain"] and result["grpo_relative_gain"] >= 0.2),
    }

    # Ship the final model (weights, config, processor) without the trainer's checkpoints.
    model_dir = results_dir / "cpu_tiny_model"
    shutil.rmtree(model_dir, ignore_errors=True)
    shutil.copytree(
        grpo_out, model_dir, ignore=shutil.ignore_patterns("checkpoint-*", "adapter", "README.md", *TRAINER_STATE)
    )
    result["shipped_model"] = relative_to(ROOT, model_dir)
    result["shipped_model_mb"] = round(_size_mb(model_dir), 2)
    result["partial"] = False
    save()
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
