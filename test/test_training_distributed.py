"""Training on two CPU processes (gloo), as a user launches it: torchrun (data parallel) and accelerate +
DeepSpeed ZeRO-3, on the tiny config, from fresh folders.

The real check: two processes with per-device batch b follow the loss curve of one process with
batch 2b on the same data and seed (each optimiser step sees the same 2b rows and averages over
the same tokens), within LOSS_TOLERANCE nats. Measured here: 6.3239 / 5.9131 / 5.4588 at steps
2 / 4 / 6 on two processes, 6.3239 / 5.9131 / 5.4590 on one; ZeRO-3 gives the two-process numbers.

Every launch opens sockets, so the tests run only inside a loopback-only network namespace (as
scripts/run_tests.sh runs them). Six launches: 85 s on an idle 2-core machine (125 s while other
tests load it), plus ~30 s the first time DeepSpeed JIT-builds its CPU communication op on a machine.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("trl")

from vla_r1_training.cli import main as train_cli

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "training" / "configs"
TINY = CONFIGS / "cpu_tiny.yaml"
#: Largest difference allowed between the one- and two-process losses at a logged step (nats):
#: ten times the largest seen (1.6e-4, float sums in another order), far below a step's change.
LOSS_TOLERANCE = 2e-3
PER_DEVICE = 4
DATA = ["data.num_train=256", "data.num_eval=16"]
SFT = [*DATA, "sft.logging_steps=2", "sft.save_steps=2"]
GRPO = [
    *DATA,
    "grpo.max_steps=2",
    f"grpo.per_device_train_batch_size={PER_DEVICE}",
    "grpo.num_generations=4",
    "grpo.gradient_accumulation_steps=1",
    "grpo.max_completion_length=24",
    "grpo.logging_steps=1",
    "grpo.save_steps=2",
]


@pytest.fixture(scope="module", autouse=True)
def loopback_only() -> None:
    from vla_r1_ros.ros.loopback import loopback_only_reason

    reason = loopback_only_reason()
    if reason is not None:
        if os.environ.get("VLA_R1_REQUIRE_ROS") == "1":
            pytest.fail(reason)
        pytest.skip(reason)


@dataclass
class Launch:
    command: list[str]
    done: subprocess.CompletedProcess[str]

    def check(self) -> Launch:
        assert self.done.returncode == 0, f"{self.command}\n{self.done.stdout[-3000:]}\n{self.done.stderr[-6000:]}"
        return self


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _launch(launcher: list[str], arguments: list[str]) -> Launch:
    """``python -m vla_r1_training.cli ARGUMENTS`` started by ``launcher`` on two processes."""
    env = {key: value for key, value in os.environ.items() if key not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env.update(GLOO_SOCKET_IFNAME="lo", OMP_NUM_THREADS="1")
    command = [sys.executable, "-m", *launcher, "-m", "vla_r1_training.cli", *arguments]
    return Launch(command, subprocess.run(command, capture_output=True, text=True, timeout=300, env=env, cwd=ROOT))


def _torchrun(arguments: list[str]) -> Launch:
    return _launch(["torch.distributed.run", "--standalone", "--nproc_per_node", "2"], arguments)


def _zero3(arguments: list[str]) -> Launch:
    config = CONFIGS / "accelerate_zero3_cpu.yaml"
    port = str(_free_port())
    return _launch(["accelerate.commands.launch", "--config_file", str(config), "--main_process_port", port], arguments)


def _losses(run: Path) -> dict[int, float]:
    """Logged training loss by step, from the run's newest checkpoint."""
    checkpoints = sorted(run.glob("checkpoint-*"), key=lambda path: int(path.name.split("-")[1]))
    history = json.loads((checkpoints[-1] / "trainer_state.json").read_text())["log_history"]
    return {entry["step"]: entry["loss"] for entry in history if "loss" in entry}


def _assert_one_loadable_model(run: Path, checkpoint: str) -> None:
    """The final model loads and holds the trained weights (those of the last checkpoint), in full."""
    import torch
    from safetensors.torch import load_file
    from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration

    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(run)
    assert hasattr(AutoProcessor.from_pretrained(run), "image_processor")
    final, trained = load_file(str(run / "model.safetensors")), load_file(str(run / checkpoint / "model.safetensors"))
    assert final.keys() == trained.keys()
    assert all(torch.equal(final[key], trained[key]) for key in trained)
    assert sum(p.numel() for p in model.parameters()) == sum(
        t.numel() for k, t in final.items() if k != "lm_head.weight"
    )


def _assert_said_once(launch: Launch, text: str) -> None:
    assert launch.done.stdout.count(text) == 1, launch.done.stdout[-2000:]


@pytest.fixture(scope="module")
def ddp_sft(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Launch, Launch]:
    """Two processes from a fresh model folder (built on first use): 4 steps, then --resume to 6."""
    root = tmp_path_factory.mktemp("ddp")
    common = [
        "sft",
        "--config",
        str(TINY),
        *SFT,
        f"sft.per_device_train_batch_size={PER_DEVICE}",
        f"model.model_name_or_path={root / 'init'}",
        f"sft.output_dir={root / 'sft'}",
    ]
    first = _torchrun([*common, "sft.max_steps=4"]).check()
    resumed = _torchrun([*common, "sft.max_steps=6", "--resume"]).check()
    return root, first, resumed


@pytest.fixture(scope="module")
def one_process_losses(
    ddp_sft: tuple[Path, Launch, Launch], tmp_path_factory: pytest.TempPathFactory
) -> dict[int, float]:
    """One process, batch 2 x PER_DEVICE, the same initial model, data and seed, 6 steps."""
    root, _, _ = ddp_sft
    out = tmp_path_factory.mktemp("one") / "sft"
    args = ["sft", "--config", str(TINY), *SFT, f"model.model_name_or_path={root / 'init'}", f"sft.output_dir={out}"]
    assert train_cli([*args, "sft.max_steps=6", f"sft.per_device_train_batch_size={2 * PER_DEVICE}"]) == 0
    return _losses(out)


def test_two_processes_build_the_model_once_train_resume_and_save_once(ddp_sft: tuple[Path, Launch, Launch]) -> None:
    root, first, resumed = ddp_sft
    assert (root / "init" / "config.json").is_file()
    assert not list(root.glob(".init.building-*"))  # the staging folder of the build is gone
    for launch in (first, resumed):
        _assert_said_once(launch, "SFT model saved to")
        assert "missing keys" not in launch.done.stderr  # the checkpoint reloaded by name
    assert sorted(_losses(root / "sft")) == [2, 4, 6]  # steps 2, 4 from the first launch, 6 after resuming
    assert not (root / "sft" / "checkpoint-7").exists()
    assert (root / "sft" / "train_data" / "data_section.json").is_file()  # built once, read by both
    _assert_one_loadable_model(root / "sft", "checkpoint-6")


def test_two_processes_follow_the_one_process_loss_curve(
    ddp_sft: tuple[Path, Launch, Launch], one_process_losses: dict[int, float]
) -> None:
    two = _losses(ddp_sft[0] / "sft")
    assert sorted(one_process_losses) == sorted(two) == [2, 4, 6]
    for step, loss in one_process_losses.items():
        assert two[step] == pytest.approx(loss, abs=LOSS_TOLERANCE), (step, two, one_process_losses)
    assert two[6] < two[2] - 0.5  # it learns: the tolerance is far below what a step changes


def test_grpo_on_two_processes(ddp_sft: tuple[Path, Launch, Launch]) -> None:
    root = ddp_sft[0]
    run = root / "grpo"
    launch = _torchrun(
        ["grpo", "--config", str(TINY), *GRPO, f"model.model_name_or_path={root / 'sft'}", f"grpo.output_dir={run}"]
    ).check()
    _assert_said_once(launch, "GRPO model saved to")
    history = json.loads((run / "checkpoint-2" / "trainer_state.json").read_text())["log_history"]
    assert [entry["step"] for entry in history if "reward" in entry] == [1, 2]
    _assert_one_loadable_model(run, "checkpoint-2")


@pytest.fixture(scope="module")
def zero3(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Launch, Launch]:
    """SFT (4 steps, from a fresh model folder) then GRPO (2 steps), both under ZeRO-3 on two processes."""
    pytest.importorskip("deepspeed")
    root = tmp_path_factory.mktemp("zero3")
    sft = _zero3(
        [
            "sft",
            "--config",
            str(TINY),
            *SFT,
            "sft.max_steps=4",
            f"sft.per_device_train_batch_size={PER_DEVICE}",
            f"model.model_name_or_path={root / 'init'}",
            f"sft.output_dir={root / 'sft'}",
        ]
    ).check()
    grpo = _zero3(
        [
            "grpo",
            "--config",
            str(TINY),
            *GRPO,
            f"model.model_name_or_path={root / 'sft'}",
            f"grpo.output_dir={root / 'grpo'}",
        ]
    ).check()
    return root, sft, grpo


def _zero3_shards(checkpoint: Path) -> list[str]:
    return sorted(path.name for path in checkpoint.glob("global_step*/zero_pp_rank_*_model_states.pt"))


def test_zero3_sft_follows_the_same_loss_curve_and_saves_the_gathered_model(
    zero3: tuple[Path, Launch, Launch], one_process_losses: dict[int, float]
) -> None:
    root, sft, _ = zero3
    _assert_said_once(sft, "SFT model saved to")
    assert _zero3_shards(root / "sft" / "checkpoint-4") == [
        "zero_pp_rank_0_mp_rank_00_model_states.pt",
        "zero_pp_rank_1_mp_rank_00_model_states.pt",
    ]
    losses = _losses(root / "sft")
    assert sorted(losses) == [2, 4]
    for step, loss in losses.items():
        assert loss == pytest.approx(one_process_losses[step], abs=LOSS_TOLERANCE), (step, losses)
    _assert_one_loadable_model(root / "sft", "checkpoint-4")  # not the empty partitions of each process


def test_zero3_grpo(zero3: tuple[Path, Launch, Launch]) -> None:
    root, _, grpo = zero3
    _assert_said_once(grpo, "GRPO model saved to")
    assert len(_zero3_shards(root / "grpo" / "checkpoint-2")) == 2
    _assert_one_loadable_model(root / "grpo", "checkpoint-2")


def test_a_grpo_batch_that_cannot_split_over_the_processes_is_refused_before_loading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """Per-device batch 3 on 2 processes samples 6 completions per round: not groups of 4. TRL would
    refuse in terms of its generation batch; this names the numbers to change, before any model."""
    monkeypatch.setenv("WORLD_SIZE", "2")
    args = [*GRPO, "grpo.per_device_train_batch_size=3", f"model.model_name_or_path={tmp_path / 'init'}"]
    assert train_cli(["grpo", "--config", str(TINY), *args]) == 2
    err = capsys.readouterr().err
    assert "on 2 processes" in err and "= 6 completions" in err and "num_generations 4" in err
    assert "per_device_train_batch_size to a multiple of 2" in err and "[2, 3, 6]" in err
    assert not (tmp_path / "init").exists()  # refused before building or loading anything
