"""Seeded pick scenes for the simulated Panda: 1-3 graspable objects from the training vocabulary.

The colours and shape words are the 2-D training generator's (``topdown_scenes.COLOURS`` and
``SHAPES``), so "pick up the red circle" means the same to a model trained on those scenes:
a circle is a cylinder, a square a square-topped box, a triangle an equilateral prism, each
standing on the table and seen from above as its word. Sizes fit the Panda hand (fingers open
to 8 cm): footprints 4-5.5 cm across, 4-6 cm tall. Objects stand far enough apart that the open
fingers (and the hand above them) reach any one without touching another. Colours are unique in
a scene, so a colour word alone names the target, as in training.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from vla_r1_ros.datagen.topdown_scenes import AFFORDANCE_TEMPLATES, COLOURS, SHAPES

__all__ = ["TableObject", "PickScene", "sample_pick_scene", "triangle_corners", "REGION"]

#: Where objects stand (x range, y range) in the robot base frame, metres: in front of the arm.
REGION = ((0.40, 0.62), (-0.20, 0.20))
_MIN_SEPARATION = 0.16  # centre to centre: open fingers span 0.14 m plus a neighbour's half width
_WIDTH = {"circle": (0.04, 0.055), "square": (0.04, 0.05), "triangle": (0.05, 0.06)}
_HEIGHT = (0.04, 0.06)


def triangle_corners(side: float) -> tuple[tuple[float, float], ...]:
    """Corners of an equilateral triangle with its centroid at the origin, one corner on +x."""
    radius = side / math.sqrt(3.0)
    return tuple((radius * math.cos(a), radius * math.sin(a)) for a in (0.0, 2 * math.pi / 3, 4 * math.pi / 3))


@dataclass(frozen=True)
class TableObject:
    """One object: colour and shape words, ``width`` across its footprint (diameter, side), height,
    the footprint centre (triangle: centroid) ``xy`` and ``yaw`` about world z."""

    colour: str
    shape: str
    width: float
    height: float
    xy: tuple[float, float]
    yaw: float

    def __post_init__(self) -> None:
        if self.colour not in COLOURS or self.shape not in SHAPES:
            raise ValueError(f"unknown object {self.colour} {self.shape}: colours {sorted(COLOURS)}, shapes {SHAPES}")
        if not (0.0 < self.width <= 0.07 and 0.0 < self.height <= 0.15):
            raise ValueError(f"{self.name}: width must be in (0, 0.07] m (the hand opens 8 cm) and height in (0, 0.15]")

    @property
    def name(self) -> str:
        return f"{self.colour} {self.shape}"

    @property
    def rgba(self) -> tuple[float, float, float, float]:
        r, g, b = COLOURS[self.colour]
        return (r / 255.0, g / 255.0, b / 255.0, 1.0)

    @property
    def size(self) -> tuple[float, float, float]:
        """Full extents in the object's frame (the triangle's bounding box about its centroid's axes)."""
        if self.shape == "triangle":
            return (self.width * math.sqrt(3.0) / 2.0, self.width, self.height)
        return (self.width, self.width, self.height)


@dataclass(frozen=True)
class PickScene:
    """The objects of one episode, which one to pick and the instruction that names it."""

    seed: int
    objects: tuple[TableObject, ...]
    target_index: int
    instruction: str

    @property
    def target(self) -> TableObject:
        return self.objects[self.target_index]


def sample_pick_scene(seed: int, min_objects: int = 1, max_objects: int = 3) -> PickScene:
    """Scene ``seed``: depends on ``seed`` alone (and the object counts), reproducible everywhere."""
    if not 1 <= min_objects <= max_objects <= 3:
        raise ValueError("need 1 <= min_objects <= max_objects <= 3 (more do not fit the region apart)")
    rng = random.Random(f"pick:{seed}")
    count = rng.randint(min_objects, max_objects)
    (x_lo, x_hi), (y_lo, y_hi) = REGION
    while True:  # 3 centres 0.16 m apart fit the region easily; a handful of draws suffice
        centres = [(rng.uniform(x_lo, x_hi), rng.uniform(y_lo, y_hi)) for _ in range(count)]
        if all(math.dist(a, b) >= _MIN_SEPARATION for i, a in enumerate(centres) for b in centres[i + 1 :]):
            break
    colours = rng.sample(sorted(COLOURS), count)
    objects = []
    for (x, y), colour in zip(centres, colours):
        shape = rng.choice(SHAPES)
        width, height, yaw = rng.uniform(*_WIDTH[shape]), rng.uniform(*_HEIGHT), rng.uniform(-math.pi, math.pi)
        objects.append(TableObject(colour, shape, width, height, (x, y), yaw))
    target = rng.randrange(count)
    instruction = rng.choice(AFFORDANCE_TEMPLATES).format(object=objects[target].name)
    return PickScene(seed, tuple(objects), target, instruction)
