"""The VLA-R1 protocol: prompts, the answer parser and coordinate conversions.

This is the single home of everything that knows what VLA-R1 reads and writes. The ROS node,
the CLI, the inference engine and the rewards all go through :func:`parse_completion`.

Conventions
-----------
* Normalised coordinates are in [0, 1], divided by image width (x) and height (y); x grows right,
  y grows down. A box is (centre x, centre y, width, height), VLA-R1's native answer.
* Pixel boxes are half-open float rectangles ``[x_min, x_max) x [y_min, y_max)``: a box covering
  the whole W x H image is ``(0, 0, W, H)``. A normalised point ``(x, y)`` is the pixel position
  ``(x * W, y * H)`` measured from the image's top-left corner (pixel centres sit at +0.5).
"""

from __future__ import annotations

import enum
import json
import math
import re
from dataclasses import dataclass, field, replace
from typing import Any

__all__ = [
    "AFFORDANCE_SUFFIX",
    "TRAJECTORY_SUFFIX",
    "MAX_OUTPUT_CHARS",
    "MAX_TRAJECTORY_POINTS",
    "Task",
    "Box2D",
    "PixelBox",
    "Trajectory2D",
    "ParseStatus",
    "ParsedOutput",
    "build_prompt",
    "build_messages",
    "parse_completion",
    "parse_answer_payload",
    "format_answer",
    "trajectory_to_pixels",
    "trajectory_from_pixels",
]

# Byte-exact copies of the suffixes VLA-R1 was trained on ("define" is misspelt in the original).
AFFORDANCE_SUFFIX = (
    " Please output the 2D affordance region define by bounding box of the object in the format "
    '<output>{"x": value, "y": value, "width": value, "height": value}</output>.\n<image>'
)
TRAJECTORY_SUFFIX = (
    " Please output the optimal trajectory of the end-effector to the target object in the format "
    "<output>[[x1, y1], [x2, y2], ...]</output>.\n<image>"
)

#: Answers longer than this (characters inside ``<output>``) are refused without decoding; a
#: 10 000-point trajectory is about 0.3 MB, so this leaves a wide margin.
MAX_OUTPUT_CHARS = 8_000_000

#: Trajectories with more waypoints are refused (TOO_MANY_POINTS). VLA-R1's answers have a handful
#: of points and its 2048-token budget cannot express more than ~200; the cap bounds the
#: quadratic Fréchet programs that score a trajectory.
MAX_TRAJECTORY_POINTS = 2048

# Range checks allow for float noise in the model's printed digits.
_RANGE_TOLERANCE = 1e-6


class Task(str, enum.Enum):
    """The two question types VLA-R1 answers."""

    AFFORDANCE = "affordance"
    TRAJECTORY = "trajectory"

    @classmethod
    def from_name(cls, name: str) -> Task:
        """Parse a task name, with a message that lists the valid names."""
        try:
            return cls(name.strip().lower())
        except ValueError:
            valid = ", ".join(task.value for task in cls)
            raise ValueError(f"unknown task {name!r}; expected one of: {valid}") from None


_SUFFIXES = {Task.AFFORDANCE: AFFORDANCE_SUFFIX, Task.TRAJECTORY: TRAJECTORY_SUFFIX}


def build_prompt(instruction: str, task: Task | str) -> str:
    """Return the user text VLA-R1 expects: the instruction followed directly by the task suffix.

    The instruction is stripped of surrounding whitespace (the suffix supplies the space); an
    empty instruction is refused because the model then answers about nothing in particular.
    """
    task = Task.from_name(task) if isinstance(task, str) else task
    text = instruction.strip()
    if not text:
        raise ValueError("instruction is empty; say what the robot should act on")
    return text + _SUFFIXES[task]


def build_messages(instruction: str, task: Task | str) -> list[dict[str, Any]]:
    """Chat messages in the Qwen2.5-VL format: one user turn, text first, then the image."""
    return [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": build_prompt(instruction, task)},
                {"type": "image"},
            ],
        }
    ]


# --------------------------------------------------------------------------------------------
# Typed answers
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PixelBox:
    """A half-open pixel rectangle ``[x_min, x_max) x [y_min, y_max)`` in float pixels."""

    x_min: float
    y_min: float
    x_max: float
    y_max: float

    @property
    def width(self) -> float:
        return self.x_max - self.x_min

    @property
    def height(self) -> float:
        return self.y_max - self.y_min


@dataclass(frozen=True)
class Box2D:
    """An affordance box in VLA-R1's format: centre, width and height, normalised to [0, 1]."""

    x: float
    y: float
    width: float
    height: float

    def corners(self) -> tuple[float, float, float, float]:
        """Normalised corners (x_min, y_min, x_max, y_max), unclipped."""
        half_w, half_h = abs(self.width) / 2.0, abs(self.height) / 2.0
        return (self.x - half_w, self.y - half_h, self.x + half_w, self.y + half_h)

    @classmethod
    def from_corners(cls, x_min: float, y_min: float, x_max: float, y_max: float) -> Box2D:
        """Build a box from normalised corners (in any order)."""
        x0, x1 = sorted((x_min, x_max))
        y0, y1 = sorted((y_min, y_max))
        return cls((x0 + x1) / 2.0, (y0 + y1) / 2.0, x1 - x0, y1 - y0)

    def to_pixels(self, image_width: int, image_height: int, clip: bool = True) -> PixelBox:
        """The box in pixels of a ``image_width x image_height`` image, clipped to it by default."""
        _check_image_size(image_width, image_height)
        x0, y0, x1, y1 = self.corners()
        box = PixelBox(x0 * image_width, y0 * image_height, x1 * image_width, y1 * image_height)
        if not clip:
            return box
        return PixelBox(
            min(max(box.x_min, 0.0), image_width),
            min(max(box.y_min, 0.0), image_height),
            min(max(box.x_max, 0.0), image_width),
            min(max(box.y_max, 0.0), image_height),
        )

    @classmethod
    def from_pixels(cls, box: PixelBox, image_width: int, image_height: int) -> Box2D:
        """Normalise a pixel box of a ``image_width x image_height`` image."""
        _check_image_size(image_width, image_height)
        return cls.from_corners(
            box.x_min / image_width,
            box.y_min / image_height,
            box.x_max / image_width,
            box.y_max / image_height,
        )

    def to_json(self) -> dict[str, float]:
        return {"x": self.x, "y": self.y, "width": self.width, "height": self.height}


@dataclass(frozen=True)
class Trajectory2D:
    """End-effector waypoints, normalised to [0, 1], from the gripper towards the target.

    ``depths`` carries a per-point depth when a model answers ``[x, y, depth]`` triples
    (RoboBrain-2.5-style 3-D traces); VLA-R1 itself answers pairs and leaves it ``None``.
    """

    points: tuple[tuple[float, float], ...]
    depths: tuple[float, ...] | None = None

    def __len__(self) -> int:
        return len(self.points)

    def to_json(self) -> list[list[float]]:
        if self.depths is None:
            return [[x, y] for x, y in self.points]
        return [[x, y, d] for (x, y), d in zip(self.points, self.depths)]


def trajectory_to_pixels(trajectory: Trajectory2D, image_width: int, image_height: int) -> list[tuple[float, float]]:
    """Pixel positions (u, v) of each normalised waypoint, measured from the top-left corner."""
    _check_image_size(image_width, image_height)
    return [(x * image_width, y * image_height) for x, y in trajectory.points]


def trajectory_from_pixels(points_px: list[tuple[float, float]], image_width: int, image_height: int) -> Trajectory2D:
    """Normalise pixel waypoints of a ``image_width x image_height`` image."""
    _check_image_size(image_width, image_height)
    return Trajectory2D(tuple((u / image_width, v / image_height) for u, v in points_px))


def _check_image_size(image_width: int, image_height: int) -> None:
    if image_width <= 0 or image_height <= 0:
        raise ValueError(f"image size must be positive, got {image_width}x{image_height}")


def format_answer(answer: Box2D | Trajectory2D, reasoning: str = "") -> str:
    """Render an answer the way VLA-R1 writes it (used for ground truth and scripted models)."""
    payload = json.dumps(answer.to_json())
    return f"<think>{reasoning}</think> so, the answer is <output>{payload}</output>"


# --------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------


class ParseStatus(str, enum.Enum):
    """Outcome of parsing one model completion. Values are stable (they appear in messages)."""

    OK = "ok"
    NO_OUTPUT_TAG = "no_output_tag"
    UNTERMINATED_OUTPUT = "unterminated_output"
    EMPTY_OUTPUT = "empty_output"
    TOO_LARGE = "too_large"
    TOO_MANY_POINTS = "too_many_points"
    INVALID_JSON = "invalid_json"
    WRONG_SHAPE = "wrong_shape"
    NON_FINITE = "non_finite"
    OUT_OF_RANGE = "out_of_range"
    TASK_MISMATCH = "task_mismatch"


# Statuses whose <output> block decoded as JSON (the release's "JSON-parsable" for the format
# reward): everything after decoding succeeded.
_JSON_DECODED = frozenset(
    {
        ParseStatus.OK,
        ParseStatus.WRONG_SHAPE,
        ParseStatus.NON_FINITE,
        ParseStatus.OUT_OF_RANGE,
        ParseStatus.TASK_MISMATCH,
        ParseStatus.TOO_MANY_POINTS,
    }
)


@dataclass(frozen=True)
class ParsedOutput:
    """Everything recovered from one completion, success or not. Never raised, always returned.

    ``box`` / ``trajectory`` are set whenever the answer has the right shape and finite numbers,
    even if a later check (range, task) failed, so that callers can show what the model meant.
    """

    status: ParseStatus
    error: str = ""
    reasoning: str = ""
    has_think: bool = False
    answer_text: str | None = None
    box: Box2D | None = None
    trajectory: Trajectory2D | None = None
    # Lenient fixes applied before decoding, such as stripping a Markdown code fence. The
    # release's reward decodes the raw text, so the parity reward treats any repair as a failure.
    repairs: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return self.status is ParseStatus.OK

    @property
    def json_decoded(self) -> bool:
        """True when the ``<output>`` block held valid JSON (whatever its shape)."""
        return self.status in _JSON_DECODED

    @property
    def task(self) -> Task | None:
        """Which kind of answer the model gave, if its shape is recognisable."""
        if self.box is not None:
            return Task.AFFORDANCE
        if self.trajectory is not None:
            return Task.TRAJECTORY
        return None

    def for_task(self, asked: Task | None) -> ParsedOutput:
        """This answer judged as one to ``asked``: a well-formed answer of the other kind is TASK_MISMATCH.

        The mismatch comes before the range checks (an out-of-range box asked as a trajectory is a
        mismatch); the box or path is kept either way. ``parse_completion(text, task)`` is
        ``parse_completion(text).for_task(task)``, so one parse serves both the reward and the check.
        """
        if asked is None or self.task is None or self.task is asked:
            return self
        error = (
            "asked for a trajectory, the model answered a box"
            if asked is Task.TRAJECTORY
            else "asked for an affordance box, the model answered a trajectory"
        )
        return replace(self, status=ParseStatus.TASK_MISMATCH, error=error)


_THINK_OPEN = re.compile(r"<think>", re.IGNORECASE)
_THINK_CLOSE = re.compile(r"</think>", re.IGNORECASE)
_OUTPUT_OPEN = re.compile(r"<output>", re.IGNORECASE)
_OUTPUT_CLOSE = re.compile(r"</output>", re.IGNORECASE)
_FENCE = re.compile(r"^```[A-Za-z0-9_-]*[ \t]*\n?(.*?)\n?[ \t]*```$", re.DOTALL)
_BOX_KEYS = ("x", "y", "width", "height")


class _NonFiniteConstant(ValueError):
    pass


def _reject_constant(name: str) -> float:
    raise _NonFiniteConstant(name)


def _find_block(text: str, opening: re.Pattern[str], closing: re.Pattern[str]) -> tuple[int, int] | None:
    """Span of the text between the first opening tag and the first closing tag after it.

    Two linear scans instead of one lazy regex keep this O(n) on inputs full of opening tags.
    Returns ``(start, -1)`` when the block is opened but never closed, ``None`` when never opened.
    """
    open_match = opening.search(text)
    if open_match is None:
        return None
    close_match = closing.search(text, open_match.end())
    if close_match is None:
        return (open_match.end(), -1)
    return (open_match.end(), close_match.start())


def parse_completion(text: str, expected_task: Task | str | None = None) -> ParsedOutput:
    """Parse a VLA-R1 completion into reasoning and a typed answer.

    Tolerant of whitespace, the `` so, the answer is `` glue, prose around the tags, tag case and
    a Markdown code fence inside ``<output>``; strict about numbers (JSON numbers only, finite, in
    [0, 1]). Never raises: every failure comes back as a status with a readable ``error``.
    """
    if not isinstance(text, str):
        return ParsedOutput(ParseStatus.NO_OUTPUT_TAG, f"completion must be a string, got {type(text).__name__}")
    if isinstance(expected_task, str):
        try:
            expected_task = Task.from_name(expected_task)
        except ValueError as err:
            return ParsedOutput(ParseStatus.TASK_MISMATCH, str(err))

    reasoning, has_think = "", False
    think_span = _find_block(text, _THINK_OPEN, _THINK_CLOSE)
    if think_span is not None and think_span[1] >= 0:
        reasoning, has_think = text[think_span[0] : think_span[1]].strip(), True

    output_span = _find_block(text, _OUTPUT_OPEN, _OUTPUT_CLOSE)
    if output_span is None:
        return ParsedOutput(
            ParseStatus.NO_OUTPUT_TAG,
            "no <output> tag in the completion" + ("" if has_think else " (no <think> block either)"),
            reasoning,
            has_think,
        )
    if output_span[1] < 0:
        return ParsedOutput(
            ParseStatus.UNTERMINATED_OUTPUT,
            "<output> was opened but never closed (generation truncated?)",
            reasoning,
            has_think,
        )
    if output_span[1] - output_span[0] > MAX_OUTPUT_CHARS:
        return ParsedOutput(
            ParseStatus.TOO_LARGE,
            f"<output> holds {output_span[1] - output_span[0]} characters, more than {MAX_OUTPUT_CHARS}",
            reasoning,
            has_think,
        )
    answer_text = text[output_span[0] : output_span[1]].strip()
    return _parse_answer(answer_text, expected_task, reasoning, has_think)


def parse_answer_payload(payload: Any, expected_task: Task | str | None = None) -> ParsedOutput:
    """Validate an already-decoded answer (a dict box or a list of points), e.g. a dataset label."""
    if isinstance(expected_task, str):
        expected_task = Task.from_name(expected_task)
    try:
        answer_text = json.dumps(payload, allow_nan=True)
    except (TypeError, ValueError) as err:
        return ParsedOutput(ParseStatus.WRONG_SHAPE, f"answer is not JSON-serialisable: {err}")
    return _validate_answer(payload, expected_task, answer_text, "", False, ())


def _parse_answer(answer_text: str, expected_task: Task | None, reasoning: str, has_think: bool) -> ParsedOutput:
    repairs: tuple[str, ...] = ()
    fence = _FENCE.match(answer_text)
    if fence is not None:
        answer_text, repairs = fence.group(1).strip(), ("code_fence",)
    common: dict[str, Any] = {
        "reasoning": reasoning,
        "has_think": has_think,
        "answer_text": answer_text,
        "repairs": repairs,
    }
    if not answer_text:
        return ParsedOutput(ParseStatus.EMPTY_OUTPUT, "<output> is empty", **common)
    try:
        payload = json.loads(answer_text, parse_constant=_reject_constant)
    except _NonFiniteConstant as err:
        return ParsedOutput(ParseStatus.NON_FINITE, f"answer contains {err}, not a finite number", **common)
    except RecursionError:
        return ParsedOutput(ParseStatus.INVALID_JSON, "answer JSON is nested too deeply", **common)
    except ValueError as err:  # json.JSONDecodeError is a ValueError
        return ParsedOutput(ParseStatus.INVALID_JSON, f"answer is not valid JSON: {_short(err)}", **common)
    return _validate_answer(payload, expected_task, answer_text, reasoning, has_think, repairs)


def _validate_answer(
    payload: Any,
    expected_task: Task | None,
    answer_text: str,
    reasoning: str,
    has_think: bool,
    repairs: tuple[str, ...],
) -> ParsedOutput:
    common: dict[str, Any] = {
        "reasoning": reasoning,
        "has_think": has_think,
        "answer_text": answer_text,
        "repairs": repairs,
    }
    if isinstance(payload, dict):
        return _validate_box(payload, common).for_task(expected_task)
    if isinstance(payload, list):
        return _validate_trajectory(payload, common).for_task(expected_task)
    return ParsedOutput(
        ParseStatus.WRONG_SHAPE,
        f"answer is a JSON {_json_type(payload)}; expected a box object or a list of [x, y] points",
        **common,
    )


def _validate_box(payload: dict[str, Any], common: dict[str, Any]) -> ParsedOutput:
    missing = [key for key in _BOX_KEYS if key not in payload]
    if missing:
        return ParsedOutput(ParseStatus.WRONG_SHAPE, f"box is missing key(s) {', '.join(missing)}", **common)
    values = []
    for key in _BOX_KEYS:
        value = payload[key]
        if not _is_json_number(value):
            return ParsedOutput(
                ParseStatus.WRONG_SHAPE, f"box {key} must be a number, got {_json_type(value)}", **common
            )
        number = _as_finite_float(value)
        if number is None:
            return ParsedOutput(ParseStatus.NON_FINITE, f"box {key} is not a finite number", **common)
        values.append(number)
    box = Box2D(*values)
    bad = [f"{key}={value:g}" for key, value in zip(_BOX_KEYS, values) if not _in_unit_range(value)]
    if bad:
        return ParsedOutput(ParseStatus.OUT_OF_RANGE, f"box values outside [0, 1]: {', '.join(bad)}", box=box, **common)
    if box.width <= 0.0 or box.height <= 0.0:
        return ParsedOutput(
            ParseStatus.OUT_OF_RANGE,
            f"box has no area (width={box.width:g}, height={box.height:g})",
            box=box,
            **common,
        )
    return ParsedOutput(ParseStatus.OK, box=box, **common)


def _validate_trajectory(payload: list[Any], common: dict[str, Any]) -> ParsedOutput:
    if not payload:
        return ParsedOutput(ParseStatus.WRONG_SHAPE, "trajectory has no points", **common)
    if len(payload) > MAX_TRAJECTORY_POINTS:
        return ParsedOutput(
            ParseStatus.TOO_MANY_POINTS,
            f"trajectory has {len(payload)} points; at most {MAX_TRAJECTORY_POINTS} are accepted",
            **common,
        )
    width = len(payload[0]) if isinstance(payload[0], list) else -1
    if width not in (2, 3):
        return ParsedOutput(ParseStatus.WRONG_SHAPE, "trajectory point 0 must be [x, y] (or [x, y, depth])", **common)
    points: list[tuple[float, float]] = []
    depths: list[float] = []
    for index, point in enumerate(payload):
        if not isinstance(point, list) or len(point) != width:
            return ParsedOutput(
                ParseStatus.WRONG_SHAPE,
                f"trajectory point {index} must be a list of {width} numbers like point 0",
                **common,
            )
        for value in point:
            if not _is_json_number(value):
                return ParsedOutput(
                    ParseStatus.WRONG_SHAPE,
                    f"trajectory point {index} holds a {_json_type(value)}, expected numbers",
                    **common,
                )
        numbers = [_as_finite_float(value) for value in point]
        if any(number is None for number in numbers):
            return ParsedOutput(ParseStatus.NON_FINITE, f"trajectory point {index} holds a non-finite number", **common)
        points.append((numbers[0], numbers[1]))  # type: ignore[arg-type]
        if width == 3:
            depths.append(numbers[2])  # type: ignore[arg-type]
    trajectory = Trajectory2D(tuple(points), tuple(depths) if width == 3 else None)
    for index, (x, y) in enumerate(points):
        if not (_in_unit_range(x) and _in_unit_range(y)):
            return ParsedOutput(
                ParseStatus.OUT_OF_RANGE,
                f"trajectory point {index} ({x:g}, {y:g}) is outside [0, 1]",
                trajectory=trajectory,
                **common,
            )
    if depths and min(depths) <= 0.0:
        return ParsedOutput(
            ParseStatus.OUT_OF_RANGE, "trajectory depths must be positive", trajectory=trajectory, **common
        )
    return ParsedOutput(ParseStatus.OK, trajectory=trajectory, **common)


def _is_json_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _as_finite_float(value: int | float) -> float | None:
    try:
        number = float(value)
    except OverflowError:  # a JSON integer too large for a double
        return None
    return number if math.isfinite(number) else None


def _in_unit_range(value: float) -> bool:
    return -_RANGE_TOLERANCE <= value <= 1.0 + _RANGE_TOLERANCE


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return "number"


def _short(err: Exception, limit: int = 120) -> str:
    message = str(err)
    return message if len(message) <= limit else message[: limit - 3] + "..."
