"""``vla-r1 sim-eval``: the closed-loop benchmark from the command line (see :mod:`vla_r1_ros.sim.evaluation`)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import IO, Any

__all__ = ["register"]

EXIT_OK, EXIT_USAGE, EXIT_MODEL = 0, 2, 3


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``sim-eval`` to the ``vla-r1`` command."""
    parser = commands.add_parser(
        "sim-eval",
        help="closed-loop pick or carry episodes in the simulated Panda world (no ROS)",
        description=(
            "Run N seeded episodes through the same code as the nodes: the predictor, lifting, the executor's "
            "checks and planning, simulated execution. --task pick (1-3 objects, a named target): 'pick up the "
            "X' succeeds when X rises >= 5 cm and stays in the gripper for 1 s, nothing else moves > 1 cm and the "
            "arm never touches the table. --task carry (2-3 objects; seeds without a free place are skipped): "
            "the predictor is asked for X's box and for the path of 'move the X to the Y'; X is grasped, carried "
            "along the lifted path at the carry height and put down; it succeeds when X rests within 4 cm of its "
            "place beside Y, upright, and nothing else moved more than 1 cm. Writes OUT/summary.json "
            "(success_rate, n, ci95, predictor, task, seed, failures, median latencies; for carries the median "
            "path Avg, place error and tilt), OUT/episodes.jsonl and OUT/episodes.png. Prints the summary JSON."
        ),
    )
    parser.add_argument(
        "--predictor", default="oracle", help="oracle (the truth), embedded, or a model folder/Hub id"
    )
    parser.add_argument(
        "--task", choices=("pick", "carry"), default="pick", help="what the episodes ask (default pick)"
    )
    parser.add_argument("--scenes", type=int, default=200, help="number of episodes (default 200)")
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="the first scene's seed; pick episode i uses seed + i, carries skip seeds without one",
    )
    parser.add_argument("--device", default="cpu", help="where a model runs (default cpu)")
    parser.add_argument("--out", required=True, help="folder for summary.json, episodes.jsonl and episodes.png")
    parser.set_defaults(handler=_cmd_sim_eval)


def _cmd_sim_eval(args: argparse.Namespace, out: IO[str]) -> int:
    if args.scenes < 1:
        print("vla-r1 sim-eval: --scenes must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    try:
        import pybullet  # noqa: F401
    except ImportError:
        print("vla-r1 sim-eval: pybullet is not installed (pip install -e '.[sim]')", file=sys.stderr)
        return EXIT_USAGE
    from vla_r1_ros.sim.carry import CarryOracle, run_carry_benchmark
    from vla_r1_ros.sim.evaluation import (
        episode_strip,
        oracle_for,
        progress_line,
        run_episodes,
        summarise,
        write_outputs,
    )
    from vla_r1_ros.sim.panda import PandaWorld

    oracle = CarryOracle if args.task == "carry" else oracle_for
    predictor_for = oracle if args.predictor == "oracle" else _model_predictor(args)
    if predictor_for is None:
        return EXIT_MODEL
    started = time.perf_counter()
    progress = progress_line(args.scenes, started)
    if args.task == "carry":
        summary = run_carry_benchmark(predictor_for, args.predictor, args.seed, args.scenes, args.out, progress)
        print(json.dumps(summary, indent=2), file=out)
        return EXIT_OK
    seeds = range(args.seed, args.seed + args.scenes)
    with PandaWorld() as world:
        records = run_episodes(world, predictor_for, seeds, progress=progress)
        summary = summarise(records, args.predictor, args.task, args.seed)
        summary["wall_s"] = round(time.perf_counter() - started, 1)
        strip = episode_strip(world, predictor_for(world), records)
    write_outputs(Path(args.out), summary, records, strip)
    print(json.dumps(summary, indent=2), file=out)
    return EXIT_OK


def _model_predictor(args: argparse.Namespace) -> Any:
    from vla_r1_ros.model.backends import BackendError, make_backend

    try:
        backend = make_backend(args.predictor, device=args.device)
    except BackendError as err:
        print(f"vla-r1 sim-eval: {err}", file=sys.stderr)
        return None
    return lambda _world: backend
