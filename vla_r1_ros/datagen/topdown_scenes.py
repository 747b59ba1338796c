"""Seeded 2-D tabletop scenes drawn top-down: coloured shapes, a gripper, an instruction and its answer.

The training package's synthetic data (``vla_r1_training.data``) and the node demo's top-down
RGB-D scene (``scripts/node_demo.sh --scene topdown``) draw the same scenes from here, so a model
trained on them is shown what it was trained on. No ROS, no torch: cv2 and NumPy only.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from vla_r1_ros.core.protocol import Box2D, Task, Trajectory2D, format_answer
from vla_r1_ros.sim.scene import Intrinsics

__all__ = [
    "COLOURS",
    "SHAPES",
    "AFFORDANCE_TEMPLATES",
    "TRAJECTORY_TEMPLATES",
    "region_name",
    "region_step",
    "written_region",
    "REGION_STEP",
    "DrawnObject",
    "SyntheticScene",
    "TabletopGenerator",
    "check_palettes",
    "TopDownFrame",
    "top_down_frame",
]


#: Object colours (RGB): saturated and far apart, so a colour word names one patch colour.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (215, 35, 35),
    "green": (30, 160, 60),
    "blue": (35, 75, 215),
    "yellow": (235, 205, 30),
    "purple": (140, 50, 180),
    "orange": (245, 130, 20),
}
SHAPES = ("circle", "square", "triangle")

AFFORDANCE_TEMPLATES = (
    "pick up the {object}",
    "grasp the {object}",
    "grab the {object}",
    "take the {object}",
)
TRAJECTORY_TEMPLATES = (
    "move the gripper to the {object}",
    "reach for the {object}",
    "bring the gripper to the {object}",
    "go to the {object}",
)

_REGIONS = (("top left", "top", "top right"), ("left", "centre", "right"), ("bottom left", "bottom", "bottom right"))


#: The short chain of thought's region step ("3. region: top left."), as read back from a completion.
REGION_STEP = re.compile(r"3\. region: ([a-z ]+)\.")


def region_step(region: str) -> str:
    """The short chain of thought's region step for ``region`` (a :func:`region_name`)."""
    return f"3. region: {region}."


def written_region(completion: str) -> str | None:
    """The region a completion's short-CoT region step names, or None without such a step."""
    match = REGION_STEP.search(completion)
    return None if match is None else match.group(1)


def region_name(x: float, y: float) -> str:
    """A 3 x 3 grid name for a normalised point ("top left", "centre", ...)."""
    col = min(2, max(0, int(x * 3)))
    row = min(2, max(0, int(y * 3)))
    return _REGIONS[row][col]


@dataclass(frozen=True)
class DrawnObject:
    """One drawn object: colour and shape names and its tight normalised box."""

    colour: str
    shape: str
    box: Box2D

    @property
    def name(self) -> str:
        return f"{self.colour} {self.shape}"


@dataclass(frozen=True)
class SyntheticScene:
    """One rendered scene and one question about it, with its ground truth."""

    scene_id: int
    image: NDArray[np.uint8]
    objects: tuple[DrawnObject, ...]  # target first
    gripper: tuple[float, float]
    task: Task
    instruction: str
    reasoning: str
    answer: Box2D | Trajectory2D

    @property
    def target(self) -> DrawnObject:
        return self.objects[0]

    @property
    def ground_truth(self) -> str:
        return format_answer(self.answer, self.reasoning)


def check_palettes(palettes: Sequence[Sequence[str]], max_objects: int) -> tuple[tuple[str, ...], ...]:
    """The colour groups as sorted tuples, or a ValueError naming what is wrong with them."""
    if isinstance(palettes, str) or not palettes:
        raise ValueError("palettes must be a non-empty list of colour lists")
    checked = []
    for palette in palettes:
        if isinstance(palette, str):
            raise ValueError(f"palette {palette!r} must be a list of colours, e.g. [[red, green, blue]]")
        unknown = sorted(set(palette) - set(COLOURS))
        if unknown:
            raise ValueError(f"palette {list(palette)}: unknown colour(s) {unknown}; known: {sorted(COLOURS)}")
        if len(set(palette)) < max_objects:
            raise ValueError(
                f"palette {list(palette)} has {len(set(palette))} distinct colours, fewer than max_objects "
                f"({max_objects}); colours are unique within a scene"
            )
        checked.append(tuple(sorted(set(palette))))
    return tuple(checked)


def _r3(value: float) -> float:
    return round(min(1.0, max(0.0, value)), 3)


class TabletopGenerator:
    """Seeded 2-D tabletop scenes: 1-3 coloured shapes and a gripper on a table, drawn with cv2.

    Colours are unique within a scene (so the colour word alone identifies the target; the shape
    word is redundant but always given); objects do not overlap. Scene ``i`` of a generator
    depends only on ``(seed, i)``, so any slice can be regenerated exactly.

    ``cot`` chooses the reasoning: ``"full"`` (the paper's 4-step template in sentences),
    ``"short"`` (the same four steps, terse; fewer tokens for CPU training) or ``"none"``.

    ``palettes`` restricts the colours: each scene draws its colours from one of these colour
    groups, picked at random (for example ``[["red", "green", "blue"]]`` makes every two-object
    scene one where only red, green and blue compete). ``None`` draws from all of ``COLOURS`` and
    leaves every seed's scenes as they were.
    """

    def __init__(
        self,
        seed: int = 0,
        image_size: int = 112,
        min_objects: int = 1,
        max_objects: int = 3,
        tasks: Sequence[str] = ("affordance",),
        cot: str = "short",
        object_size: tuple[float, float] = (0.18, 0.3),
        palettes: Sequence[Sequence[str]] | None = None,
    ) -> None:
        if not 1 <= min_objects <= max_objects <= len(COLOURS):
            raise ValueError(f"need 1 <= min_objects <= max_objects <= {len(COLOURS)}")
        self.palettes = None if palettes is None else check_palettes(palettes, max_objects)
        if cot not in ("full", "short", "none"):
            raise ValueError(f"cot must be full, short or none, got {cot!r}")
        if image_size < 28:
            raise ValueError("image_size must be at least 28")
        self.seed = seed
        self.image_size = image_size
        self.min_objects = min_objects
        self.max_objects = max_objects
        self.tasks = tuple(Task.from_name(t) for t in tasks)
        if not self.tasks:
            raise ValueError("tasks is empty")
        self.cot = cot
        self.object_size = object_size

    # -- drawing ------------------------------------------------------------------------------

    def _draw_object(
        self, canvas: NDArray[np.uint8], shape: str, colour: tuple[int, int, int], cx: float, cy: float, size: float
    ) -> Box2D:
        s = self.image_size
        half = size * s / 2.0
        px, py = cx * s, cy * s
        if shape == "circle":
            cv2.circle(canvas, (round(px), round(py)), max(1, round(half)), colour, -1, cv2.LINE_AA)
        elif shape == "square":
            cv2.rectangle(
                canvas, (round(px - half), round(py - half)), (round(px + half) - 1, round(py + half) - 1), colour, -1
            )
        else:
            pts = np.array([[px, py - half], [px - half, py + half], [px + half, py + half]], dtype=np.float64)
            cv2.fillPoly(canvas, [np.round(pts).astype(np.int32)], colour, cv2.LINE_AA)
        # Tight box from the drawn pixels of this colour around the object.
        x0, x1 = max(0, int(px - half - 2)), min(s, int(px + half + 3))
        y0, y1 = max(0, int(py - half - 2)), min(s, int(py + half + 3))
        patch = canvas[y0:y1, x0:x1].astype(np.int16)
        mask = np.abs(patch - np.array(colour, dtype=np.int16)).sum(axis=2) < 60
        ys, xs = np.nonzero(mask)
        tight = Box2D.from_corners(
            (x0 + xs.min()) / s, (y0 + ys.min()) / s, (x0 + xs.max() + 1) / s, (y0 + ys.max() + 1) / s
        )
        return Box2D(_r3(tight.x), _r3(tight.y), _r3(tight.width), _r3(tight.height))

    def _draw_gripper(self, canvas: NDArray[np.uint8], gx: float, gy: float) -> None:
        s = self.image_size
        px, py, w = gx * s, gy * s, max(2, s // 28)
        dark = (60, 60, 60)
        cv2.rectangle(canvas, (round(px - 3 * w), round(py - w)), (round(px + 3 * w), round(py)), dark, -1)
        cv2.rectangle(canvas, (round(px - 3 * w), round(py)), (round(px - 2 * w), round(py + 3 * w)), dark, -1)
        cv2.rectangle(canvas, (round(px + 2 * w), round(py)), (round(px + 3 * w), round(py + 3 * w)), dark, -1)

    # -- scenes -------------------------------------------------------------------------------

    def scene(self, index: int) -> SyntheticScene:
        """Scene number ``index`` (deterministic from the generator's seed and ``index``)."""
        rng = random.Random(f"{self.seed}:{index}")
        s = self.image_size
        n = rng.randint(self.min_objects, self.max_objects)
        for _attempt in range(200):
            placed: list[tuple[float, float, float]] = []
            ok = True
            for _ in range(n):
                size = rng.uniform(*self.object_size)
                for _try in range(50):
                    cx = rng.uniform(size / 2 + 0.02, 1 - size / 2 - 0.02)
                    cy = rng.uniform(size / 2 + 0.02, 1 - size / 2 - 0.02)
                    if all(max(abs(cx - ox), abs(cy - oy)) > (size + osz) / 2 + 0.03 for ox, oy, osz in placed):
                        placed.append((cx, cy, size))
                        break
                else:
                    ok = False
                    break
            if ok:
                break
        else:  # pragma: no cover - 3 objects of <= 0.3 always fit
            raise RuntimeError("could not place the objects")
        # The gripper sits where no object is.
        for _try in range(200):
            gx, gy = rng.uniform(0.1, 0.9), rng.uniform(0.08, 0.85)
            if all(max(abs(gx - ox), abs(gy - oy)) > osz / 2 + 0.1 for ox, oy, osz in placed):
                break
        palette = COLOURS if self.palettes is None else self.palettes[rng.randrange(len(self.palettes))]
        colours = rng.sample(sorted(palette), n)
        shapes = [rng.choice(SHAPES) for _ in range(n)]

        table = np.array([rng.randint(170, 215), rng.randint(150, 190), rng.randint(110, 150)], dtype=np.int16)
        noise = np.random.default_rng(rng.getrandbits(32)).integers(-8, 9, (s, s, 3))
        canvas = np.clip(table + noise, 0, 255).astype(np.uint8)
        self._draw_gripper(canvas, gx, gy)
        objects = [
            DrawnObject(colour, shape, self._draw_object(canvas, shape, COLOURS[colour], cx, cy, size))
            for (cx, cy, size), colour, shape in zip(placed, colours, shapes)
        ]
        target_index = rng.randrange(n)
        objects.insert(0, objects.pop(target_index))
        task = self.tasks[rng.randrange(len(self.tasks))]
        target = objects[0]
        templates = AFFORDANCE_TEMPLATES if task is Task.AFFORDANCE else TRAJECTORY_TEMPLATES
        instruction = rng.choice(templates).format(object=target.name)
        answer: Box2D | Trajectory2D
        if task is Task.AFFORDANCE:
            answer = target.box
        else:
            answer = self._trajectory((gx, gy), (target.box.x, target.box.y), rng)
        reasoning = self._reasoning(task, instruction, objects, (gx, gy))
        return SyntheticScene(index, canvas, tuple(objects), (_r3(gx), _r3(gy)), task, instruction, reasoning, answer)

    @staticmethod
    def _trajectory(start: tuple[float, float], end: tuple[float, float], rng: random.Random) -> Trajectory2D:
        """Four waypoints from the gripper to the target along a gentle arc."""
        (x0, y0), (x1, y1) = start, end
        dx, dy = x1 - x0, y1 - y0
        bow = rng.uniform(-0.15, 0.15)
        points = []
        for t in (0.0, 1 / 3, 2 / 3, 1.0):
            lift = bow * math.sin(math.pi * t)
            points.append((_r3(x0 + dx * t - dy * lift), _r3(y0 + dy * t + dx * lift)))
        return Trajectory2D(tuple(points))

    def _reasoning(
        self, task: Task, instruction: str, objects: Sequence[DrawnObject], gripper: tuple[float, float]
    ) -> str:
        if self.cot == "none":
            return ""
        target = objects[0]
        where = region_name(target.box.x, target.box.y)
        grip = region_name(*gripper)
        names = sorted(o.name for o in objects)
        others = len(objects) - 1
        if self.cot == "short":
            count = f"{len(objects)} object{'s' if len(objects) > 1 else ''}"
            if task is Task.AFFORDANCE:
                return f"1. task: {target.name}. 2. scene: {count}. {region_step(where)} 4. check: clear."
            return (
                f"1. task: {target.name}. 2. locate: {where}, gripper {grip}. 3. scene: {count}. "
                f"4. path: {grip} to {where}."
            )
        listing = ", ".join(f"a {n}" for n in names)
        count = f"{len(objects)} object{'s' if len(objects) > 1 else ''}"
        if task is Task.AFFORDANCE:
            return (
                f"Task parsing: the task is to {instruction}, so the target is the {target.name}. "
                f"Scene understanding: the table holds {count}: {listing}. "
                f"Region localisation: the {target.name} is at the {where} of the image. "
                f"Feasibility check: the {target.name} is clear of the other objects, so it can be grasped there."
            )
        return (
            f"Task parsing: the task is to {instruction}, so the goal is the {target.name}. "
            f"Object and gripper localisation: the {target.name} is at the {where} and the gripper is at the {grip}. "
            f"Scene analysis: there {'is' if others == 1 else 'are'} {others} other "
            f"object{'' if others == 1 else 's'} to avoid. "
            f"Trajectory logic: move from the {grip} to the {where}, ending over the {target.name}."
        )

    def scenes(self, count: int, start: int = 0) -> Iterator[SyntheticScene]:
        for index in range(start, start + count):
            yield self.scene(index)


@dataclass(frozen=True)
class TopDownFrame:
    """A synthetic scene as one registered RGB-D frame of a camera looking straight down at the table.

    The world frame is the robot base, as in :class:`vla_r1_ros.sim.scene.RenderedScene` (REP 103,
    table top at z = 0); the camera's optical axis points down (optical z = world -z), image right
    is world -y and image down is world -x. Objects are flat prisms ``object_height`` tall standing
    on the table under their drawn pixels; everything else (table, gripper marking) is at table
    height. The fields the two scene kinds share (``rgb``, ``depth``, ``intrinsics``,
    ``T_world_optical``, ``frame_id``) let the same camera messages and geometry helpers serve both.
    """

    scene: SyntheticScene
    rgb: NDArray[np.uint8]  # H x W x 3, RGB
    depth: NDArray[np.float32]  # metres along the optical axis
    intrinsics: Intrinsics
    T_world_optical: NDArray[np.float64]  # 4 x 4
    object_height: float
    frame_id: str = "camera_color_optical_frame"

    def base_point(self, x: float, y: float, z_base: float) -> NDArray[np.float64]:
        """The base-frame point at height ``z_base`` seen at normalised image point (x, y)."""
        k = self.intrinsics
        distance = self.T_world_optical[2, 3] - z_base
        u, v = x * k.width - 0.5, y * k.height - 0.5  # pixel centres (ROS convention)
        optical = np.array([(u - k.cx) * distance / k.fx, (v - k.cy) * distance / k.fy, distance, 1.0])
        base: NDArray[np.float64] = (self.T_world_optical @ optical)[:3]
        return base

    def true_target_top(self) -> NDArray[np.float64]:
        """Centre of the target's top face in the base frame."""
        box = self.scene.target.box
        return self.base_point(box.x, box.y, self.object_height)


def top_down_frame(
    scene: SyntheticScene,
    pixels: int = 448,
    table_span: float = 0.6,
    camera_height: float = 0.6,
    object_height: float = 0.04,
    table_centre: tuple[float, float] = (0.5, 0.0),
) -> TopDownFrame:
    """Register ``scene`` as a top-down RGB-D frame of ``pixels`` x ``pixels`` covering ``table_span`` metres.

    The colour image is the scene upscaled with nearest-neighbour sampling, so a model that
    resizes it back to the scene's size sees the drawn pixels it was trained on.
    """
    if pixels % scene.image.shape[0]:
        raise ValueError(f"pixels ({pixels}) must be a multiple of the scene's size ({scene.image.shape[0]})")
    if not 0.0 < object_height < camera_height:
        raise ValueError("object_height must be positive and below the camera")
    rgb: NDArray[np.uint8] = np.asarray(
        cv2.resize(scene.image, (pixels, pixels), interpolation=cv2.INTER_NEAREST), dtype=np.uint8
    )
    depth = np.full((pixels, pixels), camera_height, dtype=np.float32)
    drawn = rgb.astype(np.int16)
    for obj in scene.objects:
        mask = np.abs(drawn - np.array(COLOURS[obj.colour], dtype=np.int16)).sum(axis=2) < 60
        depth[mask] = camera_height - object_height
    focal = pixels * camera_height / table_span
    centre = (pixels - 1) / 2.0
    intrinsics = Intrinsics(pixels, pixels, focal, focal, centre, centre)
    transform = np.eye(4)
    transform[:3, :3] = np.array([[0.0, -1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, -1.0]])
    transform[:3, 3] = (table_centre[0], table_centre[1], camera_height)
    return TopDownFrame(scene, rgb, depth, intrinsics, transform, object_height)
