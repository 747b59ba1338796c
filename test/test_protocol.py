"""The VLA-R1 protocol: prompts byte-exact, the parser's successes and typed failures, conversions."""

from __future__ import annotations

import json
import math
import time

import pytest

from vla_r1_ros.core.protocol import (
    AFFORDANCE_SUFFIX,
    MAX_TRAJECTORY_POINTS,
    TRAJECTORY_SUFFIX,
    Box2D,
    ParseStatus,
    PixelBox,
    Task,
    Trajectory2D,
    build_messages,
    build_prompt,
    format_answer,
    parse_answer_payload,
    parse_completion,
    trajectory_from_pixels,
    trajectory_to_pixels,
)

BOX_JSON = '{"x": 0.5, "y": 0.4, "width": 0.2, "height": 0.1}'


def test_suffixes_are_byte_exact() -> None:
    assert AFFORDANCE_SUFFIX.encode() == (
        b" Please output the 2D affordance region define by bounding box of the object in the format "
        b'<output>{"x": value, "y": value, "width": value, "height": value}</output>.\n<image>'
    )
    assert TRAJECTORY_SUFFIX.encode() == (
        b" Please output the optimal trajectory of the end-effector to the target object in the format "
        b"<output>[[x1, y1], [x2, y2], ...]</output>.\n<image>"
    )


def test_build_prompt_and_messages() -> None:
    assert build_prompt("  pick up the red mug ", "affordance") == "pick up the red mug" + AFFORDANCE_SUFFIX
    assert build_prompt("move it", Task.TRAJECTORY).endswith("...]</output>.\n<image>")
    messages = build_messages("pick the cup", "trajectory")
    content = messages[0]["content"]
    assert messages[0]["role"] == "user"
    assert [part["type"] for part in content] == ["text", "image"]  # text first, then the image
    with pytest.raises(ValueError, match="instruction is empty"):
        build_prompt("   ", Task.AFFORDANCE)
    with pytest.raises(ValueError, match="expected one of: affordance, trajectory"):
        build_prompt("x", "grasp")


def test_parses_published_style_answers() -> None:
    text = f"<think>The mug is on the left.</think> so, the answer is <output>{BOX_JSON}</output>"
    parsed = parse_completion(text)
    assert parsed.ok and parsed.has_think
    assert parsed.reasoning == "The mug is on the left."
    assert parsed.box == Box2D(0.5, 0.4, 0.2, 0.1)
    assert parsed.task is Task.AFFORDANCE

    trajectory = parse_completion(
        "<think> a </think>\n so, the answer is \n<output> [[0.1, 0.9], [0.5, 0.5]] </output>"
    )
    assert trajectory.ok and trajectory.trajectory == Trajectory2D(((0.1, 0.9), (0.5, 0.5)))
    assert trajectory.task is Task.TRAJECTORY


@pytest.mark.parametrize(
    "text",
    [
        f"<THINK>x</THINK><Output>{BOX_JSON}</Output>",
        f"<think>x</think>\n\n<output>\n```json\n{BOX_JSON}\n```\n</output>",
        f"prose before <think>x</think> more prose <output>\t{BOX_JSON}\n</output> trailing prose",
    ],
)
def test_tolerates_case_fences_and_prose(text: str) -> None:
    assert parse_completion(text).box == Box2D(0.5, 0.4, 0.2, 0.1)


def test_code_fence_is_recorded_as_a_repair() -> None:
    parsed = parse_completion(f"<output>```json\n{BOX_JSON}\n```</output>")
    assert parsed.ok and parsed.repairs == ("code_fence",)
    assert parse_completion(f"<output>{BOX_JSON}</output>").repairs == ()


@pytest.mark.parametrize(
    ("text", "status", "fragment"),
    [
        ("", ParseStatus.NO_OUTPUT_TAG, "no <output> tag"),
        ("<think>only thinking</think>", ParseStatus.NO_OUTPUT_TAG, "no <output> tag"),
        ('<think>x</think><output>{"x": 0.5, "y"', ParseStatus.UNTERMINATED_OUTPUT, "never closed"),
        ("<output>  </output>", ParseStatus.EMPTY_OUTPUT, "empty"),
        ('<output>{"x": 0.5, "y": </output>', ParseStatus.INVALID_JSON, "not valid JSON"),
        ("<output>[[0.1, 0.2], [0.3]]</output>", ParseStatus.WRONG_SHAPE, "point 1"),
        (
            '<output>{"x": 0.5, "y": 0.5, "width": 0.1}</output>',
            ParseStatus.WRONG_SHAPE,
            "missing key(s) height",
        ),
        (
            '<output>{"x": "0.5", "y": 0.5, "width": 0.1, "height": 0.1}</output>',
            ParseStatus.WRONG_SHAPE,
            "x must be a number, got string",
        ),
        ('<output>{"x": true, "y": 0.5, "width": 0.1, "height": 0.1}</output>', ParseStatus.WRONG_SHAPE, "boolean"),
        ("<output>[]</output>", ParseStatus.WRONG_SHAPE, "no points"),
        ('<output>"a box"</output>', ParseStatus.WRONG_SHAPE, "JSON string"),
        ('<output>{"x": NaN, "y": 0.5, "width": 0.1, "height": 0.1}</output>', ParseStatus.NON_FINITE, "NaN"),
        ("<output>[[0.1, Infinity]]</output>", ParseStatus.NON_FINITE, "Infinity"),
        ("<output>[[0.1, 1e999]]</output>", ParseStatus.NON_FINITE, "non-finite"),
        ("<output>[[0.1, " + "9" * 400 + "]]</output>", ParseStatus.NON_FINITE, "non-finite"),
        ('<output>{"x": 1.5, "y": 0.5, "width": 0.1, "height": 0.1}</output>', ParseStatus.OUT_OF_RANGE, "x=1.5"),
        (
            '<output>{"x": 0.5, "y": 0.5, "width": -0.1, "height": 0.1}</output>',
            ParseStatus.OUT_OF_RANGE,
            "width=-0.1",
        ),
        ('<output>{"x": 0.5, "y": 0.5, "width": 0.0, "height": 0.1}</output>', ParseStatus.OUT_OF_RANGE, "no area"),
        ("<output>[[0.1, 0.2], [-0.3, 0.5]]</output>", ParseStatus.OUT_OF_RANGE, "point 1"),
        ("<output>" + "[" * 100_000 + "]" * 100_000 + "</output>", ParseStatus.INVALID_JSON, "nested too deeply"),
    ],
)
def test_failures_are_typed_with_readable_reasons(text: str, status: ParseStatus, fragment: str) -> None:
    parsed = parse_completion(text)
    assert parsed.status is status
    assert not parsed.ok
    assert fragment in parsed.error


def test_out_of_range_answers_keep_their_values() -> None:
    parsed = parse_completion('<output>{"x": 1.2, "y": 0.5, "width": 0.2, "height": 0.2}</output>')
    assert parsed.status is ParseStatus.OUT_OF_RANGE and parsed.box == Box2D(1.2, 0.5, 0.2, 0.2)


def test_task_mismatch_only_when_a_task_is_expected() -> None:
    box_answer = f"<output>{BOX_JSON}</output>"
    assert parse_completion(box_answer).ok
    mismatch = parse_completion(box_answer, expected_task="trajectory")
    assert mismatch.status is ParseStatus.TASK_MISMATCH and "answered a box" in mismatch.error
    assert mismatch.box is not None
    traj = parse_completion("<output>[[0.1, 0.1]]</output>", expected_task=Task.AFFORDANCE)
    assert traj.status is ParseStatus.TASK_MISMATCH


def test_first_output_block_wins() -> None:
    parsed = parse_completion(f"<output>{BOX_JSON}</output><output>[[0.1, 0.1]]</output>")
    assert parsed.task is Task.AFFORDANCE


def test_three_dimensional_traces_carry_depths() -> None:
    parsed = parse_completion("<output>[[0.1, 0.2, 0.8], [0.3, 0.4, 0.7]]</output>")
    assert parsed.ok
    assert parsed.trajectory is not None and parsed.trajectory.depths == (0.8, 0.7)
    mixed = parse_completion("<output>[[0.1, 0.2, 0.8], [0.3, 0.4]]</output>")
    assert mixed.status is ParseStatus.WRONG_SHAPE


def test_never_raises_on_non_string() -> None:
    assert parse_completion(None).status is ParseStatus.NO_OUTPUT_TAG  # type: ignore[arg-type]


def test_huge_inputs_are_fast() -> None:
    many_tags = "<output>" * 300_000 + "<think>" * 300_000  # quadratic for a naive lazy regex
    longest = "<think>t</think><output>" + json.dumps([[0.5, 0.5]] * MAX_TRAJECTORY_POINTS) + "</output>"
    too_long = "<think>t</think><output>" + json.dumps([[0.5, 0.5]] * 10_000) + "</output>"
    started = time.perf_counter()
    assert parse_completion(many_tags).status is ParseStatus.UNTERMINATED_OUTPUT
    parsed = parse_completion(longest)
    assert parsed.ok and parsed.trajectory is not None and len(parsed.trajectory) == MAX_TRAJECTORY_POINTS
    refused = parse_completion(too_long)
    assert refused.status is ParseStatus.TOO_MANY_POINTS and "10000 points" in refused.error
    assert refused.json_decoded
    assert time.perf_counter() - started < 2.0


def test_box_pixel_conversions_round_trip() -> None:
    box = Box2D(0.5, 0.25, 0.2, 0.1)
    assert box.corners() == pytest.approx((0.4, 0.2, 0.6, 0.3))
    pixels = box.to_pixels(640, 480)
    assert (pixels.x_min, pixels.y_min, pixels.x_max, pixels.y_max) == pytest.approx((256, 96, 384, 144))
    assert pixels.width == pytest.approx(128) and pixels.height == pytest.approx(48)
    back = Box2D.from_pixels(pixels, 640, 480)
    for got, want in zip((back.x, back.y, back.width, back.height), (box.x, box.y, box.width, box.height)):
        assert got == pytest.approx(want, abs=1e-12)
    # The full image is (0, 0, W, H) in half-open pixels, and boxes are clipped to it by default.
    assert Box2D(0.5, 0.5, 1.0, 1.0).to_pixels(640, 480) == PixelBox(0, 0, 640, 480)
    assert Box2D(0.95, 0.5, 0.2, 0.2).to_pixels(100, 100).x_max == 100
    assert Box2D(0.95, 0.5, 0.2, 0.2).to_pixels(100, 100, clip=False).x_max == pytest.approx(105)
    corners_box = Box2D.from_corners(0.6, 0.3, 0.4, 0.2)
    assert (corners_box.x, corners_box.y, corners_box.width, corners_box.height) == pytest.approx((0.5, 0.25, 0.2, 0.1))
    with pytest.raises(ValueError, match="image size must be positive"):
        box.to_pixels(0, 480)


def test_trajectory_pixel_conversions_round_trip() -> None:
    trajectory = Trajectory2D(((0.0, 0.0), (0.5, 0.25), (1.0, 1.0)))
    pixels = trajectory_to_pixels(trajectory, 640, 480)
    assert pixels == [(0.0, 0.0), (320.0, 120.0), (640.0, 480.0)]
    assert trajectory_from_pixels(pixels, 640, 480) == trajectory


def test_format_answer_is_parsed_back() -> None:
    box = Box2D(0.3, 0.6, 0.1, 0.2)
    parsed = parse_completion(format_answer(box, "reasoning"))
    assert parsed.ok and parsed.box == box and parsed.reasoning == "reasoning"
    assert parse_answer_payload(box.to_json()).box == box
    assert parse_answer_payload({"x": math.nan, "y": 0, "width": 1, "height": 1}).status is ParseStatus.NON_FINITE
