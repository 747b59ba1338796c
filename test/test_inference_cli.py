"""``vla-r1 make-tiny-model`` and ``vla-r1 predict`` as a user runs them (subprocesses), and the overlay."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from inference_support import test_image

cv2 = pytest.importorskip("cv2")

CLI = [sys.executable, "-m", "vla_r1_ros.cli"]


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout, env=dict(os.environ))


@pytest.fixture(scope="module")
def cli_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("torch")
    out = tmp_path_factory.mktemp("cli") / "tiny"
    done = run_cli("make-tiny-model", str(out), "--seed", "3")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["path"] == str(out) and report["seed"] == 3 and report["size"] == "tiny"
    assert report["bytes"] < 1_000_000 and report["parameters"] > 100_000
    assert "building a tiny" in done.stderr
    return out


@pytest.fixture(scope="module")
def picture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("img") / "scene.png"
    assert cv2.imwrite(str(path), cv2.cvtColor(test_image(21, 120, 160), cv2.COLOR_RGB2BGR))
    return path


def test_make_tiny_model_refuses_a_non_empty_folder(cli_checkpoint: Path) -> None:
    done = run_cli("make-tiny-model", str(cli_checkpoint))
    assert done.returncode == 2 and "not empty" in done.stderr


def test_predict_both_prints_json_and_saves_an_overlay(cli_checkpoint: Path, picture: Path, tmp_path: Path) -> None:
    done = run_cli(
        "predict",
        "--image",
        str(picture),
        "--instruction",
        "pick up the red mug",
        "--task",
        "both",
        "--model",
        str(cli_checkpoint),
        "--device",
        "cpu",
        "--max-new-tokens",
        "12",
        "--out",
        str(tmp_path / "out"),
    )
    assert done.returncode in (0, 1), done.stderr
    report = json.loads(done.stdout)  # stdout is only the JSON; progress is on stderr
    assert "loading" in done.stderr and "tokens generated" in done.stderr
    assert [p["task"] for p in report["predictions"]] == ["affordance", "trajectory"]
    assert report["image_size"] == [160, 120] and report["instruction"] == "pick up the red mug"
    assert set(report["timings"]) == {"preprocess", "generate", "parse"}
    for prediction in report["predictions"]:
        assert 1 <= prediction["generated_tokens"] <= 12
        assert prediction["status"] and "reasoning" in prediction and "raw_text" in prediction
    all_ok = all(p["status"] == "ok" for p in report["predictions"])
    assert done.returncode == (0 if all_ok else 1)
    overlay = cv2.imread(report["overlay"])
    assert overlay is not None and overlay.shape == (120, 160, 3)


@pytest.mark.parametrize(
    "case",
    ["missing", "unreadable", "empty_instruction", "bad_task", "long_instruction"],
)
def test_predict_bad_input_exits_non_zero_with_a_message(case: str, picture: Path, tmp_path: Path) -> None:
    args = {"image": str(picture), "instruction": "pick up the mug"}
    if case == "missing":
        args["image"] = str(tmp_path / "nope.png")
    elif case == "unreadable":
        (tmp_path / "bad.png").write_bytes(b"this is not a picture")
        args["image"] = str(tmp_path / "bad.png")
    elif case == "empty_instruction":
        args["instruction"] = "   "
    elif case == "long_instruction":
        args["instruction"] = "pick up the mug " * 200
    extra = ["--task", "grasp"] if case == "bad_task" else []
    done = run_cli("predict", "--image", args["image"], "--instruction", args["instruction"], *extra, timeout=60)
    assert done.returncode == 2
    assert done.stdout == ""
    expected = {
        "missing": "no such image file",
        "unreadable": "cannot read",
        "empty_instruction": "instruction is empty",
        "bad_task": "invalid choice",
        "long_instruction": "the instruction is 3200 characters, over the limit of 2000 (--max-instruction-chars)",
    }[case]
    assert expected in done.stderr


def test_predict_refuses_a_prompt_over_the_token_limit_as_bad_input(cli_checkpoint: Path, picture: Path) -> None:
    long = "pick up the red mug " * 50
    done = run_cli(
        "predict", "--model", str(cli_checkpoint), "--image", str(picture), "--instruction", long,
        "--max-prompt-tokens", "300", "--device", "cpu", timeout=120,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert "over the limit of 300 (max_prompt_tokens)" in done.stderr


def test_predict_without_weights_says_how_to_get_them(picture: Path, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    done = run_cli(
        "predict", "--image", str(picture), "--instruction", "pick up the mug", "--model", str(tmp_path / "vla-r1")
    )
    assert done.returncode == 3
    assert f"hf download GigaAI-Research/vla-r1 --local-dir {tmp_path / 'vla-r1'}" in done.stderr


def test_the_cli_parser_does_not_import_torch() -> None:
    code = (
        "import sys; from vla_r1_ros.cli import build_parser; p = build_parser(); "
        "p.parse_args(['predict', '--image', 'x', '--instruction', 'y']); "
        "p.parse_args(['make-tiny-model', 'out']); "
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules, 'heavy import'"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_overlay_draws_the_box_and_the_trajectory() -> None:
    from vla_r1_ros.cli_model import draw_overlay
    from vla_r1_ros.core.protocol import Box2D, Trajectory2D, format_answer
    from vla_r1_ros.model.backends import ScriptedBackend

    rgb = np.zeros((200, 400, 3), dtype=np.uint8)
    backend = ScriptedBackend(
        {
            "affordance": format_answer(Box2D(0.5, 0.5, 0.5, 0.5)),  # pixels x 100..300, y 50..150
            "trajectory": format_answer(Trajectory2D(((0.1, 0.9), (0.9, 0.9)))),  # y = 180, x 40..360
        }
    )
    result = backend.predict(rgb, "pick up the mug", "both")
    assert all(p.parsed.ok for p in result.predictions)
    bgr = draw_overlay(rgb, result)
    assert bgr.shape == rgb.shape and not rgb.any()  # drawn on a copy
    assert tuple(bgr[100, 100]) == (60, 200, 60)  # the box's left edge, green
    assert tuple(bgr[50, 200]) == (60, 200, 60)  # its top edge
    assert not bgr[100, 200].any()  # the inside stays empty
    assert tuple(bgr[180, 200]) == (255, 120, 0)  # the trajectory segment


@pytest.fixture(scope="module")
def rgbd_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A rendered tabletop as the files a user would have: PNG, 16-bit depth PNG, calibration YAML."""
    import cv2
    import yaml

    from vla_r1_ros.sim.scene import Intrinsics, SceneObject, TabletopRenderer, look_at

    folder = tmp_path_factory.mktemp("rgbd")
    k = Intrinsics.from_vertical_fov(160, 120, 50.0)
    with TabletopRenderer() as renderer:
        scene = renderer.render(
            [SceneObject("target", "box", (0.06, 0.04, 0.09), (0.5, 0.1))],
            k,
            look_at((0.05, 0.05, 0.85), (0.5, 0.0, 0.0)),
        )
    cv2.imwrite(str(folder / "rgb.png"), cv2.cvtColor(scene.rgb, cv2.COLOR_RGB2BGR))
    millimetres = np.where(np.isfinite(scene.depth), np.round(scene.depth * 1000.0), 0).astype(np.uint16)
    cv2.imwrite(str(folder / "depth.png"), millimetres)
    calibration = {
        "image_width": k.width,
        "image_height": k.height,
        "camera_name": "sim",
        "camera_matrix": {"rows": 3, "cols": 3, "data": k.matrix().ravel().tolist()},
        "distortion_model": "plumb_bob",
        "distortion_coefficients": {"rows": 1, "cols": 5, "data": [0.0] * 5},
    }
    (folder / "camera.yaml").write_text(yaml.safe_dump(calibration))
    wrong = dict(calibration, image_width=320)
    (folder / "wrong.yaml").write_text(yaml.safe_dump(wrong))
    return {
        "rgb": folder / "rgb.png",
        "depth": folder / "depth.png",
        "info": folder / "camera.yaml",
        "wrong": folder / "wrong.yaml",
    }


def test_predict_with_depth_reports_the_lift(cli_checkpoint: Path, rgbd_files: dict[str, Path]) -> None:
    result = run_cli(
        "predict", "--model", str(cli_checkpoint), "--image", str(rgbd_files["rgb"]),
        "--instruction", "pick up the box", "--max-new-tokens", "24",
        "--depth", str(rgbd_files["depth"]), "--camera-info", str(rgbd_files["info"]),
    )  # fmt: skip
    assert result.returncode in (0, 1), result.stderr
    report = json.loads(result.stdout)
    assert [entry["task"] for entry in report["lifted"]] == ["affordance"]
    entry = report["lifted"][0]
    assert entry["ok"] == (entry["error"] == "")
    assert "safety filter not applied" in result.stderr  # no --camera-pose: camera frame, no robot limits


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--depth", "DEPTH"), "--depth and --camera-info go together"),
        (("--depth", "DEPTH", "--camera-info", "WRONG"), "describes 320x120"),
        (("--depth", "/nonexistent.png", "--camera-info", "INFO"), "no such depth file"),
    ],
)
def test_predict_depth_input_errors(
    cli_checkpoint: Path, rgbd_files: dict[str, Path], extra: tuple[str, ...], message: str
) -> None:
    names = {"DEPTH": rgbd_files["depth"], "WRONG": rgbd_files["wrong"], "INFO": rgbd_files["info"]}
    args = [str(names.get(a, a)) for a in extra]
    result = run_cli(
        "predict", "--model", str(cli_checkpoint), "--image", str(rgbd_files["rgb"]), "--instruction", "x", *args
    )
    assert result.returncode == 2 and message in result.stderr
