"""A few real steps of SFT and GRPO on the tiny checkpoint through the CLI, then evaluation and resume.

Runs the stock TRL trainers end to end on the CPU (~30 s): the same code path as the experiment.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("trl")

from vla_r1_training.cli import main as train_cli
from vla_r1_training.config import load_config
from vla_r1_training.grpo import reward_functions
from vla_r1_training.rewards import format_reward, task_reward

SMOKE = Path(__file__).resolve().parent.parent / "training" / "configs" / "cpu_smoke.yaml"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("smoke")


def _common(run_dir: Path) -> list[str]:
    return [
        f"model.model_name_or_path={run_dir / 'tiny'}",
        f"sft.output_dir={run_dir / 'sft'}",
        f"grpo.output_dir={run_dir / 'grpo'}",
        f"eval.output_dir={run_dir / 'eval'}",
    ]


def _log_history(folder: Path) -> list[dict[str, float]]:
    states = sorted(folder.glob("checkpoint-*/trainer_state.json"), key=lambda p: int(p.parent.name.split("-")[1]))
    return json.loads(states[-1].read_text())["log_history"]


@pytest.fixture(scope="module")
def sft_dir(run_dir: Path) -> Path:
    assert train_cli(["sft", "--config", str(SMOKE), *_common(run_dir)]) == 0
    return run_dir / "sft"


def test_sft_trains_on_the_answer_only_and_saves_a_loadable_model(sft_dir: Path, run_dir: Path) -> None:
    assert (run_dir / "tiny" / "config.json").is_file()  # built on first use
    assert (sft_dir / "model.safetensors").is_file() and (sft_dir / "processor_config.json").is_file()
    losses = [entry["loss"] for entry in _log_history(sft_dir) if "loss" in entry]
    assert len(losses) == 4 and all(loss > 0 for loss in losses)

    from vla_r1_training.sft import build_sft_trainer

    config = load_config(SMOKE, [*_common(run_dir), f"model.model_name_or_path={sft_dir}"])
    trainer, processor, _ = build_sft_trainer(config)
    rows = [trainer.train_dataset[i] for i in range(3)]
    batch = trainer.data_collator([dict(r) for r in rows])
    assert "mm_token_type_ids" in batch  # MRoPE keeps its 3-D positions
    tokenizer = processor.tokenizer
    for row, ids, labels in zip(rows, batch["input_ids"], batch["labels"]):
        trained = ids[labels != -100]
        text = tokenizer.decode(trained, skip_special_tokens=False)
        assert text.startswith("<think>") and row["ground_truth"] in text  # the answer, nothing of the prompt
        assert "Please output" not in text and "<|image_pad|>" not in text


def test_grpo_from_the_sft_checkpoint_logs_each_reward(sft_dir: Path, run_dir: Path) -> None:
    assert train_cli(["grpo", "--config", str(SMOKE), *_common(run_dir), f"model.model_name_or_path={sft_dir}"]) == 0
    grpo_dir = run_dir / "grpo"
    assert (grpo_dir / "model.safetensors").is_file()
    logs = [entry for entry in _log_history(grpo_dir) if "reward" in entry]
    assert len(logs) == 2
    for entry in logs:
        assert {"rewards/format_reward/mean", "rewards/task_reward/mean", "kl"} <= set(entry)
        assert entry["reward"] == pytest.approx(
            entry["rewards/format_reward/mean"] + entry["rewards/task_reward/mean"], abs=1e-6
        )

    assert train_cli(["eval", "--config", str(SMOKE), *_common(run_dir), f"eval.model={grpo_dir}"]) == 0
    metrics = json.loads((run_dir / "eval" / "metrics.json").read_text())
    assert metrics["n"] == 8 and sum(metrics["per_task"].values()) == 8
    assert (run_dir / "eval" / "report.md").is_file()
    assert len(list((run_dir / "eval" / "overlays").glob("*.png"))) == 4


def _unpadded_logps(model: Any, inputs: dict[str, Any], row: int) -> Any:
    """Log-probabilities of one rollout's tokens, scored alone: its prompt unpadded, its own image."""
    import torch

    prompt = inputs["prompt_ids"][row][inputs["prompt_mask"][row].bool()]
    completion = inputs["completion_ids"][row][inputs["completion_mask"][row].bool()]
    ids = torch.cat([prompt, completion])[None]
    image_rows = inputs["image_grid_thw"].prod(-1).cumsum(0).tolist()
    first = image_rows[row - 1] if row else 0
    logits = model(
        input_ids=ids,
        attention_mask=torch.ones_like(ids),
        mm_token_type_ids=(ids == model.config.image_token_id).long(),
        pixel_values=inputs["pixel_values"][first : image_rows[row]],
        image_grid_thw=inputs["image_grid_thw"][row : row + 1],
    ).logits
    log_probs = torch.log_softmax(logits[0, len(prompt) - 1 : -1].float(), dim=-1)
    return log_probs.gather(-1, completion[:, None])[:, 0]


def test_grpo_scores_each_rollout_in_the_context_it_was_sampled_in(sft_dir: Path, run_dir: Path) -> None:
    """The loss's log-probabilities are those of each rollout after its own prompt and image.

    GRPOTrainer left-pads the prompts of a batch; a right-padding processor once shifted every
    shorter prompt's image positions there (huggingface/trl#5785), so GRPO trained on contexts
    no rollout was sampled in. Affordance and trajectory prompts differ in length, so the smoke
    batch has padded rows. ``_compute_loss`` is where GRPOTrainer receives a training batch.
    """
    import torch
    from vla_r1_training.grpo import build_grpo_trainer

    overrides = [*_common(run_dir), f"model.model_name_or_path={sft_dir}", f"grpo.output_dir={run_dir / 'grpo_ctx'}"]
    trainer, _, _ = build_grpo_trainer(load_config(SMOKE, [*overrides, "grpo.max_steps=1"]))
    compute_loss = trainer._compute_loss
    checked: list[int] = []

    def scoring_check(model: Any, inputs: dict[str, Any]) -> Any:
        if not checked:
            with torch.no_grad():
                prompt_completion = torch.cat([inputs["prompt_ids"], inputs["completion_ids"]], dim=1)
                mask = torch.cat([inputs["prompt_mask"], inputs["completion_mask"]], dim=1)
                scored, _, _ = trainer._get_per_token_logps_and_entropies(
                    model,
                    prompt_completion,
                    mask,
                    inputs["completion_ids"].size(1),
                    pixel_values=inputs["pixel_values"],
                    image_grid_thw=inputs["image_grid_thw"],
                    num_images=inputs["num_images"],
                    mm_token_type_ids=inputs["mm_token_type_ids"],
                )
                padded = (inputs["prompt_mask"] == 0).any(dim=1)
                assert padded.any() and not padded.all()
                for row in range(scored.size(0)):
                    kept = inputs["completion_mask"][row].bool()
                    alone = _unpadded_logps(model, inputs, row)
                    torch.testing.assert_close(scored[row][kept], alone, atol=1e-4, rtol=1e-4)
                    checked.append(row)
        return compute_loss(model, inputs)

    trainer._compute_loss = scoring_check
    trainer.train()
    assert len(checked) == trainer.args.per_device_train_batch_size


def test_sft_resumes_from_its_last_checkpoint(
    sft_dir: Path, run_dir: Path, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    from safetensors.torch import load_file

    checkpoint = load_file(str(sft_dir / "checkpoint-4" / "model.safetensors"))
    final = (sft_dir / "model.safetensors").stat().st_mtime_ns
    # Resuming a finished run trains nothing and says so (the Trainer alone would run a fifth step,
    # at a learning rate of 0 here, and write checkpoint-5).
    assert train_cli(["sft", "--config", str(SMOKE), *_common(run_dir), "sft.max_steps=4", "--resume"]) == 0
    assert not (sft_dir / "checkpoint-5").exists() and (sft_dir / "checkpoint-4").is_dir()
    assert "already finished (step 4 of 4); nothing to train" in caplog.text
    assert (sft_dir / "model.safetensors").stat().st_mtime_ns == final  # the final model is left alone
    resumed = load_file(str(sft_dir / "model.safetensors"))
    assert resumed.keys() == checkpoint.keys()
    assert all(bool((resumed[k] == checkpoint[k]).all()) for k in checkpoint)
    capfd.readouterr()
    args = ["sft", "--config", str(SMOKE), *_common(run_dir), "sft.max_steps=6", "--resume"]
    assert train_cli(args) == 0
    # the checkpoint's weights load by name: no key mismatch for the Trainer to warn about
    assert "missing keys" not in capfd.readouterr().err
    history = _log_history(sft_dir)
    steps = [entry["step"] for entry in history if "loss" in entry]
    assert steps == [1, 2, 3, 4, 5, 6]  # steps 1-4 from the first run, 5-6 after resuming


def test_a_finished_run_without_its_final_model_gets_it_from_the_checkpoint(sft_dir: Path, run_dir: Path) -> None:
    """The final save failed (a crash after the last checkpoint): resuming writes it, training nothing."""
    from safetensors.torch import load_file

    last = max(sft_dir.glob("checkpoint-*"), key=lambda path: int(path.name.split("-")[1]))
    (sft_dir / "model.safetensors").unlink()
    (sft_dir / "config.json").unlink()
    steps = f"sft.max_steps={last.name.split('-')[1]}"
    assert train_cli(["sft", "--config", str(SMOKE), *_common(run_dir), steps, "--resume"]) == 0
    saved, trained = load_file(str(sft_dir / "model.safetensors")), load_file(str(last / "model.safetensors"))
    assert saved.keys() == trained.keys() and all(bool((saved[k] == trained[k]).all()) for k in trained)
    assert sorted(path.name for path in sft_dir.glob("checkpoint-*")) == [last.name]


def test_reward_functions_are_the_adapters() -> None:
    assert reward_functions(["format", "task"]) == [format_reward, task_reward]
    bound = reward_functions(["task"], "dedup_waypoints")[0]
    assert bound.__name__ == "task_reward" and bound.keywords == {"variant": "dedup_waypoints"}
    truth = "<think>t</think><output>[[0.1, 0.1], [0.5, 0.5]]</output>"
    repeated = "<think>t</think><output>[[0.1, 0.1], [0.1, 0.1], [0.5, 0.5]]</output>"
    assert task_reward([repeated], [truth])[0] < bound([repeated], ground_truth=[truth])[0]
    with pytest.raises(ValueError, match="unknown reward"):
        reward_functions(["iou"])
