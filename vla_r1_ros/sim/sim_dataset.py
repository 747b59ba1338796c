"""Questions about the simulator's own camera frames: affordance boxes and carry trajectories.

The embedded model is trained on what the demo shows it: :class:`~vla_r1_ros.sim.panda.PandaWorld`
reset to a pick scene (:func:`~vla_r1_ros.sim.pick_scenes.sample_pick_scene`) and rendered by
its default camera (:class:`~vla_r1_ros.sim.panda.CameraSetup`: the same intrinsics, pose,
lighting, table and objects as ``demo.launch.py``'s ``sim_arm``). Each frame keeps its registered
depth and segmentation, so a lifted answer can be checked against the truth.

Two kinds of question per frame, answered from the render's truth:

* **affordance** ("pick up the red circle"): the named object's tight box of visible pixels
  (:class:`~vla_r1_ros.sim.scene.ObjectTruth`'s ``box_2d``), the short chain of thought of the
  2-D generator (``TabletopGenerator``'s: task, scene, region, check);
* **trajectory** ("move the red circle to the blue square"): the path of the named object's top
  centre, seen in the image, from where it stands to the place beside the other object.
  *Beside* is defined, so the answer is one path: the place is :data:`PLACE_OFFSET` in front
  of the reference object (towards the robot, world -x), at the moved object's height. The
  path keeps its centre :data:`CLEARANCE` from every other object's centre (about the Panda
  hand's half width): when the straight line does not, it is the shortest path around them
  (tangent lines and arcs), so it curves around what is in between. It is resampled to
  :data:`TRAJECTORY_POINTS` points evenly spaced along its length, normalised, two decimals.
  The chain of thought names the objects, where they are, how many there are, and the path:
  "straight", or "around the green circle, clockwise" for each object it goes around (as seen
  in the image). A pair has no trajectory question when its place is not free (another object
  within :data:`PLACE_OFFSET` of it) or outside the reachable band (x < :data:`MIN_PLACE_X`).

The instruction templates (:data:`CARRY_TEMPLATES`) all mean that place: "move the X to the Y",
"put the X in front of the Y", "place the X next to the Y", "bring the X to the Y".

Scene variants: ``standard`` is :func:`sample_pick_scene` itself (what ``vla-r1 sim-eval`` runs);
``shifted`` changes what a model could shortcut on: always three objects, a wider region
(:data:`SHIFTED_REGION`), 12 cm apart instead of 16, and the distractors in the two colours
nearest the target's (:func:`nearest_colours`).

Seeds: split ``s`` (``s >= 1``) holds scene seeds ``s * 1_000_000 + i`` (:func:`scene_seed`), so
no training or held-out split ever contains the seeds below 1 000 000 that ``vla-r1 sim-eval``
uses. Scene ``i`` of a split depends on ``(variant, s, i)`` only.

Rendered frames are stored once per seed by :class:`SceneStore` (RGB, depth and segmentation as
PNG, the truth as JSON, in one ``.npz``); ``python -m vla_r1_ros.sim.sim_dataset render`` fills a
store ahead of training.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import heapq
import io
import json
import math
import random
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import ArrayLike

from vla_r1_ros.core.metrics import resample_by_arc_length
from vla_r1_ros.core.protocol import Box2D, Task, Trajectory2D, format_answer
from vla_r1_ros.datagen.topdown_scenes import (
    AFFORDANCE_TEMPLATES,
    COLOURS,
    DrawnObject,
    TabletopGenerator,
    region_name,
)
from vla_r1_ros.sim.pick_scenes import PickScene, TableObject, sample_pick_scene
from vla_r1_ros.sim.scene import Intrinsics, ObjectTruth, RenderedScene

__all__ = [
    "CARRY_TEMPLATES",
    "PLACE_OFFSET",
    "CLEARANCE",
    "MIN_PLACE_X",
    "TRAJECTORY_POINTS",
    "SHIFTED_REGION",
    "VARIANTS",
    "SPLIT_STRIDE",
    "scene_seed",
    "nearest_colours",
    "sample_scene",
    "CarryPlan",
    "carry_place",
    "path_around",
    "plan_carry",
    "frame_carry",
    "carry_answer",
    "project_points",
    "SimQuestion",
    "scene_questions",
    "SceneStore",
    "scene_kind",
    "split_questions",
    "encode_frame",
    "decode_frame",
    "render_frame",
]

CARRY_TEMPLATES = (
    "move the {object} to the {reference}",
    "put the {object} in front of the {reference}",
    "place the {object} next to the {reference}",
    "bring the {object} to the {reference}",
)
#: Centre of the place, in front of the reference's centre (world -x, towards the robot), metres.
PLACE_OFFSET = 0.12
#: Distance the carried object's centre keeps from every other object's centre, metres.
CLEARANCE = 0.10
#: Places nearer the robot than this (world x, metres) are not asked for: the arm reaches them
#: folded and the camera's view ends at 0.24 m.
MIN_PLACE_X = 0.30
TRAJECTORY_POINTS = 6
#: Where the shifted variant's objects stand (x range, y range), metres: wider than pick_scenes.REGION.
SHIFTED_REGION = ((0.40, 0.64), (-0.24, 0.24))
_SHIFTED_SEPARATION = 0.12
VARIANTS = ("standard", "shifted")
#: Scene seeds per split: split s holds seeds s * SPLIT_STRIDE + i.
SPLIT_STRIDE = 1_000_000
#: Disk approximation of :func:`path_around`: polygons of this many sides.
_SIDES = 32


def scene_seed(split: int, index: int) -> int:
    """The pick-scene seed of scene ``index`` of split ``split`` (never below 1 000 000)."""
    if split < 1:
        raise ValueError(f"split seeds start at 1 (seeds below {SPLIT_STRIDE} are vla-r1 sim-eval's), got {split}")
    if not 0 <= index < SPLIT_STRIDE:
        raise ValueError(f"scene index {index} is outside [0, {SPLIT_STRIDE})")
    return split * SPLIT_STRIDE + index


def nearest_colours(colour: str, count: int = 2) -> list[str]:
    """The ``count`` colours of ``COLOURS`` nearest ``colour`` in RGB (the hardest distractors)."""
    reference = np.array(COLOURS[colour], dtype=float)
    others = sorted((float(np.linalg.norm(np.array(rgb, dtype=float) - reference)), name)
                    for name, rgb in COLOURS.items() if name != colour)
    return [name for _, name in others[:count]]


def sample_scene(seed: int, variant: str = "standard", min_objects: int = 1, max_objects: int = 3) -> PickScene:
    """The pick scene of ``seed``: :func:`sample_pick_scene` (standard) or its shifted variant.

    The shifted scene keeps the sampled objects' shapes, sizes and yaws (three of them) and
    redraws where they stand (:data:`SHIFTED_REGION`, 12 cm apart) and their colours (the target's
    colour, then its two nearest colours).
    """
    if variant == "standard":
        return sample_pick_scene(seed, min_objects, max_objects)
    if variant != "shifted":
        raise ValueError(f"unknown scene variant {variant!r}; expected one of {VARIANTS}")
    base = sample_pick_scene(seed, 3, 3)
    rng = random.Random(f"shifted:{seed}")
    (x_lo, x_hi), (y_lo, y_hi) = SHIFTED_REGION
    while True:
        centres = [(rng.uniform(x_lo, x_hi), rng.uniform(y_lo, y_hi)) for _ in base.objects]
        if all(math.dist(a, b) >= _SHIFTED_SEPARATION for i, a in enumerate(centres) for b in centres[i + 1 :]):
            break
    target_colour = rng.choice(sorted(COLOURS))
    colours = [target_colour, *nearest_colours(target_colour)]
    target = rng.randrange(len(base.objects))
    colours.insert(target, colours.pop(0))
    objects = tuple(
        dataclasses.replace(obj, xy=xy, colour=colour) for obj, xy, colour in zip(base.objects, centres, colours)
    )
    instruction = rng.choice(AFFORDANCE_TEMPLATES).format(object=objects[target].name)
    return PickScene(seed, objects, target, instruction)


# --------------------------------------------------------------------------------------------
# Carry geometry (world frame, metres)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CarryPlan:
    """Where a carried object goes and how: its place (world x, y) and the path of its centre.

    ``path`` is the shortest polyline (world x, y) from the object's centre to the place that
    keeps :data:`CLEARANCE` from the other objects; ``around`` names the objects it goes around,
    in the order it meets them.
    """

    mover: str
    reference: str
    place: tuple[float, float]
    path: np.ndarray  # (n, 2)
    around: tuple[str, ...]


def carry_place(reference_xy: ArrayLike) -> tuple[float, float]:
    """The place beside an object whose centre is at ``reference_xy``: :data:`PLACE_OFFSET` in front of it."""
    x, y = np.asarray(reference_xy, dtype=float)[:2]
    return (float(x) - PLACE_OFFSET, float(y))


def _segment_distance(point: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    d = b - a
    length2 = float(d @ d)
    t = 0.0 if length2 <= 1e-18 else min(1.0, max(0.0, float((point - a) @ d) / length2))
    return float(np.linalg.norm(a + t * d - point))


def path_around(start: ArrayLike, goal: ArrayLike, centres: Sequence[ArrayLike], radius: float) -> np.ndarray | None:
    """The shortest polyline from ``start`` to ``goal`` that keeps ``radius`` from every centre, or None.

    A visibility graph over polygons circumscribing the disks (so the path never enters a disk;
    with 32 sides it is at most 0.5 % longer than the exact tangent-and-arc path). None when the
    start or goal is inside a disk or the disks wall the goal off.
    """
    a, b = np.asarray(start, dtype=float), np.asarray(goal, dtype=float)
    disks = [np.asarray(c, dtype=float) for c in centres]
    slack = radius * 1e-6
    if any(np.linalg.norm(p - c) < radius - slack for c in disks for p in (a, b)):
        return None

    def free(p: np.ndarray, q: np.ndarray) -> bool:
        return all(_segment_distance(c, p, q) >= radius - slack for c in disks)

    if free(a, b):
        return np.stack([a, b])
    outer = radius / math.cos(math.pi / _SIDES) * (1.0 + 1e-6)
    angles = np.arange(_SIDES) * (2 * math.pi / _SIDES)
    ring = np.stack([np.cos(angles), np.sin(angles)], axis=1) * outer
    nodes = [a, b] + [c + v for c in disks for v in ring]
    nodes = [n for i, n in enumerate(nodes) if i < 2 or all(np.linalg.norm(n - c) >= radius - slack for c in disks)]
    best = {0: 0.0}
    previous: dict[int, int] = {}
    queue = [(0.0, 0)]
    done: set[int] = set()
    while queue:
        cost, node = heapq.heappop(queue)
        if node in done:
            continue
        done.add(node)
        if node == 1:
            break
        for other in range(len(nodes)):
            if other in done or not free(nodes[node], nodes[other]):
                continue
            step = cost + float(np.linalg.norm(nodes[other] - nodes[node]))
            if step < best.get(other, math.inf) - 1e-15:
                best[other], previous[other] = step, node
                heapq.heappush(queue, (step, other))
    if 1 not in done:
        return None
    order = [1]
    while order[-1] != 0:
        order.append(previous[order[-1]])
    return np.stack([nodes[i] for i in reversed(order)])


def plan_carry(objects: Sequence[tuple[str, Sequence[float]]], mover: int, reference: int) -> CarryPlan | None:
    """The carry of object ``mover`` to its place beside object ``reference`` (objects: name and
    centre x, y), or None when that place is not free, too near the robot, or cannot be reached."""
    if mover == reference:
        raise ValueError("an object cannot be carried to itself")
    place = carry_place(objects[reference][1])
    others = [(name, np.asarray(xy, dtype=float)) for i, (name, xy) in enumerate(objects) if i != mover]
    if place[0] < MIN_PLACE_X or any(np.linalg.norm(xy - place) < PLACE_OFFSET - 1e-9 for _, xy in others):
        return None
    start = np.asarray(objects[mover][1], dtype=float)
    path = path_around(start, place, [xy for _, xy in others], CLEARANCE)
    if path is None:
        return None
    goal = np.asarray(place)
    blocking = [(name, xy) for name, xy in others if _segment_distance(xy, start, goal) < CLEARANCE - 1e-9]
    # In the order the path meets them: by the arc length of the path's nearest point to each.
    samples = resample_by_arc_length(path, 200)
    blocking.sort(key=lambda item: int(np.argmin(np.linalg.norm(samples - item[1], axis=1))))
    return CarryPlan(objects[mover][0], objects[reference][0], place, path, tuple(name for name, _ in blocking))


def project_points(frame: Any, points: np.ndarray) -> np.ndarray:
    """Normalised image points ((u + 0.5) / W, the protocol's) of world points (n, 3) seen by ``frame``'s camera."""
    k: Intrinsics = frame.intrinsics
    world = np.asarray(points, dtype=float).reshape(-1, 3)
    inverse = np.linalg.inv(np.asarray(frame.T_world_optical, dtype=float))
    optical = world @ inverse[:3, :3].T + inverse[:3, 3]
    if np.any(optical[:, 2] <= 0.0):
        raise ValueError("a point is behind the camera")
    u = k.fx * optical[:, 0] / optical[:, 2] + k.cx
    v = k.fy * optical[:, 1] / optical[:, 2] + k.cy
    return np.stack([(u + 0.5) / k.width, (v + 0.5) / k.height], axis=1)


def frame_carry(frame: RenderedScene, mover: str, reference: str) -> CarryPlan | None:
    """The carry of ``mover`` to ``reference`` among the objects the frame sees, as they stand in it."""
    seen = [truth for truth in frame.objects if truth.box_2d is not None]
    names = [truth.name for truth in seen]
    if mover not in names or reference not in names:
        return None
    return plan_carry([(t.name, tuple(t.pose[:2, 3])) for t in seen], names.index(mover), names.index(reference))


def carry_answer(frame: RenderedScene, plan: CarryPlan) -> tuple[Trajectory2D, np.ndarray]:
    """The trajectory answer of a carry in ``frame``: the path of the moved object's top centre at its
    height, :data:`TRAJECTORY_POINTS` points evenly spaced, projected and rounded to two decimals;
    and those points in the world (n, 3)."""
    top = float(frame.object(plan.mover).top_center[2])
    dense = resample_by_arc_length(plan.path, TRAJECTORY_POINTS)
    world = np.column_stack([dense, np.full(len(dense), top)])
    points = tuple((_r2(float(u)), _r2(float(v))) for u, v in project_points(frame, world))
    return Trajectory2D(points), world


def _turn(points: np.ndarray, obstacle: np.ndarray) -> str:
    """'clockwise' when the image path keeps ``obstacle`` on its right (image y grows down), else 'anticlockwise'."""
    nearest = int(np.argmin(np.linalg.norm(points - obstacle, axis=1)))
    nearest = min(max(nearest, 1), len(points) - 1)
    direction = points[nearest] - points[nearest - 1]
    to_obstacle = obstacle - points[nearest]
    cross = direction[0] * to_obstacle[1] - direction[1] * to_obstacle[0]
    return "clockwise" if cross > 0 else "anticlockwise"


# --------------------------------------------------------------------------------------------
# Questions
# --------------------------------------------------------------------------------------------


def _r3(value: float) -> float:
    return round(min(1.0, max(0.0, value)), 3)


def _r2(value: float) -> float:
    return round(min(1.0, max(0.0, value)), 2)


@dataclass(frozen=True)
class SimQuestion:
    """One question about one frame, with its answer and what evaluation needs.

    ``object_boxes``: the visible objects' boxes, the named object first (for a trajectory: the
    moved object, then the reference); ``names`` in the same order. ``place`` and ``around`` are
    the carry's (trajectory questions only); ``answer_world`` is the path of the object's top
    centre in the world (n, 3) before projection.
    """

    seed: int
    variant: str
    task: Task
    instruction: str
    reasoning: str
    answer: Box2D | Trajectory2D
    names: tuple[str, ...]
    object_boxes: tuple[Box2D, ...]
    place: tuple[float, float] | None = None
    around: tuple[str, ...] = ()
    answer_world: np.ndarray | None = None

    @property
    def ground_truth(self) -> str:
        return format_answer(self.answer, self.reasoning)

    def metadata(self) -> dict[str, Any]:
        """JSON-ready facts of the question (seed, variant, names, the carry's place and detours)."""
        out: dict[str, Any] = {"seed": self.seed, "variant": self.variant, "names": list(self.names)}
        if self.task is Task.TRAJECTORY:
            out["place"] = [round(v, 4) for v in self.place or ()]
            out["around"] = list(self.around)
        return out


def _count(n: int) -> str:
    return f"{n} object{'s' if n > 1 else ''}"


def _trajectory_reasoning(cot: str, instruction: str, boxes: Sequence[Box2D], names: Sequence[str],
                          count: int, path: str) -> str:
    if cot == "none":
        return ""
    mover, reference = names[0], names[1]
    where = [region_name(b.x, b.y) for b in boxes[:2]]
    if cot == "short":
        return (f"1. task: {mover} to {reference}. 2. locate: {where[0]}, {where[1]}. 3. scene: {_count(count)}. "
                f"4. path: {path}.")
    route = "a straight line" if path == "straight" else path
    return (
        f"Task parsing: the task is to {instruction}, so the {mover} goes in front of the {reference}. "
        f"Object localisation: the {mover} is at the {where[0]} and the {reference} at the {where[1]}. "
        f"Scene analysis: the table holds {_count(count)}. "
        f"Trajectory logic: carry it along {route}, keeping clear of the other objects."
    )


def scene_questions(
    scene: PickScene,
    frame: RenderedScene,
    rng: random.Random,
    tasks: Sequence[Task] = (Task.AFFORDANCE, Task.TRAJECTORY),
    cot: str = "short",
    max_affordance: int = 1,
    max_trajectory: int = 1,
    variant: str = "standard",
) -> list[SimQuestion]:
    """Up to ``max_affordance`` affordance and ``max_trajectory`` trajectory questions about ``frame``.

    Objects are taken as rendered (poses after the world settled; boxes of their visible
    pixels; an object the camera does not see is never asked about). Affordance targets and
    carry pairs are drawn with ``rng`` without repetition.
    """
    if cot not in ("full", "short", "none"):
        raise ValueError(f"cot must be full, short or none, got {cot!r}")
    truths = {truth.name: truth for truth in frame.objects}
    seen = [obj for obj in scene.objects if truths[obj.name].box_2d is not None]
    boxes = {obj.name: _rounded(truths[obj.name].box_2d) for obj in seen}
    questions: list[SimQuestion] = []
    if Task.AFFORDANCE in tasks and seen:
        reasoner = TabletopGenerator(cot=cot)
        for target in rng.sample(seen, min(max_affordance, len(seen))):
            order = [target] + [obj for obj in seen if obj is not target]
            instruction = rng.choice(AFFORDANCE_TEMPLATES).format(object=target.name)
            objects = [DrawnObject(obj.colour, obj.shape, boxes[obj.name]) for obj in order]
            # The 2-D generator's chain of thought (one home for it); the gripper is not in it.
            reasoning = reasoner._reasoning(Task.AFFORDANCE, instruction, objects, (0.5, 0.5))
            questions.append(SimQuestion(
                scene.seed, variant, Task.AFFORDANCE, instruction, reasoning, boxes[target.name],
                tuple(obj.name for obj in order), tuple(boxes[obj.name] for obj in order),
            ))
    if Task.TRAJECTORY in tasks and len(seen) >= 2:
        centres = [(obj.name, tuple(truths[obj.name].pose[:2, 3])) for obj in seen]
        pairs = [(i, j) for i in range(len(seen)) for j in range(len(seen)) if i != j]
        rng.shuffle(pairs)
        for i, j in pairs:
            if sum(q.task is Task.TRAJECTORY for q in questions) >= max_trajectory:
                break
            plan = plan_carry(centres, i, j)
            if plan is None:
                continue
            questions.append(_carry_question(scene, frame, seen, boxes, truths, plan, (i, j), rng, cot, variant))
    return questions


def _rounded(box: Box2D | None) -> Box2D:
    assert box is not None
    return Box2D(_r3(box.x), _r3(box.y), _r3(box.width), _r3(box.height))


def _carry_question(
    scene: PickScene,
    frame: RenderedScene,
    seen: Sequence[TableObject],
    boxes: dict[str, Box2D],
    truths: dict[str, ObjectTruth],
    plan: CarryPlan,
    pair: tuple[int, int],
    rng: random.Random,
    cot: str,
    variant: str,
) -> SimQuestion:
    mover, reference = pair
    top = float(truths[seen[mover].name].top_center[2])
    answer, world = carry_answer(frame, plan)
    fine = project_points(frame, np.column_stack([plan.path, np.full(len(plan.path), top)]))
    turns = []
    for name in plan.around:
        centre = project_points(frame, np.array([[*truths[name].pose[:2, 3], top]]))[0]
        turns.append(f"around the {name}, {_turn(resample_by_arc_length(fine, 100), centre)}")
    path = "; ".join(turns) if turns else "straight"
    order = [seen[mover], seen[reference]] + [obj for k, obj in enumerate(seen) if k not in (mover, reference)]
    names = tuple(obj.name for obj in order)
    instruction = rng.choice(CARRY_TEMPLATES).format(object=names[0], reference=names[1])
    object_boxes = tuple(boxes[name] for name in names)
    reasoning = _trajectory_reasoning(cot, instruction, object_boxes, names, len(seen), path)
    return SimQuestion(
        scene.seed, variant, Task.TRAJECTORY, instruction, reasoning, answer, names,
        object_boxes, plan.place, plan.around, world,
    )


# --------------------------------------------------------------------------------------------
# Rendering and the on-disk store
# --------------------------------------------------------------------------------------------


def render_frame(world: Any, scene: PickScene) -> RenderedScene:
    """Reset ``world`` (a :class:`~vla_r1_ros.sim.panda.PandaWorld`) to ``scene`` and render its camera."""
    world.reset(scene.seed, scene)
    frame: RenderedScene = world.render()
    return frame


def _png(image: np.ndarray) -> np.ndarray:
    ok, data = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:  # pragma: no cover
        raise RuntimeError("PNG encoding failed")
    return np.asarray(data, dtype=np.uint8)


def _unpng(data: np.ndarray, flags: int) -> np.ndarray:
    image = cv2.imdecode(np.asarray(data, dtype=np.uint8), flags)
    if image is None:
        raise ValueError("not a PNG image")
    return np.asarray(image)


#: Depth is stored as 16-bit PNG in units of 0.1 mm (0 for no depth): 6.5 m of range, 0.05 mm error.
_DEPTH_UNIT = 1e-4


def encode_frame(frame: RenderedScene) -> dict[str, np.ndarray]:
    """The arrays :class:`SceneStore` writes for a frame (PNG RGB, depth, segmentation; JSON truth)."""
    depth = np.nan_to_num(np.asarray(frame.depth, dtype=np.float64) / _DEPTH_UNIT, nan=0.0)
    if depth.max() >= 65535:
        raise ValueError("depth beyond the store's 6.5 m range")
    segmentation = np.asarray(frame.segmentation)
    if segmentation.max() >= 255:
        raise ValueError("more bodies than the store's 8-bit segmentation holds")
    truth = {
        "intrinsics": dataclasses.asdict(frame.intrinsics),
        "T_world_optical": np.asarray(frame.T_world_optical).tolist(),
        "table_body_id": frame.table_body_id,
        "frame_id": frame.frame_id,
        "objects": [
            {
                "name": o.name, "body_id": o.body_id, "shape": o.shape, "pose": o.pose.tolist(),
                "size": o.size.tolist(), "visible_pixels": o.visible_pixels,
                "box_2d": None if o.box_2d is None else o.box_2d.to_json(),
            }
            for o in frame.objects
        ],
    }
    return {
        "rgb_png": _png(np.ascontiguousarray(frame.rgb[:, :, ::-1])),
        "depth_png": _png(np.round(depth).astype(np.uint16)),
        "segmentation_png": _png(np.where(segmentation < 0, 255, segmentation).astype(np.uint8)),
        "truth_json": np.frombuffer(json.dumps(truth).encode(), dtype=np.uint8),
    }


def decode_frame(arrays: dict[str, np.ndarray]) -> RenderedScene:
    """The frame :func:`encode_frame` stored (depth to 0.05 mm; everything else exact)."""
    truth = json.loads(bytes(arrays["truth_json"]).decode())
    rgb = _unpng(arrays["rgb_png"], cv2.IMREAD_COLOR)[:, :, ::-1].copy()
    depth = _unpng(arrays["depth_png"], cv2.IMREAD_UNCHANGED).astype(np.float32) * np.float32(_DEPTH_UNIT)
    depth[depth == 0.0] = np.nan
    segmentation = _unpng(arrays["segmentation_png"], cv2.IMREAD_UNCHANGED).astype(np.int32)
    segmentation[segmentation == 255] = -1
    objects = tuple(
        ObjectTruth(
            o["name"], o["body_id"], o["shape"], np.array(o["pose"]), np.array(o["size"]),
            None if o["box_2d"] is None else Box2D(**o["box_2d"]), o["visible_pixels"],
        )
        for o in truth["objects"]
    )
    return RenderedScene(
        rgb, depth, segmentation, Intrinsics(**truth["intrinsics"]), np.array(truth["T_world_optical"]), objects,
        truth["table_body_id"], truth["frame_id"],
    )


def camera_key(camera: Any) -> str:
    """A short digest of a camera setup (intrinsics and pose): stores of different cameras never mix."""
    text = json.dumps([dataclasses.asdict(camera.intrinsics), np.round(camera.T_world_optical, 9).tolist()])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def scene_kind(variant: str, min_objects: int = 1, max_objects: int = 3) -> str:
    """The store's name for a scene distribution: the same seed draws other scenes under other counts."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown scene variant {variant!r}; expected one of {VARIANTS}")
    return "shifted" if variant == "shifted" else f"standard-{min_objects}-{max_objects}"


class SceneStore:
    """Rendered frames on disk, one ``<kind>/<seed>.npz`` per scene, under a folder per camera.

    ``frame(scene, kind)`` returns the stored frame or renders, stores and returns it (``kind``:
    :func:`scene_kind`). The world (and pybullet) is started only when something must be
    rendered. A stored frame whose objects are not the scene's is refused.
    """

    def __init__(self, root: str | Path, camera: Any = None) -> None:
        from vla_r1_ros.sim.panda import CameraSetup

        self.camera = camera or CameraSetup()
        self.folder = Path(root) / f"camera-{camera_key(self.camera)}"
        self._world: Any = None
        self.rendered = 0

    def path(self, seed: int, kind: str) -> Path:
        return self.folder / kind / f"{seed}.npz"

    def frame(self, scene: PickScene, kind: str) -> RenderedScene:
        path = self.path(scene.seed, kind)
        if path.is_file():
            with np.load(path) as data:
                stored = decode_frame({name: data[name] for name in data.files})
            if [o.name for o in stored.objects] != [o.name for o in scene.objects]:
                raise ValueError(f"{path} holds another scene ({[o.name for o in stored.objects]}): a stale store?")
            return stored
        if self._world is None:
            from vla_r1_ros.sim.panda import PandaWorld

            self._world = PandaWorld(self.camera)
        frame = render_frame(self._world, scene)
        path.parent.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        arrays = encode_frame(frame)
        np.savez(
            buffer, rgb_png=arrays["rgb_png"], depth_png=arrays["depth_png"],
            segmentation_png=arrays["segmentation_png"], truth_json=arrays["truth_json"],
        )
        partial = path.with_suffix(f".{id(self)}.part")
        partial.write_bytes(buffer.getvalue())
        partial.replace(path)  # a reader never finds half a file
        self.rendered += 1
        return frame

    def close(self) -> None:
        if self._world is not None:
            self._world.close()
            self._world = None

    def __enter__(self) -> SceneStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def split_questions(
    store: SceneStore,
    split: int,
    count: int,
    variant: str = "standard",
    tasks: Sequence[Task] = (Task.AFFORDANCE, Task.TRAJECTORY),
    cot: str = "short",
    min_objects: int = 1,
    max_objects: int = 3,
    max_affordance: int = 1,
    max_trajectory: int = 1,
    start: int = 0,
) -> Iterator[tuple[int, RenderedScene, list[SimQuestion]]]:
    """Scenes ``start, start + 1, ...`` of a split with their questions, until ``count`` questions came.

    Yields (scene index, frame, questions). The questions of scene ``i`` depend only on
    ``(variant, split, i)`` and the options.
    """
    given, index = 0, start
    while given < count:
        seed = scene_seed(split, index)
        scene = sample_scene(seed, variant, min_objects, max_objects)
        frame = store.frame(scene, scene_kind(variant, min_objects, max_objects))
        rng = random.Random(f"questions:{variant}:{seed}")
        questions = scene_questions(scene, frame, rng, tasks, cot, max_affordance, max_trajectory, variant)
        questions = questions[: count - given]
        given += len(questions)
        yield index, frame, questions
        index += 1


def _render_main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m vla_r1_ros.sim.sim_dataset",
        description="Render scenes of a split into a SceneStore ahead of training (the default camera).",
    )
    parser.add_argument("command", choices=("render",))
    parser.add_argument("--store", required=True, help="store folder (for example training/runs/sim_store)")
    parser.add_argument("--split", type=int, required=True, help="split seed (>= 1)")
    parser.add_argument("--variant", choices=VARIANTS, default="standard")
    parser.add_argument("--start", type=int, default=0, help="first scene index")
    parser.add_argument("--count", type=int, required=True, help="number of scenes")
    parser.add_argument("--min-objects", type=int, default=1)
    parser.add_argument("--max-objects", type=int, default=3)
    args = parser.parse_args(argv)
    kind = scene_kind(args.variant, args.min_objects, args.max_objects)
    started = time.perf_counter()
    with SceneStore(args.store) as store:
        for index in range(args.start, args.start + args.count):
            seed = scene_seed(args.split, index)
            store.frame(sample_scene(seed, args.variant, args.min_objects, args.max_objects), kind)
            if (index - args.start + 1) % 200 == 0:
                print(f"{index - args.start + 1}/{args.count} scenes, {store.rendered} rendered, "
                      f"{time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    print(f"{args.count} scenes in {store.folder} ({store.rendered} rendered, {time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(_render_main())
