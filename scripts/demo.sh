#!/usr/bin/env bash
# The main job on the embedded default (README): set up, then score the bundled example
# completions with the release's reward and print per-line results and a summary.
#
#   scripts/demo.sh [FILE.jsonl]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup_env.sh"
# shellcheck disable=SC1091
source "$ROOT/scripts/env.sh"
vla-r1 score "${1:-$ROOT/examples/completions.jsonl}" --summary
