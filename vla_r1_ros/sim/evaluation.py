"""The closed-loop benchmark: seeded pick episodes in the simulator, summarised (``vla-r1 sim-eval``).

Each episode runs the same code as the nodes (the predictor's ``predict``, ``lift_answers``, the
waypoint executor's checks and planning, the simulated controllers) without ROS transport. The
summary holds the success rate with its Wilson 95 % interval, the failure kinds, the per-stage
median wall-clock latencies and the frame-to-motion latency (render to the first executed motion).
"""

from __future__ import annotations

import collections
import json
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from vla_r1_ros.core.runs.stats import proportion_ci
from vla_r1_ros.sim.panda import PandaWorld
from vla_r1_ros.sim.pick import EpisodeRecord, OracleBackend, Predictor, run_pick_episode
from vla_r1_ros.sim.sim_backend import SimMotionBackend

__all__ = ["run_episodes", "summarise", "write_outputs", "episode_strip"]

#: Stages that happen between the camera frame and the arm's first motion.
FRAME_TO_MOTION = ("render", "predict", "lift", "planning")


def run_episodes(
    world: PandaWorld,
    predictor_for: Callable[[PandaWorld], Predictor],
    seeds: Iterable[int],
    settings: Any = None,
    progress: Callable[[int, EpisodeRecord], None] | None = None,
    episode: Callable[..., Any] = run_pick_episode,
) -> list[Any]:
    """One episode per seed, in order (``episode``: a pick, or e.g. a carry); ``progress(i, record)`` after each."""
    backend = SimMotionBackend(world)
    predictor = predictor_for(world)
    records = []
    try:
        for i, seed in enumerate(seeds):
            records.append(episode(world, backend, predictor, seed, settings))
            if progress is not None:
                progress(i, records[-1])
    finally:
        backend.kinematics.close()
    return records


def summarise(records: list[EpisodeRecord], predictor: str, task: str, seed: int) -> dict[str, Any]:
    """Success rate, its 95 % interval, failure kinds and median latencies of ``records``."""
    wins = sum(r.success for r in records)
    rate = proportion_ci(wins, len(records))
    stages = sorted({stage for r in records for stage in r.timings})
    failures = collections.Counter(r.failure for r in records if not r.success)
    frame_to_motion = [sum(r.timings.get(stage, 0.0) for stage in FRAME_TO_MOTION) for r in records]
    ious = [r.box_iou for r in records if r.box_iou is not None]
    return {
        "predictor": predictor,
        "task": task,
        "seed": seed,
        "n": len(records),
        "successes": wins,
        "success_rate": rate.rate,
        "ci95": [rate.low, rate.high],
        "failures": dict(failures.most_common()),
        "median_latency_s": {stage: statistics.median(r.timings.get(stage, 0.0) for r in records) for stage in stages},
        "median_frame_to_motion_s": statistics.median(frame_to_motion) if records else None,
        "median_box_iou": statistics.median(ious) if ious else None,
        "median_sim_time_s": statistics.median(r.sim_time for r in records) if records else None,
    }


def episode_strip(world: PandaWorld, predictor: Predictor, records: list[EpisodeRecord], count: int = 4) -> np.ndarray:
    """A row of camera frames (BGR) of the first ``count`` episodes: the answered box and the outcome."""
    from vla_r1_ros.core.overlay import outcome_tile
    from vla_r1_ros.core.protocol import Task

    tiles = []
    for record in records[:count]:
        world.reset(record.seed)
        frame = world.render()
        parsed = predictor.predict(frame.rgb, record.instruction, Task.AFFORDANCE).prediction(Task.AFFORDANCE).parsed
        failure = None if record.success else record.failure
        tiles.append(outcome_tile(frame.rgb, [("affordance", parsed)], record.instruction, record.seed, failure))
    return np.hstack(tiles) if tiles else np.zeros((1, 1, 3), np.uint8)


def write_outputs(out: Path, summary: dict[str, Any], records: list[EpisodeRecord], strip: np.ndarray | None) -> None:
    """``out/summary.json``, ``out/episodes.jsonl`` (one line per episode) and ``out/episodes.png``."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    (out / "episodes.jsonl").write_text("".join(json.dumps(r.to_json()) + "\n" for r in records))
    if strip is not None:
        import cv2

        cv2.imwrite(str(out / "episodes.png"), strip)


def oracle_for(world: PandaWorld) -> Predictor:
    return OracleBackend(world)


def progress_line(total: int, started: float) -> Callable[[int, EpisodeRecord], None]:
    """A one-line progress report on stderr: episodes done, successes so far, time per episode."""
    wins = [0]

    def report(i: int, record: EpisodeRecord) -> None:
        wins[0] += record.success
        per = (time.perf_counter() - started) / (i + 1)
        end = "\n" if i + 1 == total else "\r"
        print(f"episode {i + 1}/{total}: {wins[0]} succeeded, {per:.2f} s each", end=end, file=sys.stderr, flush=True)

    return report
