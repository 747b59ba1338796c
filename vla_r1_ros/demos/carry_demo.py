"""A carry in the simulator, as pictures: the camera's view with both answers (the box of the object
and the path to beside the other), then the arm holding it, at its place, and the scene after it let go
(no ROS; the same episode code as ``vla-r1 sim-eval --task carry``).

    python -m vla_r1_ros.demos.carry_demo --predictor oracle --seed 5000 --out out/demo

``--seed`` is the first seed tried: seeds whose scene has no carry are skipped, as sim-eval does.
Writes ``OUT/carry_demo.png`` (the strip) and ``OUT/carry_demo.json`` (the episode record).
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from vla_r1_ros.demos.pick_demo import SIDE_VIEW, _fit, _label, run_demo
from vla_r1_ros.sim.carry import CarryOracle, carry_scene, carry_seeds, run_carry_episode
from vla_r1_ros.sim.panda import PandaWorld
from vla_r1_ros.sim.scene import look_at
from vla_r1_ros.sim.sim_backend import SimMotionBackend

__all__ = ["carry_pictures", "main"]

#: The moments pictured, by the episode's phase that marks them.
MOMENTS = {"grasp/lifting": "grasped", "release": "carried", "end": "let go"}


def _side_pose(start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """A camera in front of the table, above, looking at the middle of the carry."""
    middle = (start + end) / 2.0
    return look_at(middle + np.array([0.25, -0.55, 0.35]), middle + np.array([0.0, 0.0, 0.08]))


def carry_pictures(world: PandaWorld, predictor: Any, seed: int) -> tuple[np.ndarray, Any]:
    """Run the first carry from ``seed`` on (seeds whose scene has none are skipped, as sim-eval does);
    the picture strip (BGR) and the episode record."""
    from vla_r1_ros.core.overlay import draw_prediction
    from vla_r1_ros.core.protocol import Task
    from vla_r1_ros.sim.sim_dataset import carry_place

    seed = carry_seeds(seed, 1)[0]
    found = carry_scene(seed)
    if found is None:
        raise ValueError(f"seed {seed} has no carry")
    scene, mover, reference = found
    backend = SimMotionBackend(world)
    side: dict[str, np.ndarray] = {}
    view: list[np.ndarray] = []  # the side camera, fixed once the episode has reset the world

    def on_phase(name: str) -> None:
        if not view:
            start = world.object_pose(scene.objects[mover].name)[:3, 3]
            place = np.array([*carry_place(tuple(world.object_pose(scene.objects[reference].name)[:2, 3])), start[2]])
            view.append(_side_pose(start, place))
        if name in MOMENTS and MOMENTS[name] not in side:
            side[MOMENTS[name]] = world.snapshot(SIDE_VIEW, view[0])

    try:
        record = run_carry_episode(world, backend, predictor, seed, on_phase=on_phase)
    finally:
        backend.kinematics.close()
    if view:
        on_phase("end")
    # What the camera saw at the start, with both answers drawn on it.
    world.reset(seed, scene)
    frame = world.render()
    box = predictor.predict(frame.rgb, f"pick up the {record.target}", Task.AFFORDANCE).prediction(Task.AFFORDANCE)
    path = predictor.predict(frame.rgb, record.instruction, Task.TRAJECTORY).prediction(Task.TRAJECTORY)
    camera = draw_prediction(frame.rgb, [("affordance", box.parsed), ("trajectory", path.parsed)])
    verdict = "success" if record.success else record.failure
    tiles = [_label(camera, f"{record.instruction}: {verdict}")]
    tiles += [_label(side[name], name) for name in MOMENTS.values() if name in side]
    return np.hstack([_fit(tile, SIDE_VIEW.height) for tile in tiles]), record


def main(argv: list[str] | None = None) -> int:
    return run_demo(sys.modules[__name__], argv, carry_pictures, CarryOracle, seed=5000)


if __name__ == "__main__":
    sys.exit(main())
