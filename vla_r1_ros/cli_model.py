"""``vla-r1 predict`` and ``vla-r1 make-tiny-model``.

Both handlers import torch / transformers lazily, so the rest of the CLI (``vla-r1 score``) never
pays for them. Results go to the ``out_stream`` the CLI hands them (standard output, kept free of
anything else by :func:`vla_r1_ros.cli.result_stdout`), progress to stderr.

``vla-r1 predict`` exit codes: 0 every answer parsed; 1 the model answered but at least one answer
could not be parsed (the JSON on stdout says why); 2 bad input (missing or unreadable image, empty
instruction, bad option); 3 the model could not be loaded or reached.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import IO, Any

from .model.backends import DEFAULT_MODEL_ID, TASK_CHOICES

EXIT_OK = 0
EXIT_UNPARSED = 1
EXIT_USAGE = 2
EXIT_MODEL = 3


def _progress(message: str) -> None:
    print(f"vla-r1: {message}", file=sys.stderr, flush=True)


def _fail(command: str, message: str, code: int = EXIT_USAGE) -> int:
    print(f"vla-r1 {command}: {message}", file=sys.stderr)
    return code


# --------------------------------------------------------------------------------------------
# make-tiny-model
# --------------------------------------------------------------------------------------------


def _cmd_make_tiny_model(args: argparse.Namespace, out_stream: IO[str]) -> int:
    out = Path(args.out_dir)
    if out.exists() and not out.is_dir():
        return _fail("make-tiny-model", f"{out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not args.force:
        return _fail("make-tiny-model", f"{out} is not empty (use --force to write into it)")
    _progress(f"building a {args.size} Qwen2.5-VL checkpoint (seed {args.seed}) in {out}")
    from .model.tiny import build_tiny_model

    build = build_tiny_model(out, seed=args.seed, size=args.size)
    print(
        json.dumps(
            {
                "path": str(build.path),
                "size": build.size,
                "seed": build.seed,
                "parameters": build.parameters,
                "bytes": build.bytes_on_disk,
                "seconds": round(build.seconds, 3),
            }
        ),
        file=out_stream,
    )
    return EXIT_OK


# --------------------------------------------------------------------------------------------
# predict
# --------------------------------------------------------------------------------------------


def _read_rgb(path: str) -> Any:
    import cv2

    bgr = cv2.imread(path, cv2.IMREAD_COLOR)
    if bgr is None:
        return None
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def draw_overlay(rgb: Any, result: Any) -> Any:
    """A BGR copy of ``rgb`` (for cv2.imwrite) with each prediction's box and trajectory drawn on it."""
    import cv2

    from .core.overlay import draw_prediction

    answers = [(prediction.task.value, prediction.parsed) for prediction in result.predictions]
    return cv2.cvtColor(draw_prediction(rgb, answers), cv2.COLOR_RGB2BGR)


class _Refused(Exception):
    """``vla-r1 predict`` stops with this message and exit code."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


def _cmd_predict(args: argparse.Namespace, out_stream: IO[str]) -> int:
    try:
        rgb, scene = _checked_inputs(args)
        result = _answer(args, rgb)
        report = result.to_json()
        report["image"] = str(args.image)
        report["instruction"] = args.instruction
        lifted_ok = _lift(report, result, scene, args.camera_pose is not None)
        if args.out:
            report["overlay"] = _write_overlay(Path(args.out), Path(args.image), rgb, result)
    except _Refused as refusal:
        return _fail("predict", str(refusal), refusal.code)
    print(json.dumps(report, indent=2), file=out_stream)
    return EXIT_OK if all(p.parsed.ok for p in result.predictions) and lifted_ok else EXIT_UNPARSED


def _checked_inputs(args: argparse.Namespace) -> tuple[Any, Any]:
    """The image (RGB) and, with --depth, its scene; every bad argument refused before any model loads."""
    image_path = Path(args.image)
    if not image_path.is_file():
        raise _Refused(f"no such image file: {image_path}")
    if not args.instruction.strip():
        raise _Refused("the instruction is empty; say what the robot should act on")
    if args.max_new_tokens < 1:
        raise _Refused("--max-new-tokens must be at least 1")
    if args.timeout is not None and args.timeout <= 0:
        raise _Refused("--timeout must be positive")
    if min(args.max_instruction_chars, args.max_prompt_tokens) < 1:
        raise _Refused("--max-instruction-chars and --max-prompt-tokens must be at least 1")
    if len(args.instruction) > args.max_instruction_chars:
        raise _Refused(
            f"the instruction is {len(args.instruction)} characters, over the limit of {args.max_instruction_chars} "
            "(--max-instruction-chars)"
        )
    rgb = _read_rgb(str(image_path))
    if rgb is None:
        raise _Refused(f"cannot read {image_path} as an image (unsupported or corrupt file)")
    if (args.depth is None) != (args.camera_info is None):
        raise _Refused("--depth and --camera-info go together (lifting needs both)")
    scene = None
    if args.depth is not None:
        try:
            scene = _depth_scene(args, rgb)
        except ValueError as err:
            raise _Refused(str(err)) from None
    out_dir = Path(args.out) if args.out else None
    if out_dir is not None and out_dir.exists() and not out_dir.is_dir():
        raise _Refused(f"--out {out_dir} exists and is not a folder")
    return rgb, scene


def _answer(args: argparse.Namespace, rgb: Any) -> Any:
    """Load the model and ask it (the InferenceResult); model problems exit with EXIT_MODEL."""
    from .model.backends import (
        BackendError,
        GenerationSettings,
        InputTooLarge,
        local_model_problem,
        looks_like_local_path,
        make_backend,
        offline_help,
    )

    if not args.model.startswith(("http://", "https://")) and looks_like_local_path(args.model):
        problem = local_model_problem(args.model)
        if problem:  # said before paying for the torch import
            raise _Refused(offline_help(args.model, problem, is_path=True), EXIT_MODEL)
    settings_kwargs: dict[str, Any] = {
        "max_new_tokens": args.max_new_tokens,
        "timeout_s": args.timeout,
        "seed": args.seed,
        "max_instruction_chars": args.max_instruction_chars,
        "max_prompt_tokens": args.max_prompt_tokens,
    }
    settings = GenerationSettings.release(**settings_kwargs) if args.sample else GenerationSettings(**settings_kwargs)
    _progress(f"loading {args.model} ...")
    started = time.perf_counter()
    try:
        backend = make_backend(
            args.model,
            device=args.device,
            dtype=args.dtype,
            min_pixels=args.min_pixels,
            max_pixels=args.max_pixels,
            served_model=args.served_model,
        )
    except BackendError as err:
        raise _Refused(str(err), EXIT_MODEL) from None
    _progress(
        f"loaded in {time.perf_counter() - started:.2f} s; asking for {args.task} on {rgb.shape[1]}x{rgb.shape[0]}"
    )
    try:
        with backend:
            result = backend.predict(rgb, args.instruction, args.task, settings)
    except InputTooLarge as err:
        raise _Refused(str(err)) from None
    except BackendError as err:
        raise _Refused(str(err), EXIT_MODEL) from None
    timings = ", ".join(f"{stage} {seconds * 1000:.0f} ms" for stage, seconds in result.timings)
    _progress(f"{result.generated_tokens} tokens generated; {timings}")
    return result


def _lift(report: dict[str, Any], result: Any, scene: Any, in_base_frame: bool) -> bool:
    """Lift the answers through ``scene`` into ``report["lifted"]`` (if there is a scene); whether all lifted."""
    if scene is None:
        return True
    from .core.answer_lifting import LiftSettings, lift_answers
    from .core.geometry import SafetyLimits

    limits = SafetyLimits() if in_base_frame else None
    outcomes = lift_answers({p.task: p.parsed for p in result.predictions}, scene, LiftSettings(limits=limits))
    report["lifted"] = [outcome.to_json() for outcome in outcomes]
    _progress(
        f"lifted to 3-D in frame {scene.base_frame!r}"
        + ("" if limits else " (no --camera-pose: safety filter not applied)")
    )
    return all(outcome.ok for outcome in outcomes)


def _write_overlay(out_dir: Path, image_path: Path, rgb: Any, result: Any) -> str:
    """Save the answer drawn on the image into ``out_dir``; the file's path."""
    import cv2

    out_dir.mkdir(parents=True, exist_ok=True)
    overlay_path = out_dir / f"{image_path.stem}.vla_r1.png"
    if not cv2.imwrite(str(overlay_path), draw_overlay(rgb, result)):
        raise _Refused(f"cannot write {overlay_path}")
    _progress(f"overlay saved to {overlay_path}")
    return str(overlay_path)


def _depth_scene(args: argparse.Namespace, rgb: Any) -> Any:
    """The DepthScene for --depth/--camera-info/--camera-pose; ValueError with a clear message."""
    import numpy as np

    from .core.calibration import load_camera_info
    from .core.geometry import CameraModel, DepthImage, ImageSizeError, scene_from_frame
    from .core.geometry.transforms import pose_from_xyz_quaternion

    depth_path = Path(args.depth)
    if not depth_path.is_file():
        raise ValueError(f"no such depth file: {depth_path}")
    if depth_path.suffix.lower() == ".npy":
        depth_array = np.load(depth_path, allow_pickle=False)
    else:
        import cv2

        depth_array = cv2.imread(str(depth_path), cv2.IMREAD_UNCHANGED)
        if depth_array is None:
            raise ValueError(f"cannot read {depth_path} as a depth image (16-bit PNG in mm, or .npy)")
    if depth_array.dtype == np.uint16:
        encoding = "16UC1"
    elif depth_array.dtype in (np.float32, np.float64):
        depth_array, encoding = depth_array.astype(np.float32), "32FC1"
    else:
        raise ValueError(f"depth must be uint16 millimetres or float metres, got {depth_array.dtype}")
    camera = CameraModel.from_camera_info(load_camera_info(args.camera_info))
    pose = np.eye(4)
    frame = "camera_optical_frame"
    if args.camera_pose is not None:
        pose = pose_from_xyz_quaternion(args.camera_pose)
        frame = args.base_frame
    depth = DepthImage.from_ros(depth_array, encoding)
    try:
        return scene_from_frame(depth, camera, pose, base_frame=frame, colour_size=(rgb.shape[1], rgb.shape[0]))
    except ImageSizeError as err:
        raise ValueError(f"{err} (CameraInfo {args.camera_info})") from None


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``predict`` and ``make-tiny-model`` to the ``vla-r1`` command."""
    # Long on purpose: one add_argument per option, in the order --help lists them.
    predict = commands.add_parser(
        "predict",
        help="ask VLA-R1 for an affordance box and/or a trajectory on one image",
        description=(
            "Run VLA-R1 on one image and print the reasoning and the parsed answer(s) as JSON on stdout "
            "(progress on stderr). Exit 0 when every answer parsed, 1 when the model answered but an "
            "answer could not be parsed, 2 on bad input, 3 when the model cannot be loaded or reached."
        ),
    )
    predict.add_argument("--image", required=True, help="RGB picture (PNG, JPEG, ...)")
    predict.add_argument("--instruction", required=True, help='what to do, e.g. "pick up the red mug"')
    predict.add_argument(
        "--task", choices=TASK_CHOICES, default="affordance", help="which question(s) to ask (default: affordance)"
    )
    predict.add_argument(
        "--model",
        default=DEFAULT_MODEL_ID,
        help=(
            f"Hub id or local folder (default: {DEFAULT_MODEL_ID}), "
            "or http(s)://host:port of an OpenAI-compatible server"
        ),
    )
    predict.add_argument(
        "--served-model", default=None, help="model name to send to a remote server (default: the Hub id)"
    )
    predict.add_argument("--device", default="auto", help="auto (default), cuda, cuda:N or cpu")
    predict.add_argument("--dtype", default="auto", help="auto (bf16 on GPU, fp32 on CPU), bfloat16, float16, float32")
    predict.add_argument("--max-new-tokens", type=int, default=1024, help="token cap (default 1024)")
    predict.add_argument(
        "--sample",
        action="store_true",
        help="the release's sampling (T 0.7, top-p 0.9, repetition 1.1) instead of greedy",
    )
    predict.add_argument("--seed", type=int, default=None, help="seed for --sample")
    predict.add_argument("--timeout", type=float, default=None, help="wall-clock budget in seconds")
    predict.add_argument(
        "--max-instruction-chars", type=int, default=2000, help="longer instructions are refused (default 2000)"
    )
    predict.add_argument(
        "--max-prompt-tokens",
        type=int,
        default=8192,
        help="prompts (instruction and image tokens) longer than this are refused (default 8192)",
    )
    predict.add_argument("--min-pixels", type=int, default=None, help="lower bound on the resized image area")
    predict.add_argument("--max-pixels", type=int, default=None, help="upper bound on the resized image area")
    predict.add_argument(
        "--out", default=None, help="folder for the overlay picture (box and trajectory drawn on the image)"
    )
    predict.add_argument(
        "--depth", default=None, help="depth registered to the image: 16-bit PNG in millimetres, or .npy (metres)"
    )
    predict.add_argument("--camera-info", default=None, help="camera calibration YAML (camera_calibration format)")
    predict.add_argument(
        "--camera-pose",
        type=float,
        nargs=7,
        default=None,
        metavar=("X", "Y", "Z", "QX", "QY", "QZ", "QW"),
        help="pose of the camera optical frame in the robot base frame; then the safety filter applies",
    )
    predict.add_argument("--base-frame", default="base_link", help="name of the frame --camera-pose is in")
    predict.set_defaults(handler=_cmd_predict)

    tiny = commands.add_parser(
        "make-tiny-model",
        help="build a tiny random Qwen2.5-VL checkpoint for offline tests",
        description=(
            "Write a tiny Qwen2.5-VL checkpoint (real classes, random weights, a tokenizer trained here) "
            "that loads exactly like the released VLA-R1 weights. Deterministic from --seed."
        ),
    )
    tiny.add_argument("out_dir", help="folder to write")
    tiny.add_argument("--seed", type=int, default=0, help="seed for the weights and tokenizer corpus (default 0)")
    tiny.add_argument(
        "--size", choices=("tiny", "small"), default="tiny", help="tiny: ~0.2 M params (<1 MB); small: ~3 M"
    )
    tiny.add_argument("--force", action="store_true", help="write into a non-empty folder")
    tiny.set_defaults(handler=_cmd_make_tiny_model)
