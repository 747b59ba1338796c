"""Where VLA-R1 runs, behind one small interface: in-process transformers, a remote server, a script.

The ROS node and the CLI talk to a :class:`Backend`: ``predict(image, instruction, task)`` returns
an :class:`InferenceResult` holding one typed :class:`TaskPrediction` per task (the protocol's
:class:`~vla_r1_ros.core.protocol.ParsedOutput`, the raw text, token counts) and per-stage
timings. Three implementations:

* :class:`~vla_r1_ros.model.engine.VLAR1Engine` — the model in this process (transformers);
* :class:`RemoteChatBackend` — an OpenAI-compatible chat-completions server (vLLM, SGLang or
  ``transformers serve`` serving VLA-R1; the path when many robots share one GPU server);
* :class:`ScriptedBackend` — canned completions, for dry runs and tests of everything downstream.

This module imports neither torch nor transformers.

Timeouts never raise: a prediction cut short comes back with ``stopped_by == "timeout"`` and
whatever text was produced (usually a typed ``unterminated_output`` / ``no_output_tag`` parse
status). Transport failures (server down, HTTP error, malformed reply) raise :class:`BackendError`.
"""

from __future__ import annotations

from typing import Any

from .base import Backend, Completion, Completions, Question
from .inference_types import (
    TASK_CHOICES,
    BackendError,
    GenerationSettings,
    InferenceResult,
    InputTooLarge,
    TaskPrediction,
    check_image,
    check_instruction,
    resolve_tasks,
)
from .remote import RemoteChatBackend, chat_messages, encode_image_data_url
from .scripted import ScriptedBackend
from .weights import (
    DEFAULT_MODEL_ID,
    EMBEDDED_MODEL,
    EMBEDDED_MODEL_DIR,
    ModelNotAvailableError,
    local_model_problem,
    looks_like_local_path,
    offline_help,
    resolve_model,
)

__all__ = [
    "DEFAULT_MODEL_ID",
    "EMBEDDED_MODEL",
    "EMBEDDED_MODEL_DIR",
    "resolve_model",
    "TASK_CHOICES",
    "Backend",
    "Question",
    "Completion",
    "Completions",
    "BackendError",
    "InputTooLarge",
    "ModelNotAvailableError",
    "GenerationSettings",
    "InferenceResult",
    "TaskPrediction",
    "RemoteChatBackend",
    "ScriptedBackend",
    "chat_messages",
    "encode_image_data_url",
    "check_image",
    "check_instruction",
    "local_model_problem",
    "looks_like_local_path",
    "make_backend",
    "offline_help",
    "resolve_tasks",
]


def make_backend(model: str, **engine_options: Any) -> Backend:
    """A backend from one string: an ``http(s)://`` URL → :class:`RemoteChatBackend`, otherwise a
    Hub id or local folder loaded in-process (:class:`~vla_r1_ros.model.engine.VLAR1Engine`)."""
    if model.startswith(("http://", "https://")):
        remote_options = {
            k: v for k, v in engine_options.items() if k in ("api_key", "image_format", "served_model", "server")
        }
        served = remote_options.pop("served_model", None) or DEFAULT_MODEL_ID
        return RemoteChatBackend(model, served, **remote_options)
    from .engine import VLAR1Engine

    engine_options.pop("served_model", None)
    engine_options.pop("server", None)
    return VLAR1Engine(model, **engine_options)
