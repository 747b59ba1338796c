"""TRL reward functions: thin adapters from GRPOTrainer's call convention to the core's rewards.

GRPOTrainer calls each reward as ``fn(completions, **columns)`` where ``completions`` is a list of
strings (standard prompts) or of message lists (conversational prompts), and every extra dataset
column arrives as a keyword argument. Our datasets carry the ground-truth answer text in
``ground_truth``. All scoring happens in :mod:`vla_r1_ros.core.rewards`; nothing is recomputed here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vla_r1_ros.core.rewards import FORMAT_WEIGHT, TASK_WEIGHT, RewardVariant, ScoreBreakdown, score_batch

__all__ = ["completion_text", "vla_r1_reward", "format_reward", "task_reward"]


def completion_text(completion: str | Sequence[dict[str, Any]]) -> str:
    """The generated text of one completion in either of TRL's formats."""
    if isinstance(completion, str):
        return completion
    parts = []
    for message in completion:
        content = message.get("content", "")
        if isinstance(content, str):
            parts.append(content)
        else:  # a list of typed parts
            parts.extend(part.get("text", "") for part in content if part.get("type") == "text")
    return "".join(parts)


def _breakdowns(completions: Sequence[Any], ground_truth: Sequence[str], variant: str) -> list[ScoreBreakdown]:
    if len(completions) != len(ground_truth):
        raise ValueError(f"{len(completions)} completions but {len(ground_truth)} ground truths")
    texts = [completion_text(c) for c in completions]
    return score_batch(texts, ground_truth, RewardVariant(variant), with_metrics=False)


def vla_r1_reward(
    completions: Sequence[Any], ground_truth: Sequence[str], variant: str = "release", **_: Any
) -> list[float]:
    """The release's full reward, 0.9 task + 0.1 format, as one TRL reward function."""
    return [b.score for b in _breakdowns(completions, ground_truth, variant)]


def format_reward(completions: Sequence[Any], ground_truth: Sequence[str], **_: Any) -> list[float]:
    """The format term alone, already weighted (0.1 x format), for per-reward logging."""
    return [FORMAT_WEIGHT * b.format_score for b in _breakdowns(completions, ground_truth, "release")]


def task_reward(
    completions: Sequence[Any], ground_truth: Sequence[str], variant: str = "release", **_: Any
) -> list[float]:
    """The task term alone, already weighted (0.9 x task); with format_reward it sums to the score."""
    return [TASK_WEIGHT * b.task_score for b in _breakdowns(completions, ground_truth, variant)]
