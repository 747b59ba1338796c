"""A few steps of the one-GPU LoRA recipe on a model of VLA-R1's real size, for a session lent a GPU.

The lent machine reaches no model hub, so the model has Qwen2.5-VL-3B-Instruct's architecture
(the config VLA-R1 fine-tunes: 36 text layers of 2048, GQA 16/2, vocabulary 151 936, a 32-block
vision tower of 1280) with random weights and this repository's offline tokenizer. Everything else
is the path a user runs: ``training/configs/one_gpu_lora.yaml`` through ``build_sft_trainer`` /
``build_grpo_trainer`` (TRL, PEFT LoRA r 64, bf16, activation checkpointing), then ``evaluate``.
Only the data (synthetic 448 px scenes with the full chain of thought, as VLA-CoT-13K is not on
the machine) and the step counts differ; GRPO's completions are capped at 128 tokens because a
random model never stops and the release's 2048 would time one step at minutes.

It prints and writes (``--out``/gpu_check.json) per phase: steps, seconds per step, peak GPU
memory, loss / reward. ``--shape tiny`` runs the same code on the 0.2 M-parameter tiny model, on
the CPU too, to check the script before a GPU is at hand::

    python training/experiments/gpu_check.py --out /tmp/gpu_check            # on a GPU machine
    python training/experiments/gpu_check.py --out /tmp/gpu_check --shape tiny  # anywhere
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

def build_model(out: Path, shape: str, image_px: int) -> dict[str, Any]:
    """A random checkpoint of ``shape`` ("3b" or "tiny") with the offline tokenizer, saved in ``out``."""
    import torch
    from transformers import GenerationConfig, Qwen2_5_VLForConditionalGeneration

    from vla_r1_ros.model.tiny import build_processor, build_tiny_model, full_size_config

    start = time.perf_counter()
    build_tiny_model(out, seed=0, size="tiny")  # tokenizer, processor and token ids
    if shape == "3b":
        from transformers import AutoTokenizer

        config: Any = full_size_config(AutoTokenizer.from_pretrained(out))
        device = "cuda" if torch.cuda.is_available() else "cpu"
        with torch.device(device):  # random init on the GPU: seconds instead of minutes on the CPU
            model: Any = Qwen2_5_VLForConditionalGeneration._from_config(  # type: ignore[no-untyped-call]
                config, dtype=torch.bfloat16
            )
        model.generation_config = GenerationConfig.from_pretrained(out)  # the tiny build's eos and pad ids
        model.save_pretrained(out)
        del model
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(out)  # type: ignore[no-untyped-call]
    build_processor(processor.tokenizer, image_px).save_pretrained(out)
    parameters = _parameters(out)
    return {"shape": shape, "parameters": parameters, "image_px": image_px, "build_s": time.perf_counter() - start}


def _parameters(folder: Path) -> int:
    from safetensors import safe_open

    total = 0
    for file in folder.glob("*.safetensors"):
        with safe_open(str(file), "pt") as handle:
            for key in handle.keys():
                count = 1
                for size in handle.get_slice(key).get_shape():
                    count *= size
                total += count
    return total


def _peak_gib() -> float | None:
    import torch

    return round(torch.cuda.max_memory_allocated() / 2**30, 2) if torch.cuda.is_available() else None


def _reset_peak() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def train_phase(name: str, build: Any, config: Any) -> dict[str, Any]:
    """Build the trainer, train, save; the timing excludes the first step (compilation, allocator)."""
    from vla_r1_training.common import save_final

    _reset_peak()
    start = time.perf_counter()
    trainer, processor, _ = build(config)
    loaded = time.perf_counter()
    step_times: list[float] = []

    from transformers import TrainerCallback

    class StepClock(TrainerCallback):
        def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.begin = time.perf_counter()

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            step_times.append(time.perf_counter() - self.begin)

    trainer.add_callback(StepClock())
    trainer.train()
    trainable = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
    save_final(trainer, processor, trainer.args.output_dir)  # merges LoRA into the weights
    logs = [entry for entry in trainer.state.log_history if "loss" in entry or "reward" in entry]
    steady = step_times[1:] or step_times
    result = {
        "phase": name,
        "steps": trainer.state.global_step,
        "load_s": round(loaded - start, 1),
        "first_step_s": round(step_times[0], 2) if step_times else None,
        "s_per_step": round(sum(steady) / len(steady), 2) if steady else None,
        "peak_gpu_gib": _peak_gib(),
        "trainable_parameters": trainable,
        "last_log": logs[-1] if logs else None,
    }
    print(json.dumps(result), flush=True)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="folder for the checkpoint, runs and gpu_check.json")
    parser.add_argument("--shape", choices=("3b", "tiny"), default="3b")
    parser.add_argument("--image-px", type=int, default=448, help="synthetic image side (a multiple of 28)")
    parser.add_argument("--sft-steps", type=int, default=6)
    parser.add_argument("--grpo-steps", type=int, default=3)
    parser.add_argument("--eval-scenes", type=int, default=32)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    import torch
    from vla_r1_training.common import build_datasets
    from vla_r1_training.config import load_config
    from vla_r1_training.evaluate import evaluate_dataset
    from vla_r1_training.grpo import build_grpo_trainer
    from vla_r1_training.sft import build_sft_trainer

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model_dir = out / "model"
    result: dict[str, Any] = {
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
        "torch": torch.__version__,
    }
    result["model"] = build_model(model_dir, args.shape, args.image_px)
    print(json.dumps(result), flush=True)

    def save() -> None:
        (out / "gpu_check.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")

    overrides = [
        f"model.model_name_or_path={model_dir}",
        "data.source=synthetic",
        f"data.image_size={args.image_px}",
        "data.cot=full",
        f"data.num_train={max(64, 40 * args.sft_steps)}",
        f"data.num_eval={args.eval_scenes}",
        f"sft.output_dir={out / 'sft'}",
        f"sft.max_steps={args.sft_steps}",
        "sft.logging_steps=1",
        "sft.save_steps=100000",
        f"grpo.output_dir={out / 'grpo'}",
        f"grpo.max_steps={args.grpo_steps}",
        "grpo.gradient_accumulation_steps=1",
        "grpo.max_completion_length=128",
        "grpo.save_steps=100000",
        "eval.max_new_tokens=128",
    ]
    if args.shape == "tiny":  # the tiny model: small batches so the CPU check takes seconds
        overrides += ["sft.per_device_train_batch_size=2", "sft.gradient_accumulation_steps=1", "model.dtype=float32"]
    config = load_config(ROOT / "training/configs/one_gpu_lora.yaml", overrides)
    result["config_overrides"] = overrides

    result["sft"] = train_phase("sft", build_sft_trainer, config)
    save()
    config.model.model_name_or_path = str(out / "sft")  # GRPO from the SFT model, as a user runs it
    result["grpo"] = train_phase("grpo", build_grpo_trainer, config)
    save()

    _reset_peak()
    _, dataset = build_datasets(config.data, train=False, evaluation=True)
    start = time.perf_counter()
    summary, _ = evaluate_dataset(
        str(out / "grpo"), dataset, out / "eval", num_overlays=2, **config.eval.generation_options()
    )
    result["eval"] = {
        "scenes": len(dataset),
        "s_per_scene": round((time.perf_counter() - start) / len(dataset), 3),
        "valid_rate": summary["valid_rate"],
        "peak_gpu_gib": _peak_gib(),
    }
    print(json.dumps(result["eval"]), flush=True)
    save()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
