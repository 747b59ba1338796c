"""How far past its timeout a prediction runs: the margin the node's generation_timeout documents.

The engine checks the deadline (and cancellation) before every vision block and decoder layer
while the prompt is prefilled, and between decode steps after that. A timeout that expires in the
middle of the prefill therefore ends the prediction after at most one layer. This measures that
overshoot for prompts up to the node's default ``max_prompt_tokens``: for each prompt length,
the full prefill time, then the overshoot past deadlines placed at several points inside it.

    source scripts/env.sh
    python benchmarks/bench_interrupt.py                   # the embedded model on the CPU
    python benchmarks/bench_interrupt.py --model DIR --device cuda
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from vla_r1_ros.model.backends import GenerationSettings
from vla_r1_ros.model.engine import VLAR1Engine

WORDS = "pick up the red block next to the blue mug and put it on the green plate "


def instruction_of(engine: VLAR1Engine, image: np.ndarray, tokens: int) -> str:
    """An instruction whose prompt (image included) is about ``tokens`` long."""
    text = WORDS
    while True:
        inputs = engine.prepare_inputs(image, text, engine_tasks())
        if inputs["input_ids"].shape[1] >= tokens:
            return text
        text += WORDS * max(1, (tokens - int(inputs["input_ids"].shape[1])) // 20)


def engine_tasks() -> tuple:  # type: ignore[type-arg]
    from vla_r1_ros.core.protocol import Task

    return (Task.AFFORDANCE,)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="embedded")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--tokens", type=int, nargs="+", default=[1024, 4096, 8192])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    engine = VLAR1Engine(args.model, device=args.device)
    image = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    unlimited = GenerationSettings(max_new_tokens=1, max_instruction_chars=10**7, max_prompt_tokens=10**7)
    print(f"{args.model} on {args.device}, {len(engine._layers)} interruptible layers (vision blocks + decoder layers)")
    print(f"{'prompt tokens':>14} {'prefill s':>10} {'overshoot median ms':>20} {'overshoot max ms':>17}")
    for tokens in args.tokens:
        instruction = instruction_of(engine, image, tokens)
        engine.predict(image, instruction, "affordance", unlimited)  # warm-up
        prefill = statistics.median(
            dict(engine.predict(image, instruction, "affordance", unlimited).timings)["generate"]
            for _ in range(args.repeats)
        )
        overshoots = []
        for fraction in (0.1, 0.3, 0.5, 0.7, 0.9):
            for _ in range(args.repeats):
                timeout = fraction * prefill
                started = time.perf_counter()
                result = engine.predict(image, instruction, "affordance", unlimited.with_(timeout_s=timeout))
                preprocess = dict(result.timings)["preprocess"]
                elapsed = time.perf_counter() - started
                if result.predictions[0].stopped_by == "timeout":
                    overshoots.append(max(0.0, elapsed - max(timeout, preprocess)))
        prompt = engine.prepare_inputs(image, instruction, engine_tasks())["input_ids"].shape[1]
        print(
            f"{prompt:>14} {prefill:>10.3f} {statistics.median(overshoots) * 1e3:>20.1f} {max(overshoots) * 1e3:>17.1f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
