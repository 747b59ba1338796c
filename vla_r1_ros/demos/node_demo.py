"""The reasoning node on a simulated RGB-D camera, end to end, with pictures.

    scripts/node_demo.sh --out out/node_demo [--model embedded|oracle|DIR] [--scene topdown|pybullet] [--task both]

Starts ``vla_r1_node`` and a simulated camera (an RGB-D tabletop published at 30 Hz), sends one
``~/reason`` goal, and saves what the node published as a picture plus a JSON summary.

Scenes:

* ``topdown`` (default): a synthetic scene of the training generator (``vla_r1_ros.datagen.topdown_scenes``, the
  held-out stream by default: ``--scene-seed``, ``--scene-index``) seen by a camera looking
  straight down, with registered depth; the picture shows the node's annotated image and the
  lifted grasp against the true object. This is the scene for checkpoints trained by
  ``training/experiments/cpu_tiny.py``.
* ``pybullet``: a rendered tabletop seen obliquely; the picture adds a top and a side view of the
  waypoints and grasp (what RViz would show) against the true objects.

Models: ``embedded`` (default) is the tiny checkpoint shipped in the package, trained on the CPU
on top-down scenes (it knows nothing else: use it with ``--scene topdown``); ``oracle`` answers
from the scene's truth (the target's box and a path to it), which exercises everything after the
model on either scene; a checkpoint folder or Hub id makes other weights answer.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from vla_r1_ros.core.protocol import Box2D, Task, Trajectory2D, format_answer
from vla_r1_ros.model.backends import EMBEDDED_MODEL
from vla_r1_ros.ros.loopback import loopback_only_reason

__all__ = ["main", "EXIT_UNUSABLE_ANSWER"]

#: The node ran and answered, but the answer could not be lifted (the summary's message says why);
#: apart from 1, which Python uses for a crash.
EXIT_UNUSABLE_ANSWER = 3


def _oracle(scene: Any) -> Any:
    """Answers from the scene's truth: the target's box and a path from the gripper to it."""
    from vla_r1_ros.datagen.topdown_scenes import TopDownFrame
    from vla_r1_ros.model.backends import ScriptedBackend

    if isinstance(scene, TopDownFrame):
        box: Box2D = scene.scene.target.box
        gx, gy = scene.scene.gripper
        path = Trajectory2D(((gx, gy), ((2 * gx + box.x) / 3, (2 * gy + box.y) / 3), (box.x, box.y)))
        reasoning = f"The {scene.scene.target.name} is the target; its top face is graspable."
    else:
        box = scene.object("target").box_2d
        path = Trajectory2D(((0.9, 0.92), (0.75, 0.75), ((0.75 + box.x) / 2, (0.75 + box.y) / 2), (box.x, box.y)))
        reasoning = "The green box stands left of the blue one; its top face is graspable."

    def answer(task: Task, _prompt: str) -> str:
        if task is Task.AFFORDANCE:
            return format_answer(box, reasoning)
        return format_answer(path, "Move from the gripper to the target.")

    return ScriptedBackend(answer, model_id="oracle (true box of the scene)")


def _render_views(scene: Any, poses: list[Any], grasp: Any | None) -> np.ndarray:
    from vla_r1_ros.demos.render_demo import side_view, top_view

    positions = np.array([[p.pose.position.x, p.pose.position.y, p.pose.position.z] for p in poses]).reshape(-1, 3)
    if grasp is None:
        grasp_position, closing = positions[-1] if len(positions) else np.zeros(3), np.array([0.0, 1.0, 0.0])
    else:
        from vla_r1_ros.core.geometry.transforms import matrix_from_quaternion

        o = grasp.pose.orientation
        grasp_position = np.array([grasp.pose.position.x, grasp.pose.position.y, grasp.pose.position.z])
        closing = matrix_from_quaternion(np.array([o.x, o.y, o.z, o.w]))[:, 1]
    surface = scene.true_surface_height(positions[:, :2]) if len(positions) else np.zeros(0)
    return np.hstack([top_view(scene, positions, grasp_position, closing), side_view(scene, positions, surface, 0.05)])


def _top_down_view(frame: Any, grasp: Any | None) -> tuple[np.ndarray, dict[str, Any]]:
    """The colour frame with the true target box (blue) and the lifted grasp projected back (red)."""
    picture = cv2.cvtColor(frame.rgb, cv2.COLOR_RGB2BGR).copy()
    k = frame.intrinsics
    x0, y0, x1, y1 = frame.scene.target.box.corners()
    cv2.rectangle(
        picture,
        (round(x0 * k.width), round(y0 * k.height)),
        (round(x1 * k.width), round(y1 * k.height)),
        (230, 120, 30),
        2,
    )
    facts: dict[str, Any] = {"true_target_top_m": [round(float(v), 4) for v in frame.true_target_top()]}
    if grasp is not None:
        position = np.array([grasp.pose.position.x, grasp.pose.position.y, grasp.pose.position.z])
        optical = np.linalg.inv(frame.T_world_optical) @ np.append(position, 1.0)
        u = k.fx * optical[0] / optical[2] + k.cx
        v = k.fy * optical[1] / optical[2] + k.cy
        cv2.drawMarker(picture, (round(u), round(v)), (30, 30, 230), cv2.MARKER_CROSS, 28, 3)
        facts["grasp_position_m"] = [round(float(c), 4) for c in position]
        facts["grasp_to_true_top_mm"] = round(float(np.linalg.norm(position - frame.true_target_top())) * 1000.0, 1)
        facts["grasp_height_error_mm"] = round(float(position[2] - frame.object_height) * 1000.0, 2)
    cv2.putText(
        picture,
        "truth: blue box; lifted grasp: red cross",
        (8, 22),
        cv2.FONT_HERSHEY_SIMPLEX,
        0.55,
        (20, 20, 20),
        1,
        cv2.LINE_AA,
    )
    return picture, facts


def run(
    out: Path,
    model: str,
    task: str,
    instruction: str | None,
    scene_kind: str = "pybullet",
    scene_seed: int = 1000,
    scene_index: int = 0,
) -> dict[str, Any]:
    """Ask the node about a simulated frame; write node_demo.png and node_demo.json into ``out``."""
    from vla_r1_ros.model.backends import make_backend
    from vla_r1_ros.ros.sim_camera import render_tabletop, render_top_down, scene_messages

    if scene_kind == "topdown":
        frame = render_top_down(scene_seed, scene_index)
        messages = scene_messages(frame)
        instruction = instruction or frame.scene.instruction
    else:
        messages = scene_messages(render_tabletop(640, 480))
        instruction = instruction or "pick up the green box"
    scene: Any = messages.scene
    backend = _oracle(scene) if model == "oracle" else make_backend(model, device="cpu")
    result, images = _ask_node(messages, backend, instruction, task)

    out.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {
        "success": result.success,
        "message": result.message,
        "model": backend.model_id,
        "scene": scene_kind,
        "instruction": instruction,
    }
    affordance = next((p for p in result.predictions if p.task == "affordance"), None)
    grasp = affordance.affordance.pose if affordance is not None and affordance.affordance.is_lifted else None
    if affordance is not None:
        summary["reasoning"] = affordance.reasoning
    if scene_kind == "topdown":
        return _finish_top_down(out, summary, scene, images, affordance, grasp)
    return _finish_tabletop(out, summary, scene, images, result, affordance, grasp)


def _ask_node(messages: Any, backend: Any, instruction: str, task: str) -> tuple[Any, list[Any]]:
    """Run vla_r1_node on the simulated camera, send one Reason goal; (its result, annotated images)."""
    import rclpy
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter
    from sensor_msgs.msg import Image

    from vla_r1_ros.core.geometry.transforms import quaternion_from_matrix
    from vla_r1_ros.ros.commander import VlaR1Commander
    from vla_r1_ros.ros.sim_camera import BASE_FRAME, FakeCamera
    from vla_r1_ros.ros.vla_r1_node import VlaR1Node

    mount = messages.scene.T_world_optical
    context = Context()
    rclpy.init(context=context)
    # The camera's mount goes on /tf_static as a camera driver's launch file publishes it; without
    # tf2_ros (no ROS install) the node takes it as its static_camera_transform parameter instead.
    tf_available = importlib.util.find_spec("tf2_ros") is not None
    parameters = [Parameter("target_frame", value=BASE_FRAME), Parameter("generation_timeout", value=120.0)]
    if not tf_available:
        pose = [*mount[:3, 3], *quaternion_from_matrix(mount[:3, :3])]
        parameters.append(Parameter("static_camera_transform", value=pose))
    node = VlaR1Node(backend=backend, context=context, parameter_overrides=parameters)
    camera = FakeCamera(messages, context=context, base_pose=mount if tf_available else None)
    client = VlaR1Commander(node_name="node_demo_client", context=context, own_executor=False)
    images: list[Image] = []
    client.create_subscription(Image, "/vla_r1_node/annotated_image", images.append, 10)
    executor = SingleThreadedExecutor(context=context)
    for each in (node, camera, client):
        executor.add_node(each)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    try:
        time.sleep(0.5)  # a few camera frames
        result = client.reason(instruction, task, timeout_s=180.0)
        deadline = time.monotonic() + 5.0
        while not images and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        executor.shutdown(timeout_sec=5.0)
        spinner.join(timeout=10.0)
        for each in (client, camera, node):
            each.destroy_node()
        rclpy.shutdown(context=context)
    return result, images


def _annotated(images: list[Any], size: tuple[int, int]) -> list[np.ndarray]:
    """The node's newest annotated image as a BGR panel of ``size`` (none if it sent none)."""
    from vla_r1_ros.ros.images import image_to_rgb

    if not images:
        return []
    return [cv2.resize(cv2.cvtColor(image_to_rgb(images[-1]), cv2.COLOR_RGB2BGR), size)]


def _finish_tabletop(
    out: Path, summary: dict[str, Any], scene: Any, images: list[Any], result: Any, affordance: Any, grasp: Any
) -> dict[str, Any]:
    with_path = next((p for p in reversed(result.predictions) if p.waypoints.poses), None)
    if grasp is not None and affordance is not None:  # a grasp comes from the affordance prediction
        # The lifted point is the surface seen through the answered box's centre; compare it with
        # the analytic ray cast through the same pixel.
        region, k = affordance.affordance, scene.intrinsics
        hit = scene.true_hit(region.center_x * k.width - 0.5, region.center_y * k.height - 0.5)
        position = np.array([grasp.pose.position.x, grasp.pose.position.y, grasp.pose.position.z])
        summary["grasp_position_m"] = [round(float(v), 4) for v in position]
        if hit is not None:
            summary["true_surface_hit"] = hit[2]
            summary["lift_error_mm"] = round(float(np.linalg.norm(position - hit[0])) * 1000.0, 2)
    if with_path is not None:
        summary["waypoints"] = len(with_path.waypoints.poses)
    summary["latencies_s"] = {
        lat.stage: round(lat.seconds, 4) for lat in (result.predictions[0].latencies if result.predictions else [])
    }
    views = _render_views(scene, list(with_path.waypoints.poses) if with_path else [], grasp)
    panels = [*_annotated(images, (640, 480)), cv2.resize(views, (views.shape[1] * 480 // views.shape[0], 480))]
    picture = out / "node_demo.png"
    cv2.imwrite(str(picture), np.hstack(panels))
    summary["picture"] = str(picture)
    (out / "node_demo.json").write_text(json.dumps(summary, indent=2))
    return summary


def _finish_top_down(
    out: Path, summary: dict[str, Any], frame: Any, images: list[Any], affordance: Any, grasp: Any | None
) -> dict[str, Any]:
    from vla_r1_ros.core.metrics import box_iou_giou

    if affordance is not None:
        region = affordance.affordance
        predicted = Box2D(region.center_x, region.center_y, region.width, region.height)
        iou, _ = box_iou_giou(predicted.corners(), frame.scene.target.box.corners())
        summary["box_iou_with_truth"] = round(float(iou), 3)
    view, facts = _top_down_view(frame, grasp)
    summary.update(facts)
    panels = [*_annotated(images, (480, 480)), cv2.resize(view, (480, 480))]
    out.mkdir(parents=True, exist_ok=True)
    picture = out / "node_demo.png"
    cv2.imwrite(str(picture), np.hstack(panels))
    summary["picture"] = str(picture)
    (out / "node_demo.json").write_text(json.dumps(summary, indent=2))
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="out/node_demo", help="folder for node_demo.png and node_demo.json")
    parser.add_argument(
        "--model",
        default=EMBEDDED_MODEL,
        help=f"'{EMBEDDED_MODEL}' (the shipped tiny model), 'oracle' (the scene's true answers) "
        "or a checkpoint folder / Hub id",
    )
    parser.add_argument("--scene", default="topdown", choices=("topdown", "pybullet"), help="camera scene")
    parser.add_argument("--scene-seed", type=int, default=1000, help="top-down scene stream (1000: held out)")
    parser.add_argument("--scene-index", type=int, default=0, help="scene number within the stream")
    parser.add_argument(
        "--task",
        default=None,
        choices=("affordance", "trajectory", "both"),
        help="default: both for --model oracle, affordance otherwise (VLA-R1's box question, the one every "
        "shipped and tiny checkpoint answers; ask for both when the weights also answer trajectories)",
    )
    parser.add_argument("--instruction", default=None, help="default: the top-down scene's own instruction")
    args = parser.parse_args(argv)
    refused = loopback_only_reason()
    if refused:
        print(f"refusing to start ROS nodes: {refused}; scripts/node_demo.sh does this for you", file=sys.stderr)
        return 2
    task = args.task or ("both" if args.model == "oracle" else "affordance")
    summary = run(Path(args.out), args.model, task, args.instruction, args.scene, args.scene_seed, args.scene_index)
    print(json.dumps(summary, indent=2))
    return 0 if summary["success"] else EXIT_UNUSABLE_ANSWER


if __name__ == "__main__":
    sys.exit(main())
