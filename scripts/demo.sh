#!/usr/bin/env bash
# The main job on the embedded defaults (README). Sets everything up on first use, then:
#   1. scores the bundled example completions with the release's reward and the paper's metrics;
#   2. runs vla_r1_node on a simulated RGB-D camera (loopback-only network namespace), sends one
#      ~/reason goal and saves what the node published as a picture;
#   3. picks an object up with the simulated Panda (the waypoint executor's code, no ROS) and saves
#      the camera's view with the answer and the arm at approach, grasp and lift; with --task carry,
#      carries one to beside another along the answered path instead (the node is then asked both
#      questions) and saves the camera's view with both answers and the arm holding, placing, gone.
#
#   scripts/demo.sh [--task carry] [--model DIR] [--task ...]   (the other options are step 2's, see node_demo.py)
#   VLA_R1_PICK_PREDICTOR=embedded|oracle|DIR    (step 3's predictor; default oracle, the truth:
#                                                 the embedded model does not know the simulator's images yet)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup_env.sh"
# shellcheck disable=SC1091
source "$ROOT/scripts/env.sh"
echo "== 1/3 scoring examples/completions.jsonl (vla-r1 score) =="
vla-r1 score "$ROOT/examples/completions.jsonl" --summary --no-metrics >/dev/null
step3=pick
node_args=()
while [[ $# -gt 0 ]]; do
  if [[ "$1" == "--task" && "${2:-}" == "carry" ]]; then
    step3=carry
    node_args+=(--task both)
    shift 2
  else
    node_args+=("$1")
    shift
  fi
done
echo "== 2/3 vla_r1_node on a simulated RGB-D camera =="
# Exit 3 is the model's answer not being usable (the summary says why): the demo goes on.
status=0
bash "$ROOT/scripts/node_demo.sh" --out "$ROOT/out/demo" "${node_args[@]}" || status=$?
[[ $status -eq 0 || $status -eq 3 ]] || exit "$status"
echo "picture: $ROOT/out/demo/node_demo.png"
predictor="${VLA_R1_PICK_PREDICTOR:-oracle}"
if [[ "$step3" == carry ]]; then
  echo "== 3/3 a carry with the simulated Panda =="
  python -m vla_r1_ros.demos.carry_demo --predictor "$predictor" --seed 5000 --out "$ROOT/out/demo"
else
  echo "== 3/3 a pick with the simulated Panda =="
  python -m vla_r1_ros.demos.pick_demo --predictor "$predictor" --seed 3 --out "$ROOT/out/demo"
fi
