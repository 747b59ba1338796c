"""Render one tabletop scene, lift a box and a trajectory, and save a picture a person can check.

    python -m vla_r1_ros.demos.render_demo --out /tmp/demo [--noise] [--seed 0]

The PNG shows, left: the colour image with the 2-D prediction (affordance box in yellow, 2-D
trajectory in cyan) and the lifted waypoints projected back (dots coloured by height); middle: a
top view of the true objects (outlines) with the waypoints and the grasp (closing axis in red);
right: a side view (x-z) with the observed surface under the path. Numbers go to stdout.
"""

from __future__ import annotations

import argparse
import itertools
import math
import sys
from pathlib import Path

import cv2
import numpy as np

from vla_r1_ros.core.geometry import SafetyLimits, TrajectorySettings, check_waypoints, lift_box, lift_trajectory
from vla_r1_ros.core.protocol import Box2D, Trajectory2D
from vla_r1_ros.sim.noise import DepthNoise, apply_depth_noise
from vla_r1_ros.sim.scene import Intrinsics, RenderedScene, SceneObject, TabletopRenderer, depth_scene, look_at

W, H = 640, 480
PANEL = 480
START = np.array([0.33, -0.22, 0.30])


def _project(scene: RenderedScene, points: np.ndarray) -> np.ndarray:
    inv = np.linalg.inv(scene.T_world_optical)
    cam = points @ inv[:3, :3].T + inv[:3, 3]
    k = scene.intrinsics
    return np.column_stack((k.fx * cam[:, 0] / cam[:, 2] + k.cx, k.fy * cam[:, 1] / cam[:, 2] + k.cy))


def _colour(z: float, lo: float = 0.0, hi: float = 0.35) -> tuple[int, int, int]:
    f = float(np.clip((z - lo) / (hi - lo), 0.0, 1.0))
    return (int(255 * (1 - f)), int(80 + 100 * f), int(255 * f))  # BGR: blue low, red high


def top_view(scene: RenderedScene, positions: np.ndarray, grasp: np.ndarray, closing: np.ndarray) -> np.ndarray:
    img = np.full((PANEL, PANEL, 3), 250, np.uint8)
    x0, x1, y0, y1 = 0.15, 0.85, -0.35, 0.35
    scale = PANEL / (x1 - x0)

    def px(x: float, y: float) -> tuple[int, int]:  # base x up the picture, base y to the left
        return round((y1 - y) * scale), round((x1 - x) * scale)

    for gx in np.arange(0.2, 0.85, 0.1):
        cv2.line(img, px(gx, y0), px(gx, y1), (225, 225, 225), 1)
    for gy in np.arange(-0.3, 0.35, 0.1):
        cv2.line(img, px(x0, gy), px(x1, gy), (225, 225, 225), 1)
    for obj in scene.objects:
        colour = (60, 60, 60)
        if obj.shape == "cylinder":
            c = px(*obj.pose[:2, 3])
            cv2.circle(img, c, int(obj.size[0] / 2 * scale), colour, 2)
        else:
            half = obj.size[:2] / 2.0
            corners = [obj.pose[:2, :2] @ (half * s) + obj.pose[:2, 3] for s in ((1, 1), (-1, 1), (-1, -1), (1, -1))]
            cv2.polylines(img, [np.array([px(*c) for c in corners], np.int32)], True, colour, 2)
        cv2.putText(
            img,
            f"{obj.name} h={obj.size[2]:.2f}",
            px(obj.pose[0, 3] - 0.05, obj.pose[1, 3] + 0.05),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.4,
            colour,
            1,
            cv2.LINE_AA,
        )
    pts = [px(p[0], p[1]) for p in positions]
    for a, b in itertools.pairwise(pts):
        cv2.line(img, a, b, (150, 150, 150), 1)
    for p, q in zip(positions, pts):
        cv2.circle(img, q, 3, _colour(p[2]), -1)
    g = px(grasp[0], grasp[1])
    tip_a = px(*(grasp[:2] + 0.04 * closing[:2]))
    tip_b = px(*(grasp[:2] - 0.04 * closing[:2]))
    cv2.line(img, tip_a, tip_b, (0, 0, 230), 2)
    cv2.drawMarker(img, g, (0, 0, 230), cv2.MARKER_CROSS, 14, 2)
    cv2.circle(img, px(*START[:2]), 6, (0, 160, 0), 2)
    _title(img, "top view (base x up, y left), 10 cm grid", (0, 0, 0))
    return img


def side_view(scene: RenderedScene, positions: np.ndarray, surface: np.ndarray, clearance: float) -> np.ndarray:
    img = np.full((PANEL, PANEL, 3), 250, np.uint8)
    s = np.concatenate(([0.0], np.cumsum(np.linalg.norm(np.diff(positions, axis=0), axis=1))))
    total = max(float(s[-1]), 1e-6)
    z_hi = max(0.4, float(positions[:, 2].max()) + 0.05)

    def px(si: float, z: float) -> tuple[int, int]:
        return int(20 + si / total * (PANEL - 40)), int(PANEL - 30 - z / z_hi * (PANEL - 60))

    true_h = scene.true_surface_height(positions[:, :2])
    cv2.line(img, px(0, 0), px(total, 0), (120, 120, 120), 1)
    for i in range(len(s) - 1):
        cv2.line(img, px(s[i], true_h[i]), px(s[i + 1], true_h[i + 1]), (60, 60, 60), 2)
        cv2.line(img, px(s[i], surface[i]), px(s[i + 1], surface[i + 1]), (0, 140, 255), 1)
        cv2.line(img, px(s[i], surface[i] + clearance), px(s[i + 1], surface[i + 1] + clearance), (200, 200, 255), 1)
    for si, p in zip(s, positions):
        cv2.circle(img, px(si, p[2]), 3, _colour(p[2]), -1)
    for i, text in enumerate(
        (
            "waypoint height vs arc length",
            "dark: true surface beneath",
            "orange: observed surface (footprint)",
            "pink: + clearance",
        )
    ):
        cv2.putText(img, text, (8, 18 + 16 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
    return img


def _title(img: np.ndarray, text: str, colour: tuple[int, int, int]) -> None:
    """A panel's one-line title in its top-left corner."""
    cv2.putText(img, text, (8, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, 1, cv2.LINE_AA)


def _camera_view(scene: RenderedScene, box: Box2D, trajectory: Trajectory2D, positions: np.ndarray) -> np.ndarray:
    """The camera image (BGR) with the answered box, the 2-D trajectory and the lifted waypoints."""
    colour: np.ndarray = cv2.cvtColor(scene.rgb, cv2.COLOR_RGB2BGR)
    x0, y0, x1, y1 = box.corners()
    cv2.rectangle(colour, (int(x0 * W), int(y0 * H)), (math.ceil(x1 * W) - 1, math.ceil(y1 * H) - 1), (0, 230, 255), 2)
    traj_px = np.array([(x * W, y * H) for x, y in trajectory.points], np.int32)
    cv2.polylines(colour, [traj_px], False, (255, 255, 0), 2)
    for p, q in zip(positions, _project(scene, positions)):
        if np.all(np.isfinite(q)):
            cv2.circle(colour, (round(q[0]), round(q[1])), 3, _colour(p[2]), -1)
    _title(colour, "yellow: affordance box  cyan: 2-D trajectory  dots: lifted waypoints", (255, 255, 255))
    return colour


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="directory for lift_demo.png")
    parser.add_argument(
        "--noise", action="store_true", help="add realistic depth noise (1%% sigma, dropouts, flying pixels)"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    objects = [
        SceneObject("target", "box", (0.07, 0.045, 0.09), (0.55, 0.12), 0.4, (0.2, 0.6, 0.2, 1.0)),
        SceneObject("obstacle", "box", (0.08, 0.08, 0.15), (0.47, -0.02), 0.0, (0.2, 0.3, 0.8, 1.0)),
        SceneObject("can", "cylinder", (0.06, 0.06, 0.10), (0.62, -0.14), 0.0, (0.8, 0.5, 0.1, 1.0)),
    ]
    with TabletopRenderer() as renderer:
        intrinsics = Intrinsics.from_vertical_fov(W, H, 50.0)
        scene = renderer.render(objects, intrinsics, look_at((0.0, 0.05, 0.85), (0.55, 0.0, 0.0)))
    depth = apply_depth_noise(scene.depth, DepthNoise(), np.random.default_rng(args.seed)) if args.noise else None
    ds = depth_scene(scene, depth)

    target_truth = scene.object("target")
    box = target_truth.box_2d  # the "prediction": the target's tight box
    if box is None:
        print("the target is not visible in the rendered frame", file=sys.stderr)
        return 1
    lifted = lift_box(box, ds)
    target = lifted.target
    if target is None:
        print(f"box lift failed: {lifted.reason}", file=sys.stderr)
        return 1
    waypoints3d = [
        START,
        START + np.array([0.07, 0.05, -0.02]),
        np.array([0.47, -0.02, 0.24]),
        target_truth.top_center + np.array([0.0, 0.0, 0.12]),
    ]
    uv = _project(scene, np.array([*waypoints3d, target_truth.top_center]))
    trajectory = Trajectory2D(tuple(((u + 0.5) / W, (v + 0.5) / H) for u, v in uv))
    config = TrajectorySettings()
    result = lift_trajectory(trajectory, ds, config, target=target, start=START)
    path = result.path
    if path is None:
        print(f"trajectory lift failed: {result.reason}", file=sys.stderr)
        return 1
    verdict = check_waypoints(path.positions, SafetyLimits(max_segment_length=0.03))

    colour = _camera_view(scene, box, trajectory, path.positions)
    grasp = target.grasp
    picture = np.hstack(
        (
            colour,
            top_view(scene, path.positions, grasp.position, grasp.closing_axis),
            side_view(scene, path.positions, path.surface_heights, config.clearance),
        )
    )
    args.out.mkdir(parents=True, exist_ok=True)
    out_file = args.out / "lift_demo.png"
    cv2.imwrite(str(out_file), picture)

    truth_hit = scene.true_hit(box.x * W - 0.5, box.y * H - 0.5)
    error = np.linalg.norm(target.position - truth_hit[0]) * 1000.0 if truth_hit else float("nan")
    yaw = math.degrees(math.atan2(grasp.closing_axis[1], grasp.closing_axis[0]))
    print(
        f"depth: {'noisy' if args.noise else 'clean'}; target {target.position.round(4).tolist()} m, "
        f"error vs truth {error:.2f} mm, confidence {lifted.confidence:.2f}, "
        f"extent {target.extent.round(3).tolist()}"
    )
    short_side = math.degrees(math.atan2(target_truth.pose[1, 1], target_truth.pose[0, 1]))
    print(f"grasp closing-axis yaw {yaw:.1f} deg (true shorter side {short_side:.1f} deg, mod 180)")
    print(f"path: {len(path)} waypoints, {path.length:.3f} m, safety: {verdict.message()}")
    print(f"wrote {out_file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
