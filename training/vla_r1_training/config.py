"""Run configuration: dataclasses with help text (TRL style), loaded from YAML, overridden from the CLI.

A config file has up to six sections::

    data:   {...}   # DataArguments: which data, how much, seeds
    model:  {...}   # ModelArguments: checkpoint, tiny build, LoRA
    reward: {...}   # RewardArguments: which reward terms GRPO optimises
    sft:    {...}   # keyword arguments of trl.SFTConfig (+ time_limit_s), over SFT_DEFAULTS
    grpo:   {...}   # keyword arguments of trl.GRPOConfig (+ time_limit_s), over GRPO_DEFAULTS
    eval:   {...}   # EvalArguments

The ``sft`` and ``grpo`` sections are TRL's own configs (their help is TRL's); keys are checked
against ``SFTConfig`` / ``GRPOConfig`` when the config is loaded. Command-line overrides are
``section.key=value`` with ``value`` read as YAML (``sft.learning_rate=1e-4``,
``data.tasks=[affordance,trajectory]``, ``model.use_peft=true``).
"""

from __future__ import annotations

import dataclasses
import math
import re
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "DataArguments",
    "ModelArguments",
    "RewardArguments",
    "EvalArguments",
    "RunConfig",
    "SFT_DEFAULTS",
    "GRPO_DEFAULTS",
    "CPU_SETTINGS",
    "EXTRA_TRAINER_KEYS",
    "load_config",
    "apply_overrides",
    "trainer_kwargs",
    "ConfigError",
    "check_grpo_batch",
    "check_peft_sharding",
    "describe",
]


@dataclass
class DataArguments:
    """Training and evaluation data."""

    source: str = field(
        default="synthetic",
        metadata={
            "help": "'synthetic' (the seeded tabletop generator), 'vla_cot' (VLA-CoT-13K JSON files) or 'sim' "
            "(the simulator's camera frames: vla_r1_training.sim_data)."
        },
    )
    train_files: list[str] = field(
        default_factory=list, metadata={"help": "VLA-CoT-13K ShareGPT JSON file(s) for training (source vla_cot)."}
    )
    eval_files: list[str] = field(
        default_factory=list, metadata={"help": "VLA-CoT-13K JSON file(s) for evaluation (source vla_cot)."}
    )
    image_root: str | None = field(
        default=None,
        metadata={"help": "Folder the records' image paths are relative to (default: each JSON's folder)."},
    )
    num_train: int = field(default=20000, metadata={"help": "Synthetic training scenes (or a cap on VLA-CoT records)."})
    num_eval: int = field(default=500, metadata={"help": "Held-out scenes for evaluation (or a cap on records)."})
    train_seed: int = field(default=0, metadata={"help": "Seed of the synthetic training scenes."})
    eval_seed: int = field(default=1000, metadata={"help": "Seed of the held-out synthetic scenes (disjoint stream)."})
    image_size: int = field(default=112, metadata={"help": "Synthetic image side in pixels (a multiple of 28)."})
    min_objects: int = field(default=1, metadata={"help": "Fewest objects in a synthetic scene."})
    max_objects: int = field(default=3, metadata={"help": "Most objects in a synthetic scene."})
    palettes: list[list[str]] = field(
        default_factory=list,
        metadata={
            "help": "Colour groups for synthetic scenes, training and held-out alike: each scene draws its "
            "colours from one group, picked at random (e.g. [[red, green, blue]]); empty means all six colours."
        },
    )
    tasks: list[str] = field(
        default_factory=lambda: ["affordance"],
        metadata={"help": "Synthetic question types: affordance and/or trajectory."},
    )
    cot: str = field(
        default="short",
        metadata={"help": "Synthetic chain of thought: 'full' (4-step sentences), 'short' (4 terse steps) or 'none'."},
    )
    sim_store: str = field(
        default="training/runs/sim_store",
        metadata={"help": "Source sim: folder of the rendered frames (rendered on first use, then read)."},
    )
    sim_variant: str = field(
        default="standard",
        metadata={
            "help": "Source sim: 'standard' (vla-r1 sim-eval's pick scenes) or 'shifted' (three objects, wider "
            "region, closer together, distractors in the target's nearest colours)."
        },
    )
    sim_affordance_per_scene: int = field(
        default=1, metadata={"help": "Source sim: affordance questions asked per frame (at most one per object)."}
    )
    sim_trajectory_per_scene: int = field(
        default=1, metadata={"help": "Source sim: carry (trajectory) questions asked per frame (two or more objects)."}
    )
    synthetic_fraction: float = field(
        default=0.0,
        metadata={
            "help": "Source sim: share of the training rows drawn from the 2-D generator instead (affordance, "
            "image_size), so the model keeps answering on top-down drawings."
        },
    )


@dataclass
class ModelArguments:
    """The model to train or evaluate."""

    model_name_or_path: str = field(
        default="GigaAI-Research/vla-r1", metadata={"help": "Checkpoint folder or Hub id (Qwen2.5-VL architecture)."}
    )
    build_tiny: str | None = field(
        default=None,
        metadata={
            "help": "If set ('tiny' or 'small') and model_name_or_path does not exist, build a random tiny "
            "Qwen2.5-VL there first (vla_r1_ros.model.tiny)."
        },
    )
    tiny_seed: int = field(default=0, metadata={"help": "Seed of the tiny build."})
    dtype: str = field(default="float32", metadata={"help": "Weights dtype for training: float32 or bfloat16."})
    attn_implementation: str = field(
        default="sdpa", metadata={"help": "Attention kernel: sdpa, eager or flash_attention_2."}
    )
    use_peft: bool = field(default=False, metadata={"help": "Train LoRA adapters (PEFT) instead of all weights."})
    lora_r: int = field(default=16, metadata={"help": "LoRA rank."})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA alpha."})
    lora_dropout: float = field(default=0.05, metadata={"help": "LoRA dropout."})
    lora_target_modules: list[str] = field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        metadata={"help": "Module names LoRA wraps (the language model's projections by default)."},
    )
    freeze_vision: bool = field(default=False, metadata={"help": "Freeze the vision tower (common with LoRA on 3B)."})


@dataclass
class RewardArguments:
    """GRPO's reward functions (all computed by vla_r1_ros.core.rewards)."""

    functions: list[str] = field(
        default_factory=lambda: ["format", "task"],
        metadata={
            "help": "Reward terms, summed: 'format' (0.1 x format) + 'task' (0.9 x task) is the release's score "
            "with per-term statistics logged; 'vla_r1' is the same score as one function."
        },
    )
    variant: str = field(
        default="release", metadata={"help": "'release' (parity) or 'dedup_waypoints' (repeated waypoints removed)."}
    )


#: How evaluation decodes: "greedy" (the node's default, what a robot should run) or "release"
#: (the authors' server: sampling at temperature 0.7, top-p 0.9, repetition penalty 1.1).
DECODINGS = ("greedy", "release")


@dataclass
class EvalArguments:
    """Evaluation: generate on a split (or read a predictions file) and score with the paper's metrics."""

    model: str | None = field(default=None, metadata={"help": "Checkpoint to evaluate (default: the run's output)."})
    predictions: str | None = field(
        default=None, metadata={"help": "Score this predictions JSONL instead of generating."}
    )
    output_dir: str = field(default="training/runs/eval", metadata={"help": "Where the JSON, report and plots go."})
    batch_size: int = field(default=32, metadata={"help": "Scenes per generate() call."})
    max_new_tokens: int = field(default=256, metadata={"help": "Token cap per answer."})
    decoding: str = field(
        default="greedy",
        metadata={
            "help": "greedy (the node's default) or release (the authors' server: sampling, temperature 0.7, "
            "top-p 0.9, repetition penalty 1.1)."
        },
    )
    seed: int = field(
        default=0, metadata={"help": "Sampling seed (decoding release); each batch's stream is derived from it."}
    )
    num_overlays: int = field(default=8, metadata={"help": "Example overlay images in the report."})
    device: str = field(default="auto", metadata={"help": "auto (CUDA when present), cuda, cuda:N or cpu."})
    dtype: str = field(
        default="auto", metadata={"help": "auto (bf16 on a GPU, float32 on the CPU), bfloat16, float16 or float32."}
    )

    def generation_options(self) -> dict[str, Any]:
        """The keyword arguments of ``generate_predictions`` / ``evaluate_dataset`` this section sets."""
        return {
            "batch_size": self.batch_size,
            "max_new_tokens": self.max_new_tokens,
            "device": self.device,
            "dtype": self.dtype,
            "decoding": self.decoding,
            "seed": self.seed,
        }


#: SFT defaults (the release publishes none; these are ordinary full fine-tuning settings).
SFT_DEFAULTS: dict[str, Any] = {
    "output_dir": "training/runs/sft",
    "completion_only_loss": True,  # loss on the answer only
    "learning_rate": 1e-5,
    "lr_scheduler_type": "cosine",
    "warmup_steps": 0.03,
    "num_train_epochs": 1.0,
    "per_device_train_batch_size": 8,
    "gradient_accumulation_steps": 1,
    "logging_steps": 10,
    "save_steps": 500,
    "save_total_limit": 2,
    "report_to": "none",
}

#: GRPO defaults: the release's verl recipe (5 rollouts, lr 3e-5 constant, KL 0.01 with the k3
#: estimator, which is TRL's, clip 0.2, 2048-token completions, no entropy bonus), with TRL's
#: differing defaults (beta 0, scale_rewards, loss_type) set explicitly. verl's GRPO divides
#: advantages by the group's std (scale_rewards="group") and averages the loss over all tokens of
#: the mini-batch (loss_agg_mode token-mean, TRL's "dapo").
GRPO_DEFAULTS: dict[str, Any] = {
    "output_dir": "training/runs/grpo",
    "num_generations": 5,
    "per_device_train_batch_size": 10,
    "gradient_accumulation_steps": 1,
    "learning_rate": 3e-5,
    "lr_scheduler_type": "constant",
    "beta": 0.01,
    "epsilon": 0.2,
    "loss_type": "dapo",
    "scale_rewards": "group",
    "max_completion_length": 2048,
    "temperature": 1.0,
    "top_p": 1.0,
    "num_train_epochs": 50.0,
    "logging_steps": 1,
    "save_steps": 100,
    "save_total_limit": 2,
    "report_to": "none",
}

#: Set for both trainers when no CUDA device is present, unless the config sets them: TRL defaults
#: bf16 and gradient checkpointing on (transformers 5 calls the latter activation_checkpointing).
CPU_SETTINGS: dict[str, Any] = {"use_cpu": True, "bf16": False, "activation_checkpointing": False}

#: Keys of the sft/grpo sections that are ours, not TRL's (popped before building the TRL config).
EXTRA_TRAINER_KEYS = ("time_limit_s",)


@dataclass
class RunConfig:
    """Everything one ``vla-r1-train`` run reads."""

    data: DataArguments = field(default_factory=DataArguments)
    model: ModelArguments = field(default_factory=ModelArguments)
    reward: RewardArguments = field(default_factory=RewardArguments)
    eval: EvalArguments = field(default_factory=EvalArguments)
    sft: dict[str, Any] = field(default_factory=dict)
    grpo: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


_SECTIONS = {"data": DataArguments, "model": ModelArguments, "reward": RewardArguments, "eval": EvalArguments}
_TRAINER_SECTIONS = ("sft", "grpo")


def _trl_fields(section: str) -> set[str]:
    from trl.trainer.grpo_config import GRPOConfig
    from trl.trainer.sft_config import SFTConfig

    cls = SFTConfig if section == "sft" else GRPOConfig
    return {f.name for f in dataclasses.fields(cls)}


def _coerce(section: str, key: str, value: Any, cls: type) -> Any:
    """Check ``value`` against the dataclass field's annotation (ints pass as floats, scalars wrap to lists)."""
    hints = typing.get_type_hints(cls)
    hint = hints[key]
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    allowed = args if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)) else (hint,)
    for option in allowed:
        if option is type(None) and value is None:
            return None
        base = typing.get_origin(option) or option
        if base is list and typing.get_args(option) == (list[str],):
            if isinstance(value, list) and all(isinstance(item, list) for item in value):
                return [[str(v) for v in item] for item in value]
        elif base is list:
            if isinstance(value, list):
                return [str(v) for v in value] if typing.get_args(option) == (str,) else value
            if isinstance(value, str):
                return [v.strip() for v in value.split(",") if v.strip()]
        elif base is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        elif base is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        elif base is bool and isinstance(value, bool):
            return value
        elif base is str and isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
    raise ValueError(f"{section}.{key}: {value!r} is not a valid {hint}")


_FLOAT = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def _numeric(value: Any) -> Any:
    """YAML 1.1 reads ``1e-3`` (no dot) as a string; read such strings as floats."""
    if isinstance(value, str) and _FLOAT.match(value.strip()):
        return float(value)
    if isinstance(value, list):
        return [_numeric(v) for v in value]
    return value


def _set(config: RunConfig, section: str, key: str, value: Any) -> None:
    value = _numeric(value)
    if section in _TRAINER_SECTIONS:
        if key not in EXTRA_TRAINER_KEYS and key not in _trl_fields(section):
            kind = "SFTConfig" if section == "sft" else "GRPOConfig"
            raise ValueError(f"{section}.{key}: not a field of trl.{kind} (nor one of {', '.join(EXTRA_TRAINER_KEYS)})")
        getattr(config, section)[key] = value
        return
    if section not in _SECTIONS:
        raise ValueError(
            f"unknown config section {section!r}; expected one of: {', '.join([*_SECTIONS, *_TRAINER_SECTIONS])}"
        )
    target = getattr(config, section)
    names = {f.name for f in dataclasses.fields(target)}
    if key not in names:
        raise ValueError(f"{section}.{key}: unknown key; {section} has: {', '.join(sorted(names))}")
    setattr(target, key, _coerce(section, key, value, type(target)))


def load_config(path: str | Path | None = None, overrides: Sequence[str] = ()) -> RunConfig:
    """A :class:`RunConfig` from a YAML file (optional) and ``section.key=value`` overrides."""
    config = RunConfig()
    if path is not None:
        text = Path(path).read_text(encoding="utf-8")
        document = yaml.safe_load(text) or {}
        if not isinstance(document, dict):
            raise ValueError(f"{path}: the config must be a mapping of sections")
        for section, values in document.items():
            if values is None:
                continue
            if not isinstance(values, dict):
                raise ValueError(f"{path}: section {section!r} must be a mapping")
            for key, value in values.items():
                _set(config, str(section), str(key), value)
    apply_overrides(config, overrides)
    if config.eval.decoding not in DECODINGS:
        raise ValueError(f"eval.decoding: {config.eval.decoding!r} is not one of {', '.join(DECODINGS)}")
    if config.data.source == "sim":
        from .sim_data import check_sim_data

        check_sim_data(config.data)
    if config.data.palettes:
        from vla_r1_ros.datagen.topdown_scenes import check_palettes

        try:
            check_palettes(config.data.palettes, config.data.max_objects)
        except ValueError as err:
            raise ValueError(f"data.palettes: {err}") from None
    return config


def apply_overrides(config: RunConfig, overrides: Sequence[str]) -> RunConfig:
    """Apply ``section.key=value`` strings (value parsed as YAML) to ``config`` in place."""
    for item in overrides:
        name, sep, raw = item.partition("=")
        section, dot, key = name.strip().partition(".")
        if not sep or not dot or not key:
            raise ValueError(f"override {item!r} must look like section.key=value")
        value = yaml.safe_load(raw) if raw.strip() else ""
        _set(config, section, key, value)
    return config


def _cuda_available() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except ImportError:  # pragma: no cover
        return False


def trainer_kwargs(
    section: dict[str, Any], defaults: dict[str, Any], cpu: bool | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(TRL config kwargs, our extra keys) for one trainer section, over ``defaults``.

    Without CUDA (or with ``cpu=True``) :data:`CPU_SETTINGS` fill in whatever the section does not set.
    """
    merged = dict(defaults)
    if cpu if cpu is not None else not _cuda_available():
        merged.update(CPU_SETTINGS)
    merged.update(section)
    extra = {key: merged.pop(key) for key in EXTRA_TRAINER_KEYS if key in merged}
    return merged, extra


class ConfigError(ValueError):
    """Settings that cannot work together (found before any model or data is loaded)."""


def _divisors(number: int) -> list[int]:
    return [d for d in range(2, number + 1) if number % d == 0]


def check_grpo_batch(kwargs: dict[str, Any], world_size: int) -> None:
    """Refuse GRPO batch settings that cannot work on ``world_size`` processes, saying which numbers to change.

    ``kwargs`` are GRPOConfig's (as :func:`trainer_kwargs` gives them). Each generation round samples
    ``per_device_train_batch_size x processes x steps_per_generation`` completions (or
    ``generation_batch_size``), which must be whole groups of ``num_generations``: TRL refuses
    otherwise, in terms that do not mention the process count that broke a config which worked on
    one process.
    """
    per_device = int(kwargs.get("per_device_train_batch_size", 8))
    groups_of = int(kwargs.get("num_generations", 8))
    steps = kwargs.get("steps_per_generation")
    steps_said = f"steps_per_generation {steps}"
    if steps is None:
        steps = int(kwargs.get("gradient_accumulation_steps", 1))
        steps_said = f"steps_per_generation {steps} (gradient_accumulation_steps)"
    processes = f"{world_size} process{'es' if world_size > 1 else ''}"
    global_batch = per_device * world_size
    generation_batch = kwargs.get("generation_batch_size")
    if generation_batch is not None:
        generation_batch = int(generation_batch)
        if generation_batch % global_batch:
            raise ConfigError(
                f"grpo.generation_batch_size {generation_batch} must be a multiple of the global batch on "
                f"{processes}, per_device_train_batch_size {per_device} x {world_size} = {global_batch}: change one"
            )
        rounds = f"grpo.generation_batch_size = {generation_batch}"
    else:
        generation_batch = global_batch * int(steps)
        rounds = f"per_device_train_batch_size {per_device} x {processes} x {steps_said} = {generation_batch}"
    if groups_of >= 2 and generation_batch % groups_of:
        multiple = groups_of // math.gcd(groups_of, generation_batch // per_device)
        raise ConfigError(
            f"GRPO on {processes}: each generation round samples {rounds} completions, not a whole number of groups "
            f"of grpo.num_generations {groups_of}. Set grpo.per_device_train_batch_size to a multiple of "
            f"{multiple}, or grpo.num_generations to one of {_divisors(generation_batch)}"
        )


def check_peft_sharding(use_peft: bool, zero_stage: int | None) -> None:
    """Refuse LoRA under DeepSpeed ZeRO-3: the final model merges the adapter into weights no process holds whole."""
    if use_peft and zero_stage == 3:
        raise ConfigError(
            "model.use_peft=true under DeepSpeed ZeRO-3: vla-r1-train merges the LoRA adapter into the full "
            "weights when it saves, which ZeRO-3 keeps partitioned over the processes. Train LoRA with plain "
            "data parallelism (torchrun) or ZeRO-2 (zero_stage: 2 in the accelerate config), or train all weights "
            "(model.use_peft=false) under ZeRO-3"
        )


def describe() -> str:
    """Every key of the data/model/reward/eval sections with its default and help (for --help-config)."""
    lines = []
    for name, cls in _SECTIONS.items():
        lines.append(f"{name}:  ({cls.__doc__})")
        for f in dataclasses.fields(cls):
            default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
            lines.append(f"  {f.name} = {default!r}\n      {f.metadata.get('help', '')}")
    lines.append("sft:   any trl.SFTConfig field (+ time_limit_s); defaults: " + repr(SFT_DEFAULTS))
    lines.append("grpo:  any trl.GRPOConfig field (+ time_limit_s); defaults: " + repr(GRPO_DEFAULTS))
    return "\n".join(lines)
