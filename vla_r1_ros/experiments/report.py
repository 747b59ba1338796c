"""Write a study: ``summary.json`` (every number), ``runs.csv`` (one row per run), ``report.md`` and plots.

Plots use matplotlib's object API (no pyplot state, no display needed): tool paths of every run
over the table from above (x-y) and from the side (x-z, the table top drawn), tool speed
profiles, and box plots of completion time, path length and smoothness per condition.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from vla_r1_ros.core.runs.run import CONDITIONS, RunSettings
from vla_r1_ros.experiments.analysis import STUDY_METRICS, AnalysedRun, Study

__all__ = ["SUMMARY_SCHEMA", "write_report"]

SUMMARY_SCHEMA = "vla_r1_ros/compare-runs/1"
COLOURS = {
    "vla": "tab:blue",
    "teleop": "tab:orange",
    "vla+approval": "tab:green",
    "vla-oracle": "tab:purple",
    "": "tab:gray",
}
#: Each metric's unit, for the report's tables.
UNITS = {
    "completion_time": "s",
    "model_time": "s",
    "approval_time": "s",
    "planning_time": "s",
    "motion_time": "s",
    "path_length": "m",
    "peak_joint_velocity": "rad/s",
    "peak_joint_acceleration": "rad/s²",
    "ldlj": "",
    "sparc": "",
    "min_clearance": "m",
    "interventions": "count",
    "tlx_raw": "0-100",
}
BOXED = (
    ("completion_time", "completion time (s)"),
    ("path_length", "tool path length (m)"),
    ("ldlj", "LDLJ (higher: smoother)"),
    ("sparc", "SPARC (higher: smoother)"),
)


def _clean(value: Any) -> Any:
    """JSON-safe: NaN and infinities become null, NumPy scalars plain numbers, containers recursed."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def _summary(study: Study, settings: dict[str, Any]) -> Any:
    runs = []
    for run in study.runs:
        detail = run.row()
        detail["phases"] = run.metrics.phases
        detail["joints"] = {
            name: {"peak_velocity": v, "peak_acceleration": a}
            for name, v, a in zip(
                run.metrics.joint_names, run.metrics.joint_peak_velocity, run.metrics.joint_peak_acceleration
            )
        }
        detail["topics"] = {topic: {"type": t, "messages": n} for topic, (t, n) in sorted(run.topics.items())}
        runs.append(detail)
    return _clean(
        {
            "schema": SUMMARY_SCHEMA,
            "settings": settings,
            "bags": len(study.runs) + len(study.failures),
            "runs": runs,
            "failed": [{"bag": str(f.path), "error": f.reason} for f in study.failures],
            "warnings": study.warnings,
            "conditions": {
                c: {
                    "runs": sum(1 for r in study.runs if r.metadata.condition == c),
                    "success": asdict(study.success[c]),
                    "metrics": {m: asdict(ci) for m, ci in metrics.items()},
                }
                for c, metrics in study.conditions.items()
            },
            "comparisons": [asdict(c) for c in study.comparisons],
            "path_similarity": [asdict(s) for s in study.similarity],
        }
    )


def _csv_value(value: Any) -> Any:
    value = _clean(value)
    return "" if value is None else value


def _write_runs_csv(path: Path, runs: Sequence[AnalysedRun]) -> None:
    rows = [run.row() for run in runs]
    columns = list(rows[0]) if rows else ["run_id"]
    with open(path, "w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _csv_value(v) for k, v in row.items()})


def _number(value: float, digits: int = 3) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:.{digits}g}"


def _plots(study: Study, folder: Path, table_height: float) -> list[tuple[str, str]]:
    """Draw the figures into ``folder``; returns (file name, caption) pairs."""
    from matplotlib.figure import Figure

    folder.mkdir(parents=True, exist_ok=True)
    made = []
    present = [c for c in (*CONDITIONS, "") if any(r.metadata.condition == c for r in study.runs)]

    def legend(axes: Any) -> None:
        for condition in present:
            axes.plot([], [], color=COLOURS[condition], label=condition or "no condition")
        axes.legend(loc="best", fontsize="small")

    for name, (i, j), caption in (
        ("paths_top.png", (0, 1), "Tool paths from above (x-y, m); o start, x end"),
        ("paths_side.png", (0, 2), "Tool paths from the side (x-z, m); the grey line is the table top"),
    ):
        figure = Figure(figsize=(6.4, 4.8), layout="constrained")
        axes = figure.add_subplot()
        for run in study.runs:
            colour = COLOURS[run.metadata.condition]
            axes.plot(run.tool_path[:, i], run.tool_path[:, j], color=colour, linewidth=1.0, alpha=0.8)
            axes.plot(*run.tool_path[0, [i, j]], "o", color=colour, markersize=4)
            axes.plot(*run.tool_path[-1, [i, j]], "x", color=colour, markersize=6)
        if j == 2:
            axes.axhline(table_height, color="0.5", linewidth=2.0)
        axes.set_xlabel("x (m)")
        axes.set_ylabel("y (m)" if j == 1 else "z (m)")
        axes.set_aspect("equal", adjustable="datalim")
        axes.grid(True, alpha=0.3)
        legend(axes)
        figure.savefig(folder / name, dpi=110)
        made.append((name, caption))

    figure = Figure(figsize=(7.2, 4.0), layout="constrained")
    axes = figure.add_subplot()
    for run in study.runs:
        axes.plot(run.speed_times, run.speed, color=COLOURS[run.metadata.condition], linewidth=0.9, alpha=0.8)
    axes.set_xlabel("time from the run's start (s)")
    axes.set_ylabel("tool speed (m/s)")
    axes.grid(True, alpha=0.3)
    legend(axes)
    figure.savefig(folder / "speed_profiles.png", dpi=110)
    made.append(("speed_profiles.png", "Tool speed profiles"))

    conditions = [c for c in CONDITIONS if c in study.conditions]
    figure = Figure(figsize=(9.0, 6.4), layout="constrained")
    for k, (metric, label) in enumerate(BOXED):
        axes = figure.add_subplot(2, 2, k + 1)
        data = [
            [
                v
                for r in study.runs
                if r.metadata.condition == c and (v := r.row()[metric]) is not None and math.isfinite(v)
            ]
            for c in conditions
        ]
        if any(data):
            axes.boxplot(
                [d if d else [math.nan] for d in data],
                tick_labels=conditions,
                widths=0.5,
                medianprops={"color": "black"},
            )
            for x, values in enumerate(data, start=1):
                axes.plot(
                    np.full(len(values), x), values, "o", color=COLOURS[conditions[x - 1]], alpha=0.6, markersize=4
                )
        axes.set_title(label, fontsize="medium")
        axes.grid(True, axis="y", alpha=0.3)
    figure.savefig(folder / "boxplots.png", dpi=110)
    made.append(("boxplots.png", "Per condition: completion time, path length, LDLJ, SPARC (one dot per run)"))
    return made


def _markdown(study: Study, settings: dict[str, Any], plots: list[tuple[str, str]]) -> str:
    """report.md: the header, then per condition, comparisons, similarity, runs, plots, problems, definitions."""
    sections = (
        _header_lines(study, settings),
        _condition_lines(study),
        _comparison_lines(study),
        _similarity_lines(study),
        _run_lines(study),
        _plot_and_problem_lines(study, plots),
        DEFINITIONS,
    )
    return "\n".join(line for lines in sections for line in lines)


def _header_lines(study: Study, settings: dict[str, Any]) -> list[str]:
    """The title, what was measured and how."""
    lines: list[str] = []
    lines += ["# Teleop comparison", ""]
    counts = ", ".join(f"{c}: {sum(1 for r in study.runs if r.metadata.condition == c)}" for c in study.conditions)
    lines += [
        f"{len(study.runs) + len(study.failures)} bag(s), {len(study.runs)} run(s) measured"
        + (f" ({counts})" if counts else "")
        + (f", **{len(study.failures)} failed** (see below)" if study.failures else "")
        + ".",
        "",
        f"Tool link `{settings['link']}` of `{Path(settings['urdf']).name}`; "
        f"table top at z = {settings['table_height']} m; speed low-pass {settings['lowpass_hz'] or 'off'} Hz; "
        f"paths resampled to {settings['similarity_points']} points.",
        "",
    ]
    return lines


def _table(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    """A markdown table."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    return lines + ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]


def _condition_lines(study: Study) -> list[str]:
    """Each metric's mean and 95 % CI per condition, and success rates."""
    if not (study.conditions):
        return []
    conditions = list(study.conditions)

    def cell(ci: Any) -> str:
        return "–" if ci.n == 0 else f"{_number(ci.mean)} [{_number(ci.low)}, {_number(ci.high)}] ({ci.n})"

    def name(metric: str) -> str:
        return metric + (f" ({UNITS[metric]})" if UNITS[metric] else "")

    rows = [(name(metric), *(cell(study.conditions[c][metric]) for c in conditions)) for metric in STUDY_METRICS]
    success = [
        f"{c}: {p.successes}/{p.trials} = {_number(p.rate)} [{_number(p.low)}, {_number(p.high)}]"
        for c, p in study.success.items()
        if p.trials
    ]
    success_line = "Success (Wilson 95 % CI): " + ("; ".join(success) if success else "not recorded")
    return ["## Per condition: mean [95 % CI] (n)", "", *_table(["metric", *conditions], rows), "", success_line, ""]


def _comparison_lines(study: Study) -> list[str]:
    """The condition comparisons' tests."""
    if not (study.comparisons):
        return []
    intro = (
        "Paired by task (Wilcoxon signed-rank on per-task means) where at least two tasks ran in both "
        "conditions, else unpaired (Mann-Whitney U); two-sided."
    )
    columns = ["metric", "a", "b", "test", "n a / n b / pairs", "median a", "median b", "p"]
    rows = [
        (k.metric, k.a, k.b, k.test, f"{k.n_a} / {k.n_b} / {k.pairs}",
         *map(_number, (k.median_a, k.median_b, k.p_value)))
        for k in study.comparisons
    ]  # fmt: skip
    return ["## Condition comparisons", "", intro, "", *_table(columns, rows), ""]


def _similarity_lines(study: Study) -> list[str]:
    """Tool-path similarity between runs of the same task."""
    if not (study.similarity):
        return []
    columns = ["task", "run a", "run b", "Fréchet", "DTW per point"]
    rows = [
        (s.task, f"{s.run_a} ({s.condition_a})", f"{s.run_b} ({s.condition_b})", _number(s.frechet),
         _number(s.dtw_per_point))
        for s in study.similarity
    ]  # fmt: skip
    return ["## Tool-path similarity across conditions (m)", "", *_table(columns, rows), ""]


def _run_lines(study: Study) -> list[str]:
    """One table row per run."""
    columns = ["run", "condition", "task", "time (s)", "path (m)", "LDLJ", "SPARC", "clearance (m)", "interventions"]
    rows = []
    for run in study.runs:
        m, meta = run.metrics, run.metadata
        measured = map(_number, (m.completion_time, m.path_length, m.ldlj, m.sparc, m.min_clearance))
        rows.append((meta.run_id, meta.condition or "–", meta.task or "–", *measured, m.interventions))
    return ["## Runs", "", *_table(columns, rows), ""]


def _plot_and_problem_lines(study: Study, plots: list[tuple[str, str]]) -> list[str]:
    """The plots, then failed bags and warnings."""
    lines: list[str] = []
    if plots:
        lines += ["## Plots", ""]
        for name, caption in plots:
            lines += [f"![{caption}](plots/{name})", "", f"*{caption}*", ""]
    if study.failures or study.warnings:
        lines += ["## Problems", ""]
        lines += [f"- failed: `{f.path}`: {f.reason}" for f in study.failures]
        lines += [f"- {w}" for w in study.warnings]
        lines.append("")
    return lines


#: The report's last section: what each measure means.
DEFINITIONS = [
    "## Definitions",
    "",
    "Completion time: the run window (ExecutionEvent `run` start to end; else first to last event; else first "
    "teleop command to the last joint state; else the whole bag), split into model / approval / planning / motion "
    "phases from the events. Path length, LDLJ and SPARC (Balasubramanian et al. 2015) of the tool point from "
    "forward kinematics of /joint_states, low-passed (zero phase) like the joint paths before peak joint rates; "
    "smoothness over the movement (speed above 2 % of its peak). Clearance: lowest tool height above the "
    "table top. Interventions: canceled or stopped goals, operator rejections, and bursts of teleop input "
    "during an autonomous run. Raw NASA-TLX: mean of the six subscales.",
    "",
]


def write_report(study: Study, out: Path, urdf: Path, link: str, settings: RunSettings, points: int) -> dict[str, Path]:
    """Write summary.json, runs.csv, report.md and plots/ under ``out``; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    described = {"urdf": str(urdf), "link": link, **asdict(settings), "similarity_points": points}
    summary_path, csv_path, report_path = out / "summary.json", out / "runs.csv", out / "report.md"
    summary_path.write_text(json.dumps(_summary(study, described), indent=2, allow_nan=False) + "\n", encoding="utf-8")
    _write_runs_csv(csv_path, study.runs)
    plots = _plots(study, out / "plots", settings.table_height) if study.runs else []
    report_path.write_text(_markdown(study, described, plots), encoding="utf-8")
    return {"summary": summary_path, "runs_csv": csv_path, "report": report_path, "plots": out / "plots"}
