"""A pick in the simulator, as pictures: what the camera saw and the answer, then the arm at approach,
grasp and lift seen from the side (no ROS; the same episode code as ``vla-r1 sim-eval``).

    python -m vla_r1_ros.demos.pick_demo --predictor oracle --seed 3 --out out/demo

Writes ``OUT/pick_demo.png`` (the strip) and ``OUT/pick_demo.json`` (the episode record).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from vla_r1_ros.sim.panda import PandaWorld
from vla_r1_ros.sim.pick import OracleBackend, run_pick_episode
from vla_r1_ros.sim.scene import Intrinsics, look_at
from vla_r1_ros.sim.sim_backend import SimMotionBackend

__all__ = ["pick_pictures", "predictor", "main"]

SIDE_VIEW = Intrinsics.from_vertical_fov(480, 480, 40.0)


def _side_pose(target: np.ndarray) -> np.ndarray:
    """A camera beside the table looking at where the named object stood, from 0.5 m (front-left, above)."""
    return look_at(target + np.array([0.15, -0.45, 0.25]), target + np.array([0.0, 0.0, 0.1]))


def _label(image: np.ndarray, text: str) -> np.ndarray:
    import cv2

    out = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR)
    cv2.putText(out, text, (10, 28), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 255, 255), 3, cv2.LINE_AA)
    cv2.putText(out, text, (10, 28), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (30, 30, 30), 1, cv2.LINE_AA)
    return out


def _fit(image: np.ndarray, height: int) -> np.ndarray:
    import cv2

    scale = height / image.shape[0]
    return cv2.resize(image, (round(image.shape[1] * scale), height))


def predictor(name: str, world: PandaWorld, oracle: Any) -> Any:
    """The demo's predictor: ``oracle(world)`` for "oracle", else the model ``name`` on the CPU."""
    if name == "oracle":
        return oracle(world)
    from vla_r1_ros.model.backends import make_backend

    return make_backend(name, device="cpu")


def pick_pictures(world: PandaWorld, predictor: Any, seed: int) -> tuple[np.ndarray, Any]:
    """Run the episode of ``seed``; the picture strip (BGR) and the episode record."""
    from vla_r1_ros.core.overlay import draw_prediction
    from vla_r1_ros.core.protocol import Task

    backend = SimMotionBackend(world)
    side: dict[str, np.ndarray] = {}
    grippers = [0]
    where: list[np.ndarray] = []  # the target's place, fixed once the episode has reset the world

    def on_phase(name: str) -> None:
        # The hand opens, moves down, closes (the approach is done), lifts (the grasp is done).
        if not where:
            assert world.scene is not None
            where.append(world.object_pose(world.scene.target.name)[:3, 3].copy())
        if name == "gripper":
            grippers[0] += 1
            if grippers[0] == 2:
                side["approach"] = world.snapshot(SIDE_VIEW, _side_pose(where[0]))
        elif name == "lifting":
            side["grasp"] = world.snapshot(SIDE_VIEW, _side_pose(where[0]))

    try:
        record = run_pick_episode(world, backend, predictor, seed, on_phase=on_phase)
    finally:
        backend.kinematics.close()
    if where:
        side["lift"] = world.snapshot(SIDE_VIEW, _side_pose(where[0]))
    # What the camera saw at the start, with the answer drawn on it.
    world.reset(seed)
    frame = world.render()
    parsed = predictor.predict(frame.rgb, record.instruction, Task.AFFORDANCE).prediction(Task.AFFORDANCE).parsed
    camera = draw_prediction(frame.rgb, [("affordance", parsed)])
    verdict = "success" if record.success else record.failure
    tiles = [_label(camera, f"{record.instruction}: {verdict}")]
    tiles += [_label(side[name], name) for name in ("approach", "grasp", "lift") if name in side]
    height = SIDE_VIEW.height
    return np.hstack([_fit(tile, height) for tile in tiles]), record


def run_demo(
    module: Any, argv: list[str] | None, pictures: Callable[..., tuple[np.ndarray, Any]], oracle: Any, seed: int
) -> int:
    """A simulator demo's command (``module``: the demo's module, for its name and help): its options,
    one episode with pictures, ``<name>.png`` and ``<name>.json`` written, a JSON line printed; exit 0
    when the episode succeeded."""
    qualified = module.__spec__.name  # under ``python -m`` the module's __name__ is "__main__"
    name = qualified.rsplit(".", 1)[-1]
    parser = argparse.ArgumentParser(prog=f"python -m {qualified}", description=module.__doc__.splitlines()[0])
    parser.add_argument("--predictor", default="oracle", help="oracle (the truth), embedded, or a model folder")
    parser.add_argument("--seed", type=int, default=seed, help=f"scene seed (default {seed})")
    parser.add_argument("--out", default="out/demo", help="output folder (default out/demo)")
    args = parser.parse_args(argv)
    import cv2

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with PandaWorld() as world:
        strip, record = pictures(world, predictor(args.predictor, world, oracle), args.seed)
    cv2.imwrite(str(out / f"{name}.png"), strip)
    (out / f"{name}.json").write_text(json.dumps(record.to_json(), indent=2) + "\n")
    summary = {"seed": record.seed, "success": record.success, "failure": record.failure}
    print(json.dumps({**summary, "picture": str(out / f"{name}.png")}))
    return 0 if record.success else 1


def main(argv: list[str] | None = None) -> int:
    return run_demo(sys.modules[__name__], argv, pick_pictures, OracleBackend, seed=3)


if __name__ == "__main__":
    sys.exit(main())
