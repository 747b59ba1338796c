"""Closed-loop carry episodes in the simulated world, without ROS: grasp the X, carry it along the
answered trajectory, put it down beside the Y.

One episode: reset the world to a seeded scene with a carry in it (:func:`carry_scene`), render
the camera, ask the predictor two questions about that frame, "pick up the X" (a box) and "move
the X to the Y" (a trajectory, :mod:`vla_r1_ros.sim.sim_dataset`'s convention: the path of X's top
centre in the image, ending at the place in front of Y), then, through the waypoint executor
(:func:`~vla_r1_ros.core.execution.executor.execute_waypoints`, as the pick episodes run it):

1. grasp: the box lifted with depth as a pick is (approach, close, lift ``lift_height``);
2. carry: the trajectory lifted to the carry height (each point's camera ray meets the plane of
   X's top; the hand follows those points ``lift_height`` higher, the hand turned as it grasped),
   then down to where X stood on the table;
3. release: the gripper opens (the executor grasps but never lets go, so this one call goes to the
   motion backend directly), and the hand rises ``retreat`` straight up, again through the executor.

"Move the X to the Y" succeeds when, once everything has settled, X stands within
``place_tolerance`` (4 cm) of its place (:func:`~vla_r1_ros.sim.sim_dataset.carry_place` of Y as
it stood), upright (tilted at most ``max_tilt_deg``), nothing else moved more than
``max_disturbance`` (1 cm), no arm link touched the table, all within ``max_sim_time``.

:class:`CarryOracle` answers both questions from the frame's truth (the box, and the path the
training data teaches), so the runner itself can be checked without a model.
"""

from __future__ import annotations

import enum
import itertools
import math
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vla_r1_ros.core.answer_lifting import lift_answers
from vla_r1_ros.core.execution.executor import ExecuteRequest, Outcome, execute_waypoints
from vla_r1_ros.core.execution.types import Poses
from vla_r1_ros.core.geometry.transforms import matrix_from_quaternion, quaternion_from_rows
from vla_r1_ros.core.metrics import box_iou_giou, trajectory_metrics
from vla_r1_ros.core.protocol import ParsedOutput, Task, Trajectory2D, format_answer
from vla_r1_ros.model.backends import Backend, Completion, Completions, Question
from vla_r1_ros.sim.panda import PandaWorld
from vla_r1_ros.sim.pick import (
    EpisodeRecord,
    PickFailure,
    PickSettings,
    Predictor,
    _Episode,
    _execution_failure,
    _lift_failure,
    _NoOperator,
)
from vla_r1_ros.sim.pick_scenes import PickScene, sample_pick_scene
from vla_r1_ros.sim.scene import RenderedScene, depth_scene
from vla_r1_ros.sim.sim_backend import SimMotionBackend
from vla_r1_ros.sim.sim_dataset import carry_answer, carry_place, frame_carry, plan_carry

__all__ = [
    "CarryFailure",
    "CarrySettings",
    "CarryRecord",
    "CarryOracle",
    "carry_scene",
    "carry_seeds",
    "carry_instruction",
    "run_carry_episode",
    "run_carry_episodes",
    "summarise_carries",
    "carry_strip",
    "run_carry_benchmark",
]


class CarryFailure(str, enum.Enum):
    """Why a carry failed after the grasp (the grasp's own failures are :class:`PickFailure`'s)."""

    PATH_UNUSABLE = "path_unusable"  # the trajectory answer did not parse
    CARRY_REFUSED = "carry_refused"  # the carry path failed the safety filter, planning or a plan check
    DROPPED = "dropped"  # the object left the hand before it was put down
    PLACED_OFF = "placed_off"  # the object came to rest too far from its place
    TIPPED = "tipped"  # the object does not stand upright


def carry_instruction(mover: str, reference: str) -> str:
    return f"move the {mover} to the {reference}"


def carry_scene(seed: int) -> tuple[PickScene, int, int] | None:
    """The scene of ``seed`` (2-3 objects, :func:`sample_pick_scene`) and which object to carry to
    which, drawn among the pairs whose place is free; None when no pair has one."""
    scene = sample_pick_scene(seed, 2, 3)
    pairs = [(i, j) for i in range(len(scene.objects)) for j in range(len(scene.objects)) if i != j]
    random.Random(f"carry:{seed}").shuffle(pairs)
    objects = [(obj.name, obj.xy) for obj in scene.objects]
    for mover, reference in pairs:
        if plan_carry(objects, mover, reference) is not None:
            names = scene.objects[mover].name, scene.objects[reference].name
            return PickScene(seed, scene.objects, mover, carry_instruction(*names)), mover, reference
    return None


def carry_seeds(start: int, count: int) -> list[int]:
    """The first ``count`` seeds from ``start`` on whose scene has a carry (about 19 in 20 do)."""
    seeds: list[int] = []
    seed = start
    while len(seeds) < count:
        if carry_scene(seed) is not None:
            seeds.append(seed)
        seed += 1
    return seeds


@dataclass(frozen=True)
class CarrySettings:
    """How a carry runs and is judged (metres, degrees, simulated seconds). The grasp, the executor and
    the disturbance limit are the pick's (``pick``); the carry height is its ``lift_height``."""

    pick: PickSettings = field(default_factory=PickSettings)
    place_tolerance: float = 0.04
    max_tilt_deg: float = 10.0
    release_height: float = 0.005  # the hand stops this far above where the object was grasped
    waypoint_spacing: float = 0.01
    retreat: float = 0.10
    settle_time: float = 0.5
    max_sim_time: float = 90.0


@dataclass
class CarryRecord(EpisodeRecord):
    """A carry episode: the pick's record plus where the object ended."""

    reference: str = ""
    path_avg: float | None = None  # the answered path against the true one, Avg on [0, 1000)
    place_error: float | None = None  # horizontal distance of the object from its place (m)
    tilt_deg: float | None = None


class CarryOracle(Backend):
    """Answers from the world's latest frame: the true box of the named object, and the true carry path."""

    name = "oracle"
    model_id = "oracle"

    def __init__(self, world: PandaWorld) -> None:
        self.world = world

    def complete(self, question: Question) -> Completions:
        frame = self.world.last_frame
        if frame is None:
            raise RuntimeError("the oracle answers about the world's latest frame: render it first")
        return Completions(tuple(Completion(self._answer(frame, question.instruction, t)) for t in question.tasks))

    @staticmethod
    def _answer(frame: RenderedScene, instruction: str, task: Task) -> str:
        named = sorted((instruction.find(o.name), o.name) for o in frame.objects if o.name in instruction)
        if task is Task.AFFORDANCE and len(named) == 1:
            box = frame.object(named[0][1]).box_2d
            return "" if box is None else format_answer(box, "the oracle knows where it is")
        if task is Task.TRAJECTORY and len(named) == 2:
            plan = frame_carry(frame, named[0][1], named[1][1])
            return "" if plan is None else format_answer(carry_answer(frame, plan)[0], "the oracle knows the way")
        return ""


def _ask(predictor: Predictor, frame: RenderedScene, instruction: str, task: Task) -> ParsedOutput:
    return predictor.predict(frame.rgb, instruction, task).prediction(task).parsed


def _on_plane(frame: RenderedScene, trajectory: Trajectory2D, height: float) -> np.ndarray:
    """Where the camera rays of the normalised points meet the plane z = ``height`` (n, 2)."""
    k = frame.intrinsics
    out = []
    for x, y in trajectory.points:
        origin, direction = frame.camera_ray(x * k.width - 0.5, y * k.height - 0.5)
        t = (height - origin[2]) / direction[2]
        out.append((origin + t * direction)[:2])
    return np.asarray(out)


def _polyline(points: np.ndarray, spacing: float) -> np.ndarray:
    """``points`` (n, 3) with points inserted so that no step is longer than ``spacing``."""
    rows = [points[0]]
    for a, b in itertools.pairwise(points):
        steps = max(1, math.ceil(float(np.linalg.norm(b - a)) / spacing))
        rows.extend(a + (b - a) * (k / steps) for k in range(1, steps + 1))
    return np.asarray(rows)


def run_carry_episode(
    world: PandaWorld,
    backend: SimMotionBackend,
    predictor: Predictor,
    seed: int,
    settings: CarrySettings | None = None,
    on_phase: Callable[[str], None] | None = None,
) -> CarryRecord:
    """Run the carry of ``seed`` (a seed of :func:`carry_seeds`) and say how it went.

    The stages: see the scene and answer both questions about one frame; grasp as a pick does;
    carry along the answered path at the carry height and down to the table; release, rise,
    settle and judge. A stage that fails ends the episode with its failure. ``on_phase`` hears
    "stage/phase" as the executor reaches each phase of a stage (e.g. "grasp/lifting",
    "carry/executing"), and "release" just before the hand opens (a demo takes pictures there).
    """
    settings = settings or CarrySettings()
    found = carry_scene(seed)
    if found is None:
        raise ValueError(f"seed {seed} has no carry (take seeds from carry_seeds)")
    scene, mover, reference = found
    episode = _Episode(world, backend, settings.pick)
    wall0 = time.perf_counter()
    world.reset(seed, scene)
    names = scene.objects[mover].name, scene.objects[reference].name
    record = CarryRecord(seed, scene.instruction, names[0], len(scene.objects), reference=names[1])
    episode.record = record
    record.timings["reset"] = time.perf_counter() - wall0
    initial = world.object_poses()
    place: np.ndarray = np.array(carry_place(tuple(initial[names[1]][:2, 3])), dtype=float)

    frame, box, path, captured = _see_and_answer(episode, record, predictor, scene.instruction, names)
    if not path.ok or path.trajectory is None:
        return _failed(episode, CarryFailure.PATH_UNUSABLE, path.error or path.status.value)
    grasped = _grasp(episode, record, frame, box, captured, names[0], on_phase)
    if isinstance(grasped, CarryRecord):
        return grasped
    carry = _carry_poses(world, settings, frame, path.trajectory, grasped)
    failed = _carry(episode, record, settings, carry, names[0], on_phase) or _release(
        episode, record, settings, carry.orientations[-1], on_phase
    )
    return failed or _judge(episode, settings, names, initial, place)


def _see_and_answer(
    episode: _Episode, record: CarryRecord, predictor: Predictor, instruction: str, names: tuple[str, str]
) -> tuple[Any, ParsedOutput, ParsedOutput, float]:
    """Render a frame and ask both questions about it: (frame, box answer, path answer, capture time).

    The record gets the box's IoU with the seen object and the path's Avg against the true carry.
    """
    world = episode.world
    with episode.stage("render"):
        frame = world.render()
    captured = time.monotonic()
    with episode.stage("predict"):
        box = _ask(predictor, frame, f"pick up the {names[0]}", Task.AFFORDANCE)
        path = _ask(predictor, frame, instruction, Task.TRAJECTORY)
    seen = frame.object(names[0]).box_2d
    if box.box is not None and seen is not None:
        record.box_iou = float(box_iou_giou([box.box.corners()], [seen.corners()])[0][0])
    truth = frame_carry(frame, *names)
    if path.trajectory is not None and truth is not None:
        record.path_avg = trajectory_metrics(path.trajectory.points, carry_answer(frame, truth)[0].points).avg
    return frame, box, path, captured


@dataclass(frozen=True)
class _Grasped:
    """Where the grasp left the hand: its orientation, the TCP at the grasp and the object's top."""

    orientation: np.ndarray
    at: np.ndarray
    top: float


def _grasp(
    episode: _Episode,
    record: CarryRecord,
    frame: Any,
    box: ParsedOutput,
    captured: float,
    mover: str,
    on_phase: Callable[[str], None] | None,
) -> _Grasped | CarryRecord:
    """Lift the box answer and grasp the object as a pick does; the grasp, or the failed record."""
    world, backend, settings = episode.world, episode.backend, episode.settings
    with episode.stage("lift"):
        outcome = lift_answers({Task.AFFORDANCE: box}, depth_scene(frame), settings.lift)[0]
    if not outcome.ok or outcome.path is None or outcome.target is None:
        return _failed(episode, *_lift_failure(outcome))
    grasp = ExecuteRequest(
        Poses(outcome.path.positions, outcome.path.orientations),
        grasp_at_end=True,
        prediction_age=time.monotonic() - captured,
    )
    report = execute_waypoints(
        grasp, backend, backend.joint_limits, world.arm_positions(), settings.executor, _hooks("grasp", on_phase)
    )
    _add_timings(record, report.timings, "")  # the grasp's stages keep the pick's names
    record.closed_at = report.gripper_position
    if report.outcome is not Outcome.SUCCEEDED:
        return _failed(episode, *_execution_failure(report, world))
    if mover not in world.held_objects():
        missed = record.closed_at is not None and record.closed_at <= 0.002
        why = PickFailure.GRASP_MISSED if missed else PickFailure.GRASP_SLIPPED
        return _failed(episode, why, f"the {mover} is not in the hand after the grasp")
    assert report.waypoints is not None
    at = np.asarray(report.plan.tcp_positions[-1] if report.plan is not None else grasp.waypoints.positions[-1])
    top = float(outcome.target.position[2]) + settings.lift.lifting.grasp_depth
    return _Grasped(np.asarray(report.waypoints.orientations[-1]), at, top)


def _carry_poses(
    world: PandaWorld, settings: CarrySettings, frame: Any, trajectory: Trajectory2D, grasped: _Grasped
) -> Poses:
    """The answered path at the carry height, then down to the release height, densified."""
    carry_z = grasped.at[2] + settings.pick.executor.lift_height
    points = _on_plane(frame, trajectory, grasped.top)
    route = [world.tcp_pose()[:3, 3]] + [np.array([x, y, carry_z]) for x, y in points[1:]]
    route.append(np.array([*points[-1], grasped.at[2] + settings.release_height]))
    positions = _polyline(np.asarray(route), settings.waypoint_spacing)
    return Poses(positions, _following_azimuth(positions, grasped.orientation))


def _carry(
    episode: _Episode,
    record: CarryRecord,
    settings: CarrySettings,
    carry: Poses,
    mover: str,
    on_phase: Callable[[str], None] | None,
) -> CarryRecord | None:
    """Move the held object along ``carry`` (None when it got there, still held)."""
    world = episode.world
    carried = _execute(world, episode.backend, settings, carry, record, "carry", on_phase)
    if carried is not None:
        return carried
    if mover not in world.held_objects():
        return _failed(episode, CarryFailure.DROPPED, f"the {mover} left the hand during the carry")
    return None


def _release(
    episode: _Episode,
    record: CarryRecord,
    settings: CarrySettings,
    orientation: np.ndarray,
    on_phase: Callable[[str], None] | None,
) -> CarryRecord | None:
    """Open the hand, rise by ``retreat`` and let everything settle (None when that went to plan)."""
    world, backend, executor = episode.world, episode.backend, settings.pick.executor
    if on_phase is not None:
        on_phase("release")
    with episode.stage("release"):
        backend.gripper(executor.gripper_open, executor.gripper_max_effort)
    hand = world.tcp_pose()[:3, 3]
    up = _polyline(np.array([hand, hand + np.array([0.0, 0.0, settings.retreat])]), settings.waypoint_spacing)
    level = np.repeat(np.asarray(orientation)[None, :], len(up), axis=0)
    retreated = _execute(world, backend, settings, Poses(up, level), record, "retreat", on_phase)
    if retreated is not None:
        return retreated
    with episode.stage("settle"):
        world.step(max(1, round(settings.settle_time / world.settings.time_step)))
    return None


def _following_azimuth(positions: np.ndarray, orientation: np.ndarray) -> np.ndarray:
    """The hand orientation at each position: ``orientation`` at the first, turned about the vertical
    by how far the position's bearing from the robot base has turned since.

    Why: the Panda follows a bearing with its first joint, so a hand that keeps its yaw relative to
    the bearing keeps its wrist (joint 7) where it was; a hand held at one world yaw along a long
    carry runs the wrist into its limit. The object only has to stay upright, so its yaw may turn.
    """
    bearings = np.unwrap(np.arctan2(positions[:, 1], positions[:, 0]))
    start = matrix_from_quaternion(np.asarray(orientation, dtype=float))
    out = []
    for turn in bearings - bearings[0]:
        c, s = math.cos(turn), math.sin(turn)
        about_z = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
        out.append(quaternion_from_rows((about_z @ start).tolist()))
    return np.reshape(out, (-1, 4))


def _add_timings(record: CarryRecord, timings: dict[str, float], prefix: str) -> None:
    for stage, seconds in timings.items():
        if stage != "total":
            record.timings[f"{prefix}_{stage}" if prefix else stage] = seconds


def _failed(episode: _Episode, failure: CarryFailure | PickFailure, detail: str) -> CarryRecord:
    """End the episode as failed (a carry's own failure, or one a pick shares)."""
    record = episode.record
    assert isinstance(record, CarryRecord)
    record.failure, record.detail = failure.value, detail
    episode.finish()
    return record


def _hooks(stage: str, on_phase: Callable[[str], None] | None) -> _NoOperator:
    """Unattended executor hooks that pass each phase on as "stage/phase"."""
    return _NoOperator(None if on_phase is None else lambda name: on_phase(f"{stage}/{name}"))


def _execute(
    world: PandaWorld,
    backend: SimMotionBackend,
    settings: CarrySettings,
    waypoints: Poses,
    record: CarryRecord,
    stage: str,
    on_phase: Callable[[str], None] | None = None,
) -> CarryRecord | None:
    """Move the hand through ``waypoints`` with the executor; a failed record, or None when it went."""
    request = ExecuteRequest(waypoints)
    report = execute_waypoints(
        request, backend, backend.joint_limits, world.arm_positions(), settings.pick.executor, _hooks(stage, on_phase)
    )
    _add_timings(record, report.timings, stage)
    if report.outcome is Outcome.SUCCEEDED:
        return None
    failure, detail = _execution_failure(report, world)
    record.failure = failure.value if failure is PickFailure.TABLE_CONTACT else CarryFailure.CARRY_REFUSED.value
    record.detail = f"{stage}: {detail}"
    record.sim_time = world.time
    record.timings["total"] = sum(record.timings.values())
    return record


def _judge(
    episode: _Episode,
    settings: CarrySettings,
    names: tuple[str, str],
    initial: dict[str, np.ndarray],
    place: np.ndarray,
) -> CarryRecord:
    world, record = episode.world, episode.record
    assert isinstance(record, CarryRecord)
    final = world.object_poses()
    moved = final[names[0]]
    record.place_error = float(np.linalg.norm(moved[:2, 3] - place))
    record.tilt_deg = math.degrees(math.acos(min(1.0, max(-1.0, float(moved[2, 2])))))
    shifts = {n: float(np.linalg.norm(final[n][:3, 3] - initial[n][:3, 3])) for n in final if n != names[0]}
    record.max_other_shift = max(shifts.values(), default=0.0)
    record.held = tuple(sorted(world.held_objects()))
    if world.table_contacts:
        touched = sorted(world.table_contacts)
        return _failed(episode, PickFailure.TABLE_CONTACT, f"arm links touched the table: {touched}")
    if record.tilt_deg > settings.max_tilt_deg:
        return _failed(episode, CarryFailure.TIPPED, f"the {names[0]} is tilted {record.tilt_deg:.0f} degrees")
    if record.place_error > settings.place_tolerance:
        return _failed(
            episode, CarryFailure.PLACED_OFF, f"the {names[0]} rests {100 * record.place_error:.1f} cm from its place"
        )
    disturbed = {n: s for n, s in shifts.items() if s > settings.pick.max_disturbance}
    if disturbed:
        shown = ", ".join(f"{n} {100 * s:.1f} cm" for n, s in disturbed.items())
        return _failed(episode, PickFailure.OTHERS_DISTURBED, f"other objects moved: {shown}")
    if world.time > settings.max_sim_time:
        return _failed(episode, PickFailure.TIMEOUT, f"{world.time:.1f} s of simulated time")
    record.success = True
    episode.finish()
    return record


def run_carry_episodes(
    world: PandaWorld,
    predictor_for: Callable[[PandaWorld], Predictor],
    seeds: Iterable[int],
    settings: CarrySettings | None = None,
    progress: Callable[[int, EpisodeRecord], None] | None = None,
) -> list[CarryRecord]:
    """One carry episode per seed, in order; ``progress(i, record)`` after each."""
    from vla_r1_ros.sim.evaluation import run_episodes

    return run_episodes(world, predictor_for, seeds, settings, progress, episode=run_carry_episode)


def summarise_carries(records: list[CarryRecord], predictor: str, seed: int) -> dict[str, Any]:
    """The pick summary (success rate and interval, failures, latencies) plus the carry's own medians."""
    from vla_r1_ros.sim.evaluation import summarise

    summary = summarise(list(records), predictor, "carry", seed)
    for key in ("path_avg", "place_error", "tilt_deg"):
        values = [getattr(r, key) for r in records if getattr(r, key) is not None]
        summary[f"median_{key}"] = float(np.median(values)) if values else None
    summary["seeds"] = [r.seed for r in records]
    return summary


def carry_strip(world: PandaWorld, predictor: Predictor, records: list[CarryRecord], count: int = 4) -> np.ndarray:
    """A row of camera frames (BGR) of the first ``count`` carries: the answered box and path, and the outcome."""
    from vla_r1_ros.core.overlay import outcome_tile

    tiles = []
    for record in records[:count]:
        found = carry_scene(record.seed)
        assert found is not None
        world.reset(record.seed, found[0])
        frame = world.render()
        box = _ask(predictor, frame, f"pick up the {record.target}", Task.AFFORDANCE)
        path = _ask(predictor, frame, record.instruction, Task.TRAJECTORY)
        failure = None if record.success else record.failure
        answers = [("affordance", box), ("trajectory", path)]
        tiles.append(outcome_tile(frame.rgb, answers, record.instruction, record.seed, failure))
    return np.hstack(tiles) if tiles else np.zeros((1, 1, 3), np.uint8)


def run_carry_benchmark(
    predictor_for: Callable[[PandaWorld], Predictor],
    predictor: str,
    seed: int,
    scenes: int,
    out: Any,
    progress: Callable[[int, EpisodeRecord], None] | None = None,
) -> dict[str, Any]:
    """``scenes`` carries from the seeds of :func:`carry_seeds` from ``seed`` on; writes ``out/summary.json``,
    ``out/episodes.jsonl`` and ``out/episodes.png`` as ``vla-r1 sim-eval`` does, and returns the summary."""
    from pathlib import Path

    from vla_r1_ros.sim.evaluation import write_outputs

    started = time.perf_counter()
    with PandaWorld() as world:
        records = run_carry_episodes(world, predictor_for, carry_seeds(seed, scenes), progress=progress)
        summary = summarise_carries(records, predictor, seed)
        summary["wall_s"] = round(time.perf_counter() - started, 1)
        strip = carry_strip(world, predictor_for(world), records)
    write_outputs(Path(out), summary, list(records), strip)
    return summary
