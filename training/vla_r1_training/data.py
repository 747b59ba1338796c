"""Training data: the VLA-CoT-13K loader and a seeded synthetic tabletop generator.

Both produce a :class:`datasets.Dataset` in the shape TRL's trainers take for vision-language
prompt-completion data, one row per question:

* ``images``: a list with the image(s) (TRL's ``images`` column; VLA-CoT-13K records may hold
  several paths, synthetic scenes hold one);
* ``prompt``: the conversational prompt, one user turn, text first then the image(s) — exactly
  :func:`vla_r1_ros.core.protocol.build_messages` for synthetic data, the record's human turn
  verbatim for VLA-CoT-13K;
* ``completion``: the assistant turn holding the ground-truth answer (SFT trains on it);
* ``ground_truth``: the same answer as text (the GRPO rewards and evaluation compare against it);
* ``task``: ``"affordance"`` or ``"trajectory"``.

Synthetic rows also carry ``instruction``, ``scene_id`` and ``object_boxes`` (JSON: the boxes of
every object in the scene, the target first), used by evaluation's "random object" baseline.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from vla_r1_ros.core.protocol import (
    AFFORDANCE_SUFFIX,
    TRAJECTORY_SUFFIX,
    Task,
    build_messages,
    parse_completion,
)
from vla_r1_ros.datagen.topdown_scenes import COLOURS, SHAPES, DrawnObject, SyntheticScene, TabletopGenerator

__all__ = [
    "COLOURS",
    "SHAPES",
    "SkippedRecord",
    "LoadReport",
    "load_vla_cot",
    "DrawnObject",
    "SyntheticScene",
    "TabletopGenerator",
    "synthetic_dataset",
    "scenes_to_dataset",
]

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------------
# VLA-CoT-13K (ShareGPT JSON arrays)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SkippedRecord:
    """One record the loader refused: its position in the JSON array and why."""

    index: int
    reason: str


@dataclass
class LoadReport:
    """What :func:`load_vla_cot` kept and skipped; ``skipped`` is never silently empty-handed."""

    source: str
    total: int = 0
    kept: int = 0
    skipped: list[SkippedRecord] = field(default_factory=list)
    tasks: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        lines = [f"{self.source}: kept {self.kept} of {self.total} records ({self.tasks})"]
        if self.skipped:
            lines.append(f"skipped {len(self.skipped)}:")
            lines.extend(f"  record {s.index}: {s.reason}" for s in self.skipped[:50])
            if len(self.skipped) > 50:
                lines.append(f"  ... and {len(self.skipped) - 50} more")
        return "\n".join(lines)


def _task_of_prompt(text: str) -> Task | None:
    body = text.replace("<image>", "").rstrip()
    if body.endswith(AFFORDANCE_SUFFIX.replace("<image>", "").rstrip()):
        return Task.AFFORDANCE
    if body.endswith(TRAJECTORY_SUFFIX.replace("<image>", "").rstrip()):
        return Task.TRAJECTORY
    return None


def _validate_record(record: Any, root: Path, check_files: bool) -> tuple[dict[str, Any] | None, str]:
    """The row for one ShareGPT record, or None and the reason it is unusable."""
    if not isinstance(record, dict):
        return None, f"record is a {type(record).__name__}, expected an object"
    image = record.get("image")
    paths = [image] if isinstance(image, str) else image
    if not isinstance(paths, list) or not paths or not all(isinstance(p, str) and p.strip() for p in paths):
        return None, "'image' must be a non-empty path or a non-empty list of paths"
    resolved = [root / p for p in paths]
    if check_files:
        missing = [str(p) for p in resolved if not p.is_file()]
        if missing:
            return None, f"image file not found: {missing[0]}"
    turns = record.get("conversations")
    if not isinstance(turns, list) or not turns:
        return None, "'conversations' must be a non-empty list"
    if not all(isinstance(t, dict) and isinstance(t.get("value"), str) for t in turns):
        return None, "every conversation turn needs a string 'value'"
    human = [t["value"] for t in turns if t.get("from") == "human"]
    gpt = [t["value"] for t in turns if t.get("from") == "gpt"]
    if not human:
        return None, "no human turn (the prompt)"
    if not gpt:
        return None, "no gpt turn (the ground-truth answer)"
    prompt_text, answer = human[0], gpt[-1]
    parsed = parse_completion(answer)
    if not parsed.ok:
        return None, f"ground-truth answer does not parse ({parsed.status.value}: {parsed.error})"
    answer_task = parsed.task
    prompt_task = _task_of_prompt(prompt_text)
    if prompt_task is not None and prompt_task is not answer_task:
        return (
            None,
            f"prompt asks for {prompt_task.value} but the answer is a {answer_task.value if answer_task else '?'}",
        )
    task = prompt_task or answer_task
    assert task is not None  # parsed.ok implies a box or a trajectory
    n_tags = prompt_text.count("<image>")
    if n_tags not in (0, len(paths)):
        return None, f"prompt has {n_tags} <image> tags for {len(paths)} images"
    content: list[dict[str, Any]] = [{"type": "text", "text": prompt_text}]
    content.extend({"type": "image"} for _ in paths)
    return {
        "images": [str(p) for p in resolved],
        "prompt": [{"role": "user", "content": content}],
        "completion": [{"role": "assistant", "content": answer}],
        "ground_truth": answer,
        "task": task.value,
    }, ""


def load_vla_cot(
    paths: str | Path | Sequence[str | Path],
    image_root: str | Path | None = None,
    *,
    check_files: bool = True,
    limit: int | None = None,
) -> tuple[Any, LoadReport]:
    """Load VLA-CoT-13K JSON file(s) into a dataset; return it with a report of skipped records.

    ``image_root`` defaults to the folder of each JSON file. Every record is validated (image
    paths present and, with ``check_files``, existing; a human prompt; a gpt answer that parses
    as a box or trajectory matching the prompt's task); bad records are skipped, logged as
    warnings with their index and reason, and listed in the report. Indices count records across
    all files in order.
    """
    from datasets import Dataset

    files = [Path(paths)] if isinstance(paths, (str, Path)) else [Path(p) for p in paths]
    report = LoadReport(", ".join(str(f) for f in files))
    rows: list[dict[str, Any]] = []
    offset = 0
    for file in files:
        try:
            records = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            raise ValueError(f"{file}: cannot read a JSON array: {err}") from None
        if not isinstance(records, list):
            raise ValueError(f"{file}: expected a JSON array of records, got a {type(records).__name__}")
        root = Path(image_root) if image_root is not None else file.parent
        for index, record in enumerate(records):
            report.total += 1
            row, reason = _validate_record(record, root, check_files)
            if row is None:
                report.skipped.append(SkippedRecord(offset + index, reason))
                log.warning("%s record %d skipped: %s", file, offset + index, reason)
                continue
            rows.append(row)
            report.tasks[row["task"]] = report.tasks.get(row["task"], 0) + 1
            if limit is not None and len(rows) >= limit:
                break
        offset += len(records)
    report.kept = len(rows)
    features = _row_features()
    if not rows:  # from_list cannot infer an empty table
        return Dataset.from_dict({name: [] for name in features}, features=features), report
    return Dataset.from_list(rows, features=features), report


def _row_features(**extra: Any) -> Any:
    """The datasets schema of a training row (image, chat prompt and answer, ground truth, task)."""
    from datasets import Features, Image, Value
    from datasets import Sequence as DSequence

    return Features(
        {
            "images": DSequence(Image()),
            "prompt": [{"role": Value("string"), "content": [{"type": Value("string"), "text": Value("string")}]}],
            "completion": [{"role": Value("string"), "content": Value("string")}],
            "ground_truth": Value("string"),
            "task": Value("string"),
            **extra,
        }
    )


# --------------------------------------------------------------------------------------------
# Synthetic tabletop scenes (drawn by vla_r1_ros.datagen.topdown_scenes)
# --------------------------------------------------------------------------------------------


def scene_row(scene: SyntheticScene) -> dict[str, Any]:
    """The dataset row of one scene (PNG image, conversational prompt and completion, ground truth)."""
    # cv2's fast PNG (level 1) is ~3x quicker than letting datasets encode a PIL image.
    ok, png = cv2.imencode(".png", np.ascontiguousarray(scene.image[:, :, ::-1]), [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:  # pragma: no cover
        raise RuntimeError("PNG encoding failed")
    truth = scene.ground_truth
    return {
        "images": [{"bytes": png.tobytes(), "path": None}],
        "prompt": build_messages(scene.instruction, scene.task),
        "completion": [{"role": "assistant", "content": truth}],
        "ground_truth": truth,
        "task": scene.task.value,
        "instruction": scene.instruction,
        "scene_id": scene.scene_id,
        "object_boxes": json.dumps([o.box.to_json() for o in scene.objects]),
    }


def scenes_to_dataset(scenes: Sequence[SyntheticScene] | Iterator[SyntheticScene]) -> Any:
    from datasets import Dataset, Value

    features = _row_features(instruction=Value("string"), scene_id=Value("int64"), object_boxes=Value("string"))
    return Dataset.from_list([scene_row(s) for s in scenes], features=features)


def synthetic_dataset(count: int, seed: int = 0, start: int = 0, **generator_options: Any) -> Any:
    """``count`` synthetic rows from :class:`TabletopGenerator` (seeded, reproducible)."""
    return scenes_to_dataset(TabletopGenerator(seed=seed, **generator_options).scenes(count, start))
