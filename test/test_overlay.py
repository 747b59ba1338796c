"""The pictures' drawing: an episode's outcome tile (sim-eval's and the carry demo's strips)."""

from __future__ import annotations

import numpy as np

from vla_r1_ros.core.overlay import draw_prediction, outcome_tile
from vla_r1_ros.core.protocol import Box2D, format_answer, parse_completion

GREY = np.full((240, 320, 3), 128, np.uint8)


def caption_pixels(tile: np.ndarray) -> np.ndarray:
    """The coloured pixels of the caption's second line (not the grey frame, not the white outline)."""
    rows = tile[30:56].reshape(-1, 3).astype(int)
    return rows[rows.max(axis=1) - rows.min(axis=1) > 80]


def test_a_success_is_captioned_in_green_and_a_failure_in_red() -> None:
    won = caption_pixels(outcome_tile(GREY, [], "pick up the cube", 7, None))
    lost = caption_pixels(outcome_tile(GREY, [], "pick up the cube", 7, "grasp_missed"))
    assert len(won) > 50 and len(lost) > 50
    green_b, green_g, green_r = np.median(won, axis=0)
    red_b, red_g, red_r = np.median(lost, axis=0)
    assert green_g > green_r + 60 and green_g > green_b + 60  # BGR: the green channel is the middle one
    assert red_r > red_g + 60 and red_r > red_b + 60


def test_the_tile_is_the_drawn_answer_in_bgr_below_its_caption() -> None:
    answer = parse_completion(format_answer(Box2D(0.5, 0.6, 0.3, 0.3)), "affordance")
    tile = outcome_tile(GREY, [("affordance", answer)], "pick up the cube", 7, None)
    drawn = draw_prediction(GREY, [("affordance", answer)])
    assert tile.shape == GREY.shape and tile.dtype == np.uint8
    np.testing.assert_array_equal(tile[60:], drawn[60:, :, ::-1])
    assert not np.array_equal(tile[:56], drawn[:56, :, ::-1])
