"""Canned completions behind the real prompt and parsing path: dry runs and tests of everything downstream."""

from __future__ import annotations

import time
from collections.abc import Callable

from ..core.protocol import Task
from .base import Backend, Completion, Completions, Question

__all__ = ["ScriptedBackend"]


class ScriptedBackend(Backend):
    """Answers with canned completions: a fixed text per task, or a function of the prompt.

    Everything else (prompt building, parsing, typed results) is the real code path, so a ROS node
    or an evaluation can be tested without a model. ``calls`` records ``(tasks, instruction)``.
    """

    name = "scripted"

    def __init__(
        self,
        completions: dict[Task | str, str] | Callable[[Task, str], str],
        model_id: str = "scripted",
        delay_s: float = 0.0,
    ) -> None:
        if callable(completions):
            self._script = completions
        else:
            table = {Task.from_name(k) if isinstance(k, str) else k: v for k, v in completions.items()}
            self._script = lambda task, prompt: table[task]
        self.model_id = model_id
        self.delay_s = delay_s
        self.calls: list[tuple[tuple[Task, ...], str]] = []

    def complete(self, question: Question) -> Completions:
        self.calls.append((question.tasks, question.instruction))
        generating = time.perf_counter()
        texts = [self._script(t, p) for t, p in zip(question.tasks, question.prompts)]
        # Sleep like a model decoding: in short steps, checking cancellation and the deadline.
        finish = generating + self.delay_s
        while time.perf_counter() < finish and question.stop_reason() is None:
            time.sleep(min(0.01, max(0.0, finish - time.perf_counter())))
        stopped_by = question.stop_reason() or "eos"
        answers = tuple(Completion(text if stopped_by == "eos" else "", stopped_by=stopped_by) for text in texts)
        return Completions(answers, generating - question.started, time.perf_counter() - generating)
