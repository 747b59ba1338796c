"""VLA-R1 in this process, through transformers: load once, then ``predict(image, instruction, task)``.

``VLAR1Engine`` loads the released weights (Hub id ``GigaAI-Research/vla-r1`` by default) or any
local folder holding a Qwen2.5-VL checkpoint — including the tiny one built by
:func:`vla_r1_ros.model.tiny.build_tiny_model` — with ``Qwen2_5_VLForConditionalGeneration`` and
``AutoProcessor`` (``trust_remote_code`` off). Prompts come from the protocol
(:func:`~vla_r1_ros.core.protocol.build_messages`), answers go through its parser
(:func:`~vla_r1_ros.core.protocol.parse_completion`).

* device ``auto|cuda|cpu`` (``cuda:1`` works too); dtype bf16 on GPU, fp32 on CPU by default;
  attention sdpa, or FlashAttention-2 when ``flash_attn`` is installed and the model runs on a GPU
  in 16-bit.
* image size bounds (``min_pixels`` / ``max_pixels``) override the checkpoint's processor.
* greedy decoding with a token cap by default; the release's sampling via
  :meth:`GenerationSettings.release`.
* requests are bounded: the instruction's characters and the prompt's tokens (image tokens
  included) against :class:`GenerationSettings` limits, and prompt plus ``max_new_tokens`` against
  the model's context length; an oversized request raises :class:`InputTooLarge` at once.
* the wall-clock timeout and cancellation hold for the whole generation: checked between decode
  steps (a ``StoppingCriteria``) and before every vision block and decoder layer of every forward
  pass, so even the prompt's prefill stops within one layer's time.
* task "both" sends the affordance and the trajectory prompt through ONE batched ``generate``
  (left padding), and the vision encoder runs once for the frame both rows share.
* ``cache_implementation``: ``"auto"`` (default) is transformers' static KV cache on a GPU (which
  transformers compiles with ``torch.compile``: the fast decode path measured by
  ``benchmarks/bench_inference.py``; the first call after loading pays the compilation, so the
  engine runs one short warm-up generation when it loads) and the dynamic cache on a CPU;
  ``"static"``, ``"dynamic"`` (or None) choose one. Greedy answers are the same token for token.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import socket
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration, StoppingCriteria, StoppingCriteriaList
from transformers.modeling_layers import GradientCheckpointingLayer

from ..core.protocol import Task, build_messages
from .base import Backend, Completion, Completions, Question
from .inference_types import BackendError, GenerationSettings, InputTooLarge, check_image
from .weights import (
    DEFAULT_MODEL_ID,
    ModelNotAvailableError,
    local_model_problem,
    looks_like_local_path,
    offline_help,
    resolve_model,
)

__all__ = ["VLAR1Engine", "ModelNotAvailableError", "load_model_and_processor", "offline_help", "torch_dtype"]


def _hub_reachable(timeout_s: float = 3.0) -> bool:
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    host = endpoint.split("://", 1)[-1].split("/", 1)[0]
    port = 443 if endpoint.startswith("https") else 80
    if ":" in host:
        host, port_text = host.rsplit(":", 1)
        port = int(port_text)
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def _offline_mode() -> bool:
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def _pick_device(device: str) -> torch.device:
    name = device.strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise BackendError("device 'cuda' was asked for but no CUDA GPU is available (use --device cpu or auto)")
    if name != "cpu" and not name.startswith("cuda"):
        raise BackendError(f"unknown device {device!r}; expected auto, cuda, cuda:N or cpu")
    return torch.device(name)


_DTYPES = {
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
    "float32": torch.float32,
    "fp32": torch.float32,
}


def load_model_and_processor(
    source: str, dtype: torch.dtype, attn_implementation: str, **options: Any
) -> tuple[Any, Any]:
    """Qwen2.5-VL and its processor from a folder or Hub id, through the stock transformers path.

    The one loader (the engine and the trainers); ``options`` go to both ``from_pretrained`` calls
    (``local_files_only``, ``revision``, ...). Refuses a processor without its image processor,
    which is what a missing or broken torchvision gives.
    """
    processor = AutoProcessor.from_pretrained(source, **options)  # type: ignore[no-untyped-call]
    if not hasattr(processor, "image_processor"):
        raise BackendError(
            f"AutoProcessor returned a {type(processor).__name__} for {source}, not the Qwen2.5-VL "
            "processor: torchvision is missing or broken (the Qwen2-VL video processor needs it). "
            "Install the pinned torch and torchvision pair from requirements/ml.txt."
        )
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(
        source, dtype=dtype, attn_implementation=attn_implementation, **options
    )
    return model, processor


def torch_dtype(dtype: str, device: torch.device | str = "cpu") -> torch.dtype:
    """A dtype name (bfloat16/bf16, float16/fp16, float32/fp32, or auto: bf16 or fp16 on a GPU, fp32 on a CPU)."""
    return _pick_dtype(dtype, torch.device(device))


def _pick_dtype(dtype: str, device: torch.device) -> torch.dtype:
    name = dtype.strip().lower()
    if name == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    if name not in _DTYPES:
        raise BackendError(f"unknown dtype {dtype!r}; expected auto, bfloat16, float16 or float32")
    return _DTYPES[name]


def _pick_attention(attn: str, device: torch.device, dtype: torch.dtype) -> str:
    if attn != "auto":
        return attn
    flash_ok = (
        device.type == "cuda"
        and dtype in (torch.bfloat16, torch.float16)
        and importlib.util.find_spec("flash_attn") is not None
    )
    return "flash_attention_2" if flash_ok else "sdpa"


def _pick_cache(choice: str | None, device: torch.device) -> str | None:
    name = "dynamic" if choice is None else choice.strip().lower()
    if name == "auto":
        return "static" if device.type == "cuda" else None
    if name not in ("static", "dynamic"):
        raise BackendError(f"unknown cache_implementation {choice!r}; expected auto, static or dynamic")
    return "static" if name == "static" else None


@contextlib.contextmanager
def _vision_once(model: Any, copies: int) -> Any:
    """While a batch repeats one picture ``copies`` times, encode it once and share the features.

    Each row of a "both" batch carries the same frame; the vision tower would otherwise encode it
    once per row. Only a batch of identical grids of the expected count is shared (anything else
    goes through unchanged); the shared features are the ones the first copy would get.
    """
    inner = model.model
    encode = inner.get_image_features

    def once(pixel_values: torch.Tensor, image_grid_thw: torch.Tensor | None = None, **kwargs: Any) -> Any:
        if (
            image_grid_thw is None
            or len(image_grid_thw) != copies
            or not bool((image_grid_thw == image_grid_thw[0]).all())
        ):
            return encode(pixel_values, image_grid_thw, **kwargs)
        patches = int(image_grid_thw[0].prod())
        shared = encode(pixel_values[:patches], image_grid_thw[:1], **kwargs)
        shared.pooler_output = tuple(shared.pooler_output) * copies
        return shared

    inner.get_image_features = once
    try:
        yield
    finally:
        del inner.get_image_features  # the class's method again


class _Interrupted(Exception):
    """Raised from inside a forward pass once the deadline passed or a stop was asked for."""


class _Deadline(StoppingCriteria):
    """Stops every row once the wall clock passes ``deadline`` or ``should_stop()`` says so.

    Also notes when the first token came out (prefill time). ``reason`` is "timeout" or
    "cancelled" once it fired. :meth:`layer_hook` is the same check run before each layer of a
    forward pass: decode steps are short, but one prefill of a long prompt is not.
    """

    def __init__(self, deadline: float | None, should_stop: Callable[[], bool] | None = None) -> None:
        self.deadline = deadline
        self.should_stop = should_stop
        self.reason: str | None = None
        self.first_token_at: float | None = None
        self._hooks: list[Any] = []

    def watch_prefill(self, layers: Sequence[torch.nn.Module]) -> None:
        """Check before every layer until the first token is out (decode steps are checked per token)."""
        self._hooks = [layer.register_forward_pre_hook(self.layer_hook) for layer in layers]

    def unwatch(self) -> None:
        for hook in self._hooks:
            hook.remove()
        self._hooks = []

    def expired(self) -> bool:
        if self.reason is None:
            if self.should_stop is not None and self.should_stop():
                self.reason = "cancelled"
            elif self.deadline is not None and time.perf_counter() >= self.deadline:
                self.reason = "timeout"
        return self.reason is not None

    def layer_hook(self, _module: Any, _args: Any) -> None:
        if self.expired():
            raise _Interrupted(self.reason)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any) -> torch.BoolTensor:
        if self.first_token_at is None:
            self.first_token_at = time.perf_counter()
            self.unwatch()  # per-layer checks would only slow the (short) decode steps
        stop = self.expired()
        return torch.full((input_ids.shape[0],), stop, dtype=torch.bool, device=input_ids.device)  # type: ignore[return-value]


class VLAR1Engine(Backend):
    """VLA-R1 (or any Qwen2.5-VL checkpoint) running in this process."""

    name = "transformers"

    def __init__(
        self,
        model: str = DEFAULT_MODEL_ID,
        *,
        device: str = "auto",
        dtype: str = "auto",
        attn_implementation: str = "auto",
        min_pixels: int | None = None,
        max_pixels: int | None = None,
        revision: str | None = None,
        settings: GenerationSettings | None = None,
        cache_implementation: str | None = "auto",
    ) -> None:
        self.model_id = str(model)
        self.device = _pick_device(device)
        self.dtype = _pick_dtype(dtype, self.device)
        self.attn_implementation = _pick_attention(attn_implementation, self.device, self.dtype)
        self.settings = settings or GenerationSettings()
        self.cache_implementation = _pick_cache(cache_implementation, self.device)
        processor, loaded = self._load(resolve_model(self.model_id), revision)
        self._attach(processor, loaded, min_pixels, max_pixels)
        if self.cache_implementation == "static" and self.device.type == "cuda":
            self.warm_up()

    @classmethod
    def from_loaded(
        cls,
        model: Any,
        processor: Any,
        model_id: str = "in-memory",
        *,
        min_pixels: int | None = None,
        max_pixels: int | None = None,
        settings: GenerationSettings | None = None,
        cache_implementation: str | None = None,
    ) -> VLAR1Engine:
        """An engine around an already-built model and processor (benchmarks, training loops)."""
        engine = cls.__new__(cls)
        engine.model_id = model_id
        engine.device = next(model.parameters()).device
        engine.dtype = next(model.parameters()).dtype
        engine.attn_implementation = getattr(model.config, "_attn_implementation", None) or "sdpa"
        engine.settings = settings or GenerationSettings()
        engine.cache_implementation = _pick_cache(cache_implementation, engine.device)
        engine._attach(processor, model.eval(), min_pixels, max_pixels)
        return engine

    def _attach(self, processor: Any, model: Any, min_pixels: int | None, max_pixels: int | None) -> None:
        self.processor, self.model = processor, model
        tokenizer = self.processor.tokenizer
        tokenizer.padding_side = "left"  # batched generation needs left padding
        self.tokenizer = tokenizer
        self._pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        eos = self.model.generation_config.eos_token_id
        eos_ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        for token in ("<|im_end|>", "<|endoftext|>"):
            token_id = tokenizer.convert_tokens_to_ids(token)
            if isinstance(token_id, int) and token_id != tokenizer.unk_token_id:
                eos_ids.add(token_id)
        if not eos_ids:
            raise BackendError(f"{self.model_id}: no end-of-sequence token in the tokenizer or generation config")
        self._eos_ids = sorted(eos_ids)
        self._size = self._size_override(min_pixels, max_pixels)
        self.context_length = self._context_length()
        # Vision blocks and decoder layers: the points where a forward pass can be interrupted.
        self._layers = [m for m in self.model.modules() if isinstance(m, GradientCheckpointingLayer)]
        self.generate_calls = 0

    def _context_length(self) -> int | None:
        config = self.model.config
        text = getattr(config, "text_config", None) or config
        length = getattr(text, "max_position_embeddings", None)
        return int(length) if length else None

    # ----------------------------------------------------------------------------- loading

    def _load(self, model: str, revision: str | None) -> tuple[Any, Any]:
        looks_like_path = looks_like_local_path(model)
        if looks_like_path:
            problem = local_model_problem(model)
            if problem:
                raise ModelNotAvailableError(offline_help(model, problem, is_path=True))
        # Local files first (a folder, or the Hub cache); the Hub only when allowed and reachable.
        source = str(Path(model).expanduser()) if looks_like_path else model
        options: dict[str, Any] = {"trust_remote_code": False}
        if revision:
            options["revision"] = revision
        try:
            return self._from_pretrained(source, True, options)
        except OSError as local_error:
            if looks_like_path:
                raise ModelNotAvailableError(
                    offline_help(model, str(local_error).splitlines()[0], is_path=True)
                ) from None
            if _offline_mode():
                raise ModelNotAvailableError(offline_help(model, "HF_HUB_OFFLINE=1 forbids downloading it")) from None
            if not _hub_reachable():
                raise ModelNotAvailableError(offline_help(model, "the Hub is not reachable from here")) from None
        try:
            return self._from_pretrained(source, False, options)
        except OSError as err:
            raise ModelNotAvailableError(offline_help(model, str(err).splitlines()[0])) from None

    def _from_pretrained(self, source: str, local_only: bool, options: dict[str, Any]) -> tuple[Any, Any]:
        model, processor = load_model_and_processor(
            source, self.dtype, self.attn_implementation, local_files_only=local_only, **options
        )
        model.to(self.device).eval()
        return processor, model

    def _size_override(self, min_pixels: int | None, max_pixels: int | None) -> dict[str, int] | None:
        if min_pixels is None and max_pixels is None:
            return None
        current = getattr(self.processor.image_processor, "size", None) or {}
        low = int(min_pixels if min_pixels is not None else current.get("shortest_edge", 4 * 28 * 28))
        high = int(max_pixels if max_pixels is not None else current.get("longest_edge", 16384 * 28 * 28))
        if low < 28 * 28 or high < low:
            raise BackendError(f"need 28*28 <= min_pixels <= max_pixels, got {low} and {high}")
        return {"shortest_edge": low, "longest_edge": high}

    # ----------------------------------------------------------------------------- inference

    def prepare_inputs(self, image: np.ndarray, instruction: str, tasks: tuple[Task, ...]) -> Any:
        """Processor outputs for one image and one prompt per task, left-padded, on the model's device."""
        from PIL import Image

        check_image(image)
        picture = Image.fromarray(np.ascontiguousarray(image))
        texts = [
            self.processor.apply_chat_template(
                build_messages(instruction, task), add_generation_prompt=True, tokenize=False
            )
            for task in tasks
        ]
        try:
            return self.encode(texts, [picture] * len(texts))
        except ValueError as err:
            raise BackendError(f"cannot preprocess the image ({image.shape[1]}x{image.shape[0]}): {err}") from None

    def encode(self, texts: list[str], images: list[Any]) -> Any:
        """Chat-templated prompts and their PIL images as model inputs: left-padded, within the engine's
        pixel limits, on its device (the one place inputs are made; evaluation batches through it)."""
        extra: dict[str, Any] = {"size": dict(self._size)} if self._size else {}
        inputs = self.processor(text=texts, images=images, padding=True, return_tensors="pt", **extra)
        return inputs.to(self.device)

    def generation_kwargs(self, settings: GenerationSettings, stopping: StoppingCriteriaList) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "max_new_tokens": settings.max_new_tokens,
            "min_new_tokens": settings.min_new_tokens or None,
            "do_sample": settings.do_sample,
            "repetition_penalty": settings.repetition_penalty,
            "eos_token_id": self._eos_ids,
            "pad_token_id": self._pad_id,
            "stopping_criteria": stopping,
        }
        if settings.do_sample:
            kwargs.update(temperature=settings.temperature, top_p=settings.top_p, top_k=None)
        else:
            kwargs.update(temperature=None, top_p=None, top_k=None)
        if self.cache_implementation == "static":
            kwargs["cache_implementation"] = "static"
        return kwargs

    def warm_up(self, tokens: int = 8) -> None:
        """One short generation on a blank frame (pays the static cache's compilation at load time,
        not inside a robot's first goal, whose deadline it would eat)."""
        blank = np.zeros((480, 640, 3), dtype=np.uint8)
        self.predict(blank, "warm up", "both", GenerationSettings(max_new_tokens=tokens, min_new_tokens=tokens))

    def _check_prompt_length(self, inputs: Any, settings: GenerationSettings) -> None:
        """Refuse a prompt over ``max_prompt_tokens``, or one whose answer could overrun the context."""
        tokens = int(inputs["input_ids"].shape[1])
        if tokens > settings.max_prompt_tokens:
            raise InputTooLarge(
                f"prompt is {tokens} tokens (instruction and image), over the limit of "
                f"{settings.max_prompt_tokens} (max_prompt_tokens); shorten the instruction, lower max_pixels "
                "or raise the limit"
            )
        if self.context_length is not None and tokens + settings.max_new_tokens > self.context_length:
            raise InputTooLarge(
                f"prompt of {tokens} tokens plus max_new_tokens {settings.max_new_tokens} exceeds the model's "
                f"context of {self.context_length} tokens; lower max_new_tokens or shorten the prompt"
            )

    def _synchronize(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def complete(self, question: Question) -> Completions:
        settings, tasks = question.settings, question.tasks
        inputs = self.prepare_inputs(question.image, question.instruction, tasks)
        self._check_prompt_length(inputs, settings)
        self._synchronize()
        generating = time.perf_counter()

        deadline = _Deadline(
            None if settings.timeout_s is None else question.started + settings.timeout_s, question.should_stop
        )
        answers = self.generate(inputs, settings, deadline, shared_image=len(tasks) > 1)
        extra: dict[str, Any] = {"batch": len(tasks), "new_tokens_max": max(a.generated_tokens for a in answers)}
        if deadline.first_token_at is not None:
            extra["first_token_s"] = deadline.first_token_at - generating
        return Completions(answers, generating - question.started, time.perf_counter() - generating, extra)

    def generate(
        self,
        inputs: Any,
        settings: GenerationSettings,
        deadline: _Deadline | None = None,
        *,
        shared_image: bool = False,
    ) -> tuple[Completion, ...]:
        """Generate for a batch of ``encode``d rows and cut each at its first end token.

        The one generation path (a goal's questions, an evaluation's batches): ``settings.seed``
        seeds sampling in a forked random stream, so the caller's stays untouched; ``deadline``
        stops it (between decode steps and between the layers of the prefill); ``shared_image``
        says every row holds the same picture, which the vision tower then encodes once.
        """
        deadline = deadline or _Deadline(None, None)
        kwargs = self.generation_kwargs(settings, StoppingCriteriaList([deadline]))
        with torch.inference_mode(), contextlib.ExitStack() as stack:
            if settings.seed is not None:
                stack.enter_context(torch.random.fork_rng(devices=[] if self.device.type == "cpu" else [self.device]))
                torch.manual_seed(settings.seed)
            deadline.watch_prefill(self._layers)
            stack.callback(deadline.unwatch)
            if shared_image:
                stack.enter_context(_vision_once(self.model, int(inputs["input_ids"].shape[0])))
            self.generate_calls += 1
            try:
                sequences = self.model.generate(**inputs, **kwargs)
            except _Interrupted:  # stopped inside a forward pass: nothing was generated
                sequences = inputs["input_ids"]
        self._synchronize()
        return self._decode(sequences, inputs, settings, deadline.reason)

    def _decode(
        self, sequences: Any, inputs: Any, settings: GenerationSettings, interrupted: str | None
    ) -> tuple[Completion, ...]:
        """Each row's text up to its first end token, and why it stopped."""
        prompt_length = inputs["input_ids"].shape[1]
        prompt_tokens = inputs["attention_mask"].sum(dim=1).tolist()
        generated = sequences[:, prompt_length:].cpu()
        eos = torch.tensor(self._eos_ids)
        answers = []
        for row, ids in enumerate(generated):
            hits = torch.isin(ids, eos).nonzero()
            if len(hits):
                count, stopped_by = int(hits[0]) + 1, "eos"
            else:
                count = len(ids)
                stopped_by = interrupted if interrupted and count < settings.max_new_tokens else "max_new_tokens"
            text = self.tokenizer.decode(ids[:count], skip_special_tokens=True)
            answers.append(Completion(text, int(prompt_tokens[row]), count, stopped_by))
        return tuple(answers)

    def close(self) -> None:
        model = getattr(self, "model", None)
        if model is not None:
            self.model = None
            del model
            if self.device.type == "cuda":
                torch.cuda.empty_cache()
