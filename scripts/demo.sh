#!/usr/bin/env bash
# The main job on the embedded defaults (README). Sets everything up on first use, then:
#   1. scores the bundled example completions with the release's reward and the paper's metrics;
#   2. runs vla_r1_node on a simulated RGB-D camera (loopback-only network namespace), sends one
#      ~/reason goal and saves what the node published as a picture.
#
#   scripts/demo.sh [--model DIR]      (default answers: the embedded tiny model on a top-down scene, see node_demo.py)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup_env.sh"
# shellcheck disable=SC1091
source "$ROOT/scripts/env.sh"
echo "== 1/2 scoring examples/completions.jsonl (vla-r1 score) =="
vla-r1 score "$ROOT/examples/completions.jsonl" --summary --no-metrics >/dev/null
echo "== 2/2 vla_r1_node on a simulated RGB-D camera =="
bash "$ROOT/scripts/node_demo.sh" --out "$ROOT/out/demo" "$@"
echo "picture: $ROOT/out/demo/node_demo.png"
