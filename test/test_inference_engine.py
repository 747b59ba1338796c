"""The in-process engine on the tiny Qwen2.5-VL checkpoint: real loading path, tasks, batching,
typed parse errors, timeout, sampling, offline errors, and the tiny build itself."""

from __future__ import annotations

import importlib.util
import os
import time
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from inference_support import test_image, tiny_checkpoint_dir, tiny_engine  # noqa: E402

from vla_r1_ros.core.protocol import (  # noqa: E402
    Box2D,
    ParseStatus,
    Task,
    Trajectory2D,
    build_messages,
    build_prompt,
    format_answer,
    parse_completion,
)
from vla_r1_ros.model.backends import BackendError, GenerationSettings  # noqa: E402
from vla_r1_ros.model.tiny import QWEN2_5_VL_CHAT_TEMPLATE, QWEN_SPECIAL_TOKENS, REASONING_TOKENS, build_tiny_model  # noqa: E402


@pytest.fixture(scope="module")
def engine():  # type: ignore[no-untyped-def]
    return tiny_engine()


@pytest.fixture(scope="module")
def checkpoint() -> Path:
    return tiny_checkpoint_dir()


# ------------------------------------------------------------------------------- the tiny build


def test_tiny_checkpoint_loads_offline_through_the_real_classes(checkpoint: Path, engine) -> None:  # type: ignore[no-untyped-def]
    from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration, Qwen2_5_VLProcessor

    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    processor = AutoProcessor.from_pretrained(checkpoint)
    assert type(processor) is Qwen2_5_VLProcessor  # not a bare tokenizer (torchvision works)
    assert type(engine.processor) is Qwen2_5_VLProcessor
    assert type(engine.model) is Qwen2_5_VLForConditionalGeneration
    assert engine.device.type == "cpu" and engine.dtype == torch.float32
    assert engine.attn_implementation == "sdpa"
    assert engine.model.config.text_config.rope_parameters["rope_theta"] == 10.0
    assert engine.model.config.text_config.rope_parameters["mrope_section"] == [4, 14, 14]
    # Qwen's special tokens, the eos/pad choice, and the think/output tags surviving skip_special_tokens.
    tokenizer = processor.tokenizer
    assert tokenizer.eos_token == "<|im_end|>" and tokenizer.pad_token == "<|endoftext|>"
    assert engine.model.config.image_token_id == tokenizer.convert_tokens_to_ids("<|image_pad|>")
    special_ids = [tokenizer.convert_tokens_to_ids(t) for t in QWEN_SPECIAL_TOKENS[1:]]
    assert special_ids == list(range(special_ids[0], special_ids[0] + len(special_ids)))  # Qwen's order
    assert set(special_ids) <= set(tokenizer.all_special_ids)
    text = format_answer(Box2D(0.5, 0.25, 0.125, 0.5), "the mug is on the left")
    ids = tokenizer(text + "<|im_end|>")["input_ids"]
    for tag in REASONING_TOKENS:
        assert tokenizer.convert_tokens_to_ids(tag) in ids
    assert tokenizer.decode(ids, skip_special_tokens=True) == text
    # Digits are split one by one (Qwen2's pre-tokeniser).
    assert len(tokenizer("0.123456")["input_ids"]) >= 7
    # The on-disk checkpoint is sub-MB and carries the chat template byte for byte.
    assert sum(f.stat().st_size for f in checkpoint.iterdir()) < 1_000_000
    assert (checkpoint / "chat_template.jinja").read_text() == QWEN2_5_VL_CHAT_TEMPLATE


def test_chat_template_is_trls_copy_byte_for_byte() -> None:
    spec = importlib.util.find_spec("trl")
    if spec is None or spec.origin is None:
        pytest.skip("trl is not installed")
    shipped = Path(spec.origin).parent / "chat_templates" / "qwen2_5_vl.jinja"
    assert shipped.read_bytes() == QWEN2_5_VL_CHAT_TEMPLATE.encode("utf-8")


def test_tiny_build_is_deterministic_fast_and_seed_dependent(tmp_path: Path) -> None:
    tiny_checkpoint_dir()  # imports are warm
    first = build_tiny_model(tmp_path / "a", seed=7)
    second = build_tiny_model(tmp_path / "b", seed=7)
    other = build_tiny_model(tmp_path / "c", seed=8)
    assert first.seconds < 1.0 and second.seconds < 1.0, (first.seconds, second.seconds)
    assert first.bytes_on_disk < 1_000_000 and 100_000 < first.parameters < 250_000
    names = sorted(p.name for p in first.path.iterdir())
    assert names == sorted(p.name for p in second.path.iterdir())
    assert {"config.json", "model.safetensors", "tokenizer.json", "processor_config.json"} <= set(names)
    for name in names:
        assert (first.path / name).read_bytes() == (second.path / name).read_bytes(), name
    assert (first.path / "model.safetensors").read_bytes() != (other.path / "model.safetensors").read_bytes()


# ------------------------------------------------------------------------------- predictions


def _reference_generate(engine, image: np.ndarray, instruction: str, task: Task, max_new_tokens: int) -> str:  # type: ignore[no-untyped-def]
    """Plain transformers usage, written independently of the engine."""
    from PIL import Image

    processor, model = engine.processor, engine.model
    text = processor.apply_chat_template(build_messages(instruction, task), add_generation_prompt=True, tokenize=False)
    inputs = processor(text=[text], images=[Image.fromarray(image)], return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
    new = out[0, inputs["input_ids"].shape[1] :].tolist()
    eos = {processor.tokenizer.convert_tokens_to_ids(t) for t in ("<|im_end|>", "<|endoftext|>")}
    cut = next((i + 1 for i, t in enumerate(new) if t in eos), len(new))
    return processor.tokenizer.decode(new[:cut], skip_special_tokens=True)


@pytest.mark.parametrize("task", [Task.AFFORDANCE, Task.TRAJECTORY])
def test_predict_each_task_matches_plain_transformers(engine, task: Task) -> None:  # type: ignore[no-untyped-def]
    image = test_image(1, 200, 300)
    result = engine.predict(image, "pick up the red mug", task.value, GenerationSettings(max_new_tokens=24))
    assert [stage for stage, _ in result.timings] == ["preprocess", "generate", "parse"]
    assert all(seconds >= 0.0 for _, seconds in result.timings)
    assert (result.image_width, result.image_height) == (300, 200)
    (prediction,) = result.predictions
    assert prediction.task is task
    assert prediction.prompt == build_prompt("pick up the red mug", task)
    assert prediction.raw_text == _reference_generate(engine, image, "pick up the red mug", task, 24)
    # The parsed output is the protocol parser's, with the task as expected task.
    assert prediction.parsed == parse_completion(prediction.raw_text, task)
    assert isinstance(prediction.parsed.status, ParseStatus)
    assert 1 <= prediction.generated_tokens <= 24
    assert prediction.stopped_by in ("eos", "max_new_tokens")
    assert (prediction.stopped_by == "max_new_tokens") == (prediction.generated_tokens == 24)
    # Prompt tokens: the chat-templated prompt with its one <|image_pad|> expanded to the image's
    # merged patch count (300x200 at a 56*56-pixel budget resizes to 56x28: 4x2 patches, 2 tokens).
    from PIL import Image

    template = engine.processor.apply_chat_template(
        build_messages("pick up the red mug", task), add_generation_prompt=True, tokenize=False
    )
    text_tokens = len(engine.tokenizer(template)["input_ids"])
    grid = engine.processor.image_processor(images=[Image.fromarray(image)], return_tensors="pt")["image_grid_thw"]
    image_tokens = int(grid.prod()) // 4
    assert image_tokens == 2
    assert prediction.prompt_tokens == text_tokens - 1 + image_tokens
    assert result.to_json()["predictions"][0]["task"] == task.value


def test_both_runs_in_one_left_padded_generate_and_matches_single_calls(engine, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    image = test_image(2)
    settings = GenerationSettings(max_new_tokens=20)
    singles = [
        engine.predict(image, "open the drawer", t, settings).predictions[0] for t in ("affordance", "trajectory")
    ]

    calls = []
    real_generate = engine.model.generate

    def counting_generate(**kwargs):  # type: ignore[no-untyped-def]
        calls.append(kwargs)
        return real_generate(**kwargs)

    monkeypatch.setattr(engine.model, "generate", counting_generate)
    result = engine.predict(image, "open the drawer", "both", settings)
    assert len(calls) == 1
    input_ids, mask = calls[0]["input_ids"], calls[0]["attention_mask"]
    assert input_ids.shape[0] == 2
    lengths = mask.sum(dim=1).tolist()
    assert lengths[0] != lengths[1]  # the two suffixes differ in length, so one row is padded ...
    shorter = int(np.argmin(lengths))
    assert mask[shorter, 0] == 0 and mask[shorter, -1] == 1  # ... on the left
    assert [p.task for p in result.predictions] == [Task.AFFORDANCE, Task.TRAJECTORY]
    assert result.extra["batch"] == 2
    for batched, single in zip(result.predictions, singles):
        assert batched.raw_text == single.raw_text
        assert batched.prompt_tokens == single.prompt_tokens
        assert batched.generated_tokens == single.generated_tokens


def _scripted_generate(engine, completions: list[str], eos: bool):  # type: ignore[no-untyped-def]
    """A stand-in for model.generate returning the prompt followed by scripted completions."""
    tokenizer = engine.tokenizer
    end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    pad = tokenizer.pad_token_id

    def generate(**kwargs):  # type: ignore[no-untyped-def]
        input_ids = kwargs["input_ids"]
        rows = [tokenizer(text)["input_ids"] + ([end] if eos else []) for text in completions]
        width = max(len(r) for r in rows)
        tails = torch.tensor([r + [pad] * (width - len(r)) for r in rows], dtype=input_ids.dtype)
        return torch.cat([input_ids, tails], dim=1)

    return generate


GARBAGE = [
    ("prose only, no tags", ParseStatus.NO_OUTPUT_TAG),
    ('<think>the mug</think> so, the answer is <output>{"x": 0.5, "y"', ParseStatus.UNTERMINATED_OUTPUT),
    ("<think>a</think><output></output>", ParseStatus.EMPTY_OUTPUT),
    ('<think>a</think><output>{"x": 0.5, "y": 0.5, "width": NaN, "height": 0.1}</output>', ParseStatus.NON_FINITE),
    ('<think>a</think><output>{"x": 1.5, "y": 0.5, "width": 0.2, "height": 0.1}</output>', ParseStatus.OUT_OF_RANGE),
    ("<think>a</think><output>[[0.1, 0.2], [0.3, 0.4]]</output>", ParseStatus.TASK_MISMATCH),
    ("<think>a</think><output>{x: 0.5}</output>", ParseStatus.INVALID_JSON),
    ('<think>a</think><output>{"x": 0.5}</output>', ParseStatus.WRONG_SHAPE),
]


@pytest.mark.parametrize("completion,status", GARBAGE)
def test_garbage_generations_become_typed_parse_errors(
    engine, monkeypatch, completion: str, status: ParseStatus
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(engine.model, "generate", _scripted_generate(engine, [completion], eos=True))
    result = engine.predict(test_image(3), "pick up the mug", "affordance")
    (prediction,) = result.predictions
    assert prediction.raw_text == completion
    assert prediction.parsed.status is status
    assert prediction.parsed.error  # a readable reason
    assert not prediction.parsed.ok
    assert prediction.stopped_by == "eos"
    assert prediction.generated_tokens == len(engine.tokenizer(completion)["input_ids"]) + 1


def test_scripted_valid_answers_parse_in_a_batched_call(engine, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    box = format_answer(Box2D(0.25, 0.5, 0.125, 0.25), "the handle is on the left")
    path = format_answer(Trajectory2D(((0.1, 0.9), (0.3, 0.6), (0.5, 0.5))), "move up and right")
    monkeypatch.setattr(engine.model, "generate", _scripted_generate(engine, [box, path], eos=False))
    result = engine.predict(test_image(4), "open the drawer", "both", GenerationSettings(max_new_tokens=4096))
    affordance, trajectory = result.predictions
    assert affordance.parsed.ok and affordance.parsed.box == Box2D(0.25, 0.5, 0.125, 0.25)
    assert affordance.parsed.reasoning == "the handle is on the left"
    assert trajectory.parsed.ok and trajectory.parsed.trajectory == Trajectory2D(((0.1, 0.9), (0.3, 0.6), (0.5, 0.5)))
    # The shorter row is followed by padding (pad is an end token), the longer by nothing.
    shorter, longer = sorted(result.predictions, key=lambda p: len(engine.tokenizer(p.raw_text)["input_ids"]))
    assert shorter.stopped_by == "eos" and longer.stopped_by == "max_new_tokens"


def test_timeout_is_honoured(engine) -> None:  # type: ignore[no-untyped-def]
    settings = GenerationSettings(max_new_tokens=20_000, min_new_tokens=20_000, timeout_s=0.4)
    started = time.perf_counter()
    result = engine.predict(test_image(5), "pick up the mug", "both", settings)
    elapsed = time.perf_counter() - started
    assert elapsed < 0.4 + 0.6, elapsed
    for prediction in result.predictions:
        assert prediction.stopped_by == "timeout"
        assert 1 <= prediction.generated_tokens < 20_000
        assert isinstance(prediction.parsed.status, ParseStatus)


def test_should_stop_cancels_between_decode_steps(engine) -> None:  # type: ignore[no-untyped-def]
    polls = []
    prefill_polls = len(engine._layers)  # once before each vision block and decoder layer

    def should_stop() -> bool:
        polls.append(time.perf_counter())
        return len(polls) >= prefill_polls + 5

    settings = GenerationSettings(max_new_tokens=20_000, min_new_tokens=20_000)
    result = engine.predict(test_image(5), "pick up the mug", "affordance", settings, should_stop=should_stop)
    (prediction,) = result.predictions
    assert prediction.stopped_by == "cancelled"
    assert prediction.generated_tokens == 5  # polled once per generated token
    assert isinstance(prediction.parsed.status, ParseStatus)


def test_should_stop_interrupts_the_prompt_prefill_between_layers(engine) -> None:  # type: ignore[no-untyped-def]
    """A stop asked for in the middle of the first forward pass ends it there: no token comes out."""
    polls: list[float] = []

    def should_stop() -> bool:
        polls.append(time.perf_counter())
        return len(polls) >= 3

    settings = GenerationSettings(max_new_tokens=50)
    result = engine.predict(test_image(5), "pick up the mug", "both", settings, should_stop=should_stop)
    assert len(polls) == 3, "the layers after the stop must not run"
    for prediction in result.predictions:
        assert prediction.stopped_by == "cancelled" and prediction.generated_tokens == 0
    # The hooks are gone afterwards: a normal request polls nothing and runs to its cap.
    again = engine.predict(test_image(5), "pick up the mug", "affordance", GenerationSettings(max_new_tokens=3))
    assert again.predictions[0].stopped_by in ("eos", "max_new_tokens")
    assert all(not layer._forward_pre_hooks for layer in engine._layers)


def test_timeout_holds_for_a_long_prefill(engine) -> None:  # type: ignore[no-untyped-def]
    """A prompt whose prefill alone takes far longer than the timeout still ends within one layer's time."""
    instruction = "pick up the red block next to the blue mug " * 1000  # ~23 000 tokens here
    unlimited = GenerationSettings(max_new_tokens=4, max_instruction_chars=10**6, max_prompt_tokens=10**6)
    full = engine.predict(test_image(5), instruction, "affordance", unlimited)
    cut = engine.predict(test_image(5), instruction, "affordance", unlimited.with_(timeout_s=0.05))
    full_generate, cut_generate = dict(full.timings)["generate"], dict(cut.timings)["generate"]
    assert full.predictions[0].generated_tokens >= 1
    assert cut.predictions[0].stopped_by == "timeout" and cut.predictions[0].generated_tokens == 0
    assert cut_generate < 0.5 and cut_generate < full_generate / 2, (cut_generate, full_generate)


def test_oversized_requests_are_refused_before_any_model_work(engine) -> None:  # type: ignore[no-untyped-def]
    from vla_r1_ros.model.backends import InputTooLarge

    calls = engine.generate_calls
    with pytest.raises(InputTooLarge, match=r"instruction is 2001 characters, over the limit of 2000"):
        engine.predict(test_image(5), "x" * 2001, "affordance")
    words = "pick up the red block " * 80  # under 2000 characters, over 1000 tokens
    with pytest.raises(InputTooLarge, match=r"prompt is \d+ tokens .* over the limit of 1000 \(max_prompt_tokens\)"):
        engine.predict(test_image(5), words, "affordance", GenerationSettings(max_prompt_tokens=1000))
    context = engine.context_length
    assert context == 32768
    with pytest.raises(InputTooLarge, match=f"exceeds the model's context of {context} tokens"):
        engine.predict(test_image(5), "pick up the mug", "affordance", GenerationSettings(max_new_tokens=context))
    assert engine.generate_calls == calls


def test_both_tasks_encode_their_shared_frame_once_with_the_same_answers(engine, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The vision tower sees the frame once for a "both" batch; the answers are those of encoding it per row."""
    import contextlib

    from vla_r1_ros.model import engine as engine_module

    patches: list[int] = []
    hook = engine.model.model.visual.register_forward_pre_hook(lambda _m, args: patches.append(int(args[0].shape[0])))
    try:
        settings = GenerationSettings(max_new_tokens=16)
        shared = engine.predict(test_image(8), "push the block", "both", settings)
        once = patches.copy()
        monkeypatch.setattr(engine_module, "_vision_once", lambda *_a: contextlib.nullcontext())
        patches.clear()
        separate = engine.predict(test_image(8), "push the block", "both", settings)
    finally:
        hook.remove()
    assert len(once) == 1 and patches == [2 * once[0]], (once, patches)
    assert [p.raw_text for p in shared.predictions] == [p.raw_text for p in separate.predictions]


def test_cache_implementation_auto_is_the_static_cache_on_a_gpu_and_dynamic_on_a_cpu() -> None:
    import torch

    from vla_r1_ros.model.engine import _pick_cache

    assert _pick_cache("auto", torch.device("cuda")) == "static" and _pick_cache("auto", torch.device("cpu")) is None
    assert _pick_cache("static", torch.device("cpu")) == "static" and _pick_cache(None, torch.device("cuda")) is None
    with pytest.raises(BackendError, match="unknown cache_implementation 'fast'"):
        _pick_cache("fast", torch.device("cpu"))


def test_static_kv_cache_path_gives_the_same_greedy_answer(checkpoint: Path, engine) -> None:  # type: ignore[no-untyped-def]
    from vla_r1_ros.model.engine import VLAR1Engine

    static = VLAR1Engine.from_loaded(engine.model, engine.processor, "tiny", cache_implementation="static")
    settings = GenerationSettings(max_new_tokens=16)
    for task in ("affordance", "both"):
        expected = engine.predict(test_image(8), "push the block", task, settings)
        got = static.predict(test_image(8), "push the block", task, settings)
        assert [p.raw_text for p in got.predictions] == [p.raw_text for p in expected.predictions]


def test_release_sampling_is_seeded_and_differs_from_greedy(engine) -> None:  # type: ignore[no-untyped-def]
    image = test_image(6)
    sampled = [
        engine.predict(image, "grasp the sponge", "trajectory", GenerationSettings.release(max_new_tokens=30, seed=s))
        .predictions[0]
        .raw_text
        for s in (1, 1, 2)
    ]
    greedy = engine.predict(image, "grasp the sponge", "trajectory", GenerationSettings(max_new_tokens=30)).predictions[
        0
    ]
    assert sampled[0] == sampled[1]  # same seed, same sample
    assert sampled[0] != sampled[2]  # another seed, another sample
    assert greedy.raw_text not in sampled
    release = GenerationSettings.release()
    assert (release.temperature, release.top_p, release.repetition_penalty, release.max_new_tokens) == (
        0.7,
        0.9,
        1.1,
        2048,
    )
    assert release.do_sample and not GenerationSettings().do_sample


def test_pixel_bounds_change_the_visual_token_count(checkpoint: Path, engine) -> None:  # type: ignore[no-untyped-def]
    from vla_r1_ros.model.engine import VLAR1Engine

    bigger = VLAR1Engine(str(checkpoint), device="cpu", min_pixels=112 * 112, max_pixels=112 * 112)
    image = test_image(7, 112, 112)
    settings = GenerationSettings(max_new_tokens=2)
    small = engine.predict(image, "pick up the mug", "affordance", settings).predictions[0]
    large = bigger.predict(image, "pick up the mug", "affordance", settings).predictions[0]
    assert large.prompt_tokens - small.prompt_tokens == 16 - 4
    with pytest.raises(BackendError):
        VLAR1Engine(str(checkpoint), device="cpu", min_pixels=10)


def test_bad_inputs_raise_clear_errors(engine) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(BackendError, match="H x W x 3"):
        engine.predict(np.zeros((10, 10), dtype=np.uint8), "pick up the mug")
    with pytest.raises(BackendError, match="uint8"):
        engine.predict(np.zeros((10, 10, 3), dtype=np.float32), "pick up the mug")
    with pytest.raises(BackendError, match="instruction is empty"):
        engine.predict(test_image(), "   ")
    with pytest.raises(ValueError, match="affordance, trajectory, both"):
        engine.predict(test_image(), "pick up the mug", "grasp")
    if not torch.cuda.is_available():
        from vla_r1_ros.model.engine import VLAR1Engine

        with pytest.raises(BackendError, match="no CUDA"):
            VLAR1Engine(str(tiny_checkpoint_dir()), device="cuda")


def test_missing_weights_explain_how_to_get_them(monkeypatch, tmp_path: Path) -> None:
    from huggingface_hub import constants

    from vla_r1_ros.model import engine as engine_module
    from vla_r1_ros.model.engine import ModelNotAvailableError, VLAR1Engine

    assert constants.HF_HUB_OFFLINE  # scripts/env.sh; the weights are not in this machine's cache
    with pytest.raises(ModelNotAvailableError) as info:
        VLAR1Engine("GigaAI-Research/vla-r1", device="cpu")
    message = str(info.value)
    assert "hf download GigaAI-Research/vla-r1 --local-dir ./vla-r1" in message
    assert "--model ./vla-r1" in message and constants.HF_HUB_CACHE in message
    assert "HF_HUB_OFFLINE" in message

    # Hub allowed but unreachable: no minutes of retries, the same help at once.
    monkeypatch.setattr(engine_module, "_offline_mode", lambda: False)
    monkeypatch.setattr(engine_module, "_hub_reachable", lambda timeout_s=3.0: False)
    started = time.perf_counter()
    with pytest.raises(ModelNotAvailableError, match="not reachable"):
        VLAR1Engine("GigaAI-Research/vla-r1", device="cpu")
    assert time.perf_counter() - started < 10

    missing = tmp_path / "weights" / "vla-r1"
    with pytest.raises(ModelNotAvailableError) as info:
        VLAR1Engine(str(missing), device="cpu")
    assert f"hf download GigaAI-Research/vla-r1 --local-dir {missing}" in str(info.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelNotAvailableError, match=r"no config\.json"):
        VLAR1Engine(str(tmp_path / "empty"), device="cpu")
