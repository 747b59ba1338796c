"""What a backend is asked and what it answers: decoding settings, errors, predictions, results,
and the checks every request passes (image, instruction, task names). Imports neither torch nor
transformers."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..core.protocol import ParsedOutput, Task

__all__ = [
    "TASK_CHOICES",
    "BackendError",
    "InputTooLarge",
    "GenerationSettings",
    "TaskPrediction",
    "InferenceResult",
    "resolve_tasks",
    "check_image",
    "check_instruction",
]


#: Task names accepted by :meth:`Backend.predict` ("both" asks both questions in one batch).
TASK_CHOICES = ("affordance", "trajectory", "both")


class BackendError(RuntimeError):
    """The backend could not produce a completion (model missing, server down, bad reply, bad input)."""


class InputTooLarge(BackendError):
    """The request is over a configured limit (instruction characters, prompt tokens, context length).

    Refused before any model work, so an oversized request can never hold the model for minutes.
    """


@dataclass(frozen=True)
class GenerationSettings:
    """How to decode. The default is greedy with a token cap, the sane choice on a robot.

    :meth:`release` gives the authors' server settings (sampling, T 0.7, top-p 0.9, repetition
    penalty 1.1, up to 2048 new tokens). ``timeout_s`` is a wall-clock budget for the whole
    prediction (preprocessing included); the in-process engine checks it between decode steps and
    between the layers of every forward pass, prompt prefill included. ``min_new_tokens`` keeps
    end-of-sequence away (benchmarks that must decode a fixed number of tokens).

    Request limits, refused with :class:`InputTooLarge` before any model work:
    ``max_instruction_chars`` bounds the instruction's length (every backend);
    ``max_prompt_tokens`` bounds the tokenised prompt, image tokens included (in-process engine;
    a server enforces its own context length).
    """

    max_new_tokens: int = 1024
    do_sample: bool = False
    temperature: float = 0.7
    top_p: float = 0.9
    repetition_penalty: float = 1.0
    seed: int | None = None
    timeout_s: float | None = None
    min_new_tokens: int = 0
    max_instruction_chars: int = 2000
    max_prompt_tokens: int = 8192

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be at least 1, got {self.max_new_tokens}")
        if not 0 <= self.min_new_tokens <= self.max_new_tokens:
            raise ValueError("min_new_tokens must be between 0 and max_new_tokens")
        if self.do_sample and not (self.temperature > 0.0 and 0.0 < self.top_p <= 1.0):
            raise ValueError("sampling needs temperature > 0 and 0 < top_p <= 1")
        if self.repetition_penalty <= 0.0:
            raise ValueError("repetition_penalty must be positive")
        if self.timeout_s is not None and not self.timeout_s > 0.0:
            raise ValueError(f"timeout_s must be positive, got {self.timeout_s}")
        if self.max_instruction_chars < 1 or self.max_prompt_tokens < 1:
            raise ValueError("max_instruction_chars and max_prompt_tokens must be at least 1")

    @classmethod
    def release(cls, **overrides: Any) -> GenerationSettings:
        """The VLA-R1 release server's sampling settings."""
        values: dict[str, Any] = {
            "max_new_tokens": 2048,
            "do_sample": True,
            "temperature": 0.7,
            "top_p": 0.9,
            "repetition_penalty": 1.1,
        }
        values.update(overrides)
        return cls(**values)

    def with_(self, **changes: Any) -> GenerationSettings:
        return replace(self, **changes)


@dataclass(frozen=True)
class TaskPrediction:
    """One question's answer: the parsed output plus what it cost."""

    task: Task
    prompt: str
    raw_text: str
    parsed: ParsedOutput
    prompt_tokens: int
    generated_tokens: int
    #: "eos" (the model finished), "max_new_tokens" (cap reached), "timeout" or "cancelled".
    stopped_by: str

    def to_json(self) -> dict[str, Any]:
        parsed = self.parsed
        answer: Any = None
        if parsed.box is not None:
            answer = parsed.box.to_json()
        elif parsed.trajectory is not None:
            answer = parsed.trajectory.to_json()
        return {
            "task": self.task.value,
            "status": parsed.status.value,
            "error": parsed.error,
            "reasoning": parsed.reasoning,
            "answer": answer,
            "raw_text": self.raw_text,
            "prompt_tokens": self.prompt_tokens,
            "generated_tokens": self.generated_tokens,
            "stopped_by": self.stopped_by,
        }


@dataclass(frozen=True)
class InferenceResult:
    """Predictions for one image (one per task asked) and per-stage wall-clock timings."""

    predictions: tuple[TaskPrediction, ...]
    #: (stage, seconds) in the order the stages ran: preprocess, generate, parse.
    timings: tuple[tuple[str, float], ...]
    model_id: str
    image_width: int
    image_height: int
    backend: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def prediction(self, task: Task | str) -> TaskPrediction:
        task = Task.from_name(task) if isinstance(task, str) else task
        for prediction in self.predictions:
            if prediction.task is task:
                return prediction
        raise KeyError(f"no {task.value} prediction in this result")

    @property
    def total_seconds(self) -> float:
        return sum(seconds for _, seconds in self.timings)

    @property
    def generated_tokens(self) -> int:
        return sum(p.generated_tokens for p in self.predictions)

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model_id,
            "backend": self.backend,
            "image_size": [self.image_width, self.image_height],
            "predictions": [p.to_json() for p in self.predictions],
            "timings": {stage: round(seconds, 6) for stage, seconds in self.timings},
        }


def resolve_tasks(task: Task | str | Iterable[Task | str]) -> tuple[Task, ...]:
    """``"both"`` → (affordance, trajectory); a single name or Task → a 1-tuple; duplicates refused."""
    if isinstance(task, Task):
        return (task,)
    if isinstance(task, str):
        if task.strip().lower() == "both":
            return (Task.AFFORDANCE, Task.TRAJECTORY)
        try:
            return (Task.from_name(task),)
        except ValueError:
            raise ValueError(f"unknown task {task!r}; expected one of: {', '.join(TASK_CHOICES)}") from None
    tasks = tuple(t if isinstance(t, Task) else Task.from_name(t) for t in task)
    if not tasks or len(set(tasks)) != len(tasks):
        raise ValueError("give each task at most once, and at least one")
    return tasks


def check_image(image: Any) -> np.ndarray:
    """Validate an RGB image: an ``H x W x 3`` uint8 array with both sides at least 1 pixel."""
    if not isinstance(image, np.ndarray):
        raise BackendError(f"image must be a numpy array (H x W x 3, RGB, uint8), got {type(image).__name__}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise BackendError(f"image must be H x W x 3 (RGB), got shape {image.shape}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise BackendError(f"image is empty (shape {image.shape})")
    if image.dtype != np.uint8:
        raise BackendError(f"image must be uint8, got {image.dtype}")
    return image


def check_instruction(instruction: str, max_chars: int | None = None) -> str:
    """Refuse an empty instruction, or one over ``max_chars`` characters, with the message every backend gives."""
    if not isinstance(instruction, str) or not instruction.strip():
        raise BackendError("instruction is empty; say what the robot should act on")
    if max_chars is not None and len(instruction) > max_chars:
        raise InputTooLarge(
            f"instruction is {len(instruction)} characters, over the limit of {max_chars} "
            "(max_instruction_chars); shorten it or raise the limit"
        )
    return instruction
