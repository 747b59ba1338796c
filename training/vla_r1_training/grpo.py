"""GRPO with TRL's stock ``GRPOTrainer`` and the release's rewards (via :mod:`vla_r1_training.rewards`).

By default the reward is split into two TRL reward functions, ``format`` (0.1 x format) and
``task`` (0.9 x task), with weights 1 and 1: their sum is exactly the release's score (TRL sums
weighted rewards before computing group advantages), and TRL logs each one's mean and std.
The dataset's ``ground_truth`` column reaches the reward functions as a keyword argument.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import rewards
from .common import launch_world_size, train_and_save, trainer_inputs, zero_stage
from .config import GRPO_DEFAULTS, RunConfig, check_grpo_batch, check_peft_sharding, trainer_kwargs

__all__ = ["reward_functions", "build_grpo_trainer", "left_pad", "run_grpo"]


_REWARDS: dict[str, Callable[..., list[float]]] = {
    "format": rewards.format_reward,
    "task": rewards.task_reward,
    "vla_r1": rewards.vla_r1_reward,
}


def reward_functions(names: list[str], variant: str = "release") -> list[Callable[..., list[float]]]:
    """The named reward adapters, with the reward variant bound (TRL logs them by ``__name__``)."""
    funcs = []
    for name in names:
        if name not in _REWARDS:
            raise ValueError(f"unknown reward {name!r}; expected some of: {', '.join(_REWARDS)}")
        base = _REWARDS[name]
        if name == "format" or variant == "release":
            funcs.append(base)
            continue
        bound = functools.partial(base, variant=variant)
        functools.update_wrapper(bound, base)
        funcs.append(bound)
    return funcs


def build_grpo_trainer(config: RunConfig, train_dataset: Any = None) -> tuple[Any, Any, dict[str, Any]]:
    """(GRPOTrainer, processor, extra keys) for ``config``."""
    from trl.trainer.grpo_config import GRPOConfig
    from trl.trainer.grpo_trainer import GRPOTrainer

    kwargs, extra = trainer_kwargs(config.grpo, GRPO_DEFAULTS)
    check_grpo_batch(kwargs, launch_world_size())
    args = GRPOConfig(**kwargs)  # a bad option fails here, before the model and data are loaded
    check_peft_sharding(config.model.use_peft, zero_stage(args))
    inputs = trainer_inputs(config, extra, args, train_dataset)
    # GRPO generates the answer itself: drop the SFT target so that only the prompt, the image(s)
    # and the reward columns remain.
    if "completion" in inputs["train_dataset"].column_names:
        inputs["train_dataset"] = inputs["train_dataset"].remove_columns("completion")
    left_pad(inputs["processing_class"])
    trainer = GRPOTrainer(
        reward_funcs=list[Any](reward_functions(config.reward.functions, config.reward.variant)),
        args=args,
        **inputs,
    )
    return trainer, inputs["processing_class"], extra


def left_pad(processor: Any) -> None:
    """Make ``processor`` pad on the left, the side GRPOTrainer pads its prompt ids on.

    Why: GRPOTrainer re-pads the prompt ids on the left itself but takes the image-token map
    (``mm_token_type_ids``, from which Qwen2.5-VL computes its 3D rope positions) from the
    processor as the processor padded it. Qwen2.5-VL checkpoints save ``padding_side: right``, so
    with a processor passed in, every shorter prompt of a batch is scored, and trained, with its
    image positions shifted by its padding: not under the context its rollouts were sampled in.
    TRL sets left padding only on a processor it loads itself (huggingface/trl#5785).
    """
    tokenizer = getattr(processor, "tokenizer", processor)
    tokenizer.padding_side = "left"
    if hasattr(processor, "padding_side"):
        processor.padding_side = "left"


def run_grpo(config: RunConfig, resume: str | bool | None = None, train_dataset: Any = None) -> Path:
    """Train with GRPO from ``model.model_name_or_path`` (the SFT checkpoint); save to ``grpo.output_dir``."""
    trainer, processor, _ = build_grpo_trainer(config, train_dataset)
    return train_and_save(trainer, processor, resume)
