"""Training rows from the simulator's camera frames (``data.source: sim``).

The questions, answers and chains of thought come from :mod:`vla_r1_ros.sim.sim_dataset`
(affordance boxes and carry trajectories on frames of the demo camera); this module turns them
into the rows the trainers and evaluation read (the columns of :mod:`vla_r1_training.data`, plus
``meta``: the question's seed, variant, object names and, for a carry, its place and detours).

Frames are rendered once and kept in ``data.sim_store`` (:class:`~vla_r1_ros.sim.sim_dataset.SceneStore`);
``data.train_seed`` and ``data.eval_seed`` are split seeds (>= 1, different), so the training
scenes, the held-out scenes and ``vla-r1 sim-eval``'s episodes (seeds below 1 000 000) never
share a scene. ``data.synthetic_fraction`` mixes in the 2-D generator's top-down scenes
(affordance questions at ``data.image_size``) so that a model trained here still answers on them.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import cv2
import numpy as np

from vla_r1_ros.core.protocol import Task, build_messages
from vla_r1_ros.sim.sim_dataset import VARIANTS, SceneStore, SimQuestion, split_questions

from .config import DataArguments
from .data import _row_features, scene_row

__all__ = ["check_sim_data", "question_row", "sim_rows", "sim_dataset", "sim_datasets"]

log = logging.getLogger(__name__)

#: The 2-D generator's held-out stream (its evaluations and the node demo's top-down scenes).
_TOPDOWN_HELD_OUT = 1000
#: Rows per scene are numbered question-wise: id = scene seed * _PER_SCENE + question number.
_PER_SCENE = 16


def check_sim_data(args: DataArguments) -> None:
    """Refuse a ``source: sim`` data section that cannot work (called when the config loads)."""
    problems = []
    if not set(args.tasks) <= {"affordance", "trajectory"} or not args.tasks:
        problems.append(f"tasks must be some of affordance, trajectory (got {args.tasks})")
    if not 1 <= args.min_objects <= args.max_objects <= 3:
        problems.append("need 1 <= min_objects <= max_objects <= 3 (pick scenes hold at most three objects)")
    if args.train_seed < 1 or args.eval_seed < 1 or args.train_seed == args.eval_seed:
        problems.append(
            f"train_seed and eval_seed are split seeds: >= 1 and different (got {args.train_seed}, {args.eval_seed})"
        )
    if args.sim_variant not in VARIANTS:
        problems.append(f"sim_variant must be one of {', '.join(VARIANTS)} (got {args.sim_variant!r})")
    if not 0.0 <= args.synthetic_fraction < 1.0:
        problems.append(f"synthetic_fraction must be in [0, 1) (got {args.synthetic_fraction})")
    if args.synthetic_fraction > 0.0 and args.train_seed == _TOPDOWN_HELD_OUT:
        problems.append(f"train_seed {_TOPDOWN_HELD_OUT} would mix in the 2-D generator's held-out scenes")
    if args.sim_affordance_per_scene < 0 or args.sim_trajectory_per_scene < 0:
        problems.append("sim_affordance_per_scene and sim_trajectory_per_scene must be >= 0")
    asked = {"affordance": args.sim_affordance_per_scene, "trajectory": args.sim_trajectory_per_scene}
    if not any(asked[task] for task in args.tasks if task in asked):
        problems.append("no question per scene for the tasks asked (sim_*_per_scene are 0)")
    if problems:
        raise ValueError("data (source sim): " + "; ".join(problems))


def _png(rgb: np.ndarray) -> bytes:
    # cv2's fast PNG (level 1), as the 2-D rows do.
    ok, png = cv2.imencode(".png", np.ascontiguousarray(rgb[:, :, ::-1]), [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:  # pragma: no cover
        raise RuntimeError("PNG encoding failed")
    return png.tobytes()


def question_row(question: SimQuestion, png: bytes, number: int) -> dict[str, Any]:
    """The dataset row of one question about a frame whose RGB image is ``png``."""
    truth = question.ground_truth
    return {
        "images": [{"bytes": png, "path": None}],
        "prompt": build_messages(question.instruction, question.task),
        "completion": [{"role": "assistant", "content": truth}],
        "ground_truth": truth,
        "task": question.task.value,
        "instruction": question.instruction,
        "scene_id": question.seed * _PER_SCENE + number,
        "object_boxes": json.dumps([box.to_json() for box in question.object_boxes]),
        "meta": json.dumps(question.metadata()),
    }


def sim_rows(args: DataArguments, count: int, split: int, start: int = 0) -> list[dict[str, Any]]:
    """``count`` rows of split ``split`` (scenes ``start, start + 1, ...``), rendered or read from the store."""
    tasks = tuple(Task.from_name(task) for task in args.tasks)
    rows: list[dict[str, Any]] = []
    with SceneStore(args.sim_store) as store:
        for _, frame, questions in split_questions(
            store, split, count, args.sim_variant, tasks, args.cot, args.min_objects, args.max_objects,
            args.sim_affordance_per_scene, args.sim_trajectory_per_scene, start,
        ):
            if not questions:
                continue
            png = _png(frame.rgb)
            rows.extend(question_row(q, png, n) for n, q in enumerate(questions))
        if store.rendered:
            log.info("rendered %d scenes into %s", store.rendered, store.folder)
    return rows


def _features() -> Any:
    from datasets import Value

    return _row_features(
        instruction=Value("string"), scene_id=Value("int64"), object_boxes=Value("string"), meta=Value("string")
    )



def sim_dataset(args: DataArguments, count: int, split: int, synthetic: int = 0) -> Any:
    """A dataset of ``count`` sim rows of split ``split`` plus ``synthetic`` rows of the 2-D generator."""
    from datasets import Dataset

    from vla_r1_ros.datagen.topdown_scenes import TabletopGenerator

    rows = sim_rows(args, count, split)
    if synthetic:
        generator = TabletopGenerator(
            seed=split, image_size=args.image_size, min_objects=args.min_objects, max_objects=args.max_objects,
            tasks=("affordance",), cot=args.cot,
        )
        for scene in generator.scenes(synthetic):
            row = scene_row(scene)
            row["meta"] = json.dumps({"source": "synthetic", "seed": split, "index": scene.scene_id})
            row["scene_id"] = -1 - scene.scene_id  # negative: never a sim question's id
            rows.append(row)
    return Dataset.from_list(rows, features=_features())


def sim_datasets(args: DataArguments, train: bool = True, evaluation: bool = True) -> tuple[Any, Any]:
    """(train, eval) datasets of ``data.source: sim``; the 2-D mix goes to the training split only."""
    check_sim_data(args)
    train_set = eval_set = None
    if train:
        synthetic = round(args.num_train * args.synthetic_fraction)
        train_set = sim_dataset(args, args.num_train - synthetic, args.train_seed, synthetic)
    if evaluation and args.num_eval:
        eval_set = sim_dataset(args, args.num_eval, args.eval_seed)
    return train_set, eval_set
