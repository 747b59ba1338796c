"""An OpenAI-compatible chat-completions server (vLLM, SGLang or ``transformers serve`` serving VLA-R1)."""

from __future__ import annotations

import base64
import io
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any

import numpy as np

from .base import Backend, Completion, Completions, Question
from .inference_types import BackendError, GenerationSettings
from .weights import DEFAULT_MODEL_ID

__all__ = ["RemoteChatBackend", "encode_image_data_url", "chat_messages"]


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

    def complete(self, question: Question) -> Completions:
        url = encode_image_data_url(question.image, self.image_format, self.jpeg_quality)
        bodies = [self.request_body(p, url, question.settings) for p in question.prompts]
        generating = time.perf_counter()
        budget = self.request_timeout_s
        if question.settings.timeout_s is not None:
            budget = min(budget, max(question.settings.timeout_s - (generating - question.started), 1e-3))
        futures = [self._pool.submit(self._post, body, budget) for body in bodies]
        cancelled = False
        while not cancelled:
            _, pending = wait(futures, timeout=0.05)
            if not pending:
                break
            cancelled = question.should_stop is not None and bool(question.should_stop())
        # A cancelled request is abandoned (its reply, if any, is dropped).
        replies = [None if cancelled else f.result() for f in futures]
        answers = []
        for reply in replies:
            if reply is None:
                answers.append(Completion("", stopped_by="cancelled" if cancelled else "timeout"))
            else:
                text, stopped_by, n_prompt, n_generated = self._completion(reply, self.endpoint)
                answers.append(Completion(text, n_prompt, n_generated, stopped_by))
        return Completions(tuple(answers), generating - question.started, time.perf_counter() - generating)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
