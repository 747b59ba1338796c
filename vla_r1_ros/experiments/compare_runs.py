"""``vla-r1 compare-runs``: measure recorded runs and compare the study's conditions.

    vla-r1 compare-runs BAG_OR_FOLDER... --out DIR [--labels labels.csv] [--tlx tlx.csv]
                        [--urdf FILE --link LINK] [--table-height Z] [--lowpass-hz HZ] ...

Writes DIR/summary.json, DIR/runs.csv, DIR/report.md and DIR/plots/; prints one JSON line with
the counts and paths on stdout. Exit 0 when every bag was measured, 1 when some could not be
(each named, with its error, on stderr and in the outputs; the rest are compared), 2 on bad input
(no bags, unreadable tables, a URDF or link that does not load).

This module only parses arguments until the command runs: the analysis dependencies (rosbags,
pinocchio, scipy, matplotlib) load then, so ``vla-r1 --help`` does not need them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import IO, Any

from vla_r1_ros.core.runs.run import RunSettings
from vla_r1_ros.core.runs.similarity import DEFAULT_POINTS

__all__ = ["register"]

DEFAULTS = RunSettings()

EXIT_OK = 0
EXIT_SOME_FAILED = 1
EXIT_USAGE = 2
NAME = "compare-runs"


def _fail(message: str) -> int:
    print(f"vla-r1 {NAME}: {message}", file=sys.stderr)
    return EXIT_USAGE


def _positive_or_off(text: str) -> float | None:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value or None


def _cmd_compare_runs(args: argparse.Namespace, out: IO[str]) -> int:
    try:
        from vla_r1_ros.experiments.analysis import analyse
        from vla_r1_ros.experiments.bag_reader import find_bags
        from vla_r1_ros.experiments.kinematics import DEFAULT_PANDA_LINK, ToolKinematics, default_panda_urdf
        from vla_r1_ros.experiments.metadata import read_labels, read_tlx
        from vla_r1_ros.experiments.report import write_report
    except ImportError as err:
        return _fail(f"{err}; the analysis needs rosbags, pin, scipy and matplotlib: pip install -e '.[analysis]'")
    if args.link is None and args.urdf is not None:
        return _fail("--urdf needs --link (the tool's link in that URDF)")
    try:
        bags = find_bags(args.bags)
        labels: dict[str, Any] = read_labels(args.labels) if args.labels else {}
        tlx = read_tlx(args.tlx) if args.tlx else {}
        urdf = Path(args.urdf) if args.urdf else default_panda_urdf()
        kinematics = ToolKinematics(urdf, args.link or DEFAULT_PANDA_LINK)
    except (ValueError, FileNotFoundError) as err:
        return _fail(str(err))
    if not 0.0 <= args.movement_threshold < 1.0:
        return _fail(f"--movement-threshold must be within [0, 1), got {args.movement_threshold}")
    settings = RunSettings(
        table_height=args.table_height,
        rate_hz=args.rate_hz,
        lowpass_hz=args.lowpass_hz,
        movement_threshold=args.movement_threshold,
    )
    print(f"vla-r1 {NAME}: {len(bags)} bag(s), tool {kinematics.link} of {urdf}", file=sys.stderr)
    study = analyse(bags, kinematics, settings, labels, tlx, args.points, args.joint_states_topic)
    for failure in study.failures:
        print(f"vla-r1 {NAME}: {failure}", file=sys.stderr)
    for warning in study.warnings:
        print(f"vla-r1 {NAME}: warning: {warning}", file=sys.stderr)
    paths = write_report(study, Path(args.out), urdf, kinematics.link, settings, args.points)
    result = {
        "measured": len(study.runs),
        "failed": [str(f.path) for f in study.failures],
        **{name: str(path) for name, path in paths.items()},
    }
    out.write(json.dumps(result) + "\n")
    return EXIT_SOME_FAILED if study.failures else EXIT_OK


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``compare-runs`` to the ``vla-r1`` command."""
    parser = commands.add_parser(
        NAME,
        help="measure recorded runs (rosbag2) and compare VLA and teleop conditions",
        description=(
            "Measure each run recorded in a rosbag2 bag (MCAP or sqlite3): completion time and its phases, tool "
            "path length (forward kinematics of /joint_states), peak joint velocity and acceleration, LDLJ and "
            "SPARC smoothness, clearance above the table, interventions; compare conditions (mean and 95 % CI, "
            "Wilcoxon paired by task or Mann-Whitney) and tool paths (Fréchet, DTW). Run metadata comes from "
            "'<bag>.run.json' beside each bag folder and/or --labels. Writes summary.json, runs.csv, report.md "
            "and plots/ under --out. Exit 0: all bags measured; 1: some failed (named; the rest compared); "
            "2: bad input."
        ),
    )
    parser.add_argument("bags", nargs="+", metavar="BAG_OR_FOLDER", help="bag folders, or folders holding bags")
    parser.add_argument("--out", required=True, help="folder for summary.json, runs.csv, report.md and plots/")
    parser.add_argument("--labels", help="CSV: run_id plus any of task, condition, operator, trial, success, ...")
    parser.add_argument("--tlx", help="CSV: run_id, mental, physical, temporal, performance, effort, frustration")
    parser.add_argument("--urdf", help="the arm's URDF (default: pybullet_data's Franka Panda)")
    parser.add_argument("--link", help="the tool's link (default for the Panda: panda_grasptarget, its TCP)")
    parser.add_argument(
        "--table-height", type=float, default=DEFAULTS.table_height, help="table top z in the URDF's root frame (m)"
    )
    parser.add_argument(
        "--lowpass-hz",
        type=_positive_or_off,
        default=DEFAULTS.lowpass_hz,
        help=f"low-pass tool and joint paths before lengths and rates (default {DEFAULTS.lowpass_hz}; 0: off)",
    )
    parser.add_argument(
        "--movement-threshold",
        type=float,
        default=DEFAULTS.movement_threshold,
        help=f"smoothness over the speeds above this fraction of the peak ({DEFAULTS.movement_threshold})",
    )
    parser.add_argument("--rate-hz", type=float, default=None, help="speed-profile rate (default: the recorder's)")
    parser.add_argument(
        "--points", type=int, default=DEFAULT_POINTS, help=f"points per path for Fréchet/DTW (default {DEFAULT_POINTS})"
    )
    parser.add_argument("--joint-states-topic", default="/joint_states", help="default /joint_states")
    parser.set_defaults(handler=_cmd_compare_runs)
