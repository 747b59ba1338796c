"""``vla-r1-train``: SFT, GRPO and evaluation from a YAML config with ``section.key=value`` overrides.

Examples::

    vla-r1-train sft  --config training/configs/cpu_smoke.yaml
    vla-r1-train grpo --config training/configs/cpu_smoke.yaml model.model_name_or_path=training/runs/smoke/sft
    vla-r1-train eval --config training/configs/cpu_smoke.yaml eval.model=training/runs/smoke/grpo
    vla-r1-train eval --predictions preds.jsonl eval.output_dir=training/runs/report
    vla-r1-train sft  --config FILE --resume            # continue from the newest checkpoint
    vla-r1-train show --config FILE [overrides]          # print the resolved config
    vla-r1-train compare training/runs/sft.eval training/runs/grpo.eval   # paired differences, same questions
    torchrun --nproc_per_node 2 -m vla_r1_training.cli sft --config FILE   # several processes (README)

``show``, ``compare`` and ``eval`` print their result as JSON and nothing else on stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from vla_r1_ros.cli import result_stdout

from .config import GRPO_DEFAULTS, SFT_DEFAULTS, ConfigError, RunConfig, describe, load_config, trainer_kwargs

__all__ = ["main", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vla-r1-train",
        description="Train (SFT, GRPO) and evaluate VLA-R1-style Qwen2.5-VL models with TRL.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Overrides: section.key=value (value read as YAML), sections data, model, reward, eval, sft, grpo.\n"
        "`vla-r1-train show --help-config` lists every key with its help.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("sft", "supervised fine-tuning on chain-of-thought answers (loss on the answer only)"),
        ("grpo", "GRPO from model.model_name_or_path with the release's rewards"),
        ("eval", "evaluate a checkpoint on the eval split, or score a predictions JSONL"),
        ("show", "print the resolved configuration"),
    ):
        command = sub.add_parser(name, help=text, description=text)
        command.add_argument("--config", help="YAML config file (see training/configs/)")
        command.add_argument("overrides", nargs="*", help="section.key=value overrides")
        command.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
        if name in ("sft", "grpo"):
            command.add_argument(
                "--resume",
                nargs="?",
                const="auto",
                default=None,
                help="resume from a checkpoint folder, or (no value) from the newest one in the output folder",
            )
        if name == "eval":
            command.add_argument("--predictions", help="score this predictions JSONL instead of generating")
            command.add_argument("--model", help="checkpoint to evaluate (overrides eval.model)")
        if name == "show":
            command.add_argument("--help-config", action="store_true", help="list every config key with its help")
    text = "paired per-question differences (after - before) between two evaluations of the same questions"
    compare = sub.add_parser("compare", help=text, description=text)
    compare.add_argument("before", help="evaluation folder (eval.output_dir of vla-r1-train eval)")
    compare.add_argument("after", help="evaluation folder of the same questions")
    compare.add_argument("--out", help="also write the result to this JSON file")
    return parser


def _compare(args: argparse.Namespace, out: IO[str]) -> int:
    from .evaluate import compare_evaluations

    try:
        result = compare_evaluations(args.before, args.after)
    except (OSError, ValueError) as err:
        print(f"vla-r1-train compare: {err}", file=sys.stderr)
        return 2
    text = json.dumps(result, indent=2, allow_nan=False)
    print(text, file=out)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")
    return 0


def _resolved(config: RunConfig) -> dict[str, object]:
    document = config.to_dict()
    document["sft"] = dict(zip(("trl", "extra"), trainer_kwargs(config.sft, SFT_DEFAULTS)))
    document["grpo"] = dict(zip(("trl", "extra"), trainer_kwargs(config.grpo, GRPO_DEFAULTS)))
    return document


def _eval(config: RunConfig, args: argparse.Namespace) -> dict[str, object]:
    from .evaluate import evaluate_dataset, read_predictions, write_report

    predictions = args.predictions or config.eval.predictions
    output_dir = Path(config.eval.output_dir)
    if predictions:
        records = read_predictions(predictions)
        summary, _ = write_report(
            records,
            output_dir,
            f"Evaluation of {predictions}",
            config.eval.num_overlays,
            {"predictions": str(predictions)},
        )
        return summary
    from .common import build_datasets

    model = args.model or config.eval.model
    if not model:
        grpo_out = Path(trainer_kwargs(config.grpo, GRPO_DEFAULTS)[0]["output_dir"])
        sft_out = Path(trainer_kwargs(config.sft, SFT_DEFAULTS)[0]["output_dir"])
        model = str(next((p for p in (grpo_out, sft_out) if (p / "config.json").is_file()), ""))
        if not model:
            raise SystemExit("vla-r1-train eval: no model given (eval.model or --model) and no trained output found")
    _, dataset = build_datasets(config.data, train=False, evaluation=True)
    if dataset is None:
        raise SystemExit("vla-r1-train eval: no evaluation data (data.eval_files is empty)")
    summary, _ = evaluate_dataset(
        model, dataset, output_dir, num_overlays=config.eval.num_overlays, **config.eval.generation_options()
    )
    return summary


def _train(config: RunConfig, args: argparse.Namespace) -> int:
    from .common import is_main_process

    start = time.perf_counter()
    try:
        if args.command == "sft":
            from .sft import run_sft

            out = run_sft(config, resume=args.resume)
        else:
            from .grpo import run_grpo

            out = run_grpo(config, resume=args.resume)
    except ConfigError as err:
        if is_main_process():  # every process finds the same problem; say it once
            print(f"vla-r1-train {args.command}: {err}", file=sys.stderr)
        return 2
    if is_main_process():
        print(f"{args.command.upper()} model saved to {out} ({time.perf_counter() - start:.0f} s)")
    return 0


def _leave_process_group() -> None:
    """End a launcher's process group before exit: left to interpreter teardown, a rank of a ZeRO-3 run
    could abort ("terminate called without an active exception") after the model was saved."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if getattr(args, "verbose", False) else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    training = args.command in ("sft", "grpo")
    # show, compare and eval print a result (JSON) that programs read: nothing else may reach stdout.
    with contextlib.nullcontext(sys.stdout) if training else result_stdout() as out:
        if args.command == "compare":
            return _compare(args, out)
        try:
            config = load_config(args.config, args.overrides)
        except (OSError, ValueError) as err:
            print(f"vla-r1-train: {err}", file=sys.stderr)
            return 2
        if training:
            try:
                return _train(config, args)
            finally:
                _leave_process_group()
        if args.command == "show":
            print(describe() if args.help_config else json.dumps(_resolved(config), indent=2, default=str), file=out)
            return 0
        from .common import is_main_process

        if not is_main_process():  # started by a multi-process launcher: evaluation is the main process's
            return 0
        summary = _eval(config, args)
        print(json.dumps(summary, indent=2), file=out)
        print(f"report written to {config.eval.output_dir}/report.md", file=sys.stderr)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
