"""A training run's saved checkpoints: which there are, how far the run got, which one to keep.

A run folder (``sft.output_dir`` / ``grpo.output_dir``) holds ``checkpoint-N`` folders (every
``save_steps``, and one where the time limit stopped it) and, once the run ends, its final model.
Picking the model to ship is scoring every candidate on a validation split that is neither the
training nor the held-out one (:func:`select_checkpoint`), never on the held-out set.
"""

from __future__ import annotations

import filecmp
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["checkpoints_by_step", "run_candidates", "trainer_progress", "select_checkpoint"]


def checkpoints_by_step(run_dir: str | Path) -> list[Path]:
    """A run's ``checkpoint-N`` folders, in step order."""
    return sorted(Path(run_dir).glob("checkpoint-*"), key=lambda path: int(path.name.rsplit("-", 1)[1]))


def run_candidates(run_dir: str | Path) -> list[Path]:
    """A run's checkpoints in step order, then its final model unless the last checkpoint is it."""
    folder = Path(run_dir)
    checkpoints = checkpoints_by_step(folder)
    final = folder / "model.safetensors"
    if final.is_file() and not (
        checkpoints and filecmp.cmp(checkpoints[-1] / "model.safetensors", final, shallow=False)
    ):
        checkpoints.append(folder)
    return checkpoints


def trainer_progress(run_dir: str | Path) -> dict[str, Any] | None:
    """Steps done and planned, and batch size, of a run (its last checkpoint's trainer state)."""
    states = [path for folder in checkpoints_by_step(run_dir) if (path := folder / "trainer_state.json").is_file()]
    if not states:
        return None
    state = json.loads(states[-1].read_text(encoding="utf-8"))
    return {key: state.get(key) for key in ("global_step", "max_steps", "train_batch_size")}


def select_checkpoint(candidates: Sequence[Path], score: Callable[[Path], float]) -> tuple[Path, dict[Path, float]]:
    """The candidate with the highest ``score`` (the earliest on a tie) and every candidate's score."""
    if not candidates:
        raise ValueError("no checkpoints to choose from")
    scores = {path: float(score(path)) for path in candidates}
    best = max(candidates, key=lambda path: (scores[path], -candidates.index(path)))
    return best, scores
