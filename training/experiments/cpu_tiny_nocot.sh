#!/usr/bin/env bash
# Diagnostic after cpu_tiny.py (needs its training/runs/cpu_tiny/init): the same model and data
# but no chain of thought (the box is the first location-dependent token), 6 minutes of SFT, then
# evaluation on the same 500 held-out scenes. Tests whether the CoT-first answer is what kept the
# SFT model from grounding within the CPU budget.
set -euo pipefail
cd "$(dirname "$0")/../.."
common=(data.cot=none model.model_name_or_path=training/runs/cpu_tiny/init)
vla-r1-train sft --config training/configs/cpu_tiny.yaml "${common[@]}" data.num_train=8000 \
  sft.max_steps=500 sft.time_limit_s=360 sft.output_dir=training/runs/cpu_tiny_nocot/sft
vla-r1-train eval --config training/configs/cpu_tiny.yaml "${common[@]}" \
  eval.model=training/runs/cpu_tiny_nocot/sft eval.output_dir=training/results/cpu_tiny_nocot_eval/sft
