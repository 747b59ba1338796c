#!/usr/bin/env bash
# vla_r1_node on a simulated RGB-D camera, inside a loopback-only network namespace.
#   scripts/node_demo.sh [--out DIR] [--model embedded|oracle|DIR] [--scene topdown|pybullet] [--task affordance|trajectory|both]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck disable=SC1091
source "$ROOT/scripts/env.sh"
netns=(unshare -n)
[[ $(id -u) -eq 0 ]] || netns=(unshare -r -n)
exec "${netns[@]}" -- bash -c 'ip link set lo up && exec "$@"' _ python -m vla_r1_ros.demos.node_demo "$@"
