"""Helpers shared by the test_inference*.py files: one tiny checkpoint and one engine per session.

Building the tiny checkpoint costs ~0.1 s once torch and transformers are imported; this module
builds it once per pytest process (in a temporary folder removed at exit) and loads one engine.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import socket
import tempfile
from pathlib import Path

import numpy as np

TINY_SEED = 0


@functools.cache
def tiny_checkpoint_dir(seed: int = TINY_SEED) -> Path:
    from vla_r1_ros.model.tiny import build_tiny_model

    root = Path(tempfile.mkdtemp(prefix="vla_r1_tiny_"))
    atexit.register(shutil.rmtree, root, True)
    return build_tiny_model(root / f"tiny-{seed}", seed=seed).path


@functools.cache
def endless_checkpoint_dir() -> Path:
    """A copy of the tiny checkpoint that never ends its answer, for tests that need a long generation.

    Its end tokens' (tied) embedding rows are zero, so their logit is 0 while hundreds of random
    rows score above it: greedy decoding never picks them and runs to ``max_new_tokens``, whatever
    the image and instruction.
    """
    from safetensors.torch import load_file, save_file
    from transformers import AutoTokenizer

    source = tiny_checkpoint_dir()
    out = source.parent / f"{source.name}-endless"
    shutil.copytree(source, out)
    tokenizer = AutoTokenizer.from_pretrained(out)
    ends = tokenizer.convert_tokens_to_ids(["<|im_end|>", "<|endoftext|>"])
    for weights in out.glob("*.safetensors"):
        tensors = load_file(weights)
        for name, tensor in tensors.items():
            if name.endswith(("embed_tokens.weight", "lm_head.weight")):
                tensor[ends] = 0.0
        save_file(tensors, weights, metadata={"format": "pt"})
    return out


@functools.cache
def tiny_engine():  # type: ignore[no-untyped-def]
    from vla_r1_ros.model.engine import VLAR1Engine

    return VLAR1Engine(str(tiny_checkpoint_dir()), device="cpu")


def test_image(seed: int = 0, height: int = 240, width: int = 320) -> np.ndarray:
    """A deterministic random RGB image."""
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


test_image.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
