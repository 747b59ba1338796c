"""The VLA-CoT-13K loader (bad records reported, never silently dropped) and the synthetic tabletop generator."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("datasets")

from vla_r1_training.data import COLOURS, TabletopGenerator, load_vla_cot, synthetic_dataset

from vla_r1_ros.core.protocol import build_prompt, parse_completion
from vla_r1_ros.core.rewards import score

BOX_ANSWER = '<think>a</think> so, the answer is <output>{"x": 0.5, "y": 0.4, "width": 0.2, "height": 0.1}</output>'
PATH_ANSWER = "<think>b</think> so, the answer is <output>[[0.1, 0.1], [0.5, 0.5], [0.9, 0.8]]</output>"


def _record(image: object, human: str, gpt: str | None) -> dict[str, object]:
    turns = [{"from": "human", "value": human}]
    if gpt is not None:
        turns.append({"from": "gpt", "value": gpt})
    return {"image": image, "conversations": turns}


@pytest.fixture()
def cot_file(tmp_path: Path) -> Path:
    images = tmp_path / "imgs"
    images.mkdir()
    for name in ("a.png", "b.png", "c.png"):
        cv2.imwrite(str(images / name), np.full((30, 40, 3), 128, np.uint8))
    records = [
        _record("imgs/a.png", build_prompt("pick up the cup", "affordance"), BOX_ANSWER),  # 0 good
        _record(["imgs/b.png"], build_prompt("reach the bowl", "trajectory"), PATH_ANSWER),  # 1 good, list form
        _record("imgs/missing.png", build_prompt("grasp it", "affordance"), BOX_ANSWER),  # 2 missing file
        _record("imgs/a.png", build_prompt("grasp it", "affordance"), None),  # 3 no gpt turn
        _record("imgs/a.png", build_prompt("grasp it", "affordance"), "<think>x</think><output>{bad</output>"),  # 4
        _record("imgs/a.png", build_prompt("reach it", "trajectory"), BOX_ANSWER),  # 5 task mismatch
        "not a record",  # 6
        _record([], build_prompt("grasp it", "affordance"), BOX_ANSWER),  # 7 no image
        _record("imgs/c.png", "free-form question <image>", PATH_ANSWER),  # 8 good: task from the answer
    ]
    path = tmp_path / "cot.json"
    path.write_text(json.dumps(records), encoding="utf-8")
    return path


def test_loader_keeps_good_records_and_reports_every_bad_one(cot_file: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        dataset, report = load_vla_cot(cot_file)
    assert (report.total, report.kept, len(dataset)) == (9, 3, 3)
    reasons = {s.index: s.reason for s in report.skipped}
    assert sorted(reasons) == [2, 3, 4, 5, 6, 7]
    assert "image file not found" in reasons[2] and "missing.png" in reasons[2]
    assert "no gpt turn" in reasons[3]
    assert "does not parse (invalid_json" in reasons[4]
    assert "prompt asks for trajectory but the answer is a affordance" in reasons[5]
    assert "expected an object" in reasons[6]
    assert "non-empty" in reasons[7]
    for index in reasons:  # every skip is also logged with its index
        assert f"record {index} skipped" in caplog.text
    assert report.tasks == {"affordance": 1, "trajectory": 2}
    assert "skipped 6" in report.summary()

    row = dataset[0]
    assert row["task"] == "affordance" and row["ground_truth"] == BOX_ANSWER
    assert row["completion"] == [{"role": "assistant", "content": BOX_ANSWER}]
    content = row["prompt"][0]["content"]
    assert row["prompt"][0]["role"] == "user"
    assert content[0]["text"] == build_prompt("pick up the cup", "affordance") and content[1]["type"] == "image"
    assert row["images"][0].size == (40, 30)
    assert dataset[1]["task"] == "trajectory" and dataset[2]["task"] == "trajectory"


def test_loader_image_root_and_limit(cot_file: Path, tmp_path: Path) -> None:
    dataset, report = load_vla_cot(cot_file, image_root=tmp_path, limit=1)
    assert len(dataset) == 1 and report.kept == 1
    empty, report = load_vla_cot(cot_file, image_root=tmp_path / "elsewhere")
    assert report.kept == 0 and len(empty) == 0 and len(report.skipped) == 9
    assert sum("image file not found" in s.reason for s in report.skipped) == 7
    _, report = load_vla_cot(cot_file, image_root=tmp_path / "elsewhere", check_files=False)
    assert report.kept == 4  # the missing file is no longer checked


def test_loader_refuses_a_file_that_is_not_an_array(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text('{"image": "a"}', encoding="utf-8")
    with pytest.raises(ValueError, match="expected a JSON array"):
        load_vla_cot(path)


def test_generator_is_deterministic_and_indexable() -> None:
    a = TabletopGenerator(seed=7, tasks=("affordance", "trajectory"))
    b = TabletopGenerator(seed=7, tasks=("affordance", "trajectory"))
    scenes = [a.scene(i) for i in range(20)]
    for i in (13, 2, 0):  # any order gives the same scene
        other = b.scene(i)
        assert np.array_equal(other.image, scenes[i].image)
        assert other.ground_truth == scenes[i].ground_truth and other.instruction == scenes[i].instruction
    different = TabletopGenerator(seed=8, tasks=("affordance", "trajectory")).scene(0)
    assert not np.array_equal(different.image, scenes[0].image)
    assert {s.task.value for s in scenes} == {"affordance", "trajectory"}


def test_scenes_have_known_objects_and_correct_ground_truth() -> None:
    generator = TabletopGenerator(seed=3, image_size=112, tasks=("affordance", "trajectory"), cot="full")
    counts = set()
    for scene in generator.scenes(60):
        counts.add(len(scene.objects))
        colours = [o.colour for o in scene.objects]
        assert len(set(colours)) == len(colours)  # the colour word identifies the target
        target = scene.target
        assert target.colour in scene.instruction and target.shape in scene.instruction
        parsed = parse_completion(scene.ground_truth, scene.task)
        assert parsed.ok, parsed.error
        assert score(scene.ground_truth, scene.ground_truth).score == pytest.approx(1.0)
        # The target's colour fills its box: pixels of that colour lie inside it and cover much of it.
        mask = np.abs(scene.image.astype(int) - np.array(COLOURS[target.colour])).sum(axis=2) < 60
        box = target.box.to_pixels(112, 112)
        ys, xs = np.nonzero(mask)
        assert xs.min() >= box.x_min - 1 and xs.max() < box.x_max + 1
        assert ys.min() >= box.y_min - 1 and ys.max() < box.y_max + 1
        inside = mask[int(box.y_min) : int(box.y_max), int(box.x_min) : int(box.x_max)].mean()
        assert inside > 0.4  # a triangle fills half its box
        steps = parsed.reasoning
        if scene.task.value == "affordance":
            assert parsed.box == scene.answer
            for step in ("Task parsing", "Scene understanding", "Region localisation", "Feasibility check"):
                assert step in steps
        else:
            points = parsed.trajectory.points
            assert len(points) == 4
            assert points[0] == pytest.approx(scene.gripper, abs=2e-3)
            assert points[-1] == pytest.approx((target.box.x, target.box.y), abs=2e-3)
            for step in ("Task parsing", "Object and gripper localisation", "Scene analysis", "Trajectory logic"):
                assert step in steps
    assert counts == {1, 2, 3}


def test_synthetic_dataset_rows() -> None:
    dataset = synthetic_dataset(6, seed=1, start=10, image_size=56, cot="short")
    assert dataset.column_names == [
        "images",
        "prompt",
        "completion",
        "ground_truth",
        "task",
        "instruction",
        "scene_id",
        "object_boxes",
    ]
    row = dataset[0]
    assert row["scene_id"] == 10
    assert row["images"][0].size == (56, 56)
    assert row["prompt"][0]["content"][0]["text"] == build_prompt(row["instruction"], row["task"])
    assert row["completion"][0]["content"] == row["ground_truth"]
    assert parse_completion(row["ground_truth"]).reasoning.startswith("1. task: ")
    boxes = json.loads(row["object_boxes"])
    assert boxes[0] == parse_completion(row["ground_truth"]).box.to_json()
    # the same rows again from the same seed
    again = synthetic_dataset(6, seed=1, start=10, image_size=56, cot="short")
    assert again["ground_truth"] == dataset["ground_truth"]
    assert np.array_equal(np.asarray(again[3]["images"][0]), np.asarray(dataset[3]["images"][0]))


def test_generator_rejects_bad_options() -> None:
    with pytest.raises(ValueError, match="min_objects"):
        TabletopGenerator(min_objects=0)
    with pytest.raises(ValueError, match="cot"):
        TabletopGenerator(cot="long")
    with pytest.raises(ValueError, match="unknown task"):
        TabletopGenerator(tasks=("grasp",))


def test_palettes_restrict_each_scene_to_one_colour_group() -> None:
    groups = [["red", "green", "blue"], ["purple", "yellow", "orange"]]
    generator = TabletopGenerator(seed=4, min_objects=2, max_objects=3, palettes=groups)
    used = set()
    for index in range(60):
        scene = generator.scene(index)
        colours = {obj.colour for obj in scene.objects}
        # every object of the scene, distractors included, comes from one group
        group = [i for i, palette in enumerate(groups) if colours <= set(palette)]
        assert len(group) == 1, colours
        used.add(group[0])
    assert used == {0, 1}
    # every scene is a pure function of (seed, index), palettes or not: read backwards, the same scenes
    backwards = [generator.scene(i).instruction for i in reversed(range(10))]
    assert backwards[::-1] == [generator.scene(i).instruction for i in range(10)]


def test_scenes_without_palettes_are_the_ones_every_seed_gave_before_palettes() -> None:
    # recorded from the generator before palettes existed: results and shipped models rest on these seeds
    generator = TabletopGenerator(seed=0)
    recorded = [
        ("pick up the yellow circle", ("yellow", "blue", "green"), (0.429, 0.143)),
        ("take the yellow square", ("yellow",), (0.441, 0.206)),
        ("take the orange square", ("orange", "yellow"), (0.235, 0.316)),
        ("pick up the green triangle", ("green", "orange"), (0.532, 0.611)),
        ("pick up the red square", ("red", "purple", "blue"), (0.201, 0.768)),
    ]
    scenes = [generator.scene(i) for i in range(5)]
    assert [(s.instruction, tuple(o.colour for o in s.objects), s.gripper) for s in scenes] == recorded


def test_without_palettes_every_colour_competes() -> None:
    generator = TabletopGenerator(seed=4, min_objects=2, max_objects=2, palettes=None)
    pairs = {frozenset(obj.colour for obj in generator.scene(i).objects) for i in range(300)}
    assert len(pairs) == 15  # all pairs of the six colours


@pytest.mark.parametrize(
    ("palettes", "message"),
    [
        ([["red", "pink", "blue"]], "unknown colour"),
        ([["red", "green"]], "fewer than max_objects"),
        ([["red", "red", "green"]], "2 distinct colours"),
        (["red"], r"must be a list of colours, e.g. \[\[red, green, blue\]\]"),
        ([], "non-empty"),
    ],
)
def test_bad_palettes_are_refused_with_a_reason(palettes: list, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TabletopGenerator(max_objects=3, palettes=palettes)
