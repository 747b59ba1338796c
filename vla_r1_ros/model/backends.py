"""Where VLA-R1 runs, behind one small interface: in-process transformers, a remote server, a script.

The ROS node and the CLI talk to a :class:`Backend`: ``predict(image, instruction, task)`` returns
an :class:`InferenceResult` holding one typed :class:`Prediction` per task (the protocol's
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

import abc
import base64
import io
import json
import os
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..core.protocol import ParsedOutput, Task, build_prompt, parse_completion

__all__ = [
    "DEFAULT_MODEL_ID",
    "EMBEDDED_MODEL",
    "EMBEDDED_MODEL_DIR",
    "resolve_model",
    "TASK_CHOICES",
    "Backend",
    "BackendError",
    "InputTooLarge",
    "ModelNotAvailableError",
    "GenerationSettings",
    "InferenceResult",
    "Prediction",
    "RemoteChatBackend",
    "ScriptedBackend",
    "check_image",
    "check_instruction",
    "local_model_problem",
    "looks_like_local_path",
    "offline_help",
    "resolve_tasks",
]

#: The released VLA-R1 weights on the Hugging Face Hub.
DEFAULT_MODEL_ID = "GigaAI-Research/vla-r1"

#: The model name that selects the tiny checkpoint shipped inside the package: 3.4 M parameters,
#: trained on the CPU on synthetic top-down tabletop scenes (training/experiments/cpu_tiny.py; see
#: training/results/README.md). It knows nothing but those scenes: a demo and test model, not a robot's.
EMBEDDED_MODEL = "embedded"
EMBEDDED_MODEL_DIR = Path(__file__).resolve().parent.parent / "models" / "tabletop_tiny"


def resolve_model(model: str) -> str:
    """``model`` with the name :data:`EMBEDDED_MODEL` replaced by the shipped checkpoint's folder."""
    if model != EMBEDDED_MODEL:
        return model
    if not (EMBEDDED_MODEL_DIR / "config.json").is_file():
        raise ModelNotAvailableError(
            f"the embedded model is missing from {EMBEDDED_MODEL_DIR} (a broken install?); reinstall the "
            "package or pass a checkpoint folder"
        )
    return str(EMBEDDED_MODEL_DIR)


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
class Prediction:
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

    predictions: tuple[Prediction, ...]
    #: (stage, seconds) in the order the stages ran: preprocess, generate, parse.
    timings: tuple[tuple[str, float], ...]
    model_id: str
    image_width: int
    image_height: int
    backend: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def prediction(self, task: Task | str) -> Prediction:
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


class ModelNotAvailableError(BackendError):
    """The weights are neither on disk nor downloadable; the message says how to get them."""


def offline_help(model: str, reason: str = "", is_path: bool = False) -> str:
    """The message shown when ``model`` cannot be loaded: how to download it and where to put it.

    ``is_path``: ``model`` names a local folder (which is missing or incomplete) rather than a Hub id.
    """
    try:
        from huggingface_hub import constants

        cache = constants.HF_HUB_CACHE
    except ImportError:  # pragma: no cover - huggingface_hub comes with transformers
        cache = os.path.join(os.path.expanduser("~"), ".cache", "huggingface", "hub")
    hub_id = DEFAULT_MODEL_ID if is_path else model
    if is_path:
        target = model
        head = f"Cannot load the VLA-R1 model from the folder {model!r}"
    else:
        target = "./" + (model.rstrip("/").split("/")[-1] or "vla-r1")
        head = f"Cannot load the VLA-R1 model {model!r}: it is not in the local Hugging Face cache ({cache})"
    lines = [
        head + (f": {reason}" if reason else "") + ".",
        "Get the weights (about 7.5 GB) on a machine with internet access:",
        "    pip install -U huggingface_hub",
        f"    hf download {hub_id} --local-dir {target}",
        "then copy that folder to this machine and pass it as the model:",
        f"    vla-r1 predict --model {target} ...    (ROS parameter: model:={target})",
        f"or fill the Hub cache here ({cache}) with `hf download {hub_id}` (set HF_HOME to move it)",
        "and keep HF_HUB_OFFLINE=1 so nothing is fetched at run time.",
        "To check the pipeline without the weights: vla-r1 make-tiny-model /tmp/vla-r1-tiny && "
        "vla-r1 predict --model /tmp/vla-r1-tiny ...",
    ]
    return "\n".join(lines)


def looks_like_local_path(model: str) -> bool:
    """True when ``model`` names a folder rather than a Hub id (``owner/name``)."""
    return model.startswith((os.sep, ".", "~")) or os.path.exists(model) or model.count("/") > 1


def local_model_problem(model: str) -> str | None:
    """Why the local folder ``model`` cannot be a checkpoint, or None when it may be one."""
    folder = Path(model).expanduser()
    if not folder.is_dir():
        return f"there is no folder {folder}"
    if not (folder / "config.json").is_file():
        return f"{folder} has no config.json, so it is not a checkpoint folder"
    return None


class Backend(abc.ABC):
    """Something that answers VLA-R1 questions about an image."""

    #: Short name of the implementation ("transformers", "remote", "scripted").
    name: str = ""
    #: Hub id, path or server model name of the model that answers.
    model_id: str = ""

    @abc.abstractmethod
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

    def close(self) -> None:  # noqa: B027 - optional hook, most backends hold nothing
        """Release resources (GPU memory, connections). Idempotent."""

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --------------------------------------------------------------------------------------------
# Scripted
# --------------------------------------------------------------------------------------------


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

    def predict(self, image, instruction, task="affordance", settings=None, *, should_stop=None):  # type: ignore[no-untyped-def]
        settings = settings or GenerationSettings()
        check_image(image)
        check_instruction(instruction, settings.max_instruction_chars)
        tasks = resolve_tasks(task)
        t0 = time.perf_counter()
        prompts = [build_prompt(instruction, t) for t in tasks]
        self.calls.append((tasks, instruction))
        t1 = time.perf_counter()
        texts = [self._script(t, p) for t, p in zip(tasks, prompts)]
        # Sleep like a model decoding: in short steps, checking cancellation and the deadline.
        finish = time.perf_counter() + self.delay_s
        while time.perf_counter() < finish:
            if should_stop is not None and should_stop():
                break
            if settings.timeout_s is not None and time.perf_counter() - t0 > settings.timeout_s:
                break
            time.sleep(min(0.01, max(0.0, finish - time.perf_counter())))
        stopped_by = "eos"
        if should_stop is not None and should_stop():
            stopped_by = "cancelled"
        elif settings.timeout_s is not None and time.perf_counter() - t0 > settings.timeout_s:
            stopped_by = "timeout"
        t2 = time.perf_counter()
        predictions = tuple(
            Prediction(
                task=t,
                prompt=p,
                raw_text="" if stopped_by != "eos" else text,
                parsed=parse_completion("" if stopped_by != "eos" else text, t),
                prompt_tokens=0,
                generated_tokens=0,
                stopped_by=stopped_by,
            )
            for t, p, text in zip(tasks, prompts, texts)
        )
        t3 = time.perf_counter()
        height, width = image.shape[:2]
        return InferenceResult(
            predictions,
            (("preprocess", t1 - t0), ("generate", t2 - t1), ("parse", t3 - t2)),
            self.model_id,
            width,
            height,
            self.name,
        )


# --------------------------------------------------------------------------------------------
# Remote: OpenAI-compatible chat completions
# --------------------------------------------------------------------------------------------


def encode_image_data_url(image: np.ndarray, image_format: str = "jpeg", quality: int = 95) -> str:
    """An RGB image as a ``data:image/...;base64,`` URL (JPEG like the release's client, or PNG)."""
    from PIL import Image

    buffer = io.BytesIO()
    picture = Image.fromarray(np.ascontiguousarray(image))
    fmt = image_format.lower()
    if fmt in ("jpeg", "jpg"):
        picture.save(buffer, format="JPEG", quality=quality)
        mime = "image/jpeg"
    elif fmt == "png":
        picture.save(buffer, format="PNG")
        mime = "image/png"
    else:
        raise ValueError(f"image_format must be 'jpeg' or 'png', got {image_format!r}")
    return f"data:{mime};base64,{base64.b64encode(buffer.getvalue()).decode('ascii')}"


def chat_messages(prompt: str, image_url: str) -> list[dict[str, Any]]:
    """One user turn in the OpenAI format, text first then the image (the order VLA-R1 was trained on)."""
    return [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": prompt},
                {"type": "image_url", "image_url": {"url": image_url}},
            ],
        }
    ]


_SERVER_FLAVOURS = ("vllm", "sglang", "transformers")


class RemoteChatBackend(Backend):
    """A client for an OpenAI-compatible ``/v1/chat/completions`` server serving VLA-R1.

    ``base_url`` is the server root (``http://gpu-host:8000`` or ``.../v1``). For "both", the two
    questions go out as two concurrent requests, which vLLM / SGLang batch on the server.

    ``server`` says which extra sampling fields the server understands: ``"vllm"`` and
    ``"sglang"`` take ``repetition_penalty`` and ``min_tokens`` as extra body fields;
    ``"transformers"`` (``transformers serve``) refuses unknown fields and maps OpenAI's
    ``frequency_penalty`` f to a repetition penalty 1 + f, so the penalty is sent that way and
    ``min_tokens`` is not sent. ``extra_body`` adds or overrides fields. Uses only the standard
    library (no openai package needed on the robot).
    """

    name = "remote"

    def __init__(
        self,
        base_url: str,
        model: str = DEFAULT_MODEL_ID,
        *,
        api_key: str | None = None,
        image_format: str = "jpeg",
        jpeg_quality: int = 95,
        request_timeout_s: float = 120.0,
        extra_body: dict[str, Any] | None = None,
        server: str = "vllm",
    ) -> None:
        if server not in _SERVER_FLAVOURS:
            raise ValueError(f"server must be one of {', '.join(_SERVER_FLAVOURS)}, got {server!r}")
        self.server = server
        url = base_url.rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https://, got {base_url!r}")
        self.endpoint = url + ("/chat/completions" if url.endswith("/v1") else "/v1/chat/completions")
        self.model_id = model
        self.api_key = api_key
        self.image_format = image_format
        self.jpeg_quality = jpeg_quality
        self.request_timeout_s = request_timeout_s
        self.extra_body = dict(extra_body or {})
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="vla-r1-remote")
        self._lock = threading.Lock()

    def request_body(self, prompt: str, image_url: str, settings: GenerationSettings) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model_id,
            "messages": chat_messages(prompt, image_url),
            "max_tokens": settings.max_new_tokens,
            "stream": False,
        }
        if settings.do_sample:
            body.update(temperature=settings.temperature, top_p=settings.top_p)
        else:
            body.update(temperature=0.0)
        if settings.repetition_penalty != 1.0:
            if self.server == "transformers":
                body["frequency_penalty"] = settings.repetition_penalty - 1.0
            else:
                body["repetition_penalty"] = settings.repetition_penalty
        if settings.seed is not None:
            body["seed"] = settings.seed
        if settings.min_new_tokens and self.server != "transformers":
            body["min_tokens"] = settings.min_new_tokens
        body.update(self.extra_body)
        return body

    def _post(self, body: dict[str, Any], timeout_s: float) -> dict[str, Any] | None:
        """The decoded reply, or None when ``timeout_s`` ran out."""
        data = json.dumps(body).encode("utf-8")
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(self.endpoint, data=data, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:
                payload = response.read()
        except TimeoutError:
            return None
        except urllib.error.HTTPError as err:
            detail = err.read()[:500].decode("utf-8", "replace")
            raise BackendError(f"{self.endpoint} answered HTTP {err.code}: {detail}") from None
        except urllib.error.URLError as err:
            if isinstance(err.reason, (TimeoutError, socket.timeout)):
                return None
            raise BackendError(f"cannot reach {self.endpoint}: {err.reason}") from None
        try:
            reply = json.loads(payload)
        except ValueError:
            raise BackendError(f"{self.endpoint} did not answer JSON: {payload[:200]!r}") from None
        if not isinstance(reply, dict):
            raise BackendError(f"{self.endpoint} answered {type(reply).__name__}, expected a JSON object")
        return reply

    @staticmethod
    def _completion(reply: dict[str, Any], endpoint: str) -> tuple[str, str, int, int]:
        try:
            choice = reply["choices"][0]
            text = choice["message"]["content"] or ""
        except (KeyError, IndexError, TypeError):
            raise BackendError(f"{endpoint} reply has no choices[0].message.content: {str(reply)[:200]}") from None
        if not isinstance(text, str):
            raise BackendError(f"{endpoint} reply content is not text")
        finish = choice.get("finish_reason")
        stopped_by = "max_new_tokens" if finish == "length" else "eos"
        usage = reply.get("usage") or {}
        return text, stopped_by, int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)

    def predict(self, image, instruction, task="affordance", settings=None, *, should_stop=None):  # type: ignore[no-untyped-def]
        settings = settings or GenerationSettings()
        check_image(image)
        check_instruction(instruction, settings.max_instruction_chars)
        tasks = resolve_tasks(task)
        t0 = time.perf_counter()
        prompts = [build_prompt(instruction, t) for t in tasks]
        url = encode_image_data_url(image, self.image_format, self.jpeg_quality)
        bodies = [self.request_body(p, url, settings) for p in prompts]
        t1 = time.perf_counter()
        budget = self.request_timeout_s
        if settings.timeout_s is not None:
            budget = min(budget, max(settings.timeout_s - (t1 - t0), 1e-3))
        futures = [self._pool.submit(self._post, body, budget) for body in bodies]
        cancelled = False
        while not cancelled:
            _, pending = wait(futures, timeout=0.05)
            if not pending:
                break
            cancelled = should_stop is not None and bool(should_stop())
        # A cancelled request is abandoned (its reply, if any, is dropped).
        replies = [None if cancelled else f.result() for f in futures]
        t2 = time.perf_counter()
        predictions = []
        for t, prompt, reply in zip(tasks, prompts, replies):
            if reply is None:
                text, n_prompt, n_generated = "", 0, 0
                stopped_by = "cancelled" if cancelled else "timeout"
            else:
                text, stopped_by, n_prompt, n_generated = self._completion(reply, self.endpoint)
            predictions.append(
                Prediction(t, prompt, text, parse_completion(text, t), n_prompt, n_generated, stopped_by)
            )
        t3 = time.perf_counter()
        height, width = image.shape[:2]
        return InferenceResult(
            tuple(predictions),
            (("preprocess", t1 - t0), ("generate", t2 - t1), ("parse", t3 - t2)),
            self.model_id,
            width,
            height,
            self.name,
        )

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


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
