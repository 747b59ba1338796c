"""Property-based tests: the parser and the rewards never raise, stay bounded and stay in range."""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vla_r1_ros.core.protocol import MAX_TRAJECTORY_POINTS, ParseStatus, parse_completion
from vla_r1_ros.core.rewards import RewardVariant, score, score_batch

TRUTHS = [
    '<think>t</think><output>{"x": 0.5, "y": 0.5, "width": 0.3, "height": 0.2}</output>',
    "<think>t</think><output>[[0.1, 0.1], [0.4, 0.3], [0.7, 0.6], [0.9, 0.9]]</output>",
]

json_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
)
json_values = st.recursive(
    json_leaves,
    lambda children: (
        st.lists(children, max_size=6)
        | st.dictionaries(st.sampled_from(["x", "y", "width", "height", "z"]), children, max_size=5)
    ),
    max_leaves=30,
)
numbers = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 5))
points = st.lists(st.lists(numbers, min_size=2, max_size=2), min_size=0, max_size=40)
boxes = st.fixed_dictionaries({"x": numbers, "y": numbers, "width": numbers, "height": numbers})


def wrap(payload_text: str, think: bool) -> str:
    return ("<think>r</think> so, the answer is " if think else "") + f"<output>{payload_text}</output>"


def assert_bounded(text: str) -> None:
    parsed = parse_completion(text)
    assert isinstance(parsed.status, ParseStatus)
    assert parsed.ok == (parsed.error == "")
    for truth in TRUTHS:
        for variant in RewardVariant:
            result = score(text, truth, variant)
            for value in (result.score, result.format_score, result.task_score):
                assert 0.0 <= value <= 1.0 and math.isfinite(value)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=400))
def test_arbitrary_strings(text: str) -> None:
    assert_bounded(text)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet='<>/thinkoupt{}[]":,.0123456789 eEN-aIfy\n`', max_size=300))
def test_tag_and_json_soup(text: str) -> None:
    assert_bounded(text)


@settings(max_examples=200, deadline=None)
@given(json_values, st.booleans())
def test_arbitrary_json_in_output(value: object, think: bool) -> None:
    assert_bounded(wrap(json.dumps(value, allow_nan=True), think))


@settings(max_examples=200, deadline=None)
@given(points, st.booleans())
def test_arbitrary_trajectories(value: list[list[float]], think: bool) -> None:
    assert_bounded(wrap(json.dumps(value, allow_nan=True), think))


@settings(max_examples=200, deadline=None)
@given(boxes, st.booleans())
def test_arbitrary_boxes(value: dict[str, float], think: bool) -> None:
    assert_bounded(wrap(json.dumps(value, allow_nan=True), think))


@settings(max_examples=25, deadline=None)
@given(st.integers(min_value=1, max_value=200_000), st.sampled_from(["[", '{"x": ', "[[", "<output>"]))
def test_deep_nesting_never_raises(depth: int, opener: str) -> None:
    text = "<think>r</think><output>" + opener * depth + "</output>"
    started = time.perf_counter()
    assert_bounded(text)
    assert time.perf_counter() - started < 5.0


def test_ten_thousand_point_trajectories_are_refused_quickly() -> None:
    rng = np.random.default_rng(0)
    big = wrap(json.dumps(rng.uniform(0.0, 1.0, size=(10_000, 2)).round(4).tolist()), True)
    small = wrap("[[0.1, 0.1], [0.5, 0.5]]", True)
    started = time.perf_counter()
    results = score_batch([big, small], [small, big])
    assert time.perf_counter() - started < 2.0
    assert results[0].parse_status == "too_many_points" and results[0].task == "none"
    assert results[0].score == 0.1  # decodable JSON: the release's format reward still applies
    assert results[1].task == "none" and results[1].score == 0.1  # an oversized ground truth scores nothing


def test_longest_accepted_trajectories_score_in_bounded_time() -> None:
    rng = np.random.default_rng(1)
    points = rng.uniform(0.0, 1.0, size=(MAX_TRAJECTORY_POINTS, 2)).round(4).tolist()
    completion, truth = wrap(json.dumps(points), True), wrap(json.dumps(points[::-1]), True)
    started = time.perf_counter()
    results = score_batch([completion, completion], [truth, completion])
    elapsed = time.perf_counter() - started
    assert [r.task for r in results] == ["trajectory", "trajectory"]
    assert all(0.0 <= r.score <= 1.0 for r in results)
    assert results[1].score == pytest.approx(1.0, abs=1e-6)  # arccos of a rounded 1.0 is ~1e-8
    assert elapsed < 60.0, f"two {MAX_TRAJECTORY_POINTS}-point Fréchet programs took {elapsed:.1f} s"
