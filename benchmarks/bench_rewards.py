#!/usr/bin/env python3
"""Vectorised trajectory distances vs a straightforward pure-Python dynamic program.

Target (issue 2): for 1000 pairs of 4-32-point trajectories the vectorised implementation is at
least 30x faster than the pure-Python program, with values equal to 1e-9. Both run in this
process on the same data; the figures are printed as times and ratios.

    python benchmarks/bench_rewards.py [--pairs 1000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "test"))

from oracle_release_reward import oriented_frechet, plain_frechet

from vla_r1_ros.core.metrics import frechet_batch, oriented_frechet_batch
from vla_r1_ros.core.rewards import score_batch


def make_pairs(count: int, seed: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    refs = [rng.uniform(0.0, 1.0, size=(int(rng.integers(4, 33)), 2)) for _ in range(count)]
    cands = [rng.uniform(0.0, 1.0, size=(int(rng.integers(4, 33)), 2)) for _ in range(count)]
    return refs, cands


def best_of(repeats: int, run: Callable[[], object]) -> tuple[float, object]:
    times, value = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        value = run()
        times.append(time.perf_counter() - started)
    return min(times), value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    refs, cands = make_pairs(args.pairs, args.seed)
    ref_lists = [[tuple(p) for p in r.tolist()] for r in refs]
    cand_lists = [[tuple(p) for p in c.tolist()] for c in cands]
    print(f"{args.pairs} pairs of 4-32-point trajectories, best of {args.repeats} runs each")

    failures = 0
    for name, python_fn, numpy_fn in (
        ("oriented Fréchet (the reward)", oriented_frechet, oriented_frechet_batch),
        ("plain discrete Fréchet (DFD)", plain_frechet, frechet_batch),
    ):
        python_time, python_values = best_of(
            max(1, args.repeats // 2), lambda f=python_fn: [f(r, c) for r, c in zip(ref_lists, cand_lists)]
        )
        numpy_time, numpy_values = best_of(args.repeats, lambda f=numpy_fn: f(refs, cands))
        max_error = float(np.max(np.abs(np.asarray(numpy_values) - np.asarray(python_values))))
        ratio = python_time / numpy_time
        verdict = "OK" if ratio >= 30.0 and max_error <= 1e-9 else "BELOW TARGET"
        failures += verdict != "OK"
        print(
            f"  {name:32s} pure Python {python_time * 1e3:8.1f} ms | NumPy {numpy_time * 1e3:7.2f} ms | "
            f"speed-up {ratio:6.1f}x (target >= 30x) | max |diff| {max_error:.1e} (<= 1e-9) | {verdict}"
        )

    completions = [f"<think>t</think><output>{c.round(4).tolist()}</output>" for c in cands]
    truths = [f"<think>t</think><output>{r.round(4).tolist()}</output>" for r in refs]
    samples = []
    for _ in range(args.repeats):
        started = time.perf_counter()
        score_batch(completions, truths, with_metrics=False)
        samples.append(time.perf_counter() - started)
    per_item = statistics.median(samples) / args.pairs
    print(
        f"  full reward (parse + score) for {args.pairs} completions: {statistics.median(samples) * 1e3:.1f} ms "
        f"({per_item * 1e6:.0f} us per completion)"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
