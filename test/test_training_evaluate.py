"""Evaluation: every metric equals the core's, the random-object baseline, paired deltas, the report files."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("datasets")

from vla_r1_training.cli import main as train_cli
from vla_r1_training.data import synthetic_dataset
from vla_r1_training.evaluate import (
    EvalRecord,
    compare_evaluations,
    generate_predictions,
    iou_histogram,
    paired_delta,
    picked_object,
    random_object_iou,
    read_predictions,
    records_from_dataset,
    score_records,
    write_predictions,
    write_report,
)

from vla_r1_ros.core.metrics import box_iou_giou, trajectory_metrics
from vla_r1_ros.core.protocol import Box2D, format_answer, parse_completion
from vla_r1_ros.core.rewards import score

TRUTH_BOX = format_answer(Box2D(0.5, 0.5, 0.2, 0.2), "t")
TRUTH_PATH = "<think>t</think><output>[[0.1, 0.1], [0.4, 0.3], [0.8, 0.9]]</output>"


def _records() -> list[EvalRecord]:
    return [
        EvalRecord("a", "affordance", TRUTH_BOX, TRUTH_BOX),  # IoU 1
        EvalRecord("b", "affordance", format_answer(Box2D(0.55, 0.5, 0.2, 0.2), "t"), TRUTH_BOX),  # shifted
        EvalRecord("c", "affordance", '<output>{"x": 0.5, "y": 0.5, "width": 0.4, "height": 0.4}</output>', TRUTH_BOX),
        EvalRecord("d", "affordance", "no answer at all", TRUTH_BOX),  # counts IoU 0
        EvalRecord(
            "e", "trajectory", "<think>x</think><output>[[0.1, 0.2], [0.5, 0.3], [0.8, 0.8]]</output>", TRUTH_PATH
        ),
        EvalRecord("f", "trajectory", '<think>x</think><output>{"x": 0.1}</output>', TRUTH_PATH),  # unscored
    ]


def test_metrics_are_the_core_metrics() -> None:
    records = _records()
    rows, summary = score_records(records)
    expected_iou = [score(r.completion, r.ground_truth).iou for r in records[:3]] + [0.0]
    assert [r["iou"] for r in rows[:4]] == pytest.approx(expected_iou)
    assert expected_iou[0] == pytest.approx(1.0) and 0.0 < expected_iou[1] < 1.0
    assert summary["affordance"]["iou_mean"] == pytest.approx(np.mean(expected_iou))
    assert summary["affordance"]["success_at_0_5"] == pytest.approx(np.mean([v >= 0.5 for v in expected_iou]))
    pred = np.array(parse_completion(records[4].completion).trajectory.points)
    truth = np.array(parse_completion(TRUTH_PATH).trajectory.points)
    core = trajectory_metrics(pred, truth, 1000.0)
    t = summary["trajectory"]
    assert (t["n"], t["n_scored"]) == (2, 1)
    assert (t["dfd"], t["hd"], t["rmse"], t["avg"]) == pytest.approx((core.dfd, core.hd, core.rmse, core.avg))
    assert rows[5]["dfd"] is None
    # format: a/b/e have think+json output; c lacks think; d and f... f has think and JSON output
    assert summary["format_rate"] == pytest.approx(4 / 6)
    assert summary["valid_rate"] == pytest.approx(4 / 6)  # a, b, c, e parse as the asked task
    assert summary["per_task"] == {"affordance": 4, "trajectory": 2}
    assert summary["mean_reward"] == pytest.approx(
        np.mean([score(r.completion, r.ground_truth).score for r in records])
    )


def test_random_object_baseline_is_the_expected_iou_of_a_colour_blind_detector() -> None:
    truth = Box2D(0.25, 0.25, 0.2, 0.2)
    other = Box2D(0.3, 0.25, 0.2, 0.2)
    far = Box2D(0.8, 0.8, 0.1, 0.1)
    value = random_object_iou([truth.to_json(), other.to_json(), far.to_json()], truth)
    overlap = float(box_iou_giou(np.array(other.corners()), np.array(truth.corners()))[0])
    assert value == pytest.approx((1.0 + overlap + 0.0) / 3)
    assert random_object_iou([truth.to_json()], truth) == pytest.approx(1.0)
    # On synthetic scenes with 1-3 objects it sits well above 1/3 and below 1.
    dataset = synthetic_dataset(60, seed=11, image_size=56)
    _, summary = score_records(records_from_dataset(dataset, dataset["ground_truth"]))
    assert summary["affordance"]["iou_mean"] == pytest.approx(1.0)  # the ground truth scores perfectly
    assert 0.45 < summary["affordance"]["random_object_baseline_miou"] < 0.8


def test_picked_object_tells_wrong_object_from_bad_localisation() -> None:
    target, other = Box2D(0.25, 0.25, 0.2, 0.2), Box2D(0.75, 0.75, 0.2, 0.2)
    boxes = [target.to_json(), other.to_json()]
    assert picked_object(boxes, Box2D(0.27, 0.25, 0.2, 0.2)) == "target"
    assert picked_object(boxes, Box2D(0.7, 0.7, 0.1, 0.1)) == "other"
    assert picked_object(boxes, Box2D(0.5, 0.05, 0.05, 0.05)) == "none"
    assert picked_object(boxes, None) == "none"
    truth = format_answer(target, "t")
    records = [
        EvalRecord("1", "affordance", format_answer(other, "t"), truth, boxes),
        EvalRecord("2", "affordance", truth, truth, boxes),
        EvalRecord("3", "affordance", truth, truth, [target.to_json()]),
    ]
    _, summary = score_records(records)
    multi = summary["affordance"]["multi_object"]
    assert multi == {"n": 2, "iou_mean": pytest.approx(0.5), "picked_target": 0.5, "picked_other": 0.5}
    assert summary["affordance"]["iou_by_object_count"] == {"1": pytest.approx(1.0), "2": pytest.approx(0.5)}


def test_centre_correlation_shows_which_axes_follow_the_image() -> None:
    from vla_r1_training.evaluate import centre_correlation

    truth = [(0.1, 0.2), (0.5, 0.7), (0.8, 0.4), (0.3, 0.9)]
    following = [(x + 0.01, y, x, y) for x, y in truth]
    assert centre_correlation(following) == pytest.approx({"x": 1.0, "y": 1.0})
    # Only y learned: x is one constant answer (undefined correlation), y follows the truth reversed.
    only_y = [(0.5, 1.0 - y, x, y) for x, y in truth]
    result = centre_correlation(only_y)
    assert result["x"] is None and result["y"] == pytest.approx(-1.0)
    assert centre_correlation(following[:2]) == {"x": None, "y": None}
    answers = [format_answer(Box2D(x, y, 0.2, 0.2), "t") for x, y in truth]
    _, summary = score_records([EvalRecord(str(i), "affordance", a, a) for i, a in enumerate(answers)])
    assert summary["affordance"]["centre_correlation"] == pytest.approx({"x": 1.0, "y": 1.0})
    _, summary = score_records([EvalRecord(str(i), "affordance", answers[0], a) for i, a in enumerate(answers)])
    assert summary["affordance"]["centre_correlation"] == {"x": None, "y": None}  # one constant answer


def test_paired_delta_mean_and_standard_error() -> None:
    before = [{"id": str(i), "iou": v} for i, v in enumerate([0.1, 0.5, 0.3, 0.0])]
    after = [{"id": str(i), "iou": v} for i, v in enumerate([0.2, 0.5, 0.6, 0.1])] + [{"id": "x", "iou": 1.0}]
    delta = paired_delta(before, after)
    diffs = np.array([0.1, 0.0, 0.3, 0.1])
    assert delta["n"] == 4
    assert delta["mean"] == pytest.approx(diffs.mean())
    assert delta["se"] == pytest.approx(diffs.std(ddof=1) / math.sqrt(4))
    with pytest.raises(ValueError, match="at least two"):
        paired_delta(before[:1], after[:1])
    # no spread, up to rounding (0.4 - 0.3 and 0.7 - 0.6 differ in the last bit): z is undefined
    tenths = [{"id": "0", "iou": 0.3}, {"id": "1", "iou": 0.6}, {"id": "2", "iou": 0.1}]
    raised = [{"id": "0", "iou": 0.4}, {"id": "1", "iou": 0.7}, {"id": "2", "iou": 0.2}]
    assert paired_delta(tenths, raised)["z"] is None
    assert paired_delta(before, before) == {"n": 4, "mean": 0.0, "se": 0.0, "z": None}


def test_report_files_and_predictions_roundtrip(tmp_path: Path) -> None:
    dataset = synthetic_dataset(4, seed=2, image_size=56, tasks=("affordance", "trajectory"))
    completions = list(dataset["ground_truth"])
    completions[0] = "garbage"
    records = records_from_dataset(dataset, completions)
    summary, rows = write_report(records, tmp_path / "rep", num_overlays=3)
    assert (summary, rows) == tuple(reversed(score_records(records)))
    for name in ("metrics.json", "predictions.jsonl", "per_question.jsonl", "report.md"):
        assert (tmp_path / "rep" / name).is_file()
    assert len(list((tmp_path / "rep" / "overlays").glob("*.png"))) == 3
    assert json.loads((tmp_path / "rep" / "metrics.json").read_text())["n"] == 4
    report = (tmp_path / "rep" / "report.md").read_text()
    assert "| format rate" in report and "overlays/" in report
    assert "decoding" not in report.lower()  # a predictions file: how it was decoded is unknown
    write_report(records, tmp_path / "sampled", num_overlays=0, extra={"decoding": "release", "seed": 3})
    assert (
        "Sampled like the authors' server (T 0.7, top-p 0.9, repetition penalty 1.1), seed 3."
        in (tmp_path / "sampled" / "report.md").read_text()
    )
    if "affordance" in summary:
        assert (tmp_path / "rep" / "iou_hist.png").is_file() and "iou_hist.png" in report
    back = read_predictions(tmp_path / "rep" / "predictions.jsonl")
    assert [r.completion for r in back] == completions
    assert score_records(back)[1] == score_records(records)[1]


def test_histogram_bars_are_drawn() -> None:
    picture = iou_histogram([0.05, 0.05, 0.95])
    assert picture.shape == (320, 480, 3) and picture.dtype == np.uint8
    bar_colour = np.all(picture == (60, 120, 200), axis=2)
    assert bar_colour[:, 50:100].any() and bar_colour[:, 420:470].any() and not bar_colour[:, 200:300].any()


def test_cli_scores_a_predictions_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "preds.jsonl"
    write_predictions(_records(), path)
    assert train_cli(["eval", "--predictions", str(path), f"eval.output_dir={tmp_path / 'out'}"]) == 0
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["n"] == 6 and metrics["predictions"] == str(path)
    printed = capsys.readouterr()
    assert json.loads(printed.out)["n"] == 6  # stdout is the summary alone; the report's path goes to stderr
    assert "report written" in printed.err
    (tmp_path / "bad.jsonl").write_text('{"task": "affordance"}\n')
    with pytest.raises(ValueError, match=r"bad\.jsonl:1: not a prediction record"):
        read_predictions(tmp_path / "bad.jsonl")


def test_decodings_are_greedy_or_the_release_servers_sampling() -> None:
    from vla_r1_training.config import load_config
    from vla_r1_training.evaluate import decoding_settings

    greedy = decoding_settings("greedy", 64)
    assert (greedy.do_sample, greedy.max_new_tokens) == (False, 64)
    release = decoding_settings("release", 64)
    assert (release.do_sample, release.temperature, release.top_p, release.repetition_penalty) == (True, 0.7, 0.9, 1.1)
    assert release.max_new_tokens == 64  # the evaluation's cap, not the server's 2048
    with pytest.raises(ValueError, match="unknown decoding 'beam'"):
        decoding_settings("beam", 64)
    with pytest.raises(ValueError, match=r"eval\.decoding: 'beam' is not one of greedy, release"):
        load_config(None, ["eval.decoding=beam"])
    assert load_config(None, ["eval.decoding=release", "eval.seed=3"]).eval.seed == 3


def test_the_eval_command_passes_the_decoding_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import vla_r1_training.evaluate as evaluate

    calls: list[dict[str, object]] = []

    def fake_evaluate_dataset(
        model: str, dataset: Any, output_dir: Path, *args: object, **kwargs: object
    ) -> tuple[dict[str, int], list[dict[str, Any]]]:
        calls.append({"model": model, "n": len(dataset), **kwargs})
        return {"n": len(dataset)}, []

    monkeypatch.setattr(evaluate, "evaluate_dataset", fake_evaluate_dataset)
    overrides = ["data.num_eval=3", "data.image_size=56", f"eval.output_dir={tmp_path}", "eval.decoding=release"]
    assert train_cli(["eval", "--model", "some/checkpoint", *overrides, "eval.seed=4"]) == 0
    expected = {"model": "some/checkpoint", "n": 3, "device": "auto", "dtype": "auto", "decoding": "release", "seed": 4}
    assert calls == [{**expected, "batch_size": 32, "max_new_tokens": 256, "num_overlays": 8}]


def test_sampled_evaluation_is_reproducible_and_leaves_the_callers_random_state() -> None:
    import torch

    from vla_r1_ros.model import EMBEDDED_MODEL_DIR
    from vla_r1_ros.model.engine import VLAR1Engine

    engine = VLAR1Engine(str(EMBEDDED_MODEL_DIR), device="cpu")
    scenes = synthetic_dataset(6, seed=3, min_objects=2, max_objects=3, tasks=("affordance",), image_size=112)

    def completions(decoding: str, seed: int) -> list[str]:
        records = generate_predictions(engine, scenes, 3, 96, progress=False, decoding=decoding, seed=seed)
        return [record.completion for record in records]

    state = torch.random.get_rng_state()
    first = completions("release", 1)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert completions("release", 1) == first
    assert completions("release", 2) != first
    assert completions("greedy", 1) == completions("greedy", 2)


def _two_object_evaluations(tmp_path: Path) -> tuple[Path, Path, list[EvalRecord]]:
    """One evaluation answering every scene's named object, one answering the other object of two-object scenes."""
    dataset = synthetic_dataset(8, seed=4, image_size=56, min_objects=1, max_objects=2, tasks=("affordance",))
    right = records_from_dataset(dataset, list(dataset["ground_truth"]))
    wrong_completions = []
    for record in right:
        boxes = record.object_boxes or []
        box = Box2D(**boxes[1]) if len(boxes) > 1 else Box2D(**boxes[0])
        wrong_completions.append(format_answer(box, "t"))
    wrong = records_from_dataset(dataset, wrong_completions)
    write_report(right, tmp_path / "right", num_overlays=0)
    write_report(wrong, tmp_path / "wrong", num_overlays=0)
    return tmp_path / "right", tmp_path / "wrong", right


def test_compare_gives_paired_differences_of_two_evaluations(tmp_path: Path) -> None:
    right, wrong, records = _two_object_evaluations(tmp_path)
    result = compare_evaluations(right, wrong)
    before = [json.loads(line) for line in (right / "per_question.jsonl").read_text().splitlines()]
    after = [json.loads(line) for line in (wrong / "per_question.jsonl").read_text().splitlines()]
    two_object = sum(1 for r in records if len(r.object_boxes or []) == 2)
    assert 0 < two_object < len(records)
    assert result["n_questions"] == len(records)
    assert result["iou"]["mean"] == pytest.approx(np.mean([b["iou"] - a["iou"] for a, b in zip(before, after)]))
    assert result["iou"]["mean"] < 0
    # every two-object answer moved from the named object to the other one
    assert result["named_object"] == {"n": two_object, "mean": -1.0, "se": 0.0, "z": None}
    assert "dfd" not in result
    assert compare_evaluations(right, right)["iou"] == {"n": len(records), "mean": 0.0, "se": 0.0, "z": None}


def test_compare_refuses_evaluations_of_different_questions(tmp_path: Path) -> None:
    right, _, _ = _two_object_evaluations(tmp_path)
    other = synthetic_dataset(8, seed=5, image_size=56, min_objects=1, max_objects=2, tasks=("affordance",))
    write_report(records_from_dataset(other, list(other["ground_truth"])), tmp_path / "other", num_overlays=0)
    with pytest.raises(ValueError, match="questions differ between the evaluations"):
        compare_evaluations(right, tmp_path / "other")
    fewer = synthetic_dataset(5, seed=4, image_size=56, min_objects=1, max_objects=2, tasks=("affordance",))
    write_report(records_from_dataset(fewer, list(fewer["ground_truth"])), tmp_path / "fewer", num_overlays=0)
    with pytest.raises(ValueError, match=r"different question ids \(3 not in both\)"):
        compare_evaluations(right, tmp_path / "fewer")


def test_compare_reports_a_measure_that_has_too_few_pairs_and_goes_on(tmp_path: Path) -> None:
    dataset = synthetic_dataset(4, seed=6, image_size=56, tasks=("trajectory",))
    parsed = records_from_dataset(dataset, list(dataset["ground_truth"]))
    broken = records_from_dataset(dataset, ["<think>x</think><output>[[0.1, 0.2]</output>"] * 4)
    write_report(parsed, tmp_path / "parsed", num_overlays=0)
    write_report(broken, tmp_path / "broken", num_overlays=0)
    result = compare_evaluations(tmp_path / "parsed", tmp_path / "broken")
    assert result["dfd"] == {"n": 0, "mean": None, "se": None, "z": None}
    assert result["reward"]["n"] == 4 and result["reward"]["mean"] < 0
    assert "iou" not in result
    assert compare_evaluations(tmp_path / "parsed", tmp_path / "parsed")["dfd"]["mean"] == 0.0


def test_compare_refuses_repeated_or_stale_ids(tmp_path: Path) -> None:
    right, wrong, _ = _two_object_evaluations(tmp_path)
    predictions = (wrong / "predictions.jsonl").read_text().splitlines()
    (wrong / "predictions.jsonl").write_text("\n".join([*predictions, predictions[0]]) + "\n")
    with pytest.raises(ValueError, match=r"predictions.jsonl:9: id 0 appears twice"):
        compare_evaluations(right, wrong)
    (wrong / "predictions.jsonl").write_text("\n".join(predictions) + "\n")
    scores = (wrong / "per_question.jsonl").read_text().splitlines()
    (wrong / "per_question.jsonl").write_text("\n".join(scores[:-1]) + "\n")
    with pytest.raises(ValueError, match=r"per_question\.jsonl and predictions\.jsonl list different questions"):
        compare_evaluations(right, wrong)


def test_compare_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    right, wrong, _ = _two_object_evaluations(tmp_path)
    out = tmp_path / "delta.json"
    assert train_cli(["compare", str(right), str(wrong), "--out", str(out)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(out.read_text()) and printed["iou"]["mean"] < 0
    assert printed["named_object"]["z"] is None  # every pair moved by exactly -1: strict JSON, no -Infinity
    assert "Infinity" not in out.read_text()
    assert train_cli(["compare", str(right), str(tmp_path / "missing")]) == 2
    assert "missing/predictions.jsonl not found: compare needs evaluation folders" in capsys.readouterr().err
