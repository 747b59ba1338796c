"""Build a tiny Qwen2.5-VL checkpoint offline: the real classes, a tiny config, random weights.

The folder it writes loads through exactly the same path as the released VLA-R1 weights
(``Qwen2_5_VLForConditionalGeneration.from_pretrained`` + ``AutoProcessor.from_pretrained``), so
tests, the CLI and the ROS node can be exercised end to end with no model hub. Its answers are
random text (the weights are random); it exists to test plumbing and measure overheads, not to
point at objects.

What it contains:

* a byte-level BPE tokenizer trained from scratch with ``tokenizers`` on synthetic VLA-R1 text,
  with Qwen2's normaliser, split regex and decoder, Qwen's special tokens (eos ``<|im_end|>``,
  pad ``<|endoftext|>``) and ``<think> </think> <output> </output>`` as normal added tokens (so
  they survive ``skip_special_tokens=True``);
* TRL's copy of Qwen2.5-VL's chat template, byte for byte (:data:`QWEN2_5_VL_CHAT_TEMPLATE`);
* the stock Qwen2-VL image and video processors with min = max pixels (a fixed, small visual
  token count per image);
* a Qwen2.5-VL config with ``rope_theta`` 10 and ``mrope_section`` [4, 14, 14] (head_dim 64), the
  setting with which tiny models learned position in our CPU trials (training/results/README.md).

Everything is deterministic from ``seed``: two builds with the same seed and size write
byte-identical files.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.protocol import Box2D, Task, Trajectory2D, build_prompt, format_answer

__all__ = [
    "QWEN2_5_VL_CHAT_TEMPLATE",
    "QWEN_SPECIAL_TOKENS",
    "REASONING_TOKENS",
    "TINY_SIZES",
    "TinySize",
    "TinyBuild",
    "build_tiny_model",
    "build_tokenizer",
    "full_size_config",
    "tiny_config",
]

# Qwen2.5-VL's original chat template as TRL ships it (trl/chat_templates/qwen2_5_vl.jinja), byte
# for byte: TRL recognises it and swaps in its training variant for assistant_only_loss=True.
QWEN2_5_VL_CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}"
    "{{ message['content'] }}<|im_end|>\n{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}"
    "Picture {{ image_count.value }}: {% endif %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}{% if add_vision_id %}"
    "Video {{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

#: Qwen2.5-VL's special tokens, in the order of their ids in the real tokenizer.
QWEN_SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)

#: VLA-R1's tags, added as normal (non-special) tokens so decoding keeps them.
REASONING_TOKENS = ("<think>", "</think>", "<output>", "</output>")

# Qwen2's pre-tokenisation regex (digits split one by one).
_QWEN2_SPLIT_REGEX = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
    r"""|\s*[\r\n]+|\s+(?!\S)|\s+"""
)


@dataclass(frozen=True)
class TinySize:
    """Shapes of one tiny variant."""

    name: str
    bpe_vocab: int  # BPE vocabulary before the special and added tokens
    text_hidden: int
    text_layers: int
    text_heads: int
    text_kv_heads: int
    text_intermediate: int
    vision_hidden: int
    vision_depth: int
    vision_heads: int
    vision_intermediate: int
    image_px: int  # min = max pixels = image_px ** 2
    # Weight init std. 0.3 makes the random tiny model babble varied tokens (with 0.02 it repeats
    # one token forever), which exercises decoding and parsing; "small" keeps the usual 0.02 for training.
    init_std: float = 0.02


TINY_SIZES: dict[str, TinySize] = {
    # ~0.2 M parameters, < 1 MB on disk, builds in well under a second: for tests.
    "tiny": TinySize("tiny", 400, 64, 2, 1, 1, 128, 32, 1, 1, 64, 56, init_std=0.3),
    # ~2.9 M parameters, ~13.5 MB: a config of the size that learned to localise on CPU, with a
    # 512-wide MLP so that a trained checkpoint stays under 15 MB.
    "small": TinySize("small", 1200, 256, 4, 4, 2, 512, 128, 2, 2, 256, 112),
}


@dataclass(frozen=True)
class TinyBuild:
    """What :func:`build_tiny_model` wrote."""

    path: Path
    size: str
    seed: int
    parameters: int
    bytes_on_disk: int
    seconds: float


def _synthetic_corpus(rng: random.Random, lines: int = 600) -> list[str]:
    """VLA-R1-like text for training the tokenizer: prompts, reasoning and answers."""
    objects = ["mug", "red block", "blue cup", "banana", "drawer handle", "sponge", "bottle", "green bowl"]
    verbs = ["pick up the", "grasp the", "move the", "push the", "open the", "place the", "put the"]
    places = ["on the plate", "into the box", "to the left", "next to the bowl", "", ""]
    corpus: list[str] = []
    for index in range(lines):
        instruction = f"{rng.choice(verbs)} {rng.choice(objects)} {rng.choice(places)}".strip()
        task = Task.AFFORDANCE if index % 2 == 0 else Task.TRAJECTORY
        corpus.append(build_prompt(instruction, task))
        reasoning = (
            f"The task is to {instruction}. The {rng.choice(objects)} is at the "
            f"{rng.choice(['left', 'right', 'centre', 'top', 'bottom'])} of the image; the gripper is nearby."
        )
        if task is Task.AFFORDANCE:
            answer: Box2D | Trajectory2D = Box2D(*(round(rng.random(), rng.randint(2, 3)) for _ in range(4)))
        else:
            points = tuple((round(rng.random(), 3), round(rng.random(), 3)) for _ in range(rng.randint(2, 6)))
            answer = Trajectory2D(points)
        corpus.append(format_answer(answer, reasoning))
    return corpus


def build_tokenizer(seed: int = 0, bpe_vocab: int = 400) -> Any:
    """A Qwen2 tokenizer (transformers ``Qwen2Tokenizer``) trained from scratch, deterministic from ``seed``."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import AddedToken, Qwen2Tokenizer

    raw = Tokenizer(models.BPE())
    raw.normalizer = normalizers.NFC()
    raw.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(_QWEN2_SPLIT_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    raw.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=bpe_vocab,
        min_frequency=2,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=[QWEN_SPECIAL_TOKENS[0]],
    )
    raw.train_from_iterator(_synthetic_corpus(random.Random(seed)), trainer=trainer)
    state = json.loads(raw.to_str())
    vocab: dict[str, int] = state["model"]["vocab"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in state["model"]["merges"]]
    tokenizer = Qwen2Tokenizer(
        vocab=vocab,
        merges=merges,  # type: ignore[arg-type]
        unk_token=None,  # type: ignore[arg-type]
        bos_token=None,
        eos_token="<|endoftext|>",  # <|im_end|> once it exists, so that ids follow Qwen's order
        pad_token="<|endoftext|>",
        errors="replace",
        model_max_length=32768,
        clean_up_tokenization_spaces=False,
        split_special_tokens=False,
    )
    # Special tokens keep Qwen's order (ids follow the BPE vocabulary); the tags are normal tokens.
    tokenizer.add_tokens([AddedToken(t, special=True, normalized=False) for t in QWEN_SPECIAL_TOKENS])
    tokenizer.add_special_tokens(
        {"additional_special_tokens": [t for t in QWEN_SPECIAL_TOKENS if t not in ("<|endoftext|>", "<|im_end|>")]}
    )
    tokenizer.eos_token = "<|im_end|>"
    tokenizer.add_tokens([AddedToken(t, special=False, normalized=False) for t in REASONING_TOKENS])
    tokenizer.padding_side = "left"
    tokenizer.chat_template = QWEN2_5_VL_CHAT_TEMPLATE
    return tokenizer


def tiny_config(size: TinySize, tokenizer: Any) -> Any:
    """A Qwen2.5-VL config with ``size``'s shapes whose token ids match ``tokenizer``."""
    from transformers import Qwen2_5_VLConfig

    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in QWEN_SPECIAL_TOKENS}
    head_dim = size.text_hidden // size.text_heads
    if head_dim != 64:
        raise ValueError("the tiny configs keep head_dim 64 so that mrope_section [4, 14, 14] applies")
    text_config = {
        "vocab_size": len(tokenizer),
        "hidden_size": size.text_hidden,
        "intermediate_size": size.text_intermediate,
        "num_hidden_layers": size.text_layers,
        "num_attention_heads": size.text_heads,
        "num_key_value_heads": size.text_kv_heads,
        "max_position_embeddings": 32768,
        "rms_norm_eps": 1e-6,
        "hidden_act": "silu",
        "rope_parameters": {"rope_type": "default", "rope_theta": 10.0, "mrope_section": [4, 14, 14]},
        "bos_token_id": ids["<|endoftext|>"],
        "eos_token_id": ids["<|im_end|>"],
        "pad_token_id": ids["<|endoftext|>"],
        "use_sliding_window": False,
        "initializer_range": size.init_std,
    }
    vision_config = {
        "depth": size.vision_depth,
        "hidden_size": size.vision_hidden,
        "intermediate_size": size.vision_intermediate,
        "num_heads": size.vision_heads,
        "out_hidden_size": size.text_hidden,
        "patch_size": 14,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
        "window_size": 112,
        "fullatt_block_indexes": [size.vision_depth - 1],
        "tokens_per_second": 2,
        "hidden_act": "silu",
        "initializer_range": size.init_std,
    }
    return Qwen2_5_VLConfig(  # type: ignore[call-arg]  # initializer_range is a PreTrainedConfig kwarg
        text_config=text_config,
        vision_config=vision_config,
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=True,
        initializer_range=size.init_std,
    )


def full_size_config(tokenizer: Any, layers: int | None = None) -> Any:
    """Qwen2.5-VL-3B-Instruct's config (VLA-R1's shapes), with token ids taken from ``tokenizer``.

    The one home of the released model's shapes (the benchmarks and the GPU check build random
    full-size models from it). ``layers`` cuts the text and vision depth for a quick CPU smoke run.
    """
    from transformers import Qwen2_5_VLConfig

    ids = {
        t: tokenizer.convert_tokens_to_ids(t)
        for t in ("<|endoftext|>", "<|im_end|>", "<|image_pad|>", "<|video_pad|>", "<|vision_start|>", "<|vision_end|>")
    }
    return Qwen2_5_VLConfig(
        text_config={
            "vocab_size": 151936,
            "hidden_size": 2048,
            "intermediate_size": 11008,
            "num_hidden_layers": layers or 36,
            "num_attention_heads": 16,
            "num_key_value_heads": 2,
            "max_position_embeddings": 128000,
            "rms_norm_eps": 1e-6,
            "hidden_act": "silu",
            "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [16, 24, 24]},
            "use_sliding_window": False,
            "sliding_window": 32768,
            "max_window_layers": 70,
            "bos_token_id": ids["<|endoftext|>"],
            "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"],
        },
        vision_config={
            "depth": layers or 32,
            "hidden_size": 1280,
            "intermediate_size": 3420,
            "num_heads": 16,
            "in_channels": 3,
            "out_hidden_size": 2048,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "window_size": 112,
            "fullatt_block_indexes": [7, 15, 23, 31] if layers is None else [layers - 1],
            "tokens_per_second": 2,
            "hidden_act": "silu",
        },
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=True,
    )


def build_processor(tokenizer: Any, image_px: int) -> Any:
    """The stock Qwen2.5-VL processor (needs torchvision) with a fixed ``image_px``² pixel budget."""
    from transformers import Qwen2_5_VLProcessor, Qwen2VLImageProcessor, Qwen2VLVideoProcessor

    pixels = image_px * image_px
    image_processor = Qwen2VLImageProcessor(min_pixels=pixels, max_pixels=pixels)
    video_processor = Qwen2VLVideoProcessor(min_pixels=pixels, max_pixels=pixels)
    return Qwen2_5_VLProcessor(  # type: ignore[no-untyped-call]
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=video_processor,
        chat_template=QWEN2_5_VL_CHAT_TEMPLATE,
    )


def _directory_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def build_tiny_model(out_dir: str | Path, seed: int = 0, size: str = "tiny") -> TinyBuild:
    """Build, save and return a description of a tiny Qwen2.5-VL checkpoint in ``out_dir``."""
    if size not in TINY_SIZES:
        raise ValueError(f"unknown tiny size {size!r}; expected one of: {', '.join(TINY_SIZES)}")
    start = time.perf_counter()
    import torch
    from transformers import GenerationConfig, Qwen2_5_VLForConditionalGeneration

    spec = TINY_SIZES[size]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    tokenizer = build_tokenizer(seed, spec.bpe_vocab)
    processor = build_processor(tokenizer, spec.image_px)
    config = tiny_config(spec, tokenizer)

    with torch.random.fork_rng(devices=[]):  # CPU generator only; the caller's RNG is untouched
        torch.manual_seed(seed)
        model = Qwen2_5_VLForConditionalGeneration(config).to(torch.float32).eval()  # type: ignore[arg-type]
    eos, pad = tokenizer.convert_tokens_to_ids("<|im_end|>"), tokenizer.convert_tokens_to_ids("<|endoftext|>")
    model.generation_config = GenerationConfig(  # type: ignore[no-untyped-call]
        bos_token_id=pad, eos_token_id=[eos, pad], pad_token_id=pad, do_sample=False
    )
    model.save_pretrained(out)
    processor.save_pretrained(out)
    parameters = sum(p.numel() for p in model.parameters())
    return TinyBuild(out, size, seed, parameters, _directory_bytes(out), time.perf_counter() - start)
