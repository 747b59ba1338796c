"""The picture of a prediction: box and trajectory drawn on the image the model saw.

One drawing for every place that shows an answer: the CLI's overlay file and the node's
``~/annotated_image``. Valid answers are drawn in green (box) and blue (trajectory), answers that
failed a check in orange, with one status line per task.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
from numpy.typing import NDArray

from vla_r1_ros.core.protocol import ParsedOutput, trajectory_to_pixels

__all__ = ["draw_prediction", "outcome_tile"]

_BOX_OK = (60, 200, 60)
_PATH_OK = (0, 120, 255)
_FAILED = (255, 165, 0)


def draw_prediction(rgb: NDArray[np.uint8], answers: Sequence[tuple[str, ParsedOutput]]) -> NDArray[np.uint8]:
    """An RGB copy of ``rgb`` with each (task name, parsed answer) drawn on it."""
    canvas = np.ascontiguousarray(rgb, dtype=np.uint8).copy()
    height, width = canvas.shape[:2]
    thickness = max(1, round(min(width, height) / 240))
    for _, parsed in answers:
        if parsed.box is not None:
            box = parsed.box.to_pixels(width, height)
            corner_a = (round(box.x_min), round(box.y_min))
            corner_b = (round(box.x_max) - 1, round(box.y_max) - 1)
            cv2.rectangle(canvas, corner_a, corner_b, _BOX_OK if parsed.ok else _FAILED, thickness)
        if parsed.trajectory is not None:
            colour = _PATH_OK if parsed.ok else _FAILED
            points = [(round(u), round(v)) for u, v in trajectory_to_pixels(parsed.trajectory, width, height)]
            if len(points) > 1:
                cv2.polylines(canvas, [np.array(points, dtype=np.int32)], False, colour, thickness)
            for index, point in enumerate(points):
                last = index == len(points) - 1
                cv2.circle(canvas, point, thickness * (3 if last else 2), colour, -1 if last else thickness)
    scale = max(0.4, min(width, height) / 800)
    for row, (task, parsed) in enumerate(answers):
        text = f"{task}: {parsed.status.value}"
        origin = (5, int(20 * scale * (row + 1)) + 5)
        cv2.putText(canvas, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thickness + 2, cv2.LINE_AA)
        cv2.putText(canvas, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thickness, cv2.LINE_AA)
    return canvas


def outcome_tile(
    rgb: NDArray[np.uint8],
    answers: Sequence[tuple[str, ParsedOutput]],
    instruction: str,
    seed: int,
    failure: str | None,
) -> NDArray[np.uint8]:
    """An episode's camera frame (BGR) with its answers drawn and, on top, the instruction, the seed
    and the outcome: green ``success`` when ``failure`` is None, else the failure in red."""
    tile = cv2.cvtColor(draw_prediction(rgb, answers), cv2.COLOR_RGB2BGR)
    colour = (40, 170, 40) if failure is None else (40, 40, 220)
    for text, y in ((instruction, 24), (f"seed {seed}: {'success' if failure is None else failure}", 50)):
        cv2.putText(tile, text, (10, y), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 3, cv2.LINE_AA)
        cv2.putText(tile, text, (10, y), cv2.FONT_HERSHEY_SIMPLEX, 0.7, colour, 1, cv2.LINE_AA)
    return np.asarray(tile, dtype=np.uint8)
