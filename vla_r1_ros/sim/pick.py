"""Closed-loop pick episodes in the simulated world, without ROS: see, answer, lift, check, plan, move.

One episode: reset the world to a seeded scene, render the camera, ask a predictor for the
affordance box of the named object, lift it with the geometry core (``lift_answers`` on the
frame's ``DepthScene``, with the waypoint safety filter), check and plan the approach, open the
gripper, approach, close, lift straight up, hold. "Pick up the X" succeeds when X rises at least
``min_rise`` and stays between both fingers for ``hold_time``, no other object moves more than
``max_disturbance``, no arm link touches the table and it all takes at most ``max_sim_time``.
Every episode returns an :class:`EpisodeRecord`: the outcome, on failure the kind and why, and
wall-clock time per stage.

Predictors are anything with the model backends' ``predict(image, instruction, task)``; the
:class:`OracleBackend` answers with the true box of the object the instruction names.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from vla_r1_ros.core.answer_lifting import LiftSettings, TaskOutcome, lift_answers
from vla_r1_ros.core.execution.executor import (
    Approval,
    ExecuteRequest,
    ExecutionReport,
    ExecutorSettings,
    Outcome,
    execute_waypoints,
)
from vla_r1_ros.core.execution.plan_checks import PlanRule
from vla_r1_ros.core.execution.types import CartesianPlan, Poses
from vla_r1_ros.core.geometry import BoxLiftSettings, SafetyLimits, TrajectorySettings
from vla_r1_ros.core.metrics import box_iou_giou
from vla_r1_ros.core.protocol import Task, format_answer
from vla_r1_ros.model.backends import Backend, Completion, Completions, InferenceResult, Question
from vla_r1_ros.sim.panda import PandaWorld
from vla_r1_ros.sim.pick_scenes import PickScene
from vla_r1_ros.sim.scene import depth_scene
from vla_r1_ros.sim.sim_backend import SimMotionBackend

__all__ = ["Predictor", "OracleBackend", "PickFailure", "PickSettings", "EpisodeRecord", "run_pick_episode"]


class Predictor(Protocol):
    """What the runner asks for an answer: the model backends' interface."""

    def predict(self, image: np.ndarray, instruction: str, task: Task | str = "affordance") -> InferenceResult: ...


class OracleBackend(Backend):
    """Answers with the true tight box of an object in the world's latest rendered frame.

    ``choose`` picks the object answered for from the scene and the instruction (default: the
    object the instruction names), so a test can make a deliberately wrong oracle.
    """

    name = "oracle"
    model_id = "oracle"

    def __init__(self, world: PandaWorld, choose: Callable[[PickScene, str], str] | None = None) -> None:
        self.world = world
        self.choose = choose or _named_object

    def complete(self, question: Question) -> Completions:
        frame, scene = self.world.last_frame, self.world.scene
        if frame is None or scene is None:
            raise RuntimeError("the oracle answers about the world's latest frame: render it first")
        box = frame.object(self.choose(scene, question.instruction)).box_2d
        answer = "" if box is None else format_answer(box, "the oracle knows where it is")  # unseen: no answer
        # It knows boxes only: a trajectory question gets no answer (unusable, like a model's bad one).
        return Completions(tuple(Completion(answer if t is Task.AFFORDANCE else "") for t in question.tasks))


def _named_object(scene: PickScene, instruction: str) -> str:
    named = [obj.name for obj in scene.objects if obj.name in instruction.lower()]
    if len(named) != 1:
        raise ValueError(f"the instruction {instruction!r} names {len(named)} of the scene's objects, not one")
    return named[0]


class PickFailure(str, enum.Enum):
    """Why an episode failed (stable names for records and reports)."""

    PREDICTION_UNUSABLE = "prediction_unusable"  # the answer did not parse into a box
    LIFT_FAILED = "lift_failed"  # no 3-D target from the box (sparse depth, no surface)
    SAFETY_REFUSED = "safety_refused"  # the waypoint safety filter refused the lifted path
    PLANNING_FAILED = "planning_failed"  # the planner covered too little of the path
    PLAN_REFUSED = "plan_refused"  # the plan broke another plan check
    EXECUTION_FAILED = "execution_failed"  # the controller aborted or rejected a plan
    TABLE_CONTACT = "table_contact"  # an arm link touched the table
    WRONG_OBJECT = "wrong_object"  # another object was picked
    GRASP_MISSED = "grasp_missed"  # the fingers closed on nothing
    GRASP_SLIPPED = "grasp_slipped"  # the target was grasped but not lifted and held
    OTHERS_DISTURBED = "others_disturbed"  # another object moved too far
    TIMEOUT = "timeout"  # the episode took too long in simulated time


def _default_lift() -> LiftSettings:
    # The grasp sits 2 cm below the observed top (the fingertips then overlap the object by 3 cm);
    # the approach starts 10 cm above it.
    return LiftSettings(BoxLiftSettings(grasp_depth=0.02), TrajectorySettings(approach_height=0.1), SafetyLimits())


def _default_executor() -> ExecutorSettings:
    # Simulation only: nothing to approve, and the motion is the point.
    return ExecutorSettings(dry_run=False, require_approval=False)


@dataclass(frozen=True)
class PickSettings:
    """How an episode runs and is judged. ``executor`` is the waypoint executor's settings (the
    same checks, scalings, gripper and lift the ROS executor uses); lengths in metres, times in
    simulated seconds."""

    lift: LiftSettings = field(default_factory=_default_lift)
    executor: ExecutorSettings = field(default_factory=_default_executor)
    hold_time: float = 1.0
    min_rise: float = 0.05
    max_disturbance: float = 0.01
    max_sim_time: float = 60.0


@dataclass
class EpisodeRecord:
    """One episode's outcome. ``failure`` and ``detail`` are empty on success; times in seconds."""

    seed: int
    instruction: str
    target: str
    object_count: int
    success: bool = False
    failure: str = ""
    detail: str = ""
    timings: dict[str, float] = field(default_factory=dict)  # wall clock per stage
    sim_time: float = 0.0
    box_iou: float | None = None  # the answered box against the target's true box
    lift_error: float | None = None  # lifted target point to the true top centre (m)
    closed_at: float | None = None  # finger position after closing (m)
    held: tuple[str, ...] = ()  # objects between both fingers at the end
    target_rise: float = 0.0
    max_other_shift: float = 0.0

    def to_json(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["held"] = list(self.held)
        out["timings"] = {k: round(v, 6) for k, v in self.timings.items()}
        return out


class _Episode:
    """One episode's bookkeeping: timed stages, the record, and plan-check-execute of a path."""

    def __init__(self, world: PandaWorld, backend: SimMotionBackend, settings: PickSettings) -> None:
        self.world, self.backend, self.settings = world, backend, settings
        self.record: EpisodeRecord | None = None

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            assert self.record is not None
            self.record.timings[name] = self.record.timings.get(name, 0.0) + time.perf_counter() - start

    def fail(self, failure: PickFailure, detail: str) -> EpisodeRecord:
        assert self.record is not None
        self.record.failure, self.record.detail = failure.value, detail
        return self.finish()

    def finish(self) -> EpisodeRecord:
        assert self.record is not None
        self.record.sim_time = self.world.time
        self.record.timings["total"] = sum(self.record.timings.values())
        return self.record


class _NoOperator:
    """Executor hooks of an unattended episode: nothing to approve or cancel; phases are passed on."""

    def __init__(self, on_phase: Callable[[str], None] | None) -> None:
        self.on_phase = on_phase

    def phase(self, name: str, detail: str = "") -> None:
        if self.on_phase is not None:
            self.on_phase(name)

    def preview(self, plan: CartesianPlan, waypoints: Poses) -> None:
        pass

    def await_approval(self, plan: CartesianPlan, timeout_s: float) -> Approval:
        return Approval.APPROVED

    def cancelled(self) -> bool:
        return False


def _execution_failure(report: ExecutionReport, world: PandaWorld) -> tuple[PickFailure, str]:
    if world.table_contacts:  # the more important news: the arm hit the table
        touched = sorted(world.table_contacts)
        return PickFailure.TABLE_CONTACT, f"{report.reason}; arm links touched the table: {touched}"
    if report.outcome is Outcome.REJECTED_BY_SAFETY:
        return PickFailure.SAFETY_REFUSED, report.reason
    if report.outcome is Outcome.PLANNING_FAILED:
        planner = report.checks is not None and report.checks.rules <= {PlanRule.EMPTY, PlanRule.FRACTION}
        return (PickFailure.PLANNING_FAILED if planner else PickFailure.PLAN_REFUSED), report.reason
    return PickFailure.EXECUTION_FAILED, report.reason


def _lift_failure(outcome: TaskOutcome) -> tuple[PickFailure, str]:
    if not outcome.parsed.ok:
        return PickFailure.PREDICTION_UNUSABLE, outcome.error
    if outcome.safety is not None and not outcome.safety.accepted:
        return PickFailure.SAFETY_REFUSED, outcome.error
    return PickFailure.LIFT_FAILED, outcome.error


def run_pick_episode(
    world: PandaWorld,
    backend: SimMotionBackend,
    predictor: Predictor,
    seed: int,
    settings: PickSettings | None = None,
    scene: PickScene | None = None,
    on_phase: Callable[[str], None] | None = None,
) -> EpisodeRecord:
    """Run the episode of ``seed`` (or of ``scene``) and say how it went. ``on_phase(name)`` is
    called as each executor phase begins (checking, planning, gripper, executing, lifting)."""
    settings = settings or PickSettings()
    episode = _Episode(world, backend, settings)
    wall0 = time.perf_counter()
    scene = world.reset(seed, scene)
    record = episode.record = EpisodeRecord(seed, scene.instruction, scene.target.name, len(scene.objects))
    record.timings["reset"] = time.perf_counter() - wall0
    initial = world.object_poses()

    # 1. See and answer.
    with episode.stage("render"):
        frame = world.render()
    captured = time.monotonic()
    with episode.stage("predict"):
        parsed = predictor.predict(frame.rgb, scene.instruction, Task.AFFORDANCE).prediction(Task.AFFORDANCE).parsed
    truth = frame.object(scene.target.name)
    if parsed.box is not None and truth.box_2d is not None:
        iou, _ = box_iou_giou([parsed.box.corners()], [truth.box_2d.corners()])
        record.box_iou = float(iou[0])

    # 2. Lift to a checked approach path, the grasp turned the way nearer the hand.
    with episode.stage("lift"):
        outcome = lift_answers({Task.AFFORDANCE: parsed}, depth_scene(frame), settings.lift)[0]
    if outcome.target is not None:
        record.lift_error = float(np.linalg.norm(outcome.target.position - truth.top_center))
    if not outcome.ok or outcome.path is None:
        return episode.fail(*_lift_failure(outcome))

    # 3. Open, approach, close, lift: the waypoint executor, as the ROS executor node runs it.
    request = ExecuteRequest(
        Poses(outcome.path.positions, outcome.path.orientations),
        grasp_at_end=True,
        prediction_age=time.monotonic() - captured,
    )
    report = execute_waypoints(
        request, backend, backend.joint_limits, world.arm_positions(), settings.executor, _NoOperator(on_phase)
    )
    for stage, seconds in report.timings.items():  # planning (with its checks) and executing
        if stage != "total":
            record.timings[stage] = seconds
    record.closed_at = report.gripper_position
    if report.outcome is not Outcome.SUCCEEDED:
        return episode.fail(*_execution_failure(report, world))

    # 4. Hold, then judge.
    with episode.stage("hold"):
        dropped_at = _hold(world, scene.target.name, initial[scene.target.name][2, 3], settings)
    return _judge(episode, scene, initial, dropped_at)


def _hold(world: PandaWorld, target: str, start_z: float, settings: PickSettings) -> float | None:
    """Keep still for ``hold_time``, checking every 10 ms that the target is up and between the fingers;
    the time it was first not, or None."""
    checks = max(1, round(settings.hold_time / 0.01))
    steps = max(1, round(0.01 / world.settings.time_step))
    for i in range(checks):
        world.step(steps)
        up = world.object_pose(target)[2, 3] - start_z >= settings.min_rise
        if not (up and target in world.held_objects()):
            return (i + 1) * 0.01
    return None


def _judge(
    episode: _Episode, scene: PickScene, initial: dict[str, np.ndarray], dropped_at: float | None
) -> EpisodeRecord:
    world, settings, record = episode.world, episode.settings, episode.record
    assert record is not None
    target = scene.target.name
    final = world.object_poses()
    rise = {name: float(final[name][2, 3] - initial[name][2, 3]) for name in final}
    shifts = {
        name: float(np.linalg.norm(final[name][:3, 3] - initial[name][:3, 3])) for name in final if name != target
    }
    record.held = tuple(sorted(world.held_objects()))
    record.target_rise = rise[target]
    record.max_other_shift = max(shifts.values(), default=0.0)
    others_up = [name for name in shifts if name in record.held or rise[name] >= settings.min_rise]
    if world.table_contacts:
        return episode.fail(PickFailure.TABLE_CONTACT, f"arm links touched the table: {sorted(world.table_contacts)}")
    if others_up and target not in record.held:
        return episode.fail(PickFailure.WRONG_OBJECT, f"picked {others_up} instead of the {target}")
    if dropped_at is not None:
        if record.closed_at is not None and record.closed_at <= 0.002:
            return episode.fail(PickFailure.GRASP_MISSED, f"the fingers closed on nothing ({record.closed_at:.4f} m)")
        return episode.fail(
            PickFailure.GRASP_SLIPPED,
            f"the {target} rose {100 * rise[target]:.1f} cm and was not held after {dropped_at:.2f} s of the hold",
        )
    moved = {name: shift for name, shift in shifts.items() if shift > settings.max_disturbance}
    if moved:
        shown = ", ".join(f"{name} {100 * shift:.1f} cm" for name, shift in moved.items())
        return episode.fail(PickFailure.OTHERS_DISTURBED, f"other objects moved: {shown}")
    if world.time > settings.max_sim_time:
        took = f"{world.time:.1f} s of simulated time, more than {settings.max_sim_time} s"
        return episode.fail(PickFailure.TIMEOUT, took)
    record.success = True
    return episode.finish()
