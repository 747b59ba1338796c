"""What SFT, GRPO and evaluation share: loading the model, building the datasets, LoRA, time limits.

Several processes (``torchrun``, ``accelerate launch``): one-time work, building the tiny initial
model and the training data, is done by the main process while the others wait
(:func:`main_process_first`), and the others then read its result; only the main process writes
the final model and prints summaries (:func:`is_main_process`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .config import DataArguments, ModelArguments

__all__ = [
    "ensure_model",
    "is_main_process",
    "launch_world_size",
    "main_process_first",
    "zero_stage",
    "whole_model_init",
    "training_split",
    "finished_step",
    "load_for_training",
    "lora_config",
    "build_datasets",
    "relative_to",
    "synthetic_options",
    "TimeLimitCallback",
    "save_final",
    "last_checkpoint",
    "planned_steps",
    "load_checkpoint_weights_by_name",
    "restore_weights",
    "trainer_inputs",
]

log = logging.getLogger(__name__)


def launch_world_size() -> int:
    """How many processes the launcher (torchrun, accelerate launch, deepspeed) started; 1 when run alone."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    """Whether this process is the main one (rank 0) of its launch; always, when run alone."""
    return int(os.environ.get("RANK", "0")) == 0


def zero_stage(training_args: Any) -> int | None:
    """The DeepSpeed ZeRO stage the trainer will run under (accelerate launch's config), or None without DeepSpeed."""
    plugin = getattr(training_args, "deepspeed_plugin", None)
    return None if plugin is None else int(plugin.zero_stage)


@contextlib.contextmanager
def whole_model_init(training_args: Any) -> Iterator[None]:
    """Models built in the block are built whole, even when the trainer will run under DeepSpeed ZeRO-3.

    Why: once a ZeRO-3 config is active, transformers builds every model inside DeepSpeed's
    ``zero.Init``, which partitions each parameter with collective calls that all processes must
    join; the tiny initial model is built by the main process alone, which then waits forever.
    """
    plugin = getattr(training_args, "deepspeed_plugin", None)
    if plugin is None:
        yield
        return
    from transformers.integrations.deepspeed import unset_hf_deepspeed_config

    unset_hf_deepspeed_config()  # type: ignore[no-untyped-call]
    try:
        yield
    finally:
        plugin.set_deepspeed_weakref()  # the trainer's ZeRO-3 config, active again


def main_process_first(training_args: Any, desc: str) -> Any:
    """A context in which the main process runs first and the others wait (TrainingArguments.main_process_first).

    The main process of each node goes first when ``save_on_each_node`` is set (no shared file
    system), the main process of the whole launch otherwise.
    """
    return training_args.main_process_first(local=bool(training_args.save_on_each_node), desc=desc)


def ensure_model(args: ModelArguments) -> str:
    """The checkpoint path, after building a tiny one there when asked and it is missing.

    The build goes to a private folder beside the target and its files move in with
    ``config.json`` last, so that another process never finds a half-written checkpoint (the
    marker it checks is there only once everything else is).
    """
    path = Path(args.model_name_or_path).expanduser()
    if args.build_tiny and not (path / "config.json").is_file():
        from vla_r1_ros.model.tiny import build_tiny_model

        path.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.building-", dir=path.parent))
        try:
            build = build_tiny_model(staging, seed=args.tiny_seed, size=args.build_tiny)
            path.mkdir(exist_ok=True)
            for item in sorted(staging.iterdir(), key=lambda item: item.name == "config.json"):
                os.replace(item, path / item.name)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        log.info("built a %s tiny checkpoint (%d parameters) in %s", build.size, build.parameters, path)
    return str(path) if path.exists() else args.model_name_or_path


def load_for_training(args: ModelArguments, source: str | None = None) -> tuple[Any, Any]:
    """Qwen2.5-VL model and processor for training: the engine's loader, then the vision tower frozen if asked."""
    from vla_r1_ros.model.engine import load_model_and_processor, torch_dtype

    source = source or ensure_model(args)
    model, processor = load_model_and_processor(source, torch_dtype(args.dtype), args.attn_implementation)
    if args.freeze_vision:
        for parameter in model.model.visual.parameters():
            parameter.requires_grad_(False)
    return model, processor


def lora_config(args: ModelArguments) -> Any:
    """A PEFT LoRA config, or None when ``use_peft`` is off."""
    if not args.use_peft:
        return None
    from peft import LoraConfig

    return LoraConfig(
        r=args.lora_r,
        lora_alpha=args.lora_alpha,
        lora_dropout=args.lora_dropout,
        target_modules=list(args.lora_target_modules),
        task_type="CAUSAL_LM",
    )


def relative_to(root: Path, path: str | Path) -> str:
    """``path`` relative to ``root`` when inside it, else as given (results must not name this machine)."""
    resolved = Path(path).resolve()
    return str(resolved.relative_to(root)) if resolved.is_relative_to(root) else str(path)


def synthetic_options(args: DataArguments) -> dict[str, Any]:
    """The tabletop generator's keyword arguments (besides the seed) that the data section sets."""
    return {
        "image_size": args.image_size,
        "min_objects": args.min_objects,
        "max_objects": args.max_objects,
        "tasks": tuple(args.tasks),
        "cot": args.cot,
        "palettes": args.palettes or None,
    }


def build_datasets(args: DataArguments, train: bool = True, evaluation: bool = True) -> tuple[Any, Any]:
    """(train, eval) datasets from the data section; either may be None when not asked for."""
    from .data import load_vla_cot, synthetic_dataset

    train_set = eval_set = None
    if args.source == "synthetic":
        options = synthetic_options(args)
        if args.train_seed == args.eval_seed:
            raise ValueError("data.train_seed and data.eval_seed must differ (the held-out split must be unseen)")
        if train:
            train_set = synthetic_dataset(args.num_train, seed=args.train_seed, **options)
        if evaluation:
            eval_set = synthetic_dataset(args.num_eval, seed=args.eval_seed, **options)
    elif args.source == "sim":
        from .sim_data import sim_datasets

        return sim_datasets(args, train, evaluation)
    elif args.source == "vla_cot":
        if train:
            if not args.train_files:
                raise ValueError("data.train_files is empty (source vla_cot)")
            train_set, report = load_vla_cot(args.train_files, args.image_root, limit=args.num_train)
            log.info(report.summary())
        if evaluation and args.eval_files:
            eval_set, report = load_vla_cot(args.eval_files, args.image_root, limit=args.num_eval)
            log.info(report.summary())
    else:
        raise ValueError(f"data.source must be 'synthetic', 'vla_cot' or 'sim', got {args.source!r}")
    return train_set, eval_set


def training_split(data: DataArguments, training_args: Any) -> Any:
    """The training split of ``data``; with several processes, built once and shared through a folder.

    One process builds it in memory. With several, the main process builds it and saves it in
    ``<output_dir>/train_data`` (kept and reused while the data section is unchanged), the others
    wait and read that copy: every process then trains on the same rows, and rendering or
    converting the data happens once.
    """
    if training_args.world_size == 1:
        return build_datasets(data, train=True, evaluation=False)[0]
    from datasets import load_from_disk

    folder = Path(training_args.output_dir) / "train_data"
    key = json.dumps(dataclasses.asdict(data), sort_keys=True)
    stamp = folder / "data_section.json"
    with main_process_first(training_args, "building the training data"):
        if not (stamp.is_file() and stamp.read_text(encoding="utf-8") == key):
            if not training_args.should_save:  # the main process went first and failed
                raise RuntimeError(f"{folder}: the main process did not write the training data")
            dataset, _ = build_datasets(data, train=True, evaluation=False)
            shutil.rmtree(folder, ignore_errors=True)
            dataset.save_to_disk(str(folder))
            stamp.write_text(key, encoding="utf-8")  # written last: the copy is complete
        return load_from_disk(str(folder))


def trainer_inputs(config: Any, extra: dict[str, Any], training_args: Any, train_dataset: Any = None) -> dict[str, Any]:
    """The keyword arguments SFTTrainer and GRPOTrainer share: model, processor, dataset, LoRA, time limit.

    ``config`` is a :class:`~vla_r1_training.config.RunConfig`; ``extra`` the trainer section's own
    keys (``time_limit_s``); ``training_args`` the trainer's TRL config (it knows the processes);
    the dataset is built from ``config.data`` when not given.
    """
    with main_process_first(training_args, "building the initial model"), whole_model_init(training_args):
        source = ensure_model(config.model)
    model, processor = load_for_training(config.model, source)
    if train_dataset is None:
        train_dataset = training_split(config.data, training_args)
    return {
        "model": model,
        "train_dataset": train_dataset,
        "processing_class": processor,
        "peft_config": lora_config(config.model),
        "callbacks": [TimeLimitCallback(extra["time_limit_s"])] if extra.get("time_limit_s") else [],
    }


def _callback_base() -> type:
    from transformers import TrainerCallback

    return TrainerCallback


class TimeLimitCallback(_callback_base()):  # type: ignore[misc]
    """Stop training (saving a checkpoint) once ``seconds`` of wall time have passed since train start."""

    def __init__(self, seconds: float) -> None:
        self.seconds = float(seconds)
        self.start: float | None = None
        self.stopped_at_step: int | None = None

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.start = time.monotonic()

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.start is not None and time.monotonic() - self.start >= self.seconds:
            self.stopped_at_step = state.global_step
            control.should_training_stop = True
            control.should_save = True


def last_checkpoint(output_dir: str | Path) -> str | None:
    """The newest ``checkpoint-N`` folder in ``output_dir``, if any."""
    from transformers.trainer_utils import get_last_checkpoint

    folder = Path(output_dir)
    return get_last_checkpoint(str(folder)) if folder.is_dir() else None  # type: ignore[no-untyped-call]


def planned_steps(trainer: Any) -> int:
    """The optimiser steps ``trainer`` is set to run in all (``max_steps``, or what its epochs come to)."""
    if trainer.args.max_steps > 0:
        return int(trainer.args.max_steps)
    return int(trainer.set_initial_training_values(trainer.args, trainer.get_train_dataloader())[-1])


def finished_step(checkpoint: str | Path, planned: int) -> int | None:
    """The step of ``checkpoint`` when it is the end of a run of ``planned`` steps (or past it), else None."""
    state = json.loads((Path(checkpoint) / "trainer_state.json").read_text(encoding="utf-8"))
    step = int(state["global_step"])
    return step if step >= planned else None


def train_and_save(trainer: Any, processor: Any, resume: str | bool | None) -> Path:
    """Run the trainer (resuming as asked) and save the final model in its output folder.

    ``resume``: a checkpoint folder, ``True``/"auto" for the newest one in the output folder, or None.
    A run whose checkpoint already reached the planned steps is not trained further: the Trainer
    would run one more step (it checks for the end only after a step), so this says so and stops,
    writing the final model from the checkpoint if the folder lacks it.
    """
    output_dir = trainer.args.output_dir
    if resume in (True, "auto"):
        resume = last_checkpoint(output_dir)
        if trainer.is_world_process_zero():
            log.info("resuming from %s", resume or "scratch (no checkpoint found)")
    if resume:
        load_checkpoint_weights_by_name(trainer)
        planned = planned_steps(trainer)
        step = finished_step(str(resume), planned)
        if step is not None:
            if trainer.is_world_process_zero():
                log.warning("%s: the run already finished (step %d of %d); nothing to train", resume, step, planned)
            if (Path(output_dir) / "config.json").is_file():
                return Path(output_dir)
            if trainer.is_deepspeed_enabled:
                raise RuntimeError(
                    f"{output_dir}: the run finished at step {step} but its final model is missing; under "
                    f"DeepSpeed it cannot be rebuilt from {resume} without training: take the weights from there"
                )
            trainer._load_from_checkpoint(str(resume))
            return save_final(trainer, processor, output_dir)
    trainer.train(resume_from_checkpoint=resume or None)
    return save_final(trainer, processor, output_dir)


def load_checkpoint_weights_by_name(trainer: Any) -> None:
    """Make ``trainer`` reload a full model's checkpoint with :func:`restore_weights` when it resumes.

    Why: transformers 5's Trainer reloads a checkpoint by loading its state dict with the saved key
    names (Qwen2.5-VL saves ``visual.*`` and ``model.layers.*``) into modules named
    ``model.visual.*`` and ``model.language_model.*``; no key matches, it only warns ("missing
    keys", "unexpected keys"), and training silently continues from the weights the model was
    built with. Adapters (PEFT) keep the Trainer's own loading, and DeepSpeed resumes from its own
    engine checkpoint (``global_step*``), which never goes through this method.
    """
    stock = trainer._load_from_checkpoint

    def load(checkpoint: str, model: Any = None) -> None:
        if model is None and not hasattr(trainer.model, "peft_config"):
            restore_weights(trainer.model, checkpoint)
        else:
            stock(checkpoint, model)

    trainer._load_from_checkpoint = load


def restore_weights(model: Any, checkpoint: str) -> None:
    """Load a checkpoint's weights into ``model`` through ``from_pretrained``, which maps the saved key names."""
    loaded = type(model).from_pretrained(checkpoint, dtype=next(model.parameters()).dtype)
    missing, unexpected = model.load_state_dict(loaded.state_dict(), strict=False)
    if missing or unexpected:
        raise RuntimeError(
            f"checkpoint {checkpoint} does not fit the model: missing {missing[:5]}, unexpected {unexpected[:5]}"
        )
    log.info("weights restored from %s", checkpoint)


def save_final(trainer: Any, processor: Any, output_dir: str | Path) -> Path:
    """Save the trained model (LoRA merged in) and its processor so that VLAR1Engine loads it.

    ``trainer.save_model`` writes on the main process only and, under DeepSpeed ZeRO-3, gathers
    the partitioned weights first (every process takes part). A LoRA model's adapter is saved in
    ``adapter/``; the main process then merges it and saves the full weights. Every process
    returns once the folder is complete.
    """
    out = Path(output_dir)
    model = trainer.model
    if hasattr(model, "merge_and_unload"):  # a PEFT model: ship full weights
        trainer.save_model(str(out / "adapter"))
        if trainer.args.should_save:
            merged = model.merge_and_unload()
            merged.save_pretrained(out)
            processor.save_pretrained(out)
    else:
        trainer.save_model(str(out))
    trainer.accelerator.wait_for_everyone()
    return out
