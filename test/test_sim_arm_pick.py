"""Closed-loop pick episodes: the oracle picks, wrong or unusable answers fail for the right reason."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace

import pytest

from vla_r1_ros.core.answer_lifting import LiftSettings
from vla_r1_ros.core.execution import PlanCheckLimits
from vla_r1_ros.core.geometry import BoxLiftSettings, SafetyLimits, TrajectorySettings
from vla_r1_ros.core.protocol import Box2D, Task, format_answer
from vla_r1_ros.model.backends import ScriptedBackend
from vla_r1_ros.sim.panda import PandaWorld
from vla_r1_ros.sim.pick import OracleBackend, PickFailure, PickSettings, run_pick_episode
from vla_r1_ros.sim.pick_scenes import PickScene, TableObject, sample_pick_scene
from vla_r1_ros.sim.sim_backend import SimMotionBackend

pytest.importorskip("pybullet")  # the simulator is an optional extra; these modules import it lazily


@pytest.fixture(scope="module")
def sim() -> Iterator[tuple[PandaWorld, SimMotionBackend]]:
    with PandaWorld() as world:
        backend = SimMotionBackend(world)
        yield world, backend
        backend.kinematics.close()


def _two_objects() -> PickScene:
    return PickScene(
        0,
        (
            TableObject("blue", "circle", 0.045, 0.05, (0.45, 0.12), 0.0),
            TableObject("orange", "square", 0.045, 0.045, (0.55, -0.1), 0.4),
        ),
        0,
        "pick up the blue circle",
    )


@pytest.mark.parametrize("seed", [1, 2, 6])  # three, one and two objects; a circle, a triangle and a square to pick
def test_oracle_episodes_succeed(sim: tuple[PandaWorld, SimMotionBackend], seed: int) -> None:
    world, backend = sim
    record = run_pick_episode(world, backend, OracleBackend(world), seed)
    assert record.success, f"{record.failure}: {record.detail}"
    assert record.failure == "" and record.box_iou == 1.0
    assert record.target_rise >= 0.05 and record.held == (record.target,)
    assert record.max_other_shift <= 0.01 and record.sim_time <= 60.0
    assert {"render", "predict", "lift", "planning", "executing", "hold", "total"} <= set(record.timings)
    json.dumps(record.to_json())


def test_the_oracle_scenes_cover_the_vocabulary() -> None:
    scenes = [sample_pick_scene(seed) for seed in (1, 2, 6)]
    assert {scene.target.shape for scene in scenes} == {"circle", "square", "triangle"}
    assert sorted(len(scene.objects) for scene in scenes) == [1, 2, 3]


def test_answering_for_another_object_picks_the_wrong_one(sim: tuple[PandaWorld, SimMotionBackend]) -> None:
    world, backend = sim
    scene = _two_objects()
    liar = OracleBackend(world, choose=lambda s, instruction: "orange square")
    record = run_pick_episode(world, backend, liar, 0, scene=scene)
    assert not record.success and record.failure == PickFailure.WRONG_OBJECT.value, record.detail
    assert "orange square" in record.detail and record.held == ("orange square",)


def _scripted(box: Box2D | None) -> ScriptedBackend:
    return ScriptedBackend({Task.AFFORDANCE: "no box here" if box is None else format_answer(box)})


def test_unusable_answer(sim: tuple[PandaWorld, SimMotionBackend]) -> None:
    world, backend = sim
    record = run_pick_episode(world, backend, _scripted(None), 0, scene=_two_objects())
    assert record.failure == PickFailure.PREDICTION_UNUSABLE.value, record.detail
    assert world.time < 1.0  # nothing moved


def test_a_box_on_the_bare_table_is_refused_by_the_safety_filter(sim: tuple[PandaWorld, SimMotionBackend]) -> None:
    world, backend = sim
    # The image's top-left corner is bare table: the grasp 2 cm below its surface is below the table.
    record = run_pick_episode(world, backend, _scripted(Box2D(0.1, 0.1, 0.05, 0.05)), 0, scene=_two_objects())
    assert record.failure == PickFailure.SAFETY_REFUSED.value, record.detail
    assert "min_height" in record.detail


def test_plan_checks_refuse_a_stale_prediction(sim: tuple[PandaWorld, SimMotionBackend]) -> None:
    world, backend = sim
    settings = PickSettings(executor=replace(PickSettings().executor, checks=PlanCheckLimits(max_prediction_age=1e-9)))
    record = run_pick_episode(world, backend, OracleBackend(world), 0, settings, scene=_two_objects())
    assert record.failure == PickFailure.PLAN_REFUSED.value and "prediction_age" in record.detail


def test_a_workspace_that_excludes_the_object_refuses(sim: tuple[PandaWorld, SimMotionBackend]) -> None:
    world, backend = sim
    narrow = replace(PickSettings().lift, limits=SafetyLimits(workspace_max=(0.4, 0.8, 1.0)))
    record = run_pick_episode(world, backend, OracleBackend(world), 0, PickSettings(lift=narrow), scene=_two_objects())
    assert record.failure == PickFailure.SAFETY_REFUSED.value and "workspace" in record.detail


class _TargetMovesAway(OracleBackend):
    """Answers like the oracle, then the target is carried off before the arm gets there."""

    def predict(self, image, instruction, task="affordance", settings=None, *, should_stop=None):  # type: ignore[no-untyped-def]
        result = super().predict(image, instruction, task, settings, should_stop=should_stop)
        pose = self.world.object_pose("blue circle")
        pose[1, 3] += 0.1
        self.world.move_object("blue circle", pose)
        return result


def test_closing_on_nothing_is_a_missed_grasp(sim: tuple[PandaWorld, SimMotionBackend]) -> None:
    world, backend = sim
    record = run_pick_episode(world, backend, _TargetMovesAway(world), 0, scene=_two_objects())
    assert record.failure == PickFailure.GRASP_MISSED.value, record.detail
    assert record.closed_at is not None and record.closed_at < 0.002


def test_a_weak_grip_slips(sim: tuple[PandaWorld, SimMotionBackend]) -> None:
    world, backend = sim
    weak = PickSettings(executor=replace(PickSettings().executor, gripper_max_effort=0.2))
    record = run_pick_episode(world, backend, OracleBackend(world), 0, weak, scene=_two_objects())
    assert record.failure == PickFailure.GRASP_SLIPPED.value, record.detail
    assert record.target_rise < 0.05


def test_with_the_safety_layers_relaxed_the_arm_hits_the_table_and_it_is_reported(
    sim: tuple[PandaWorld, SimMotionBackend],
) -> None:
    world, backend = sim
    scene = PickScene(0, (TableObject("red", "circle", 0.045, 0.05, (0.45, 0.15), 0.0),), 0, "pick up the red circle")
    below_table = SafetyLimits(min_height_above_table=-0.05)
    settings = PickSettings(
        lift=LiftSettings(BoxLiftSettings(grasp_depth=0.03), TrajectorySettings(approach_height=0.1), below_table),
        executor=replace(PickSettings().executor, checks=PlanCheckLimits(safety=below_table)),
    )
    # A box on the bare table at the image centre: the grasp 3 cm below the table top.
    record = run_pick_episode(world, backend, _scripted(Box2D(0.5, 0.5, 0.05, 0.05)), 0, settings, scene=scene)
    assert record.failure == PickFailure.TABLE_CONTACT.value, record.detail
    assert "finger" in record.detail
