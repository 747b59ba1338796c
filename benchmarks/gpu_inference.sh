#!/usr/bin/env bash
# The GPU measurement of the inference fast path, as one prepared run (a lent H100 or H200):
#   bash benchmarks/gpu_inference.sh            # writes benchmarks/results/inference_<card>.json and .txt
# Needs the project's venv (scripts/setup_env.sh) with a CUDA build of torch on the machine.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck disable=SC1091
source "$ROOT/scripts/env.sh"
card="$(python -c 'import torch; print(torch.cuda.get_device_name(0).replace(" ", "_"))')"
out="$ROOT/benchmarks/results/inference_${card}"
python "$ROOT/benchmarks/bench_inference.py" --device cuda --full-size --skip-server --json "$out.json" | tee "$out.txt"
