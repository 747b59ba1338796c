"""Supervised fine-tuning on chain-of-thought answers with TRL's stock ``SFTTrainer``.

The dataset is prompt-completion (see :mod:`vla_r1_training.data`); ``completion_only_loss`` puts
the loss on the assistant's answer only (think block, glue and ``<output>``), never on the prompt
or the image tokens. TRL's vision collator keeps the processor's ``mm_token_type_ids``, so MRoPE
gets its 3-D positions.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from .common import train_and_save, trainer_inputs, zero_stage
from .config import SFT_DEFAULTS, RunConfig, check_peft_sharding, trainer_kwargs

__all__ = ["build_sft_trainer", "run_sft"]

log = logging.getLogger(__name__)


def build_sft_trainer(config: RunConfig, train_dataset: Any = None) -> tuple[Any, Any, dict[str, Any]]:
    """(SFTTrainer, processor, extra keys) for ``config``; the dataset is built from ``config.data`` if not given."""
    from trl.trainer.sft_config import SFTConfig
    from trl.trainer.sft_trainer import SFTTrainer

    kwargs, extra = trainer_kwargs(config.sft, SFT_DEFAULTS)
    if not kwargs.get("completion_only_loss", True):
        log.warning("sft.completion_only_loss is off: the loss includes the prompt")
    args = SFTConfig(**kwargs)  # a bad option fails here, before the model and data are loaded
    check_peft_sharding(config.model.use_peft, zero_stage(args))
    inputs = trainer_inputs(config, extra, args, train_dataset)
    trainer = SFTTrainer(args=args, **inputs)
    return trainer, inputs["processing_class"], extra


def run_sft(config: RunConfig, resume: str | bool | None = None, train_dataset: Any = None) -> Path:
    """Train, save the final model in ``sft.output_dir`` and return that folder.

    ``resume``: a checkpoint folder, ``True``/"auto" for the newest one in the output folder, or None.
    """
    trainer, processor, _ = build_sft_trainer(config, train_dataset)
    return train_and_save(trainer, processor, resume)
