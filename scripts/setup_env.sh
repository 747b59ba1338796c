#!/usr/bin/env bash
# Create (or refresh) the project's environment and build the ROS 2 package with colcon.
#
#   scripts/setup_env.sh
#
# The venv lives outside the source tree (CMake refuses exported include directories inside the
# package's source directory): $VLA_R1_VENV, by default ~/.local/share/vla_r1_ros/venv-py311.
# The colcon workspace is build/ install/ log/ in the repository.
#
# Idempotent: pip runs only when requirements/ changes, and colcon rebuilds
# incrementally. Everything comes from PyPI (pinned, see requirements/) and Debian (static ROS
# checks). Afterwards `source scripts/env.sh` gives a shell with rclpy, the generated messages,
# torch/transformers/TRL and the `vla-r1` CLI.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VLA_R1_VENV:-${XDG_DATA_HOME:-$HOME/.local/share}/vla_r1_ros/venv-py311}"
PYTHON="${VLA_R1_PYTHON:-python3}"
log() { printf '[setup] %s\n' "$*" >&2; }

# --- Debian tools for the static interface checks (rosidl translate, ament_xmllint) -----------
DEBIAN_PACKAGES=(python3-rosidl rosidl-tools python3-empy python3-catkin-pkg python3-ament-xmllint iproute2 util-linux)
missing=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -eq 0 ]]; then
    log "installing Debian packages: ${missing[*]}"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    log "missing Debian packages: ${missing[*]}"
    log "install them with: sudo apt-get install ${missing[*]}"
    exit 1
  fi
fi

# --- Python environment ---------------------------------------------------------------------
"$PYTHON" - <<'EOF' || { log "Python 3.11 is required (the ros-jazzy-* wheels are built for it)"; exit 1; }
import sys
sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)
EOF
stamp="$(cat "$ROOT"/requirements/*.txt | sha256sum | cut -d' ' -f1)"
if [[ ! -x "$VENV/bin/python" ]]; then
  log "creating the Python environment in $VENV (first time: a few minutes)"
  mkdir -p "$(dirname "$VENV")"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check "pip==25.3"
fi
if [[ "$(cat "$VENV/.vla_r1_stamp" 2>/dev/null)" != "$stamp" ]]; then
  log "installing the pinned requirements into $VENV"
  # torch first and alone: it decides which CUDA/CPU wheels the rest sees.
  "$VENV/bin/python" -m pip install -q -c "$ROOT/requirements/constraints.txt" -r "$ROOT/requirements/ml.txt"
  "$VENV/bin/python" -m pip install -q -c "$ROOT/requirements/constraints.txt" \
    -r "$ROOT/requirements/ros.txt" -r "$ROOT/requirements/core.txt" -r "$ROOT/requirements/test.txt"
  # The ROS wheels' CMake exports hard-code their build machine's Python and NumPy include
  # directories; point them at this environment's.
  py_include="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
  np_include="$("$VENV/bin/python" -c 'import numpy; print(numpy.get_include())')"
  grep -rlE '/opt/python/cp3[0-9]+-cp3[0-9]+' "$VENV/share" 2>/dev/null | while read -r file; do
    sed -i -E \
      -e "s#/opt/python/cp3[0-9]+-cp3[0-9]+/lib/python3\.[0-9]+/site-packages/numpy/(_core|core)/include#${np_include}#g" \
      -e "s#/opt/python/cp3[0-9]+-cp3[0-9]+/include/python3\.[0-9]+#${py_include}#g" "$file"
  done
  # colcon must never crawl the venv's share/ (it holds other packages' package.xml files).
  touch "$VENV/COLCON_IGNORE"
  echo "$stamp" >"$VENV/.vla_r1_stamp"
else
  log "Python environment up to date ($VENV)"
fi
# The `vla-r1` command, installed from this checkout (cheap; redone when the checkout moves).
if [[ "$("$VENV/bin/python" -I -c 'import vla_r1_ros, os; print(os.path.dirname(os.path.dirname(vla_r1_ros.__file__)))' 2>/dev/null)" != "$ROOT" ]]; then
  "$VENV/bin/python" -m pip install -q --no-deps --no-build-isolation -e "$ROOT" >/dev/null
fi

# --- ROS 2 pieces without PyPI wheels: launch, the ros2 command, tf2, control_msgs, moveit_msgs ---
# Built from unmodified upstream Jazzy sources when they are present (VLA_R1_ROS2_VENDOR, by
# default ../shared/ros2_vendor beside the checkout) into a prefix next to the venv, once per
# machine (5-8 minutes; later runs check a stamp and skip). Without them everything else still
# works and the tests that need them skip, saying what is missing (CI requires them).
VENDOR="${VLA_R1_ROS2_VENDOR:-$ROOT/../shared/ros2_vendor}"
ROS2_PREFIX="${VLA_R1_ROS2_PREFIX:-$VENV-ros2}"
if [[ -x "$VENDOR/install.sh" || -f "$VENDOR/install.sh" ]]; then
  log "ROS 2 launch, ros2 CLI, tf2, control_msgs, moveit_msgs from $VENDOR into $ROS2_PREFIX"
  bash "$VENDOR/install.sh" "$VENV" "$ROS2_PREFIX"
else
  log "no ROS 2 vendor sources at $VENDOR: skipping launch/ros2/tf2/control_msgs/moveit_msgs (tests needing them skip)"
fi

# --- colcon build (interfaces generated with rosidl, Python package installed) ---------------
log "colcon build"
mkdir -p "$ROOT/log"
(
  cd "$ROOT"
  export PATH="$VENV/bin:$PATH" VIRTUAL_ENV="$VENV"
  export CMAKE_PREFIX_PATH="$VENV" AMENT_PREFIX_PATH="$VENV"
  export LD_LIBRARY_PATH="$VENV/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  # ccache (a pinned wheel) keeps the compiled interface code of earlier builds; CCACHE_BASEDIR
  # makes a second checkout of the same sources (a fresh clone, the doc test's copies) hit it.
  launcher=()
  if [[ -x "$VENV/bin/ccache" ]]; then
    export CCACHE_BASEDIR="$ROOT"
    launcher=(-DCMAKE_C_COMPILER_LAUNCHER="$VENV/bin/ccache" -DCMAKE_CXX_COMPILER_LAUNCHER="$VENV/bin/ccache")
  fi
  colcon --log-base "$ROOT/log" build --paths "$ROOT" --build-base "$ROOT/build" \
    --install-base "$ROOT/install" --symlink-install --event-handlers console_cohesion- summary- \
    --cmake-args -DPython3_EXECUTABLE="$VENV/bin/python" -DBUILD_TESTING=OFF "${launcher[@]}" \
    >"$ROOT/log/colcon_build.txt" 2>&1 \
    || { cat "$ROOT/log/colcon_build.txt" >&2; log "colcon build failed"; exit 1; }
)
log "ready: source scripts/env.sh"
