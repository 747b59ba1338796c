#!/usr/bin/env bash
# The main job on the embedded defaults (README). Sets everything up on first use, then:
#   1. scores the bundled example completions with the release's reward and the paper's metrics;
#   2. runs vla_r1_node on a simulated RGB-D camera (loopback-only network namespace), sends one
#      ~/reason goal and saves what the node published as a picture;
#   3. picks an object up with the simulated Panda (the waypoint executor's code, no ROS) and saves
#      the camera's view with the answer and the arm at approach, grasp and lift.
#
#   scripts/demo.sh [--model DIR] [--task ...]   (options of step 2, see node_demo.py)
#   VLA_R1_PICK_PREDICTOR=embedded|oracle|DIR    (step 3's predictor; default oracle, the true box:
#                                                 the embedded model does not know the simulator's images yet)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup_env.sh"
# shellcheck disable=SC1091
source "$ROOT/scripts/env.sh"
echo "== 1/3 scoring examples/completions.jsonl (vla-r1 score) =="
vla-r1 score "$ROOT/examples/completions.jsonl" --summary --no-metrics >/dev/null
echo "== 2/3 vla_r1_node on a simulated RGB-D camera =="
bash "$ROOT/scripts/node_demo.sh" --out "$ROOT/out/demo" "$@"
echo "picture: $ROOT/out/demo/node_demo.png"
echo "== 3/3 a pick with the simulated Panda =="
python -m vla_r1_ros.demos.pick_demo --predictor "${VLA_R1_PICK_PREDICTOR:-oracle}" --seed 3 --out "$ROOT/out/demo"
