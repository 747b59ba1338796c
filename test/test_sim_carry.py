"""Carry episodes in the simulated world: the truth's answers carry the object to its place; wrong ones fail, named."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

pytest.importorskip("pybullet")

from vla_r1_ros.core.protocol import Task, Trajectory2D, format_answer
from vla_r1_ros.model.backends import ScriptedBackend
from vla_r1_ros.sim.carry import CarryOracle, carry_scene, carry_seeds, run_carry_episode
from vla_r1_ros.sim.panda import PandaWorld
from vla_r1_ros.sim.sim_backend import SimMotionBackend
from vla_r1_ros.sim.sim_dataset import PLACE_OFFSET, carry_place, plan_carry


@pytest.fixture(scope="module")
def sim() -> Iterator[tuple[PandaWorld, SimMotionBackend]]:
    with PandaWorld() as world:
        backend = SimMotionBackend(world)
        try:
            yield world, backend
        finally:
            backend.kinematics.close()


def test_carry_scenes_name_a_pair_whose_place_is_free() -> None:
    seeds = carry_seeds(910000, 12)
    assert len(seeds) == 12 and seeds == sorted(set(seeds))
    for seed in seeds:
        found = carry_scene(seed)
        assert found is not None
        scene, mover, reference = found
        names = scene.objects[mover].name, scene.objects[reference].name
        assert scene.instruction == f"move the {names[0]} to the {names[1]}" and scene.target_index == mover
        assert plan_carry([(o.name, o.xy) for o in scene.objects], mover, reference) is not None
    assert carry_place((0.5, 0.1)) == pytest.approx((0.5 - PLACE_OFFSET, 0.1))


@pytest.mark.parametrize("index", [0, 3])
def test_the_truths_answers_carry_the_object_to_its_place(sim: tuple[PandaWorld, SimMotionBackend], index: int) -> None:
    world, backend = sim
    record = run_carry_episode(world, backend, CarryOracle(world), carry_seeds(910000, 4)[index])
    assert record.success, f"{record.failure}: {record.detail}"
    assert record.place_error is not None and record.place_error < 0.02
    assert record.tilt_deg is not None and record.tilt_deg < 3.0 and record.path_avg == 0.0
    assert record.max_other_shift <= 0.01 and not record.held  # let go, nothing else moved
    assert {"planning", "executing", "carry_executing", "retreat_executing"} <= set(record.timings)
    assert record.box_iou == 1.0


class _Shifted:
    """The oracle's answers, its path's last point moved by ``shift`` (normalised image x)."""

    def __init__(self, world: PandaWorld, shift: float) -> None:
        self.oracle, self.shift = CarryOracle(world), shift

    def predict(self, image: np.ndarray, instruction: str, task: Task | str = "affordance") -> Any:
        result = self.oracle.predict(image, instruction, task)
        if Task.from_name(str(getattr(task, "value", task))) is not Task.TRAJECTORY:
            return result
        points = list(result.prediction(Task.TRAJECTORY).parsed.trajectory.points)
        points[-1] = (round(points[-1][0] + self.shift, 2), points[-1][1])
        return ScriptedBackend({Task.TRAJECTORY: format_answer(Trajectory2D(tuple(points)))}).predict(
            image, instruction, Task.TRAJECTORY
        )


@pytest.mark.parametrize(
    ("make", "failure"),
    [
        (lambda world: _Shifted(world, 0.15), "placed_off"),  # 0.15 of 0.58 m: the object lands 8.6 cm away
        (lambda world: ScriptedBackend({Task.AFFORDANCE: "", Task.TRAJECTORY: "no path"}), "path_unusable"),
    ],
)
def test_a_wrong_answer_fails_the_carry_and_says_why(
    sim: tuple[PandaWorld, SimMotionBackend], make: Callable[[PandaWorld], Any], failure: str
) -> None:
    world, backend = sim
    record = run_carry_episode(world, backend, make(world), carry_seeds(910000, 1)[0])
    assert not record.success and record.failure == failure, record.detail
    if failure == "placed_off":
        assert record.place_error is not None and 0.06 < record.place_error < 0.11


def test_sim_eval_runs_carries_from_the_command_line(tmp_path: Any, capsys: Any) -> None:
    """``vla-r1 sim-eval --task carry``: the truth's answers carry both objects; the outputs are written."""
    import json

    from vla_r1_ros.cli import main

    seeds = carry_seeds(5000, 2)
    assert main(["sim-eval", "--task", "carry", "--scenes", "2", "--seed", "5000", "--out", str(tmp_path)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["task"], summary["n"], summary["seeds"]) == ("carry", 2, seeds)
    assert summary["successes"] == 2, summary["failures"]
    assert summary["median_place_error"] < 0.04 and summary["median_path_avg"] == pytest.approx(0.0, abs=1e-6)
    episodes = (tmp_path / "episodes.jsonl").read_text().splitlines()
    assert [json.loads(line)["seed"] for line in episodes] == seeds
    assert json.loads((tmp_path / "summary.json").read_text()) == summary
    assert (tmp_path / "episodes.png").stat().st_size > 0


def test_the_carry_demo_pictures_the_answers_and_the_arm(tmp_path: Any, capsys: Any) -> None:
    """``scripts/demo.sh --task carry``'s last step: the camera view with both answers, then three moments."""
    import json

    import cv2

    from vla_r1_ros.demos.carry_demo import main

    assert main(["--predictor", "oracle", "--seed", "5000", "--out", str(tmp_path)]) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed["success"] and printed["seed"] == carry_seeds(5000, 1)[0]
    strip = cv2.imread(str(tmp_path / "carry_demo.png"))
    assert strip.shape[0] == 480 and strip.shape[1] > 3 * 480  # the camera view and three side views
    record = json.loads((tmp_path / "carry_demo.json").read_text())
    assert record["success"] and record["place_error"] < 0.04
