"""From bags to a study: per-run measures, per-condition statistics, path similarity across conditions.

Each bag is one run: its joint states go through forward kinematics to the tool path, its events
and teleop input give the window, phases and interventions (:mod:`vla_r1_ros.core.runs`). A bag
that cannot be read or measured is listed with its error and the others are still compared.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from vla_r1_ros.core.runs.motion import speed_profile
from vla_r1_ros.core.runs.run import CONDITIONS, RunData, RunMetrics, RunSettings, run_metrics
from vla_r1_ros.core.runs.similarity import DEFAULT_POINTS, path_similarity
from vla_r1_ros.core.runs.stats import Comparison, MeanCI, Proportion, compare_conditions, mean_ci, proportion_ci
from vla_r1_ros.experiments.bag_reader import BagError, read_bag
from vla_r1_ros.experiments.kinematics import ToolKinematics
from vla_r1_ros.experiments.metadata import RunMetadata, apply_labels, read_metadata

__all__ = ["STUDY_METRICS", "AnalysedRun", "PairSimilarity", "Study", "analyse_run", "analyse"]

FloatArray = NDArray[np.float64]

#: The per-run measures summarised per condition and compared between conditions.
STUDY_METRICS = (
    "completion_time",
    "model_time",
    "approval_time",
    "planning_time",
    "motion_time",
    "path_length",
    "peak_joint_velocity",
    "peak_joint_acceleration",
    "ldlj",
    "sparc",
    "min_clearance",
    "interventions",
    "tlx_raw",
)


@dataclass(frozen=True)
class AnalysedRun:
    """One bag's run: metadata, measures, raw TLX, and the tool path and speed (for plots).

    ``tool_times``/``speed_times`` are seconds from the run's start.
    """

    bag: Path
    metadata: RunMetadata
    metrics: RunMetrics
    tlx_raw: float | None
    tool_times: FloatArray
    tool_path: FloatArray
    speed_times: FloatArray
    speed: FloatArray
    topics: dict[str, tuple[str, int]] = field(default_factory=dict)

    def row(self) -> dict[str, Any]:
        """Metadata, scalar measures and raw TLX as one flat row."""
        meta = self.metadata
        return {
            "run_id": meta.run_id,
            "bag": str(self.bag),
            "task": meta.task,
            "condition": meta.condition,
            "operator": meta.operator,
            "trial": meta.trial,
            "scene_seed": meta.scene_seed,
            "success": meta.success,
            "instruction": meta.instruction,
            **{k: v for k, v in self.metrics.row().items() if k not in ("run_id", "condition")},
            "tlx_raw": self.tlx_raw,
        }


@dataclass(frozen=True)
class PairSimilarity:
    """Tool-path similarity of two runs of one task in different conditions (m)."""

    task: str
    run_a: str
    run_b: str
    condition_a: str
    condition_b: str
    frechet: float
    dtw: float
    dtw_per_point: float
    points: int


@dataclass
class Study:
    """Everything ``vla-r1 compare-runs`` reports."""

    runs: list[AnalysedRun]
    failures: list[BagError]
    warnings: list[str]
    conditions: dict[str, dict[str, MeanCI]]
    success: dict[str, Proportion]
    comparisons: list[Comparison]
    similarity: list[PairSimilarity]


def analyse_run(
    bag: Path,
    kinematics: ToolKinematics,
    settings: RunSettings,
    labels: Mapping[str, Mapping[str, Any]] | None = None,
    tlx: Mapping[str, float] | None = None,
    joint_states_topic: str = "/joint_states",
) -> AnalysedRun:
    """Measure the run in ``bag``; BagError (naming the bag) when it cannot be read or measured."""
    try:
        metadata = apply_labels(read_metadata(bag), labels or {})
    except ValueError as err:
        raise BagError(bag, f"run metadata: {err}") from None
    streams = read_bag(bag, joint_states_topic)
    times, joints = streams.positions_of(kinematics.joint_names)
    tool = kinematics.positions(joints)
    run = RunData(
        run_id=metadata.run_id,
        joint_times=times,
        joint_positions=joints,
        joint_names=kinematics.joint_names,
        tool_positions=tool,
        events=streams.events,
        teleop_stamps=streams.teleop_stamps,
        condition=metadata.condition,
    )
    try:
        metrics = run_metrics(run, settings)
    except ValueError as err:
        raise BagError(bag, str(err)) from None
    inside = (times >= metrics.start) & (times <= metrics.end)
    profile, speed = speed_profile(times[inside], tool[inside], settings.rate_hz, settings.lowpass_hz)
    return AnalysedRun(
        bag=bag,
        metadata=metadata,
        metrics=metrics,
        tlx_raw=(tlx or {}).get(metadata.run_id),
        tool_times=times[inside] - metrics.start,
        tool_path=tool[inside],
        speed_times=profile.times - metrics.start,
        speed=speed,
        topics=streams.topics,
    )


def _similarities(runs: Sequence[AnalysedRun], points: int) -> list[PairSimilarity]:
    out = []
    order = {c: i for i, c in enumerate(CONDITIONS)}
    by_task: dict[str, list[AnalysedRun]] = {}
    for run in runs:
        if run.metadata.task and run.metadata.condition:
            by_task.setdefault(run.metadata.task, []).append(run)
    for task in sorted(by_task):
        for a, b in combinations(by_task[task], 2):
            if a.metadata.condition == b.metadata.condition:
                continue
            if order[a.metadata.condition] > order[b.metadata.condition]:
                a, b = b, a
            if len(a.tool_path) < 2 or len(b.tool_path) < 2:
                continue
            similarity = path_similarity(a.tool_path, b.tool_path, points)
            out.append(
                PairSimilarity(
                    task,
                    a.metadata.run_id,
                    b.metadata.run_id,
                    a.metadata.condition,
                    b.metadata.condition,
                    similarity.frechet,
                    similarity.dtw,
                    similarity.dtw_per_point,
                    points,
                )
            )
    return out


def analyse(
    bags: Sequence[Path],
    kinematics: ToolKinematics,
    settings: RunSettings | None = None,
    labels: Mapping[str, Mapping[str, Any]] | None = None,
    tlx: Mapping[str, float] | None = None,
    similarity_points: int = DEFAULT_POINTS,
    joint_states_topic: str = "/joint_states",
) -> Study:
    """Measure every bag (a failing bag is recorded, never fatal) and compare the conditions."""
    cfg = settings or RunSettings()
    runs: list[AnalysedRun] = []
    failures: list[BagError] = []
    warnings: list[str] = []
    owners: dict[str, Path] = {}
    for bag in bags:
        try:
            run = analyse_run(bag, kinematics, cfg, labels, tlx, joint_states_topic)
        except BagError as err:
            failures.append(err)
            continue
        run_id = run.metadata.run_id
        if run_id in owners:
            failures.append(BagError(bag, f"run_id {run_id} is already the run of {owners[run_id]}"))
            continue
        owners[run_id] = bag
        if not run.metadata.condition:
            warnings.append(f"{bag}: run {run_id} has no condition (sidecar or --labels); left out of the statistics")
        runs.append(run)
    known = set(owners)
    for name, table in (("labels", labels or {}), ("NASA-TLX", tlx or {})):
        stray = sorted(set(table) - known)
        if stray:
            warnings.append(f"{name} rows for runs not among the bags: {', '.join(stray)}")
    rows = [r.row() for r in runs if r.metadata.condition]
    present = [c for c in CONDITIONS if any(row["condition"] == c for row in rows)]
    conditions = {
        c: {m: mean_ci(row[m] for row in rows if row["condition"] == c) for m in STUDY_METRICS} for c in present
    }
    success = {}
    for c in present:
        judged = [row["success"] for row in rows if row["condition"] == c and row["success"] is not None]
        success[c] = proportion_ci(sum(bool(s) for s in judged), len(judged))
    comparisons = [
        compare_conditions(rows, metric, a, b) for a, b in combinations(present, 2) for metric in STUDY_METRICS
    ]
    comparisons = [c for c in comparisons if c.test != "none"]  # a metric one condition never has
    similarity = _similarities([r for r in runs if r.metadata.condition], similarity_points)
    return Study(runs, failures, warnings, conditions, success, comparisons, similarity)
