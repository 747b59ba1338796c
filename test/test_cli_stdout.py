"""Machine-readable stdout: what `vla-r1` and `vla-r1-train` print for programs is all that reaches stdout.

Libraries print when they are imported or used (DeepSpeed announces its accelerator on stdout as
soon as it is installed and imported), C code writes to file descriptor 1, child processes inherit
it. Each command is run with such noise injected where its work happens; its stdout must still be
exactly its result, and the noise must come out on stderr (so the test sees that it happened).
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

NOISE = ("NOISE from print", "NOISE on file descriptor 1", "NOISE from a child process")


def _noisy(func: Callable[..., Any]) -> Callable[..., Any]:
    """``func``, after printing the way libraries do: Python's stdout, the raw descriptor, a child process."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        print(NOISE[0])
        os.write(1, f"{NOISE[1]}\n".encode())
        subprocess.run(["sh", "-c", f"echo '{NOISE[2]}'"], check=True)
        return func(*args, **kwargs)

    return wrapper


def _assert_noise_went_to_stderr(out: str, err: str) -> None:
    assert "NOISE" not in out
    assert all(line in err for line in NOISE), err


def _box(x: float) -> str:
    return f'<think>t</think><output>{{"x": {x}, "y": 0.5, "width": 0.2, "height": 0.2}}</output>'


def test_score_writes_only_its_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: Any) -> None:
    import vla_r1_ros.cli as cli

    monkeypatch.setattr(cli, "score_parsed_batch", _noisy(cli.score_parsed_batch))
    source = tmp_path / "in.jsonl"
    source.write_text(
        "".join(json.dumps({"completion": _box(x), "ground_truth": _box(0.5)}) + "\n" for x in (0.5, 0.4))
    )
    assert cli.main(["score", str(source)]) == 0
    captured = capfd.readouterr()
    _assert_noise_went_to_stderr(captured.out, captured.err)
    rows = [json.loads(line) for line in captured.out.splitlines()]
    assert [row["line"] for row in rows] == [1, 2] and rows[0]["score"] == pytest.approx(1.0)


def test_predict_prints_only_its_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: Any) -> None:
    cv2 = pytest.importorskip("cv2")
    import numpy as np

    import vla_r1_ros.model.backends as backends
    from vla_r1_ros.cli import main

    image = tmp_path / "scene.png"
    assert cv2.imwrite(str(image), np.zeros((60, 80, 3), np.uint8))
    monkeypatch.setattr(
        backends, "make_backend", _noisy(lambda *args, **kwargs: backends.ScriptedBackend({"affordance": _box(0.5)}))
    )
    assert main(["predict", "--image", str(image), "--instruction", "pick up the mug", "--model", "scripted"]) == 0
    captured = capfd.readouterr()
    _assert_noise_went_to_stderr(captured.out, captured.err)
    report = json.loads(captured.out)
    assert report["instruction"] == "pick up the mug" and report["predictions"][0]["status"] == "ok"


def _evaluation(folder: Path) -> Path:
    from vla_r1_training.evaluate import EvalRecord, write_report

    truth = _box(0.5)
    records = [EvalRecord(str(i), "affordance", _box(0.5 + 0.01 * i), truth) for i in range(3)]
    write_report(records, folder, num_overlays=0)
    return folder


def _train_cases(tmp_path: Path) -> dict[str, tuple[list[str], str, str]]:
    """command -> (argv, module, function that does its work)."""
    from vla_r1_training.evaluate import EvalRecord, write_predictions

    predictions = tmp_path / "preds.jsonl"
    write_predictions([EvalRecord("0", "affordance", _box(0.5), _box(0.5))], predictions)
    before, after = _evaluation(tmp_path / "before"), _evaluation(tmp_path / "after")
    return {
        "show": (["show", "sft.max_steps=3"], "vla_r1_training.cli", "load_config"),
        "compare": (["compare", str(before), str(after)], "vla_r1_training.evaluate", "compare_evaluations"),
        "eval": (
            ["eval", "--predictions", str(predictions), f"eval.output_dir={tmp_path / 'report'}"],
            "vla_r1_training.evaluate",
            "read_predictions",
        ),
    }


@pytest.mark.parametrize("command", ["show", "compare", "eval"])
def test_train_commands_print_only_their_json(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: Any
) -> None:
    pytest.importorskip("trl")
    import importlib

    from vla_r1_training.cli import main

    argv, module_name, function = _train_cases(tmp_path)[command]
    module = importlib.import_module(module_name)
    monkeypatch.setattr(module, function, _noisy(getattr(module, function)))
    assert main(argv) == 0
    captured = capfd.readouterr()
    _assert_noise_went_to_stderr(captured.out, captured.err)
    result = json.loads(captured.out)  # exactly one JSON document
    expected = {"show": "sft", "compare": "n_questions", "eval": "per_task"}[command]
    assert expected in result


# A library that prints when it is imported, at the Python and the descriptor level: what DeepSpeed
# does when transformers imports it. Installed before the CLI runs; torch is imported lazily by it.
_NOISY_IMPORT = """
import importlib.abc, os, sys

class Noisy(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "torch":
            sys.meta_path.remove(self)
            print("NOISE on import")
            os.write(1, b"NOISE on import, file descriptor 1\\n")
        return None

sys.meta_path.insert(0, Noisy())
from vla_r1_ros.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_make_tiny_model_json_survives_a_library_that_prints_on_import(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    out = tmp_path / "tiny"
    done = subprocess.run(
        [sys.executable, "-c", _NOISY_IMPORT, "make-tiny-model", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "NOISE on import" in done.stderr and "NOISE on import, file descriptor 1" in done.stderr
    report = json.loads(done.stdout)  # the whole of stdout is one JSON document
    assert report["path"] == str(out) and (out / "config.json").is_file()
