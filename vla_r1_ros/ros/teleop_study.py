"""The simulated teleop study: each scene picked by the VLA stack and by the scripted operator, recorded, compared.

    unshare -n bash -c 'ip link set lo up && python -m vla_r1_ros.ros.teleop_study \\
        --scenes 20 --seed 5000 --predictor oracle --bags training/runs/teleop_study --out docs/teleop_study'

One process runs the ROS 2 stack of ``demo.launch.py sim:=true record:=true`` through real rclpy:
``sim_arm`` (pybullet Panda, camera, controllers, the teleop servo), ``vla_r1_node``,
``vla_r1_executor`` (``sim`` backend, approval automatic, the launch file's scalings),
``vla_r1_recorder`` (one MCAP bag and sidecar per run) and the ``scripted_operator``. For every
scene seed, after a reset of the scene each time:

* condition ``vla`` (``vla-oracle`` with ``--predictor oracle``): ``VlaR1Commander.pick(instruction)``
  (reason, then execute the grasp and lift);
* condition ``teleop``: the scripted operator picks the same object through MoveIt Servo twists.

A run is recorded from the goal sent (or the operator's start) to the end of the lift; then the
pick is judged by ``vla-r1 sim-eval``'s rule (the object up at least 5 cm and between both
fingers for 1 s, nothing else moved more than 1 cm, no arm link on the table) and the verdict is
written into the run's sidecar. Finally ``vla-r1 compare-runs`` measures the bags into ``--out``
(report.md, summary.json, runs.csv, plots/) and ``--out/study.json`` records how the study ran
and every verdict.

``--predictor oracle`` answers with the scene's true box through the same node and executor (the
embedded model does not recognise the simulator's images yet); the sidecars' condition
``vla-oracle`` and study.json say so. ``--predictor embedded`` (or a model folder) runs the real
model: the same command, nothing else changes.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rclpy
from rclpy.context import Context
from rclpy.executors import MultiThreadedExecutor
from rclpy.parameter import Parameter
from std_srvs.srv import Trigger

from vla_r1_ros.ros.commander import OUTCOME_NAMES, VlaR1Commander
from vla_r1_ros.ros.executor_node import WaypointExecutorNode
from vla_r1_ros.ros.loopback import loopback_only_reason
from vla_r1_ros.ros.recorder import RecorderNode
from vla_r1_ros.ros.scripted_operator import OperatorError, ScriptedOperatorNode
from vla_r1_ros.ros.sim_arm import SimArmNode
from vla_r1_ros.ros.vla_r1_node import VlaR1Node
from vla_r1_ros.sim.panda import PandaWorld
from vla_r1_ros.sim.pick import EpisodeRecord, OracleBackend, PickSettings, _Episode, _hold, _judge

__all__ = ["Verdict", "StudyStack", "run_study", "portable_summary", "main"]

#: The pybullet Panda's tool centre point in panda_hand (demo.launch.py passes the same to the executor).
SIM_TCP_OFFSET = [0.0, 0.0, 0.105, 0.0, 0.0, 0.0, 1.0]
ORACLE_NOTE = (
    "VLA condition with the oracle predictor: the scene's true box of the named object through the same "
    "vla_r1_node, lifting, executor checks, planning and simulated arm (the embedded model does not recognise "
    "the simulator's images yet)"
)


@dataclass(frozen=True)
class Verdict:
    """One run: its bag, the pick's outcome by sim-eval's rule, and what the stack said."""

    run_id: str
    condition: str
    seed: int
    instruction: str
    success: bool
    failure: str
    detail: str
    stack_said: str
    wall_s: float


class StudyStack:
    """The nodes of ``demo.launch.py sim:=true record:=true`` in this process, spun by one executor."""

    def __init__(self, context: Any, predictor: str, bags: Path, camera_rate: float, device: str) -> None:
        def params(values: dict[str, Any]) -> list[Parameter]:
            return [Parameter(k, value=v) for k, v in values.items()]

        self.sim = SimArmNode(context=context, parameter_overrides=params({"camera_rate": camera_rate}))
        reasoning = {"target_frame": "panda_link0", "grasp_depth": 0.02, "approach_height": 0.1,
                     "max_frame_age": 1.5 / camera_rate, "device": device}  # fmt: skip
        backend = OracleBackend(self.sim.world) if predictor == "oracle" else None
        if backend is None:
            reasoning["model"] = predictor
        self.reasoning = VlaR1Node(backend=backend, context=context, parameter_overrides=params(reasoning))
        executor = {"backend": "sim", "dry_run": False, "require_approval": False, "tcp_offset": SIM_TCP_OFFSET}
        self.executor = WaypointExecutorNode(context=context, parameter_overrides=params(executor))
        recorder = {"output_folder": str(bags), "auto_runs": False, "writer": "rosbags", "preroll": 0.5}
        self.recorder = RecorderNode(context=context, parameter_overrides=params(recorder))
        self.operator = ScriptedOperatorNode(context=context)
        self.commander = VlaR1Commander(context=context)
        self._reset = self.commander.create_client(Trigger, "/sim_arm/reset")
        self._spinner = MultiThreadedExecutor(num_threads=6, context=context)
        for node in (self.sim, self.reasoning, self.executor, self.recorder, self.operator):
            self._spinner.add_node(node)
        self._thread = threading.Thread(target=self._spinner.spin, daemon=True)
        self._thread.start()

    def reset(self, seed: int) -> tuple[str, dict[str, np.ndarray]]:
        """A new scene from ``seed`` through sim_arm's ~/reset; its instruction and the objects' poses."""
        self.sim.set_parameters([Parameter("seed", value=seed)])
        if not self._reset.wait_for_service(timeout_sec=10.0):
            raise RuntimeError("sim_arm's ~/reset is not available")
        done = self._reset.call_async(Trigger.Request())
        if not self.commander.spin_until(done, 30.0) or not done.result().success:
            raise RuntimeError(f"resetting the scene to seed {seed} failed")
        time.sleep(1.0)  # joint states, tf and a camera frame of the new scene reach every node
        # Only sim_arm's physics thread may touch its world: reads and the hold go in as its jobs.
        poses: dict[str, np.ndarray] = self.sim._submit(lambda world: world.object_poses())
        return str(done.result().message), poses

    def judge(self, seed: int, initial: dict[str, np.ndarray]) -> EpisodeRecord:
        """sim-eval's verdict on the world as the run left it (held for 1 s on the physics thread)."""
        settings = PickSettings(max_sim_time=float("inf"))  # the run's duration is measured, not judged
        scene = self.sim.scene

        def verdict(world: PandaWorld) -> EpisodeRecord:
            episode = _Episode(world, None, settings)  # type: ignore[arg-type]  # judging needs no planner
            episode.record = EpisodeRecord(seed, scene.instruction, scene.target.name, len(scene.objects))
            episode.record.closed_at = float(world.joint_state().position[7])
            dropped = _hold(world, scene.target.name, initial[scene.target.name][2, 3], settings)
            return _judge(episode, scene, initial, dropped)

        record: EpisodeRecord = self.sim._submit(verdict)
        return record

    def close(self) -> None:
        self._spinner.shutdown(timeout_sec=5.0)
        self._thread.join(timeout=10.0)
        for node in (self.commander, self.operator, self.recorder, self.executor, self.reasoning, self.sim):
            node.destroy_node()


def _vla(stack: StudyStack, instruction: str) -> str:
    answer, outcome = stack.commander.pick(instruction, timeout_s=180.0)
    if outcome is None:
        return f"reason: {answer.message or 'no waypoints'}"
    return OUTCOME_NAMES.get(outcome.outcome, str(outcome.outcome)) + (f": {outcome.reason}" if outcome.reason else "")


def _teleop(stack: StudyStack, instruction: str, seed: int) -> str:
    try:
        report = stack.operator.pick(instruction, seed=seed)
    except OperatorError as err:
        return f"operator: {err}"
    twists = report.commands + report.steering
    return f"{len(report.aims)} reaches, {report.corrections} corrections, {twists} twists ({report.steering} steering)"


def run_scene(stack: StudyStack, seed: int, condition: str, notes: str) -> Verdict:
    """Reset to ``seed``, record one run of ``condition`` (vla, vla-oracle or teleop), judge it."""
    instruction, initial = stack.reset(seed)
    teleop = condition == "teleop"
    values = {"condition": condition, "task": f"seed{seed}", "instruction": instruction, "scene_seed": seed,
              "operator": "scripted operator" if teleop else "",
              "notes": "scripted operator (seeded)" if teleop else notes}  # fmt: skip
    stack.recorder.set_parameters([Parameter(k, value=v) for k, v in values.items()])
    started = time.monotonic()
    run = stack.recorder.begin(stack.recorder.now())
    said = _teleop(stack, instruction, seed) if teleop else _vla(stack, instruction)
    stack.recorder.finish(stack.recorder.now())
    wall = time.monotonic() - started
    record = stack.judge(seed, initial)
    stack.recorder.judge(record.success)
    return Verdict(
        run.metadata.run_id, condition, seed, instruction, record.success, record.failure, record.detail, said, wall
    )


@contextlib.contextmanager
def _context() -> Iterator[Any]:
    context = Context()
    rclpy.init(context=context)
    try:
        yield context
    finally:
        rclpy.shutdown(context=context)


def vla_condition(predictor: str) -> str:
    """The VLA runs' condition: ``vla-oracle`` when the scene's true box stands in for the model."""
    return "vla-oracle" if predictor == "oracle" else "vla"


def run_study(
    seeds: list[int], predictor: str, bags: Path, camera_rate: float = 1.0, device: str = "cpu"
) -> list[Verdict]:
    """Both conditions on every seed (VLA first), recorded into ``bags``; the verdicts in order."""
    notes = ORACLE_NOTE if predictor == "oracle" else f"VLA condition with the model {predictor}"
    vla = vla_condition(predictor)
    verdicts = []
    with _context() as context:
        stack = StudyStack(context, predictor, bags, camera_rate, device)
        try:
            for index, seed in enumerate(seeds):
                for condition in (vla, "teleop"):
                    verdicts.append(run_scene(stack, seed, condition, notes))
                    v = verdicts[-1]
                    outcome = "success" if v.success else f"{v.failure}: {v.detail}"
                    print(f"[{index + 1}/{len(seeds)}] seed {seed} {condition}: {outcome} ({v.wall_s:.1f} s; "
                          f"{v.stack_said})", file=sys.stderr, flush=True)  # fmt: skip
        finally:
            stack.close()
    return verdicts


def portable_summary(path: Path) -> None:
    """The default URDF's path in summary.json from pybullet_data on (not this machine's install folder)."""
    summary = json.loads(path.read_text(encoding="utf-8"))
    parts = Path(summary["settings"]["urdf"]).parts
    if "pybullet_data" in parts:
        summary["settings"]["urdf"] = "/".join(parts[parts.index("pybullet_data") :])
        path.write_text(json.dumps(summary, indent=2, allow_nan=False) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vla_r1_ros.ros.teleop_study", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--scenes", type=int, default=20, help="number of scenes (default 20)")
    parser.add_argument("--seed", type=int, default=5000, help="first scene seed; scene i uses seed + i")
    parser.add_argument("--predictor", default="oracle", help="oracle (the true box), embedded, or a model folder")
    parser.add_argument("--device", default="cpu", help="where a model runs (default cpu)")
    parser.add_argument("--camera-rate", type=float, default=1.0, help="simulated camera frames per second")
    parser.add_argument("--bags", required=True, help="folder for the run bags (created; must not hold runs yet)")
    parser.add_argument("--out", required=True, help="folder for the comparison report and study.json")
    args = parser.parse_args(argv)
    reason = loopback_only_reason()
    if reason is not None:
        print(f"teleop_study: {reason}", file=sys.stderr)
        return 2
    bags, out = Path(args.bags), Path(args.out)
    if bags.exists() and any(bags.iterdir()):
        print(f"teleop_study: {bags} already holds files; give an empty or new folder", file=sys.stderr)
        return 2
    seeds = list(range(args.seed, args.seed + args.scenes))
    started = time.monotonic()
    verdicts = run_study(seeds, args.predictor, bags, args.camera_rate, args.device)
    from vla_r1_ros.cli import main as vla_r1

    code = vla_r1(["compare-runs", str(bags), "--out", str(out)])
    portable_summary(out / "summary.json")
    study = {
        "command": "python -m vla_r1_ros.ros.teleop_study " + " ".join(sys.argv[1:] if argv is None else argv),
        "predictor": args.predictor,
        "vla_condition": vla_condition(args.predictor),
        "notes": ORACLE_NOTE if args.predictor == "oracle" else "",
        "seeds": seeds,
        "wall_s": round(time.monotonic() - started, 1),
        "success": {
            c: sum(v.success for v in verdicts if v.condition == c) for c in (vla_condition(args.predictor), "teleop")
        },
        "runs": [{**v.__dict__, "wall_s": round(v.wall_s, 2)} for v in verdicts],
    }
    (out / "study.json").write_text(json.dumps(study, indent=2) + "\n", encoding="utf-8")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
