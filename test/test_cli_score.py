"""`vla-r1 score` as a user runs it: JSON Lines in, JSON Lines out, clear errors, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BOX = '<think>r</think> so, the answer is <output>{"x": 0.5, "y": 0.5, "width": 0.2, "height": 0.2}</output>'
TOUCHING = '<think>r</think><output>{"x": 0.7, "y": 0.5, "width": 0.2, "height": 0.2}</output>'
PATH = "<think>r</think><output>[[0.1, 0.1], [0.3, 0.4], [0.6, 0.8]]</output>"


def run_cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vla_r1_ros.cli", *args], input=stdin, capture_output=True, text=True, timeout=120
    )


def lines(*records: object) -> str:
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records)


def test_scores_from_stdin() -> None:
    stdin = lines(
        {"completion": BOX, "ground_truth": BOX, "id": "a"},
        {"completion": TOUCHING, "ground_truth": {"x": 0.5, "y": 0.5, "width": 0.2, "height": 0.2}},
        {"completion": PATH, "ground_truth": PATH},
        {"completion": "no tags", "ground_truth": BOX},
    )
    result = run_cli("score", stdin=stdin)
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [row["line"] for row in rows] == [1, 2, 3, 4]
    assert rows[0]["id"] == "a" and rows[0]["score"] == pytest.approx(1.0) and rows[0]["task"] == "affordance"
    assert rows[1]["score"] == pytest.approx(0.55)
    assert rows[2]["task"] == "trajectory" and rows[2]["dfd"] == 0.0 and rows[2]["iou"] is None
    assert rows[3] | {"score": 0.0, "task": "none", "parse_status": "no_output_tag"} == rows[3]
    for row in rows:
        assert {"score", "format_score", "task_score", "task", "iou", "giou", "dfd", "hd", "rmse", "avg"} <= row.keys()


def test_bad_lines_are_reported_without_losing_the_others(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(
        lines(
            {"completion": BOX, "ground_truth": BOX},
            "{not json",
            {"completion": BOX},
            "",
            {"completion": BOX, "ground_truth": "<output>garbage</output>"},
            [1, 2],
            {"completion": TOUCHING, "ground_truth": BOX},
        )
    )
    output = tmp_path / "out.jsonl"
    result = run_cli("score", str(source), "-o", str(output), "--summary")
    assert result.returncode == 1
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    assert [row["line"] for row in rows] == [1, 2, 3, 5, 6, 7]  # the blank line 4 is skipped
    assert rows[0]["score"] == pytest.approx(1.0) and rows[-1]["score"] == pytest.approx(0.55)
    assert "not valid JSON" in rows[1]["error"]
    assert "missing key(s): ground_truth" in rows[2]["error"]
    assert "ground truth is not a usable answer" in rows[3]["error"]
    assert "expected a JSON object" in rows[4]["error"]
    assert "line 2:" in result.stderr and "4 line(s) could not be scored" in result.stderr
    assert "affordance 2: IoU" in result.stderr


def test_variant_and_missing_file() -> None:
    duplicated = "<think>r</think><output>[[0.1, 0.1], [0.3, 0.4], [0.3, 0.4], [0.6, 0.8]]</output>"
    stdin = lines({"completion": duplicated, "ground_truth": PATH})
    release = json.loads(run_cli("score", stdin=stdin).stdout)
    fixed = json.loads(run_cli("score", "--variant", "dedup_waypoints", stdin=stdin).stdout)
    assert release["score"] == pytest.approx(0.1) and fixed["score"] == pytest.approx(1.0)
    missing = run_cli("score", "/nonexistent/file.jsonl")
    assert missing.returncode == 2 and "cannot read /nonexistent/file.jsonl" in missing.stderr


def test_help_lists_the_score_command() -> None:
    result = run_cli("--help")
    assert result.returncode == 0 and "score" in result.stdout


def test_empty_input_says_zero_records_and_no_metrics_prints_no_nan() -> None:
    empty = run_cli("score", stdin="")
    assert empty.returncode == 0 and empty.stdout == ""
    assert "0 records" in empty.stderr
    stdin = lines({"completion": PATH, "ground_truth": PATH})
    quick = run_cli("score", "--summary", "--no-metrics", stdin=stdin)
    assert "trajectory 1: mean reward" in quick.stderr and "nan" not in quick.stderr
