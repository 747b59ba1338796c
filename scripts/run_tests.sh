#!/usr/bin/env bash
# The test command (README, CI): set up the environment, build the ROS package with colcon, run
# the static checks (ROS package, ruff, mypy), then the test suite inside a loopback-only network namespace.
#
#   scripts/run_tests.sh [pytest arguments...]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
started=$SECONDS
log() { printf '[test] %s\n' "$*" >&2; }

bash "$ROOT/scripts/setup_env.sh"
# shellcheck disable=SC1091
source "$ROOT/scripts/env.sh"
cd "$ROOT"

log "static checks: ament_xmllint, rosidl translate, catkin_pkg"
env -u PYTHONPATH /usr/bin/ament_xmllint package.xml
idl_out="$(mktemp -d)"
trap 'rm -rf "$idl_out"' EXIT
env -u PYTHONPATH /usr/bin/rosidl translate --to idl -o "$idl_out" vla_r1_ros msg/*.msg action/*.action >/dev/null
python -c 'from catkin_pkg.package import parse_package; p = parse_package("package.xml"); p.validate(); print(f"catkin_pkg: {p.name} {p.version} valid")'
python -c 'import vla_r1_ros.msg, vla_r1_ros.action, vla_r1_ros.core.rewards; print("generated interfaces importable from", vla_r1_ros.msg.__file__)'

log "static checks: ruff check, mypy (ruff.toml, mypy.ini)"
ruff check vla_r1_ros benchmarks test scripts
mypy vla_r1_ros

# The node converts images without cv_bridge so that it runs beside ROS's NumPy 1.x too: check
# the conversion under NumPy 1.26 in a small side environment (numpy and pytest only).
log "image conversion under NumPy 1.x"
numpy1_venv="${VLA_R1_VENV:-${XDG_DATA_HOME:-$HOME/.local/share}/vla_r1_ros/venv-py311}-numpy1"
if [[ ! -x "$numpy1_venv/bin/python" ]]; then
  python3 -m venv "$numpy1_venv"
  "$numpy1_venv/bin/python" -m pip install -q --disable-pip-version-check "numpy==1.26.4" "pytest==9.2.0"
fi
PYTHONPATH="$ROOT" "$numpy1_venv/bin/python" -m pytest -q -p no:cacheprovider --noconftest test/test_images.py

log "test suite (loopback-only network namespace)"
netns=(unshare -n)
[[ $(id -u) -eq 0 ]] || netns=(unshare -r -n)
export VLA_R1_REQUIRE_ROS=1 ROS_PYTHON_CHECK_FIELDS=1
status=0
"${netns[@]}" -- bash -c 'ip link set lo up && exec "$@"' _ \
  python -m pytest -q -p no:cacheprovider "$ROOT/test" "$@" || status=$?
log "finished in $((SECONDS - started)) s (exit $status)"
exit $status
