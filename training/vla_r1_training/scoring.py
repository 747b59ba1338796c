"""Teacher-forced scoring: how likely a model finds a given answer to a question (no sampling).

Used to compare models on the same answers (e.g. the named object's region against another's in
``training/experiments/choice_margin.py``): the sum of the answer tokens' log-probabilities after
the row's prompt and image, batched with right padding so that each answer starts where its prompt
ends.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["answer_logprobs"]


def answer_logprobs(engine: Any, rows: Sequence[dict[str, Any]], answers: Sequence[str]) -> list[float]:
    """Sum of the log-probabilities of each ``answers[i]`` after the prompt and image of ``rows[i]``."""
    import torch

    processor, tokenizer = engine.processor, engine.tokenizer
    prompts = [processor.apply_chat_template(r["prompt"], add_generation_prompt=True, tokenize=False) for r in rows]
    images = [r["images"][0].convert("RGB") for r in rows]
    side = tokenizer.padding_side
    tokenizer.padding_side = "right"  # completion tokens then start where each prompt ends
    try:
        prompt_lengths = processor(text=prompts, images=images, padding=True, return_tensors="pt")[
            "attention_mask"
        ].sum(dim=1)
        full = [p + a for p, a in zip(prompts, answers)]
        inputs = processor(text=full, images=images, padding=True, return_tensors="pt").to(engine.device)
    finally:
        tokenizer.padding_side = side
    with torch.inference_mode():
        logits = engine.model(**inputs).logits.float()
    logprobs = torch.log_softmax(logits[:, :-1], dim=-1)
    targets = inputs["input_ids"][:, 1:]
    token_logprobs = logprobs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    positions = torch.arange(targets.shape[1], device=targets.device).unsqueeze(0)
    in_answer = (positions >= prompt_lengths.to(targets.device).unsqueeze(1) - 1) & (
        inputs["attention_mask"][:, 1:] == 1
    )
    return (token_logprobs * in_answer).sum(dim=1).tolist()
