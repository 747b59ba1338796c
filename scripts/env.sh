# Source me: `source scripts/env.sh` — the project's venv, the colcon overlay and safe ROS settings.
_vla_r1_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_vla_r1_venv="${VLA_R1_VENV:-${XDG_DATA_HOME:-$HOME/.local/share}/vla_r1_ros/venv-py311}"
# colcon's and venv's setup scripts read unset variables; allow that even under `set -u`.
_vla_r1_restore_nounset="$(set +o | grep nounset)"
set +u
# shellcheck disable=SC1091
source "$_vla_r1_venv/bin/activate"
export AMENT_PREFIX_PATH="$_vla_r1_venv${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
export LD_LIBRARY_PATH="$_vla_r1_venv/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
# launch, the ros2 command, tf2, control_msgs, moveit_msgs (scripts/setup_env.sh builds them when
# their sources are available); our own overlay goes on top.
_vla_r1_ros2_prefix="${VLA_R1_ROS2_PREFIX:-$_vla_r1_venv-ros2}"
# local_setup.bash here and below: a prefix's own packages only. Its setup.bash would also chain
# the prefixes sourced when it was built (another checkout's install/) and import that code.
if [[ -f "$_vla_r1_ros2_prefix/local_setup.bash" ]]; then
  # shellcheck disable=SC1091
  source "$_vla_r1_ros2_prefix/local_setup.bash"
fi
if [[ -f "$_vla_r1_root/install/local_setup.bash" ]]; then
  # shellcheck disable=SC1091
  source "$_vla_r1_root/install/local_setup.bash"
fi
# DDS discovery stays on this host; rclpy writes its logs inside the work tree.
export ROS_AUTOMATIC_DISCOVERY_RANGE="${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}"
export ROS_HOME="${ROS_HOME:-$_vla_r1_root/.ros_home}"
export HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}"
# Full-size RGB-D frames need a larger Fast DDS shared-memory segment than the default (see the
# profile's comment and the README's "Transport"); an existing choice of profile is kept.
export FASTRTPS_DEFAULT_PROFILES_FILE="${FASTRTPS_DEFAULT_PROFILES_FILE:-$_vla_r1_root/config/fastdds_rgbd.xml}"
eval "$_vla_r1_restore_nounset"
unset _vla_r1_root _vla_r1_venv _vla_r1_ros2_prefix _vla_r1_restore_nounset
