"""Questions about the simulator's camera frames: boxes and carry paths checked by hand, deterministic, held out."""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterator

import numpy as np
import pytest

from vla_r1_ros.core.protocol import Task, parse_completion
from vla_r1_ros.sim.pick_scenes import PickScene, TableObject, sample_pick_scene
from vla_r1_ros.sim.sim_dataset import (
    CLEARANCE,
    PLACE_OFFSET,
    SPLIT_STRIDE,
    TRAJECTORY_POINTS,
    SceneStore,
    decode_frame,
    encode_frame,
    nearest_colours,
    path_around,
    plan_carry,
    project_points,
    sample_scene,
    scene_kind,
    scene_questions,
    scene_seed,
    split_questions,
)


class _TopDownCamera:
    """The default camera's geometry, written out by hand: 0.9 m above (0.46, 0), 27 degrees vertical."""

    def __init__(self) -> None:
        from vla_r1_ros.sim.scene import Intrinsics

        self.intrinsics = Intrinsics.from_vertical_fov(640, 480, 27.0)
        self.T_world_optical = np.array(
            [[0.0, -1.0, 0.0, 0.46], [-1.0, 0.0, 0.0, 0.0], [0.0, 0.0, -1.0, 0.9], [0.0, 0.0, 0.0, 1.0]]
        )


def test_projection_by_hand() -> None:
    camera = _TopDownCamera()
    focal = 240.0 / math.tan(math.radians(13.5))  # 999.6 px
    points = project_points(camera, np.array([[0.46, 0.0, 0.0], [0.46, -0.1, 0.05], [0.56, 0.0, 0.0]]))
    assert np.allclose(points[0], [0.5, 0.5])  # straight below the camera: the image centre
    # 0.1 m to the robot's right (world -y) at 5 cm height: image right of centre by f * 0.1 / 0.85 px
    assert np.isclose(points[1, 0], (319.5 + focal * 0.1 / 0.85 + 0.5) / 640) and np.isclose(points[1, 1], 0.5)
    # 0.1 m away from the robot (world +x): image up
    assert np.isclose(points[2, 1], (239.5 - focal * 0.1 / 0.9 + 0.5) / 480) and np.isclose(points[2, 0], 0.5)


def test_the_default_camera_is_the_documented_one() -> None:
    from vla_r1_ros.sim.panda import CameraSetup

    camera, hand = CameraSetup(), _TopDownCamera()
    assert camera.intrinsics == hand.intrinsics
    assert np.allclose(camera.T_world_optical, hand.T_world_optical)


# -- carry geometry -----------------------------------------------------------------------


def _tangent_arc_length(start: np.ndarray, goal: np.ndarray, centre: np.ndarray, radius: float) -> float:
    """The exact shortest path around one disk: two tangent lines and the arc between their feet."""
    a, b = start - centre, goal - centre
    da, db = np.linalg.norm(a), np.linalg.norm(b)
    between = math.acos(float(a @ b) / (da * db))
    arc = between - math.acos(radius / da) - math.acos(radius / db)
    return math.sqrt(da**2 - radius**2) + math.sqrt(db**2 - radius**2) + radius * arc


def test_a_carry_behind_the_reference_goes_around_it_by_the_shortest_way() -> None:
    # The red circle stands 15 cm behind the blue square (further from the robot, slightly right):
    # its place, 12 cm in front of the square, is past the square, which is in the way.
    objects = [("red circle", (0.60, 0.02)), ("blue square", (0.45, 0.0))]
    plan = plan_carry(objects, 0, 1)
    assert plan is not None and plan.place == pytest.approx((0.45 - PLACE_OFFSET, 0.0))
    assert plan.around == ("blue square",)
    assert np.allclose(plan.path[0], [0.60, 0.02]) and np.allclose(plan.path[-1], plan.place)
    dense = np.concatenate([np.linspace(p, q, 50) for p, q in zip(plan.path[:-1], plan.path[1:])])
    assert np.linalg.norm(dense - [0.45, 0.0], axis=1).min() >= CLEARANCE * (1 - 1e-6)
    length = float(np.sum(np.linalg.norm(np.diff(plan.path, axis=0), axis=1)))
    exact = _tangent_arc_length(np.array([0.60, 0.02]), np.array(plan.place), np.array([0.45, 0.0]), CLEARANCE)
    assert exact <= length <= exact * 1.005
    # It passes on the side it starts on (+y, the robot's left): the shorter way round.
    assert dense[:, 1].max() > 0.09


def test_a_carry_with_nothing_in_between_is_a_straight_line() -> None:
    objects = [("red circle", (0.45, 0.15)), ("blue square", (0.60, 0.15)), ("green triangle", (0.50, -0.15))]
    plan = plan_carry(objects, 0, 1)
    assert plan is not None and plan.around == () and len(plan.path) == 2
    assert np.allclose(plan.path, [[0.45, 0.15], [0.48, 0.15]])


def test_a_carry_whose_place_is_taken_or_too_near_the_robot_is_not_asked() -> None:
    taken = [("red circle", (0.60, 0.15)), ("blue square", (0.55, -0.10)), ("green triangle", (0.45, -0.14))]
    assert plan_carry(taken, 0, 1) is None  # the triangle stands 4.5 cm from the place
    near = [("red circle", (0.60, 0.15)), ("blue square", (0.41, -0.10))]
    assert plan_carry(near, 0, 1) is None  # the place would be at x 0.29
    assert path_around((0.5, 0.0), (0.7, 0.0), [(0.52, 0.0)], 0.1) is None  # the start is inside a disk


# -- seeds and variants --------------------------------------------------------------------


def test_splits_never_share_a_scene_with_each_other_or_with_sim_eval() -> None:
    assert scene_seed(1, 0) == SPLIT_STRIDE and scene_seed(2, 5) == 2 * SPLIT_STRIDE + 5
    assert scene_seed(1, SPLIT_STRIDE - 1) < scene_seed(2, 0)  # the split ranges do not overlap
    with pytest.raises(ValueError, match="sim-eval"):
        scene_seed(0, 3)  # split 0 would be vla-r1 sim-eval's episode seeds
    with pytest.raises(ValueError, match="outside"):
        scene_seed(1, SPLIT_STRIDE)


def test_the_shifted_variant_changes_counts_spacing_and_distractor_colours() -> None:
    assert nearest_colours("red") == ["orange", "purple"]
    for seed in range(scene_seed(3, 0), scene_seed(3, 40)):
        scene = sample_scene(seed, "shifted")
        assert len(scene.objects) == 3
        centres = [obj.xy for obj in scene.objects]
        assert min(math.dist(a, b) for i, a in enumerate(centres) for b in centres[i + 1 :]) >= 0.12
        target = scene.target.colour
        assert sorted(obj.colour for obj in scene.objects) == sorted([target, *nearest_colours(target)])
        assert scene.target.name in scene.instruction
    # the standard variant is the sim-eval sampler itself
    assert sample_scene(7, "standard") == sample_pick_scene(7)
    with pytest.raises(ValueError, match="variant"):
        scene_kind("sideways")


# -- rendered questions ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SceneStore]:
    pytest.importorskip("pybullet")
    with SceneStore(tmp_path_factory.mktemp("store")) as opened:
        yield opened


def _hand_scene() -> PickScene:
    objects = (
        TableObject("red", "square", 0.05, 0.05, (0.60, 0.02), 0.0),
        TableObject("blue", "circle", 0.05, 0.04, (0.45, 0.0), 0.0),
    )
    return PickScene(SPLIT_STRIDE * 9, objects, 0, "pick up the red square")


def test_the_affordance_answer_is_the_box_around_the_projected_object(store: SceneStore) -> None:
    scene = _hand_scene()
    frame = store.frame(scene, "hand")
    questions = scene_questions(scene, frame, random.Random(0), (Task.AFFORDANCE,), max_affordance=2)
    by_name = {q.names[0]: q for q in questions}
    square = by_name["red square"]
    # The square's 8 corners, settled where they were put, projected: their extent is its box.
    half = 0.025
    corners = np.array([[0.60 + sx * half, 0.02 + sy * half, z] for sx in (-1, 1) for sy in (-1, 1) for z in (0, 0.05)])
    uv = project_points(frame, corners)
    expected = np.array([uv[:, 0].min(), uv[:, 1].min(), uv[:, 0].max(), uv[:, 1].max()])
    assert np.allclose(square.answer.corners(), expected, atol=2.0 / 480)  # two pixels
    assert square.reasoning == "1. task: red square. 2. scene: 2 objects. 3. region: top. 4. check: clear."
    assert square.object_boxes[0] == square.answer and square.names == ("red square", "blue circle")
    parsed = parse_completion(square.ground_truth, "affordance")
    assert parsed.ok and parsed.box == square.answer


def test_the_carry_answer_starts_on_the_object_and_ends_at_its_place(store: SceneStore) -> None:
    scene = _hand_scene()
    frame = store.frame(scene, "hand")
    questions = scene_questions(scene, frame, random.Random(0), (Task.TRAJECTORY,), max_trajectory=2)
    carry = next(q for q in questions if q.names[0] == "red square")
    points = np.array(carry.answer.points)
    assert len(points) == TRAJECTORY_POINTS and points.min() >= 0.0 and points.max() <= 1.0
    top = 0.05
    start, place = project_points(frame, np.array([[0.60, 0.02, top], [0.45 - PLACE_OFFSET, 0.0, top]]))
    assert np.allclose(points[0], start, atol=0.006) and np.allclose(points[-1], place, atol=0.006)
    # The square is carried around the circle that stands in the way, seen to its left in the image
    # (the path passes on the robot's left, +y, which is image left).
    circle = project_points(frame, np.array([[0.45, 0.0, top]]))[0]
    assert carry.around == ("blue circle",) and "around the blue circle" in carry.reasoning
    assert points[:, 0].min() < circle[0] - 0.1
    assert carry.reasoning.startswith("1. task: red square to blue circle. 2. locate: top, ")
    parsed = parse_completion(carry.ground_truth, "trajectory")
    assert parsed.ok and parsed.trajectory == carry.answer
    # The other way round the circle is carried to the square's front: nothing in between.
    back = next(q for q in questions if q.names[0] == "blue circle")
    assert back.around == () and back.reasoning.endswith("4. path: straight.")


def test_a_stored_frame_is_the_rendered_one(store: SceneStore) -> None:
    scene = sample_scene(scene_seed(1, 3))
    frame = store.frame(scene, scene_kind("standard"))
    again = decode_frame(encode_frame(frame))
    assert np.array_equal(again.rgb, frame.rgb) and np.array_equal(again.segmentation, frame.segmentation)
    finite = np.isfinite(frame.depth)
    assert np.array_equal(finite, np.isfinite(again.depth))
    assert np.abs(again.depth[finite] - frame.depth[finite]).max() <= 5.1e-5
    assert [o.box_2d for o in again.objects] == [o.box_2d for o in frame.objects]
    assert np.array_equal(again.T_world_optical, frame.T_world_optical) and again.intrinsics == frame.intrinsics
    # Read back from disk, it is the same frame; a store of another scene under that seed is refused.
    assert np.array_equal(store.frame(scene, scene_kind("standard")).rgb, frame.rgb)
    other = sample_scene(scene_seed(1, 4))
    with pytest.raises(ValueError, match="another scene"):
        store.frame(PickScene(scene.seed, other.objects, 0, other.instruction), scene_kind("standard"))


def test_questions_are_deterministic_and_follow_the_options(store: SceneStore) -> None:
    def questions() -> list[tuple[str, str, str]]:
        return [
            (q.task.value, q.instruction, q.ground_truth)
            for _, _, qs in split_questions(store, 2, 12, max_affordance=2, max_trajectory=2)
            for q in qs
        ]

    first = questions()
    assert len(first) == 12 and first == questions()
    assert {task for task, _, _ in first} == {"affordance", "trajectory"}
    only_paths = [q for _, _, qs in split_questions(store, 2, 5, tasks=(Task.TRAJECTORY,)) for q in qs]
    assert len(only_paths) == 5 and all(q.task is Task.TRAJECTORY for q in only_paths)


# -- the training data source ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("data.train_seed=0", "split seeds"),
        ("data.eval_seed=1", "split seeds"),
        ("data.max_objects=4", "at most three"),
        ("data.sim_variant=sideways", "sim_variant"),
        ("data.synthetic_fraction=1.0", "synthetic_fraction"),
        ("data.tasks=[pointing]", "tasks"),
        ("data.sim_trajectory_per_scene=0", "no question per scene"),
    ],
)
def test_a_sim_data_section_that_cannot_work_is_refused(override: str, message: str) -> None:
    pytest.importorskip("trl")
    from vla_r1_training.config import load_config

    base = ["data.source=sim", "data.tasks=[trajectory]", "data.train_seed=1", "data.eval_seed=2"]
    load_config(None, base)  # the base is fine
    with pytest.raises(ValueError, match=message):
        load_config(None, [*base, override])


def test_the_sim_source_builds_rows_the_trainers_read(tmp_path: object, store: SceneStore) -> None:
    pytest.importorskip("datasets")
    pytest.importorskip("trl")
    from vla_r1_training.common import build_datasets
    from vla_r1_training.config import load_config

    config = load_config(None, [
        "data.source=sim", f"data.sim_store={store.folder.parent}", "data.tasks=[affordance,trajectory]",
        "data.train_seed=2", "data.eval_seed=4", "data.num_train=20", "data.num_eval=6", "data.synthetic_fraction=0.25",
        "data.sim_affordance_per_scene=2", "data.sim_trajectory_per_scene=2",
    ])
    train, held_out = build_datasets(config.data)
    assert len(train) == 20 and len(held_out) == 6
    assert {"images", "prompt", "completion", "ground_truth", "task", "object_boxes", "meta"} <= set(train.column_names)
    sources = [json.loads(meta).get("source", "sim") for meta in train["meta"]]
    assert sources.count("synthetic") == 5  # a quarter from the 2-D generator
    assert len(set(train["scene_id"])) == 20 and not set(train["scene_id"]) & set(held_out["scene_id"])
    image = train[0]["images"][0]
    assert image.size == (640, 480)  # the demo camera's frame, as the node receives it
    for row in train:
        assert parse_completion(row["ground_truth"], row["task"]).ok


def test_the_straight_line_baselines_end_where_the_truth_ends(store: SceneStore) -> None:
    """With detections equal to the true boxes, the detection line ends at the true place and starts on the object."""
    pytest.importorskip("datasets")
    pytest.importorskip("trl")
    from vla_r1_training.config import load_config
    from vla_r1_training.evaluate import EvalRecord
    from vla_r1_training.sim_data import sim_dataset
    from vla_r1_training.sim_experiment import _baselines, _detection_rows, straight_line

    line = straight_line((0.1, 0.2), (0.5, 0.2), 5).points
    assert line == ((0.1, 0.2), (0.2, 0.2), (0.3, 0.2), (0.4, 0.2), (0.5, 0.2))
    config = load_config(None, [
        "data.source=sim", f"data.sim_store={store.folder.parent}", "data.tasks=[trajectory]", "data.train_seed=2",
        "data.eval_seed=4", "data.min_objects=2",
    ])
    dataset = sim_dataset(config.data, 3, 4)
    questions = _detection_rows(dataset)
    assert len(questions) == 6 and questions[0]["instruction"].startswith("pick up the ")
    perfect = [EvalRecord(str(q["scene_id"]), q["task"], q["ground_truth"], q["ground_truth"]) for q in questions]
    lines = _baselines(dataset, perfect)
    for row, detected, between in zip(dataset, lines["line_from_detections"], lines["line_between_true_ends"]):
        truth = parse_completion(row["ground_truth"]).trajectory.points
        ours, ends = parse_completion(detected.completion).trajectory.points, parse_completion(between.completion)
        assert len(ours) == len(truth) and ends.trajectory.points[0] == truth[0]
        assert np.allclose(ours[-1], truth[-1], atol=0.0051) and np.allclose(ours[0], truth[0], atol=0.03)
    missed = [EvalRecord(r.id, r.task, "no box", r.ground_truth) for r in perfect]
    assert all(r.completion == "" for r in _baselines(dataset, missed)["line_from_detections"])


def test_the_starting_folder_gets_the_processor_size(tmp_path: object) -> None:
    pytest.importorskip("transformers")
    from pathlib import Path

    from vla_r1_training.sim_experiment import init_model

    out = init_model(Path(str(tmp_path)) / "init", pixels=37632)
    processor = json.loads((out / "processor_config.json").read_text())
    assert processor["image_processor"]["size"] == {"longest_edge": 37632, "shortest_edge": 37632}
    assert (out / "model.safetensors").is_file() and not (out / "README.md").exists()
    with pytest.raises(FileExistsError):
        init_model(out)
    with pytest.raises(ValueError, match="784"):
        init_model(Path(str(tmp_path)) / "other", pixels=1000)
