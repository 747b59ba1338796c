#!/usr/bin/env python3
"""Batched trajectory distances vs a straightforward pure-Python dynamic program.

Target: for 1000 pairs of 4-32-point trajectories the batched implementation (compiled
recurrence, vectorised arccos) is at least 30x faster than the pure-Python program, with values
equal to 1e-9. Both run in this process on the same data, rounds interleaved so that machine load
hits both alike; the figures are printed as times and ratios, and the exit code is 1 below target.

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


def interleaved(
    rounds: int, first: Callable[[], object], second: Callable[[], object]
) -> tuple[list[float], list[float], object, object]:
    """Alternate the two runs so that machine noise hits both alike; returns their times."""
    times_first, times_second, value_first, value_second = [], [], None, None
    for _ in range(rounds):
        started = time.perf_counter()
        value_first = first()
        times_first.append(time.perf_counter() - started)
        started = time.perf_counter()
        value_second = second()
        times_second.append(time.perf_counter() - started)
    return times_first, times_second, value_first, value_second


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    refs, cands = make_pairs(args.pairs, args.seed)
    ref_lists = [[tuple(p) for p in r.tolist()] for r in refs]
    cand_lists = [[tuple(p) for p in c.tolist()] for c in cands]
    print(
        f"{args.pairs} pairs of 4-32-point trajectories, {args.repeats} interleaved rounds (medians), "
        "compiled batch on one thread"
    )

    failures = 0
    for name, python_fn, numpy_fn in (
        ("oriented Fréchet (the reward)", oriented_frechet, oriented_frechet_batch),
        ("plain discrete Fréchet (DFD)", plain_frechet, frechet_batch),
    ):
        python_times, numpy_times, python_values, numpy_values = interleaved(
            args.repeats,
            lambda f=python_fn: [f(r, c) for r, c in zip(ref_lists, cand_lists)],
            lambda f=numpy_fn: f(refs, cands),
        )
        max_error = float(np.max(np.abs(np.asarray(numpy_values) - np.asarray(python_values))))
        ratios = [p / n for p, n in zip(python_times, numpy_times)]
        ratio = statistics.median(ratios)
        verdict = "OK" if ratio >= 30.0 and max_error <= 1e-9 else "BELOW TARGET"
        failures += verdict != "OK"
        print(
            f"  {name:30s} pure Python {statistics.median(python_times) * 1e3:7.1f} ms | "
            f"batch {statistics.median(numpy_times) * 1e3:6.2f} ms | speed-up median {ratio:5.1f}x "
            f"(range {min(ratios):.1f}-{max(ratios):.1f}; target >= 30x) | "
            f"max |diff| {max_error:.1e} (<= 1e-9) | {verdict}"
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
