"""Synthetic recorded runs for the comparison tests: a VLA run and a scripted teleoperator's run of a
Panda reaching task, written as rosbag2 bags with the package's own writer.

The VLA run thinks, plans, waits for approval (in vla+approval) and then moves in one joint-space
minimum-jerk motion; the teleop run follows the scripted operator's human-like tool path through
pybullet's IK and records the operator's velocity commands. Joint states come at ~100 Hz with
jittered stamps, as from a real publisher.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vla_r1_ros.core.runs.operator import OperatorSettings, minimum_jerk, scripted_reach
from vla_r1_ros.experiments.bag_writer import RunBagWriter
from vla_r1_ros.experiments.metadata import RunMetadata, write_metadata
from vla_r1_ros.sim.panda_kinematics import PandaKinematics
from vla_r1_ros.sim.panda_model import JOINT_NAMES, READY_POSITIONS, TCP_LINK

#: Tool targets (m, in panda_link0 with the table top at z = 0) of the study's tasks.
TARGETS = {"t1": (0.45, 0.15, 0.12), "t2": (0.50, -0.10, 0.10), "t3": (0.40, 0.05, 0.15)}
START_NS = 1_700_000_000.0  # recordings are stamped in wall-clock seconds
FINGERS = (0.04, 0.04)


def _jittered_times(duration: float, rate: float, rng: np.random.Generator) -> np.ndarray:
    count = int(duration * rate) + 1
    times = np.arange(count) / rate + rng.normal(scale=0.15 / rate, size=count)
    times[0], times[-1] = 0.0, duration
    return np.sort(times)


def _grasp_configuration(kinematics: PandaKinematics, target: tuple[float, float, float]) -> np.ndarray:
    ready = kinematics.fk(READY_POSITIONS, TCP_LINK)
    return kinematics.ik(target, ready.orientation, READY_POSITIONS, TCP_LINK)


def write_vla_run(
    bag: Path, task: str, condition: str = "vla", seed: int = 0, storage: str = "mcap", trial: int = 1
) -> RunMetadata:
    """A VLA run: model 1.5 s, checking + planning 0.4 s, approval wait 2 s (vla+approval), motion 3 s."""
    rng = np.random.default_rng(seed)
    with PandaKinematics() as kinematics:
        goal = _grasp_configuration(kinematics, TARGETS[task])
    approval = 2.0 if condition == "vla+approval" else 0.0
    t_model, t_check, t_plan = 0.5, 2.0, 2.1
    t_motion = t_plan + 0.3 + approval
    t_end = t_motion + 3.0
    with RunBagWriter(bag, storage=storage) as writer:
        times = _jittered_times(t_end + 0.5, 100.0, rng)
        for t in times:
            progress, _ = minimum_jerk((t - t_motion) / 3.0)
            q = np.asarray(READY_POSITIONS) + progress * (goal - np.asarray(READY_POSITIONS))
            writer.joint_state(START_NS + t, JOINT_NAMES, [*q, *FINGERS])
        goal_id = f"goal-{task}-{seed}"
        events = [(t_model, "run", "started"), (t_model, "model", "started"), (t_check, "model", "succeeded"),
                  (t_check, "checking", "started"), (t_plan, "planning", "started"),
                  (t_plan + 0.3, "planning", "succeeded")]  # fmt: skip
        if approval:
            events += [(t_plan + 0.3, "awaiting_approval", "started"), (t_motion, "awaiting_approval", "approved")]
        events += [(t_motion, "executing", "started"), (t_end, "executing", "succeeded"), (t_end, "run", "succeeded")]
        for stamp, phase, outcome in events:
            writer.event(START_NS + stamp, phase, outcome, goal_id=goal_id)
        writer.prediction(START_NS + t_check, instruction=f"reach {task}", task="trajectory", model_id="synthetic")
    metadata = RunMetadata(
        run_id=bag.name, task=task, instruction=f"reach {task}", scene_seed=seed, condition=condition,
        operator="P01" if condition == "vla+approval" else "", trial=trial, success=True,
    )  # fmt: skip
    write_metadata(bag, metadata)
    return metadata


def write_teleop_run(bag: Path, task: str, seed: int = 0, storage: str = "mcap", trial: int = 1) -> RunMetadata:
    """A teleoperator's run: the scripted operator's reach, followed through IK, with its twist commands."""
    rng = np.random.default_rng(seed + 1000)
    with PandaKinematics() as kinematics:
        start = kinematics.fk(READY_POSITIONS, TCP_LINK)
        motion = scripted_reach(start.position, TARGETS[task], seed=seed, settings=OperatorSettings(rate_hz=100.0))
        q = np.asarray(READY_POSITIONS, dtype=float)
        joints = []
        for position in motion.positions:
            q = kinematics.ik(position, start.orientation, q, TCP_LINK)
            joints.append(q)
    joints_arr = np.asarray(joints)
    with RunBagWriter(bag, storage=storage) as writer:
        times = _jittered_times(float(motion.times[-1]), 100.0, rng)
        for t in times:
            q_t = [np.interp(t, motion.times, joints_arr[:, j]) for j in range(7)]
            writer.joint_state(START_NS + t, JOINT_NAMES, [*q_t, *FINGERS])
        for t, velocity in zip(motion.times[::2], motion.velocities[::2]):  # the device at 50 Hz
            writer.twist(START_NS + t, velocity, frame_id="panda_link0")
    metadata = RunMetadata(
        run_id=bag.name, task=task, instruction=f"reach {task}", scene_seed=seed, condition="teleop",
        operator="P01", trial=trial, success=True,
    )  # fmt: skip
    write_metadata(bag, metadata)
    return metadata


def make_study(root: Path, storage: str = "mcap") -> list[RunMetadata]:
    """Three tasks, each run by the VLA and by the teleoperator; t1 also with approval."""
    root.mkdir(parents=True, exist_ok=True)
    runs = []
    for k, task in enumerate(TARGETS):
        runs.append(write_vla_run(root / f"{task}_vla", task, seed=k, storage=storage))
        runs.append(write_teleop_run(root / f"{task}_teleop", task, seed=k, storage=storage))
    runs.append(write_vla_run(root / "t1_vla_approval", "t1", condition="vla+approval", seed=9, storage=storage))
    return runs
