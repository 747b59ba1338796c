#!/usr/bin/env python3
"""Per-stage latency and decode speed of the VLA-R1 inference paths.

Default (runs anywhere, CPU): builds the tiny Qwen2.5-VL checkpoint (reports its size and build
time), then measures on a 640x480 image with a fixed number of generated tokens:

* eager ``generate`` (dynamic KV cache), one question;
* "both" questions in one batched ``generate``;
* the static KV cache path (compiled with ``torch.compile`` only on a GPU);
* the release's server path: HTTP to ``transformers serve`` on 127.0.0.1, JPEG image, sampling
  (T 0.7, top-p 0.9, repetition penalty 1.1).

``--device cuda --full-size``: the same on a randomly initialised Qwen2.5-VL-3B (the exact shapes
of VLA-R1, so the same speed as the released weights) in bf16, 640x480 (~391 visual tokens), 256
generated tokens, plain ``generate()`` (dynamic cache) vs the fast path (static cache +
torch.compile, the engine's default on a GPU), one question and "both" in one call, and the
server path on the same card. It also reports the fraction of the memory-bandwidth bound the
decode reaches (the language model's bf16 weights read once per token; ``--bandwidth-gbs``, or
the card's datasheet figure), the peak GPU memory per path, and frame -> lifted waypoints (the
best path's image -> parsed answer plus lifting a reference box on a synthetic 640x480 depth
frame: random weights answer nothing liftable). Targets (one H100 or H200): decode >= 270 tokens/s
at batch 1 and >= 3x plain ``generate()`` in the same run; frame -> lifted waypoints <= 1.0 s for
256 reasoning tokens.

Per stage: ``preprocess`` (chat template + image processor + copy to the device), ``prefill``
(up to the first generated token), ``generate`` (prefill + decode), ``parse`` (detokenise + the
protocol parser), ``total`` (image -> parsed answer). Decode tokens/s = (tokens - 1) / (generate -
prefill). Medians over ``--repeats`` runs after warm-up runs.

    python benchmarks/bench_inference.py                       # tiny checkpoint, this CPU
    python benchmarks/bench_inference.py --device cuda --full-size
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

TARGET_TOKENS_PER_S = 270.0
TARGET_SPEED_UP = 3.0
TARGET_LATENCY_S = 1.0
#: Datasheet memory bandwidth (GB/s) by card name fragment; --bandwidth-gbs overrides.
BANDWIDTH_GBS = {"H200": 4800.0, "H100 NVL": 3900.0, "H100 PCIe": 2000.0, "H100": 3350.0, "A100": 2039.0}


def bandwidth_of(card: str) -> float | None:
    return next((gbs for name, gbs in BANDWIDTH_GBS.items() if name in card), None)


def lift_seconds(repeats: int = 20) -> float:
    """Median time to lift a reference box to waypoints on a synthetic 640x480 table frame."""
    from vla_r1_ros.core.answer_lifting import LiftSettings, lift_answers
    from vla_r1_ros.core.geometry import CameraModel, DepthImage, DepthScene, SafetyLimits, register_depth
    from vla_r1_ros.core.protocol import Task, format_answer, parse_completion

    depth = np.full((480, 640), 0.8, dtype=np.float32)
    depth[200:280, 280:360] = 0.74  # a 6 cm block on the table, 0.8 m below the camera
    camera = CameraModel.from_intrinsics(600.0, 600.0, 319.5, 239.5, 640, 480)
    pose = np.diag([1.0, -1.0, -1.0, 1.0])
    pose[:3, 3] = (0.5, 0.0, 0.8)  # looking straight down at the table
    registered = register_depth(DepthImage.from_ros(depth, "32FC1"), camera)
    scene = DepthScene(registered, pose, base_frame="base", optical_frame="camera")
    from vla_r1_ros.core.protocol import Box2D

    parsed = parse_completion(format_answer(Box2D(0.5, 0.5, 0.12, 0.16), "the block"), Task.AFFORDANCE)
    settings = LiftSettings(limits=SafetyLimits())
    times = []
    for _ in range(repeats + 2):
        started = time.perf_counter()
        lift_answers({Task.AFFORDANCE: parsed}, scene, settings)
        times.append(time.perf_counter() - started)
    return statistics.median(times[2:])


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def build_full_size(device: str, save_to: Path | None, layers: int | None = None) -> tuple[Any, Any]:
    """A random bf16 Qwen2.5-VL-3B on ``device`` with the tiny tokenizer and Qwen's default pixel bounds."""
    import torch
    from transformers import GenerationConfig, Qwen2_5_VLForConditionalGeneration

    from vla_r1_ros.model.tiny import build_processor, build_tokenizer, full_size_config

    tokenizer = build_tokenizer(0, 400)
    processor = build_processor(tokenizer, 28)
    # Qwen2.5-VL's stock bounds: min 4*28*28 (3136), max 16384*28*28 pixels: 640x480 -> ~391 tokens.
    processor.image_processor.size = {"shortest_edge": 3136, "longest_edge": 16384 * 28 * 28}
    config = full_size_config(tokenizer, layers)
    torch.manual_seed(0)
    with torch.device(device):
        model = Qwen2_5_VLForConditionalGeneration._from_config(
            config, dtype=torch.bfloat16, attn_implementation="sdpa"
        )
    eos, pad = tokenizer.convert_tokens_to_ids("<|im_end|>"), tokenizer.convert_tokens_to_ids("<|endoftext|>")
    model.generation_config = GenerationConfig(
        bos_token_id=pad, eos_token_id=[eos, pad], pad_token_id=pad, do_sample=False
    )
    model.eval()
    if save_to is not None:
        model.save_pretrained(save_to)
        processor.save_pretrained(save_to)
    return model, processor


def median_stages(results: list[Any]) -> dict[str, float]:
    stages: dict[str, list[float]] = {}
    for result in results:
        for stage, seconds in result.timings:
            stages.setdefault(stage, []).append(seconds)
        if "first_token_s" in result.extra:
            stages.setdefault("prefill", []).append(result.extra["first_token_s"])
        stages.setdefault("total", []).append(result.total_seconds)
        stages.setdefault("tokens", []).append(float(max(p.generated_tokens for p in result.predictions)))
        stages.setdefault("prompt_tokens", []).append(float(result.predictions[0].prompt_tokens))
    return {stage: statistics.median(values) for stage, values in stages.items()}


def bench(backend: Any, image: np.ndarray, task: str, settings: Any, warmup: int, repeats: int) -> dict[str, float]:
    for _ in range(warmup):
        backend.predict(image, "pick up the red mug", task, settings)
    runs = [backend.predict(image, "pick up the red mug", task, settings) for _ in range(repeats)]
    stats = median_stages(runs)
    tokens = stats["tokens"]
    decode_s = stats["generate"] - stats.get("prefill", 0.0)
    if "prefill" in stats and tokens > 1 and decode_s > 0:
        stats["decode_tok_s"] = (tokens - 1) / decode_s
    stats["e2e_tok_s"] = tokens * len(runs[0].predictions) / stats["generate"]
    return stats


def report(label: str, stats: dict[str, float]) -> None:
    parts = [
        f"{stage} {stats[stage] * 1000:8.1f} ms"
        for stage in ("preprocess", "prefill", "generate", "parse", "total")
        if stage in stats
    ]
    speed = f"decode {stats['decode_tok_s']:7.1f} tok/s" if "decode_tok_s" in stats else "decode      n/a"
    print(
        f"{label:<52} prompt {stats['prompt_tokens']:5.0f} tokens {stats['tokens']:5.0f} | "
        + " | ".join(parts)
        + f" | {speed} | generate {stats['e2e_tok_s']:7.1f} tok/s",
        flush=True,
    )


def start_server(checkpoint: Path, device: str) -> tuple[subprocess.Popen[bytes], str]:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [
        str(Path(sys.executable).parent / "transformers"),
        "serve",
        str(checkpoint),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--device",
        device,
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"transformers serve exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url + "/v1/models", timeout=2):
                return process, url
        except OSError:
            time.sleep(0.5)
    process.kill()
    raise RuntimeError("transformers serve did not start")


def main() -> int:
    workdir = Path(tempfile.mkdtemp(prefix="vla_r1_bench_"))
    try:
        return run(workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)  # the full-size checkpoint is 7.5 GB


def run(workdir: Path) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument(
        "--full-size", action="store_true", help="random Qwen2.5-VL-3B (VLA-R1 shapes) in bf16; needs a GPU"
    )
    parser.add_argument(
        "--tokens", type=int, default=None, help="generated tokens per answer (default 256 full size, 128 tiny)"
    )
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per path (default 5 full size, 3 tiny)")
    parser.add_argument(
        "--size", choices=("tiny", "small"), default="tiny", help="tiny checkpoint variant for the CPU path"
    )
    parser.add_argument("--skip-server", action="store_true", help="skip the HTTP server path")
    parser.add_argument("--skip-static", action="store_true", help="skip the static KV cache (+ compile) path")
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
    parser.add_argument(
        "--bandwidth-gbs", type=float, default=None, help="the card's memory bandwidth (default: its datasheet figure)"
    )
    parser.add_argument(
        "--layers",
        type=int,
        default=None,
        help=(
            "smoke test only: full-size widths with this many text and vision layers "
            "(allows --full-size on a CPU; the figures are then meaningless)"
        ),
    )
    args = parser.parse_args()
    if args.full_size and not args.device.startswith("cuda") and args.layers is None:
        parser.error("--full-size needs --device cuda (a 3B model decodes at a few tokens/s on a CPU)")

    import torch

    from vla_r1_ros.model.backends import GenerationSettings, RemoteChatBackend
    from vla_r1_ros.model.engine import VLAR1Engine
    from vla_r1_ros.model.tiny import build_tiny_model

    tokens = args.tokens or (256 if args.full_size else 128)
    repeats = args.repeats or (5 if args.full_size else 3)
    image = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    fixed = GenerationSettings(max_new_tokens=tokens, min_new_tokens=tokens)  # greedy, exactly `tokens`
    figures: dict[str, Any] = {"device": args.device, "tokens": tokens, "repeats": repeats, "image": [640, 480]}
    if args.device.startswith("cuda"):
        figures["card"] = torch.cuda.get_device_name(0)
    else:
        figures["cpu_threads"] = torch.get_num_threads()
    print(
        f"device: {figures.get('card', f'CPU, {torch.get_num_threads()} threads')}; image 640x480; "
        f"{tokens} generated tokens; median of {repeats}"
    )

    if args.full_size:
        log("building a random Qwen2.5-VL-3B in bf16 ...")
        checkpoint = workdir / "qwen2_5_vl_3b_random" if not args.skip_server else None
        started = time.perf_counter()
        model, processor = build_full_size(args.device, checkpoint, args.layers)
        print(
            f"full-size model: {sum(p.numel() for p in model.parameters()) / 1e9:.3f} B params, "
            f"built in {time.perf_counter() - started:.1f} s"
        )
        eager = VLAR1Engine.from_loaded(model, processor, "random Qwen2.5-VL-3B", cache_implementation="dynamic")
        static = VLAR1Engine.from_loaded(model, processor, "random Qwen2.5-VL-3B", cache_implementation="static")
        text_bytes = 2 * sum(p.numel() for n, p in model.named_parameters() if ".visual." not in f".{n}")
        warmup = 2
    else:
        build = build_tiny_model(workdir / "tiny", seed=0, size=args.size)
        checkpoint = build.path
        print(
            f"tiny checkpoint ({args.size}): {build.parameters:,} params, {build.bytes_on_disk / 1e6:.2f} MB on disk, "
            f"built in {build.seconds:.3f} s (first build in this process)"
        )
        rebuild = build_tiny_model(workdir / "tiny2", seed=0, size=args.size)
        print(f"rebuild (imports warm): {rebuild.seconds:.3f} s")
        figures["tiny"] = {
            "parameters": build.parameters,
            "bytes": build.bytes_on_disk,
            "build_s": build.seconds,
            "rebuild_s": rebuild.seconds,
        }
        eager = VLAR1Engine(str(checkpoint), device=args.device, cache_implementation="dynamic")
        static = VLAR1Engine(str(checkpoint), device=args.device, cache_implementation="static")
        text_bytes = 0
        warmup = 1

    results: dict[str, dict[str, float]] = {}
    cuda = args.device.startswith("cuda")

    def measure(key: str, label: str, engine: Any, task: str, extra_warmup: int = 0) -> None:
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        results[key] = bench(engine, image, task, fixed, warmup + extra_warmup, repeats)
        if cuda:
            results[key]["peak_gpu_gb"] = torch.cuda.max_memory_allocated() / 1e9
        report(label, results[key])

    measure("eager", "plain generate (dynamic cache), 1 question", eager, "affordance")
    measure("eager_both", "plain generate, 'both' in one call (frame encoded once)", eager, "both")
    if not args.skip_static:
        label = "fast: static KV cache + torch.compile" if cuda else "static KV cache (torch.compile only on GPU)"
        measure("static", label, static, "affordance", 2 if cuda else 0)
        measure("static_both", f"{label}, 'both' in one call", static, "both")
    lift = lift_seconds()
    figures["lift_s"] = lift
    print(f"lifting a box to waypoints (synthetic 640x480 depth): {lift * 1000:.2f} ms")
    bandwidth = args.bandwidth_gbs or (bandwidth_of(figures.get("card", "")) if cuda else None)
    if bandwidth and text_bytes:
        bound = bandwidth * 1e9 / text_bytes
        figures["bandwidth_bound_tok_s"] = bound
        for stats in results.values():
            if "decode_tok_s" in stats:
                stats["bandwidth_fraction"] = stats["decode_tok_s"] / bound
        print(
            f"bandwidth bound: {bandwidth:.0f} GB/s / {text_bytes / 1e9:.2f} GB of bf16 weights = {bound:.0f} tok/s; "
            + ", ".join(f"{k} {v['bandwidth_fraction']:.0%}" for k, v in results.items() if "bandwidth_fraction" in v)
        )

    if not args.skip_server and checkpoint is not None:
        log("starting transformers serve on 127.0.0.1 ...")
        if args.full_size:
            del eager, static, model
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        process, url = start_server(checkpoint, "cuda" if args.device.startswith("cuda") else "cpu")
        try:
            from transformers import AutoTokenizer

            tok = AutoTokenizer.from_pretrained(checkpoint)
            eos_bias = {str(tok.convert_tokens_to_ids(t)): -100.0 for t in ("<|im_end|>", "<|endoftext|>")}
            # The release's client: JPEG, sampling (T 0.7, top-p 0.9, repetition 1.1). A logit bias keeps
            # end-of-sequence away so every run decodes `tokens` tokens, as on the other paths.
            remote = RemoteChatBackend(url, str(checkpoint), server="transformers", extra_body={"logit_bias": eos_bias})
            sampled = GenerationSettings.release(max_new_tokens=tokens)
            results["server"] = bench(remote, image, "affordance", sampled, 1, repeats)
            report("server: HTTP + JPEG + sampling (transformers serve)", results["server"])
            remote.close()
        finally:
            process.terminate()
            process.wait(30)

    if args.full_size and args.layers is None and "static" in results:
        fast, plain = results["static"].get("decode_tok_s", 0.0), results["eager"].get("decode_tok_s", 1e-9)
        to_waypoints = results["static"]["total"] + lift
        figures["fast_over_plain"] = fast / plain
        figures["frame_to_waypoints_s"] = to_waypoints
        print(
            f"targets: decode >= {TARGET_TOKENS_PER_S:.0f} tok/s -> {fast:.0f} "
            f"({'met' if fast >= TARGET_TOKENS_PER_S else 'NOT met'}); >= {TARGET_SPEED_UP:.0f}x plain generate -> "
            f"{fast / plain:.1f}x ({'met' if fast / plain >= TARGET_SPEED_UP else 'NOT met'}); frame -> lifted "
            f"waypoints <= {TARGET_LATENCY_S:.1f} s -> {to_waypoints:.2f} s "
            f"({'met' if to_waypoints <= TARGET_LATENCY_S else 'NOT met'})"
        )
    figures["results"] = results
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.exit(main())
