#!/usr/bin/env python3
"""Closed-loop pick success of the simulated Panda with the oracle predictor, and what it costs.

Each episode i is the seeded scene ``--seed + i`` (1-3 objects from the training vocabulary):
render, oracle box of the named object, lift with the geometry core, safety filter, plan checks,
plan, open, approach, close, lift 10 cm, hold 1 s (``vla_r1_ros.sim.pick``). With the oracle a
failure is a bug in lifting, planning or execution, so the target is >= 95 % success.

The report: successes with a Wilson 95 % interval, every failure kind with its seeds and first
reason, wall-clock seconds per episode (mean, median, per stage) and simulated seconds per
episode. ``--records`` writes one JSON line per episode. ``--camera oblique`` uses a camera in
front of the table looking down at 40 degrees instead of the default top-down one.

    python benchmarks/bench_sim_pick.py [--episodes 200] [--seed 0] [--camera top_down|oblique]
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vla_r1_ros.sim.panda import CameraSetup, PandaWorld
from vla_r1_ros.sim.pick import EpisodeRecord, OracleBackend, run_pick_episode
from vla_r1_ros.sim.sim_backend import SimMotionBackend


def wilson_interval(successes: int, trials: int, z: float = 1.959964) -> tuple[float, float]:
    """The Wilson score interval of a binomial proportion (sound near 0 and 1, unlike the normal one)."""
    if trials == 0:
        return 0.0, 1.0
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return max(0.0, centre - half), min(1.0, centre + half)


def report(records: list[EpisodeRecord], wall: float) -> str:
    n = len(records)
    wins = sum(r.success for r in records)
    lo, hi = wilson_interval(wins, n)
    lines = [f"success {wins}/{n} = {100 * wins / n:.1f} % (95 % CI {100 * lo:.1f}-{100 * hi:.1f} %, Wilson)"]
    failures: dict[str, list[EpisodeRecord]] = collections.defaultdict(list)
    for r in records:
        if not r.success:
            failures[r.failure].append(r)
    for kind, items in sorted(failures.items(), key=lambda kv: -len(kv[1])):
        seeds = ", ".join(str(r.seed) for r in items[:10]) + (" ..." if len(items) > 10 else "")
        lines.append(f"  {kind}: {len(items)} (seeds {seeds}); first: {items[0].detail[:240]}")
    totals = [r.timings["total"] for r in records]
    lines.append(
        f"wall per episode: mean {statistics.fmean(totals):.3f} s, median {statistics.median(totals):.3f} s "
        f"(run {wall:.1f} s in all)"
    )
    stages = sorted({k for r in records for k in r.timings} - {"total"})
    lines.append(
        "  per stage (mean s): "
        + ", ".join(f"{k} {statistics.fmean(r.timings.get(k, 0.0) for r in records):.4f}" for k in stages)
    )
    lines.append(f"simulated per episode: mean {statistics.fmean(r.sim_time for r in records):.1f} s")
    ious = [r.box_iou for r in records if r.box_iou is not None]
    errors = [r.lift_error for r in records if r.lift_error is not None]
    if ious and errors:
        lines.append(
            f"answer IoU median {statistics.median(ious):.3f}; lifted point to the true top centre: "
            f"median {1000 * statistics.median(errors):.1f} mm, max {1000 * max(errors):.1f} mm"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0, help="first scene seed")
    parser.add_argument("--camera", choices=("top_down", "oblique"), default="top_down")
    parser.add_argument("--records", type=Path, help="write one JSON line per episode here")
    args = parser.parse_args(argv)
    camera = CameraSetup.oblique() if args.camera == "oblique" else CameraSetup()
    records = []
    start = time.perf_counter()
    with PandaWorld(camera) as world:
        backend, oracle = SimMotionBackend(world), OracleBackend(world)
        try:
            for i in range(args.episodes):
                records.append(run_pick_episode(world, backend, oracle, args.seed + i))
        finally:
            backend.kinematics.close()
    wall = time.perf_counter() - start
    if args.records:
        args.records.write_text("".join(json.dumps(r.to_json()) + "\n" for r in records))
    print(report(records, wall))
    return 0


if __name__ == "__main__":
    sys.exit(main())
