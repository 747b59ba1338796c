"""The backend interface: ``Backend.predict`` is the one path every backend shares (check the inputs,
build the prompts, let the backend ``complete`` them, parse, assemble the result); a backend
implements only ``complete``."""

from __future__ import annotations

import abc
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core.protocol import Task, build_prompt, parse_completion
from .inference_types import (
    BackendError,
    GenerationSettings,
    InferenceResult,
    TaskPrediction,
    check_image,
    check_instruction,
    resolve_tasks,
)

__all__ = ["Backend", "Question", "Completion", "Completions"]


@dataclass(frozen=True)
class Question:
    """What a backend is asked: the checked inputs of one ``predict`` call, prompts built."""

    image: np.ndarray
    instruction: str
    tasks: tuple[Task, ...]
    prompts: tuple[str, ...]
    settings: GenerationSettings
    should_stop: Callable[[], bool] | None
    #: ``time.perf_counter()`` when ``predict`` began (``settings.timeout_s`` counts from here).
    started: float

    def stop_reason(self) -> str | None:
        """ "cancelled" once ``should_stop`` says so, "timeout" once ``settings.timeout_s`` has passed."""
        if self.should_stop is not None and self.should_stop():
            return "cancelled"
        timeout = self.settings.timeout_s
        if timeout is not None and time.perf_counter() - self.started > timeout:
            return "timeout"
        return None


@dataclass(frozen=True)
class Completion:
    """One prompt's generated text and how its generation ended."""

    text: str
    prompt_tokens: int = 0
    generated_tokens: int = 0
    #: "eos", "max_new_tokens", "timeout" or "cancelled" (see :class:`TaskPrediction`).
    stopped_by: str = "eos"


@dataclass(frozen=True)
class Completions:
    """A backend's answers to one :class:`Question` (one per prompt, in order) and their cost."""

    answers: tuple[Completion, ...]
    preprocess_s: float = 0.0
    generate_s: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


class Backend(abc.ABC):
    """Something that answers VLA-R1 questions about an image.

    ``predict`` is the one path every backend shares: check the inputs, build the prompts, let the
    backend ``complete`` them, parse each answer and assemble the result. A backend implements
    only ``complete``.
    """

    #: Short name of the implementation ("transformers", "remote", "scripted").
    name: str = ""
    #: Hub id, path or server model name of the model that answers.
    model_id: str = ""
    #: What ``predict`` uses when it is given no settings.
    settings: GenerationSettings = GenerationSettings()

    def predict(
        self,
        image: np.ndarray,
        instruction: str,
        task: Task | str = "affordance",
        settings: GenerationSettings | None = None,
        *,
        should_stop: Callable[[], bool] | None = None,
    ) -> InferenceResult:
        """Ask ``task`` ("affordance", "trajectory" or "both") about an RGB ``H x W x 3`` uint8 image.

        ``should_stop`` is polled while the model works (between decode steps in process); when it
        returns True the prediction ends early with ``stopped_by == "cancelled"`` (an action goal
        was cancelled, the node is shutting down).
        """
        started = time.perf_counter()
        settings = settings or self.settings
        check_image(image)
        check_instruction(instruction, settings.max_instruction_chars)
        tasks = resolve_tasks(task)
        prompts = tuple(build_prompt(instruction, t) for t in tasks)
        done = self.complete(Question(image, instruction, tasks, prompts, settings, should_stop, started))
        if len(done.answers) != len(tasks):
            raise BackendError(f"{self.name} backend answered {len(done.answers)} of {len(tasks)} questions")
        parsing = time.perf_counter()
        predictions = tuple(
            TaskPrediction(t, p, a.text, parse_completion(a.text, t), a.prompt_tokens, a.generated_tokens, a.stopped_by)
            for t, p, a in zip(tasks, prompts, done.answers)
        )
        timings = (("preprocess", done.preprocess_s), ("generate", done.generate_s))
        height, width = image.shape[:2]
        return InferenceResult(
            predictions,
            (*timings, ("parse", time.perf_counter() - parsing)),
            self.model_id,
            width,
            height,
            self.name,
            dict(done.extra),
        )

    @abc.abstractmethod
    def complete(self, question: Question) -> Completions:
        """Generate one answer per prompt of ``question`` (stopping early as ``question.stop_reason()`` says)."""

    def close(self) -> None:  # noqa: B027 - optional hook, most backends hold nothing
        """Release resources (GPU memory, connections). Idempotent."""

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
