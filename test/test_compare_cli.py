"""`vla-r1 compare-runs` end to end, as a user runs it, on synthetic bags of two (three) conditions."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from compare_support import TARGETS, make_study

from vla_r1_ros.cli import main
from vla_r1_ros.experiments.bag_writer import RunBagWriter
from vla_r1_ros.sim.panda_model import JOINT_NAMES, READY_POSITIONS


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vla_r1_ros.cli", "compare-runs", *args], capture_output=True, text=True, timeout=180
    )


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("study")
    make_study(root / "bags")
    # A physical-robot style recording: joint states only, no sidecar, labelled by a CSV.
    with RunBagWriter(root / "bags" / "lab_recording", storage="sqlite3") as writer:
        for k in range(300):
            q = np.asarray(READY_POSITIONS) + 0.3 * np.sin(k / 100.0) * np.eye(7)[1]
            writer.joint_state(1_700_000_100.0 + k / 100.0, JOINT_NAMES, [*q, 0.04, 0.04])
    # A recording cut short: half its MCAP file is missing.
    broken = root / "bags" / "t2_teleop_cut"
    shutil.copytree(root / "bags" / "t2_teleop", broken)
    storage = next(broken.glob("*.mcap"))
    storage.write_bytes(storage.read_bytes()[:4000])
    (root / "labels.csv").write_text("run_id,condition,task\nlab_recording,teleop,t9\n")
    rows = ["run_id,mental,physical,temporal,performance,effort,frustration"]
    rows += [f"{task}_vla,20,10,20,20,20,10" for task in TARGETS]
    rows += [f"{task}_teleop,60,40,50,30,70,40" for task in TARGETS]
    (root / "tlx.csv").write_text("\n".join(rows) + "\n")
    return root


def test_compare_runs_end_to_end(study: Path) -> None:
    out = study / "report"
    result = run_cli(
        str(study / "bags"), "--out", str(out), "--labels", str(study / "labels.csv"), "--tlx", str(study / "tlx.csv")
    )
    assert result.returncode == 1, result.stderr  # one bag failed, the others were compared
    printed = json.loads(result.stdout)
    broken = str(study / "bags" / "t2_teleop_cut")
    assert printed["measured"] == 8 and printed["failed"] == [broken]
    assert f"{broken}: cannot read the bag (t2_teleop.mcap)" in result.stderr

    summary = json.loads((out / "summary.json").read_text())
    assert summary["bags"] == 9 and len(summary["runs"]) == 8
    assert summary["failed"][0]["bag"] == broken and "t2_teleop.mcap" in summary["failed"][0]["error"]
    runs = {r["run_id"]: r for r in summary["runs"]}
    vla, teleop, lab = runs["t1_vla"], runs["t1_teleop"], runs["lab_recording"]
    # The VLA run: phases from its events (model 1.5 s, checking + planning 0.4 s, motion 3 s).
    assert vla["window_source"] == "run events" and vla["completion_time"] == pytest.approx(4.9, abs=1e-6)
    assert (vla["model_time"], vla["planning_time"], vla["motion_time"]) == pytest.approx((1.5, 0.4, 3.0), abs=1e-6)
    assert runs["t1_vla_approval"]["approval_time"] == pytest.approx(2.0, abs=1e-6)
    # Both end the tool on the task's target, above the table; the operator's path is less smooth.
    assert vla["min_clearance"] == pytest.approx(TARGETS["t1"][2], abs=2e-3)
    assert teleop["min_clearance"] == pytest.approx(TARGETS["t1"][2], abs=2e-3)
    assert teleop["window_source"] == "teleop" and teleop["model_time"] is None
    assert teleop["ldlj"] < vla["ldlj"] and teleop["sparc"] < vla["sparc"]
    assert teleop["tlx_raw"] == pytest.approx(290 / 6) and vla["tlx_raw"] == pytest.approx(100 / 6)
    assert set(vla["joints"]) == set(JOINT_NAMES[:7]) and vla["topics"]["/vla_r1_executor/events"]["messages"] == 9
    # The joint-states-only recording: one run from its first to its last message, labelled by the CSV.
    assert (lab["condition"], lab["task"], lab["window_source"]) == ("teleop", "t9", "joint states")
    assert lab["completion_time"] == pytest.approx(2.99, abs=1e-6)
    assert lab["peak_joint_velocity"] == pytest.approx(0.3 / 100.0 * 100.0, rel=0.02)  # d/dt 0.3 sin(t)

    conditions = summary["conditions"]
    assert (
        conditions["vla"]["runs"] == 3 and conditions["teleop"]["runs"] == 4 and conditions["vla+approval"]["runs"] == 1
    )
    time_ci = conditions["vla"]["metrics"]["completion_time"]
    assert time_ci["n"] == 3 and time_ci["mean"] == pytest.approx(4.9, abs=1e-6)
    assert conditions["teleop"]["metrics"]["tlx_raw"]["n"] == 3  # the lab recording has no TLX form
    comparisons = {(c["metric"], c["a"], c["b"]): c for c in summary["comparisons"]}
    paired = comparisons[("completion_time", "vla", "teleop")]
    assert paired["test"] == "wilcoxon" and paired["pairs"] == 3  # t1-t3; t9 was run by teleop only
    assert comparisons[("completion_time", "vla", "vla+approval")]["test"] == "mannwhitneyu"
    similar = [s for s in summary["path_similarity"] if s["task"] == "t1" and s["condition_b"] == "teleop"]
    assert len(similar) == 1 and 0.0 < similar[0]["frechet"] < 0.2 and similar[0]["points"] == 200

    with open(out / "runs.csv", newline="") as stream:
        table = list(csv.DictReader(stream))
    assert len(table) == 8 and {"run_id", "condition", "completion_time", "ldlj", "sparc", "tlx_raw"} <= set(table[0])
    assert next(r for r in table if r["run_id"] == "t1_teleop")["model_time"] == ""  # unknown, not 0

    report = (out / "report.md").read_text()
    for plot in ("paths_top.png", "paths_side.png", "speed_profiles.png", "boxplots.png"):
        assert f"](plots/{plot})" in report
        assert (out / "plots" / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| completion_time (s) |" in report and "wilcoxon" in report and "t2_teleop_cut" in report


def test_another_tool_link_and_usage_errors(study: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    bag = study / "bags" / "t1_vla"
    hand = run_cli(str(bag), "--link", "panda_hand", "--out", str(tmp_path / "hand"))
    assert hand.returncode == 0, hand.stderr
    run = json.loads((tmp_path / "hand" / "summary.json").read_text())["runs"][0]
    assert run["min_clearance"] == pytest.approx(
        TARGETS["t1"][2] + 0.105, abs=2e-3
    )  # the hand is 0.105 m above the TCP
    # Usage errors, in this process (they fail before any bag is read).
    assert main(["compare-runs", str(tmp_path / "nothing_here"), "--out", str(tmp_path / "x")]) == 2
    assert "nothing_here: no such file or folder" in capfd.readouterr().err
    assert main(["compare-runs", str(bag), "--urdf", "arm.urdf", "--out", str(tmp_path / "x")]) == 2
    assert "--urdf needs --link" in capfd.readouterr().err
    assert main(["compare-runs", str(bag), "--link", "tool0", "--out", str(tmp_path / "x")]) == 2
    assert "no link named 'tool0'; links: " in capfd.readouterr().err
    assert not (tmp_path / "x").exists()
