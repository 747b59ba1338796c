"""The training subpackage's TRL reward adapters call the core's rewards (one home for scoring)."""

from __future__ import annotations

import pytest
from vla_r1_training.rewards import completion_text, format_reward, task_reward, vla_r1_reward

from vla_r1_ros.core.rewards import score

TRUTH = '<think>t</think><output>{"x": 0.5, "y": 0.5, "width": 0.2, "height": 0.2}</output>'
COMPLETIONS = [
    TRUTH,
    '<output>{"x": 0.6, "y": 0.5, "width": 0.2, "height": 0.2}</output>',
    "<think>t</think> no answer",
]


def test_conversational_and_plain_completions_give_the_core_scores() -> None:
    conversational = [[{"role": "assistant", "content": text}] for text in COMPLETIONS]
    expected = [score(text, TRUTH).score for text in COMPLETIONS]
    assert vla_r1_reward(COMPLETIONS, ground_truth=[TRUTH] * 3) == pytest.approx(expected)
    assert vla_r1_reward(conversational, ground_truth=[TRUTH] * 3, prompts=None) == pytest.approx(expected)


def test_split_rewards_sum_to_the_full_reward() -> None:
    truths = [TRUTH] * 3
    total = vla_r1_reward(COMPLETIONS, truths)
    parts = [f + t for f, t in zip(format_reward(COMPLETIONS, truths), task_reward(COMPLETIONS, truths))]
    assert parts == pytest.approx(total)


def test_completion_text_reads_typed_parts() -> None:
    message = [
        {"role": "assistant", "content": [{"type": "text", "text": "<think>a"}, {"type": "text", "text": "</think>"}]}
    ]
    assert completion_text(message) == "<think>a</think>"


def test_length_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match="3 completions but 1 ground truths"):
        vla_r1_reward(COMPLETIONS, ground_truth=[TRUTH])
