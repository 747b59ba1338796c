"""The GRPO group-outcome diagnostic of the CPU experiment (training/experiments/group_signal.py)."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from experiment_support import load_experiment

pytest.importorskip("vla_r1_training")


def _script() -> ModuleType:
    return load_experiment("group_signal")


def _rows(scene: str, picks: list[str], rewards: list[float]) -> list[dict[str, object]]:
    return [{"id": scene, "picked": p, "reward": r} for p, r in zip(picks, rewards)]


def test_groups_are_split_by_scene_and_counted() -> None:
    script = _script()
    rows = (
        _rows("7", ["target"] * 4, [0.9, 0.8, 0.85, 0.9])  # all right: only box precision to learn
        + _rows("8", ["target", "other", "other", "none"], [0.9, -0.2, -0.3, 0.1])  # mixed
        + _rows("9", ["other"] * 4, [-0.3] * 4)  # all wrong, no spread at all
    )
    groups = script.group_outcomes(rows)
    assert list(groups) == ["7", "8", "9"]
    assert groups["8"]["right"] == [True, False, False, False]  # "none" is not right

    summary = script.summarise_groups(list(groups.values()), samples=4)
    assert summary["n_groups"] == 3
    assert summary["right_per_group_histogram"] == [1, 1, 0, 0, 1]
    assert summary["share_mixed"] == pytest.approx(1 / 3, abs=1e-3)
    assert summary["share_all_right"] == summary["share_all_wrong"] == pytest.approx(1 / 3, abs=1e-3)
    assert summary["right_rate"] == pytest.approx(5 / 12, abs=1e-3)
    assert summary["right_rate_in_mixed"] == 0.25
    mixed_std = round(float(np.std([0.9, -0.2, -0.3, 0.1])), 4)
    assert summary["reward_std_mean_mixed"] == mixed_std
    assert summary["reward_std_mean_uniform"] < mixed_std / 10  # uniform groups barely move the policy


def test_groups_of_the_wrong_size_and_no_groups() -> None:
    script = _script()
    groups = script.group_outcomes(_rows("1", ["target"] * 3, [1.0] * 3))
    with pytest.raises(ValueError, match="3 rollouts, expected 4"):
        script.summarise_groups(list(groups.values()), samples=4)
    assert script.summarise_groups([], samples=4) == {"n_groups": 0}


def test_confusable_pairs_are_the_first_model_s(tmp_path: Path) -> None:
    script = _script()
    path = tmp_path / "pairs.json"
    path.write_text(json.dumps({"a": {"not_told_apart": ["blue/red"]}, "b": {"not_told_apart": ["red/yellow"]}}))
    assert script.confusable_pairs(path) == ["blue/red"]
    with pytest.raises(SystemExit):
        script.main(["model", "--samples", "1"])


def test_the_written_choice_is_the_object_whose_region_the_chain_of_thought_names() -> None:
    script = _script()
    left, right = {"x": 0.1, "y": 0.5, "width": 0.1, "height": 0.1}, {"x": 0.9, "y": 0.5, "width": 0.1, "height": 0.1}
    think = "<think>1. task: red circle. 2. scene: 2 objects. 3. region: {}. 4. check: clear.</think>"
    assert script.written_choice(think.format("left"), [left, right]) == "named"
    assert script.written_choice(think.format("right"), [left, right]) == "other"
    assert script.written_choice(think.format("top left"), [left, right]) == "none"
    assert script.written_choice("<think>no steps</think>", [left, right]) == "none"
    assert script.written_choice(think.format("left"), [left, dict(left, x=0.2)]) == "none"  # one region for both
    with pytest.raises(ValueError, match="two objects"):
        script.written_choice(think.format("left"), [left])


def test_region_coupling_counts_boxes_on_the_written_object_and_rewards_per_choice() -> None:
    script = _script()
    choices = ["named", "named", "other", "other", "none"]
    picked = ["target", "other", "other", "none", "target"]
    rewards = [0.9, 0.1, 0.2, 0.0, 0.8]
    coupling = script.region_coupling(choices, picked, rewards)
    assert coupling["n_rollouts"] == 5
    assert coupling["wrote_named"] == 0.4 and coupling["wrote_other"] == 0.4
    assert coupling["box_follows_region"] == pytest.approx(2 / 3, abs=1e-3)  # rollouts 1 and 3 of 1, 2, 3
    assert coupling["reward_wrote_named"] == pytest.approx(0.5) and coupling["reward_wrote_other"] == pytest.approx(0.1)
    with pytest.raises(ValueError, match="2 choices"):
        script.region_coupling(choices[:2], picked, rewards)


def test_the_command_samples_groups_from_a_model(tmp_path: Path) -> None:
    from vla_r1_ros.model import EMBEDDED_MODEL_DIR

    script = _script()
    config = tmp_path / "config.yaml"
    config.write_text(
        "data:\n  min_objects: 2\n  max_objects: 2\n  image_size: 112\n  tasks: [affordance]\n  cot: short\n"
        "eval:\n  max_new_tokens: 96\n"
    )
    out = tmp_path / "groups.json"
    args = [str(EMBEDDED_MODEL_DIR), "--config", str(config), "--scenes", "6", "--samples", "3"]
    assert script.main([*args, "--confusable", "red/blue,green/red,blue/green", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    groups = [result[kind] for kind in ("not_told_apart", "told_apart") if result[kind]["n_groups"]]
    assert sum(g["n_groups"] for g in groups) == 6
    for g in groups:
        assert sum(g["right_per_group_histogram"]) == g["n_groups"] and len(g["right_per_group_histogram"]) == 4
    # rollouts are sampled (T 1.0): the boxes of a group differ, so do their rewards; greedy ones would not
    assert max(g["reward_std_mean"] for g in groups) > 0.0
    coupling = [g["written_region"] for g in groups]
    assert sum(c["n_rollouts"] for c in coupling) == 6 * 3
    for c in coupling:
        assert 0.0 <= c["wrote_named"] + c["wrote_other"] <= 1.0
    with pytest.raises(SystemExit):
        script.main([*args, "--confusable", "red/teal"])
