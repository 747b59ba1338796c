#!/usr/bin/env bash
# What one lent GPU machine ran (one call, under 10 minutes): the one-GPU LoRA recipe on a
# Qwen2.5-VL-3B-shaped model (gpu_check.py) in the foreground and, sharing the GPU, a sweep of
# GRPO settings on the tiny model from an SFT checkpoint (grpo_sweep.py). Run from the repository
# root on a machine with PyTorch; TRL, datasets and the pinned transformers travel as wheels in
# .whl/ and the SFT model in .gpu_carry/sft_start (see training/results/README.md).
#
#   OUT=/tmp/out bash training/experiments/gpu_session.sh [SWEEP_SECONDS]
set -u
sweep_seconds=${1:-330}
out=${OUT:?set OUT to a folder for the results}
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
if [ -d .whl ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=$PWD:$PWD/training${PYTHONPATH:+:$PYTHONPATH}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/machine.txt"
python3 -c "import torch, transformers, trl, datasets, peft, pyarrow; print('torch', torch.__version__, 'transformers', transformers.__version__, 'trl', trl.__version__, 'datasets', datasets.__version__, 'peft', peft.__version__, 'pyarrow', pyarrow.__version__)" 2>&1 | tee -a "$out/machine.txt"

snapshot() {
    cp /tmp/gpu_check/gpu_check.json "$out/" 2>/dev/null
    tar czf "$out/sweep.tgz" --exclude='*.safetensors' --exclude='checkpoint-*' --exclude='overlays' \
        --exclude='cpu_tiny_model' -C /tmp sweep 2>/dev/null
}

( sleep "${SNAPSHOT_AT:-540}"; snapshot ) &  # in case the call's time limit ends the run first

sweep_log=$out/sweep.log
if [ -d .gpu_carry/sft_start ]; then
    python3 training/experiments/grpo_sweep.py --sft-model .gpu_carry/sft_start --out /tmp/sweep --parallel 8 \
        --threads 1 grpo.max_steps=400 "grpo.time_limit_s=$sweep_seconds" grpo.bf16=false \
        grpo.activation_checkpointing=false eval.dtype=float32 > "$sweep_log" 2>&1 &
    sweep_pid=$!
fi
python3 training/experiments/gpu_check.py --out /tmp/gpu_check 2>&1 | tr '\r' '\n' | grep -v 'it/s\]\|s/it\]' > "$out/gpu_check.log"
snapshot
if [ -n "${sweep_pid:-}" ]; then
    wait "$sweep_pid"
fi
snapshot
tail -n 20 "$out/gpu_check.log"
cat "$sweep_log" 2>/dev/null | tail -n 20
