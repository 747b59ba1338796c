"""What SFT, GRPO and evaluation share: loading the model, building the datasets, LoRA, time limits."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from .config import DataArguments, ModelArguments

__all__ = [
    "ensure_model",
    "load_model_and_processor",
    "lora_config",
    "build_datasets",
    "relative_to",
    "synthetic_options",
    "TimeLimitCallback",
    "save_final",
    "last_checkpoint",
    "restore_weights",
    "trainer_inputs",
]

log = logging.getLogger(__name__)


def ensure_model(args: ModelArguments) -> str:
    """The checkpoint path, after building a tiny one there when asked and it is missing."""
    path = Path(args.model_name_or_path).expanduser()
    if args.build_tiny and not (path / "config.json").is_file():
        from vla_r1_ros.model.tiny import build_tiny_model

        build = build_tiny_model(path, seed=args.tiny_seed, size=args.build_tiny)
        log.info("built a %s tiny checkpoint (%d parameters) in %s", build.size, build.parameters, path)
    return str(path) if path.exists() else args.model_name_or_path


def load_model_and_processor(args: ModelArguments, source: str | None = None) -> tuple[Any, Any]:
    """Qwen2.5-VL model and processor through the stock transformers path."""
    import torch
    from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration

    source = source or ensure_model(args)
    processor = AutoProcessor.from_pretrained(source)  # type: ignore[no-untyped-call]
    if not hasattr(processor, "image_processor"):
        raise RuntimeError(
            f"AutoProcessor returned a {type(processor).__name__} for {source}: torchvision is missing or broken "
            "(install the pinned torch/torchvision pair from requirements/ml.txt)"
        )
    dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[args.dtype]
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(
        source, dtype=dtype, attn_implementation=args.attn_implementation
    )
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
        raise ValueError(f"data.source must be 'synthetic' or 'vla_cot', got {args.source!r}")
    return train_set, eval_set


def trainer_inputs(config: Any, extra: dict[str, Any], train_dataset: Any = None) -> dict[str, Any]:
    """The keyword arguments SFTTrainer and GRPOTrainer share: model, processor, dataset, LoRA, time limit.

    ``config`` is a :class:`~vla_r1_training.config.RunConfig`; ``extra`` the trainer section's own
    keys (``time_limit_s``); the dataset is built from ``config.data`` when not given.
    """
    model, processor = load_model_and_processor(config.model)
    if train_dataset is None:
        train_dataset, _ = build_datasets(config.data, train=True, evaluation=False)
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


def train_and_save(trainer: Any, processor: Any, resume: str | bool | None) -> Path:
    """Run the trainer (resuming as asked) and save the final model in its output folder.

    ``resume``: a checkpoint folder, ``True``/"auto" for the newest one in the output folder, or None.
    """
    output_dir = trainer.args.output_dir
    if resume in (True, "auto"):
        resume = last_checkpoint(output_dir)
        log.info("resuming from %s", resume or "scratch (no checkpoint found)")
    if resume:
        restore_weights(trainer.model, str(resume))
    trainer.train(resume_from_checkpoint=resume or None)
    return save_final(trainer, processor, output_dir)


def restore_weights(model: Any, checkpoint: str) -> None:
    """Load a checkpoint's weights into ``model`` (the trainer then restores optimizer, scheduler and step).

    Why: transformers 5's Trainer reloads a checkpoint by loading its state dict with the saved key
    names (Qwen2.5-VL saves ``visual.*`` and ``model.layers.*``) into modules named
    ``model.visual.*`` and ``model.language_model.*``; no key matches, it only warns, and training
    silently continues from the weights the model was built with. ``from_pretrained`` applies the
    key mapping. PEFT checkpoints hold adapters, which the Trainer reloads through PEFT itself.
    """
    if hasattr(model, "peft_config"):
        return
    loaded = type(model).from_pretrained(checkpoint, dtype=next(model.parameters()).dtype)
    missing, unexpected = model.load_state_dict(loaded.state_dict(), strict=False)
    if missing or unexpected:
        raise RuntimeError(
            f"checkpoint {checkpoint} does not fit the model: missing {missing[:5]}, unexpected {unexpected[:5]}"
        )
    log.info("weights restored from %s", checkpoint)


def save_final(trainer: Any, processor: Any, output_dir: str | Path) -> Path:
    """Save the trained model (LoRA merged in) and its processor so that VLAR1Engine loads it."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = trainer.model
    if hasattr(model, "merge_and_unload"):  # a PEFT model: ship full weights
        model.save_pretrained(out / "adapter")
        model = model.merge_and_unload()
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out
