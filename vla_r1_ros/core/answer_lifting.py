"""From parsed VLA-R1 answers on one RGB-D frame to checked 3-D targets and waypoints.

The ROS node converts messages to the inputs here and the outcomes back to messages; every
decision (what to lift, how an affordance becomes an approach path, when to refuse) lives in this
pure function, so it is tested without ROS.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vla_r1_ros.core.geometry import (
    BoxLiftSettings,
    DepthScene,
    SafetyLimits,
    SafetyResult,
    Target3D,
    TrajectorySettings,
    WaypointPath,
    check_waypoints,
    lift_box,
    lift_trajectory,
    resample_polyline,
)
from vla_r1_ros.core.protocol import ParsedOutput, Task

__all__ = ["LiftSettings", "TaskOutcome", "lift_answers", "approach_path"]


@dataclass(frozen=True)
class LiftSettings:
    """``limits`` None skips the safety filter (only for answers not in a robot's base frame)."""

    lifting: BoxLiftSettings = field(default_factory=BoxLiftSettings)
    trajectory: TrajectorySettings = field(default_factory=TrajectorySettings)
    limits: SafetyLimits | None = field(default_factory=SafetyLimits)


@dataclass(frozen=True, eq=False)
class TaskOutcome:
    """What became of one answer. ``error`` is empty exactly when the answer is usable."""

    task: Task
    parsed: ParsedOutput
    target: Target3D | None = None
    path: WaypointPath | None = None
    safety: SafetyResult | None = None
    depth_coverage: float = 0.0
    lift_status: str = ""
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready summary (metres, quaternions x y z w, in the scene's base frame)."""

        def listed(values: Any) -> list[float]:
            return [round(float(v), 6) for v in np.asarray(values, dtype=float).ravel()]

        report: dict[str, Any] = {
            "task": self.task.value,
            "ok": self.ok,
            "error": self.error,
            "lift_status": self.lift_status,
        }
        if self.target is not None:
            report["target"] = {
                "frame_id": self.target.frame_id,
                "position": listed(self.target.position),
                "normal": listed(self.target.normal),
                "extent": [None if np.isnan(v) else round(float(v), 6) for v in self.target.extent],
                "grasp_position": listed(self.target.grasp.position),
                "grasp_orientation": listed(self.target.grasp.orientation),
                "confidence": round(float(self.target.confidence), 3),
            }
        if self.path is not None:
            report["waypoints"] = [listed(p) for p in self.path.positions]
        if self.safety is not None:
            report["safety"] = self.safety.message()
        return report


def approach_path(target: Target3D, config: TrajectorySettings) -> WaypointPath:
    """Straight approach onto a grasp: from ``approach_height`` back along the approach axis."""
    grasp = np.asarray(target.grasp.position, dtype=float)
    start = grasp - config.approach_height * np.asarray(target.grasp.approach, dtype=float)
    positions = resample_polyline(np.stack([start, grasp]), config.spacing)
    orientations = np.tile(np.asarray(target.grasp.orientation, dtype=float), (len(positions), 1))
    return WaypointPath(
        positions=positions,
        orientations=orientations,
        frame_id=target.frame_id,
        approach_index=0,
        surface_heights=np.full(len(positions), np.nan),
        end_target=target,
        end_source="target",
        notes=("approach along the grasp axis",),
    )


def lift_answers(
    answers: dict[Task, ParsedOutput], scene: DepthScene | None, settings: LiftSettings
) -> list[TaskOutcome]:
    """Lift each usable answer; the trajectory ends at the affordance grasp when both were asked.

    ``scene`` None means 2-D only (no depth): answers are checked but not lifted.
    """
    outcomes: dict[Task, TaskOutcome] = {}
    for task in (Task.AFFORDANCE, Task.TRAJECTORY):
        if task not in answers:
            continue
        parsed = answers[task]
        if not parsed.ok:
            outcomes[task] = TaskOutcome(
                task, parsed, error=f"{task.value} answer unusable ({parsed.status.value}): {parsed.error}"
            )
            continue
        if scene is None:
            outcomes[task] = TaskOutcome(task, parsed, lift_status="not lifted: depth disabled")
            continue
        if task is Task.AFFORDANCE:
            outcomes[task] = _lift_affordance(parsed, scene, settings)
        else:
            affordance = outcomes.get(Task.AFFORDANCE)
            outcomes[task] = _lift_trajectory(parsed, scene, settings, affordance.target if affordance else None)
    return [outcomes[task] for task in (Task.AFFORDANCE, Task.TRAJECTORY) if task in outcomes]


def _checked(outcome: TaskOutcome, limits: SafetyLimits | None) -> TaskOutcome:
    assert outcome.path is not None
    if limits is None:
        return outcome
    safety = check_waypoints(np.asarray(outcome.path.positions), limits)
    error = "" if safety.accepted else f"waypoints refused by the safety filter: {safety.message()}"
    return TaskOutcome(
        outcome.task,
        outcome.parsed,
        outcome.target,
        outcome.path,
        safety,
        outcome.depth_coverage,
        outcome.lift_status,
        error,
    )


def _lift_affordance(parsed: ParsedOutput, scene: DepthScene, settings: LiftSettings) -> TaskOutcome:
    assert parsed.box is not None
    lifted = lift_box(parsed.box, scene, settings.lifting)
    if lifted.target is None:
        return TaskOutcome(
            Task.AFFORDANCE, parsed, lift_status=lifted.reason, error=f"cannot lift the box: {lifted.reason}"
        )
    target = lifted.target
    coverage = target.valid_points / max(1, target.sampled_points)
    outcome = TaskOutcome(
        Task.AFFORDANCE,
        parsed,
        target=target,
        path=approach_path(target, settings.trajectory),
        depth_coverage=coverage,
        lift_status=f"lifted, confidence {lifted.confidence:.2f}",
    )
    return _checked(outcome, settings.limits)


def _lift_trajectory(
    parsed: ParsedOutput, scene: DepthScene, settings: LiftSettings, target: Target3D | None
) -> TaskOutcome:
    assert parsed.trajectory is not None
    result = lift_trajectory(parsed.trajectory, scene, settings.trajectory, target=target, lifting=settings.lifting)
    if result.path is None:
        return TaskOutcome(
            Task.TRAJECTORY, parsed, lift_status=result.reason, error=f"cannot lift the trajectory: {result.reason}"
        )
    path = result.path
    outcome = TaskOutcome(
        Task.TRAJECTORY,
        parsed,
        target=path.end_target,
        path=path,
        lift_status=f"lifted, end point from {path.end_source}",
    )
    return _checked(outcome, settings.limits)
