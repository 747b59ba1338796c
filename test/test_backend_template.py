"""The Backend template: a backend implements only ``complete``; checks, prompts, parsing and the
result are ``predict``'s, the same for every backend."""

from __future__ import annotations

import numpy as np
import pytest

from vla_r1_ros.core.protocol import Box2D, Task, build_prompt, format_answer
from vla_r1_ros.model.backends import (
    Backend,
    BackendError,
    Completion,
    Completions,
    GenerationSettings,
    InputTooLarge,
    Question,
    ScriptedBackend,
)

IMAGE = np.zeros((48, 64, 3), dtype=np.uint8)
BOX = format_answer(Box2D(0.1, 0.2, 0.3, 0.4), "a box")


class Echo(Backend):
    """Answers every prompt with one fixed text and remembers what it was asked."""

    name, model_id = "echo", "echo-1"

    def __init__(self, text: str, answers: int | None = None) -> None:
        self.text, self.answers, self.asked = text, answers, []  # type: list[Question]

    def complete(self, question: Question) -> Completions:
        self.asked.append(question)
        count = len(question.prompts) if self.answers is None else self.answers
        return Completions(tuple(Completion(self.text, 7, 3) for _ in range(count)), 0.01, 0.02, {"rows": count})


def test_predict_builds_the_prompts_parses_each_answer_and_assembles_the_result() -> None:
    backend = Echo(BOX)
    result = backend.predict(IMAGE, "pick up the cup", "both")
    question = backend.asked[0]
    assert question.tasks == (Task.AFFORDANCE, Task.TRAJECTORY)
    assert question.prompts == tuple(build_prompt("pick up the cup", t) for t in question.tasks)
    affordance, trajectory = result.predictions
    assert affordance.parsed.box == Box2D(0.1, 0.2, 0.3, 0.4) and affordance.prompt_tokens == 7
    assert trajectory.parsed.status.value == "task_mismatch" and trajectory.parsed.trajectory is None
    assert (result.image_width, result.image_height, result.backend, result.model_id) == (64, 48, "echo", "echo-1")
    assert [stage for stage, _ in result.timings] == ["preprocess", "generate", "parse"]
    assert result.timings[0][1] == 0.01 and result.extra == {"rows": 2}


def test_bad_input_is_refused_before_the_backend_is_asked() -> None:
    backend = Echo(BOX)
    with pytest.raises(BackendError, match="H x W x 3"):
        backend.predict(np.zeros((48, 64), dtype=np.uint8), "pick up the cup")
    with pytest.raises(InputTooLarge):
        backend.predict(IMAGE, "x" * 50, settings=GenerationSettings(max_instruction_chars=10))
    with pytest.raises(ValueError):
        backend.predict(IMAGE, "pick up the cup", "dance")
    assert backend.asked == []


def test_a_backend_that_answers_too_few_questions_is_an_error() -> None:
    with pytest.raises(BackendError, match="answered 1 of 2"):
        Echo(BOX, answers=1).predict(IMAGE, "pick up the cup", "both")


def test_the_question_says_when_to_stop() -> None:
    stop = Question(IMAGE, "x", (Task.AFFORDANCE,), ("p",), GenerationSettings(timeout_s=0.01), lambda: False, 0.0)
    assert stop.stop_reason() == "timeout"
    cancel = Question(IMAGE, "x", (Task.AFFORDANCE,), ("p",), GenerationSettings(), lambda: True, 0.0)
    assert cancel.stop_reason() == "cancelled"


def test_the_scripted_backend_stops_on_its_deadline_with_no_text() -> None:
    backend = ScriptedBackend({"affordance": BOX}, delay_s=2.0)
    result = backend.predict(IMAGE, "pick up the cup", settings=GenerationSettings(timeout_s=0.05))
    prediction = result.predictions[0]
    assert prediction.stopped_by == "timeout" and prediction.raw_text == "" and result.total_seconds < 1.0
