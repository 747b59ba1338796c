"""Playing joint trajectories and gripper commands on the simulated Panda, as ros2_control would.

Trajectories are followed like a joint_trajectory_controller with linear interpolation: at every
physics step the arm is commanded the interpolated position and the segment's velocity; a first
point later than time 0 is reached from the current state, as the controller does. After the last
point the controller waits up to ``goal_time`` for the joints to settle within
``goal_tolerance``; a tracking error above ``path_tolerance`` aborts. Cancelling holds the
position the arm has reached (the controller's hold on cancel), which stops it within a few
tens of milliseconds of simulated time.

The gripper behaves like a GripperActionController: the fingers move to the goal with at most
``max_effort`` and the result says whether they reached it or stalled (stopped on something).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from vla_r1_ros.core.execution.types import ExecutionOutcome, ExecutionResult, GripperResult
from vla_r1_ros.sim.pacing import RealtimePacer
from vla_r1_ros.sim.panda import PandaWorld

__all__ = ["ControllerSettings", "follow_trajectory", "halt", "move_gripper"]


@dataclass(frozen=True)
class ControllerSettings:
    """Tolerances in rad (arm) and m (fingers), times in simulated seconds. ``realtime`` paces the
    simulation to the wall clock (for a live view); otherwise it runs as fast as it can."""

    goal_tolerance: float = 0.01
    goal_time: float = 0.5
    path_tolerance: float = 0.2
    stopped_velocity: float = 0.01  # rad/s: below this on every joint the arm counts as halted
    max_halt_time: float = 0.5
    gripper_goal_tolerance: float = 0.001
    gripper_stall_velocity: float = 0.001  # m/s
    gripper_stall_time: float = 0.1
    gripper_timeout: float = 3.0
    realtime: bool = False


def _pacer(settings: ControllerSettings, pacer: RealtimePacer | None) -> RealtimePacer:
    """The caller's pacer (a live simulation shares one), or a new one as ``settings.realtime`` says."""
    return pacer if pacer is not None else RealtimePacer(enabled=settings.realtime)


def _step(world: PandaWorld, pacer: RealtimePacer) -> None:
    pacer.before_step(world.time, world.time + world.settings.time_step)
    world.step()


def _interpolate(times: np.ndarray, positions: np.ndarray, t: float) -> tuple[np.ndarray, np.ndarray]:
    """Position and velocity of the piecewise-linear trajectory at time ``t`` (clamped to its ends)."""
    if t >= times[-1]:
        return positions[-1], np.zeros(positions.shape[1])
    k = max(0, int(np.searchsorted(times, t, side="right")) - 1)
    dt = times[k + 1] - times[k]
    velocity = (positions[k + 1] - positions[k]) / dt
    return positions[k] + velocity * (t - times[k]), velocity


def halt(
    world: PandaWorld, settings: ControllerSettings = ControllerSettings(), pacer: RealtimePacer | None = None
) -> float:
    """Hold the arm where it is now; step until it is still (at most ``max_halt_time``). Returns the sim time taken."""
    start = world.time
    world.command_arm(world.arm_positions())
    pacer = _pacer(settings, pacer)
    while world.time - start < settings.max_halt_time:
        _step(world, pacer)
        if np.all(np.abs(world.joint_state().velocity[:7]) < settings.stopped_velocity):
            break
    return world.time - start


def follow_trajectory(
    world: PandaWorld,
    times: ArrayLike,
    positions: ArrayLike,
    should_stop: Callable[[], bool] | None = None,
    settings: ControllerSettings = ControllerSettings(),
    pacer: RealtimePacer | None = None,
) -> ExecutionResult:
    """Play a trajectory (times (N,) from start, positions (N, 7)) on the arm; blocks until it ends."""
    t_points = np.asarray(times, dtype=float)
    q_points = np.asarray(positions, dtype=float)
    if q_points.ndim != 2 or q_points.shape[1] != 7 or t_points.shape != (len(q_points),) or len(t_points) == 0:
        raise ValueError("a trajectory needs times (N,) and positions (N, 7), N >= 1")
    if np.any(np.diff(t_points) <= 0.0) or t_points[0] < 0.0 or not np.all(np.isfinite(q_points)):
        raise ValueError("trajectory times must be >= 0 and increase strictly; positions must be finite")
    if t_points[0] > 0.0:  # the controller starts from where the arm is
        t_points = np.r_[0.0, t_points]
        q_points = np.vstack([world.arm_positions(), q_points])
    start, pacer = world.time, _pacer(settings, pacer)
    end = float(t_points[-1])
    while True:
        elapsed = world.time - start
        if should_stop is not None and should_stop():
            halted = halt(world, settings, pacer)
            return ExecutionResult(
                ExecutionOutcome.CANCELED,
                f"cancelled after {elapsed:.3f} s; halted in {halted:.3f} s",
                world.time - start,
                world.arm_positions(),
            )
        target, velocity = _interpolate(t_points, q_points, elapsed)
        error = float(np.abs(world.arm_positions() - target).max())
        if error > settings.path_tolerance > 0.0:
            halt(world, settings, pacer)
            return ExecutionResult(
                ExecutionOutcome.ABORTED,
                f"tracking error {error:.3f} rad above the path tolerance {settings.path_tolerance} at {elapsed:.3f} s",
                world.time - start,
                world.arm_positions(),
            )
        if elapsed >= end:
            if error <= settings.goal_tolerance:
                return ExecutionResult(
                    ExecutionOutcome.SUCCEEDED, "goal reached", world.time - start, world.arm_positions()
                )
            if elapsed >= end + settings.goal_time:
                return ExecutionResult(
                    ExecutionOutcome.ABORTED,
                    f"goal not reached within {settings.goal_time} s of the end: error {error:.4f} rad",
                    world.time - start,
                    world.arm_positions(),
                )
        world.command_arm(target, velocity)
        _step(world, pacer)


def move_gripper(
    world: PandaWorld,
    position: float,
    max_effort: float,
    settings: ControllerSettings = ControllerSettings(),
    pacer: RealtimePacer | None = None,
) -> GripperResult:
    """Close or open the fingers to ``position`` (each finger, 0-0.04 m) with at most ``max_effort`` N."""
    if not (math.isfinite(position) and 0.0 <= position <= 0.04):
        raise ValueError(f"gripper position must be in [0, 0.04] m, got {position}")
    if not (math.isfinite(max_effort) and max_effort > 0.0):
        raise ValueError(f"gripper max_effort must be > 0 N, got {max_effort}")
    world.command_fingers(position, max_effort)
    start, still_since = world.time, world.time
    pacer = _pacer(settings, pacer)
    while True:
        _step(world, pacer)
        state = world.joint_state()
        finger, speed = float(state.position[7]), float(np.abs(state.velocity[7:]).max())
        effort = float(np.abs(state.effort[7:]).max())
        if abs(finger - position) <= settings.gripper_goal_tolerance:
            return GripperResult(finger, effort, stalled=False, reached_goal=True)
        if speed > settings.gripper_stall_velocity:
            still_since = world.time
        elif world.time - still_since >= settings.gripper_stall_time:
            return GripperResult(finger, effort, stalled=True, reached_goal=False)
        if world.time - start >= settings.gripper_timeout:
            return GripperResult(finger, effort, stalled=False, reached_goal=False)
