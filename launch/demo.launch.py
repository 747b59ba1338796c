"""VLA-R1 picking things up: the reasoning node, the waypoint executor, a camera, an arm and RViz.

    ros2 launch vla_r1_ros demo.launch.py                      # simulated Panda and camera, embedded model
    ros2 run vla_r1_ros pick "pick up the red circle"          # then: one whole pick, outcome printed

With ``sim:=true`` (default) ``sim_arm`` simulates a Franka Panda, a table, objects and a camera;
the reasoning node answers with the embedded model and the executor runs its ``sim`` backend with
approval automatic and dry run off (simulation only). With ``sim:=false`` the reasoning node
listens to your RGB-D camera and the executor hands plans to MoveIt's move_group with dry run and
approval on:

    ros2 launch vla_r1_ros demo.launch.py sim:=false model:=/path/to/vla-r1 camera_namespace:=camera

``record:=true`` records every run into its own MCAP bag (vla_r1_recorder, into runs/ of the
working folder); ``teleop:=xbox`` or ``teleop:=spacemouse`` (``true`` is ``xbox``) starts the
device's driver (joy's game_controller_node, spacenav) and vla_r1_teleop, which sends MoveIt
Servo twists: the simulated arm follows them itself, a real arm needs MoveIt Servo running.
"""

from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
from launch import LaunchContext, LaunchDescription
from launch.actions import DeclareLaunchArgument, LogInfo, OpaqueFunction, SetEnvironmentVariable
from launch.substitutions import EnvironmentVariable, LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

ARGUMENTS = [
    ("sim", "true", "true: simulated Panda, table, objects and camera; false: your camera and MoveIt's move_group"),
    ("model", "embedded", "embedded (the shipped tiny model), a Hub id, a local folder, or an http(s):// server URL"),
    ("device", "auto", "where the model runs: auto, cuda or cpu"),
    ("camera_namespace", "camera", "namespace of the RGB-D camera topics"),
    ("color_topic", "color/image_raw", "colour image topic, relative to camera_namespace"),
    ("depth_topic", "aligned_depth_to_color/image_raw", "depth registered to colour, relative to camera_namespace"),
    ("camera_info_topic", "color/camera_info", "CameraInfo of the colour image, relative to camera_namespace"),
    ("target_frame", "panda_link0", "frame of the 3-D targets and waypoints (the executor's planning frame)"),
    ("use_depth", "true", "lift answers to 3-D with depth (false: 2-D answers only)"),
    ("executor", "true", "start the waypoint executor"),
    ("backend", "auto", "executor backend: auto (sim with sim:=true, move_group otherwise), sim, move_group or moveit_py"),
    ("moveit_params", "", "backend:=moveit_py: a YAML of MoveIt's parameters for MoveItPy (see the README's executor section)"),
    ("dry_run", "auto", "executor dry run: auto (false in simulation, true otherwise), true or false"),
    ("require_approval", "auto", "operator approval: auto (false in simulation, true otherwise), true or false"),
    ("seed", "0", "scene seed of the simulated arm"),
    ("rviz", "true", "start RViz with the VLA-R1 display configuration (skipped, with a warning, where RViz is not installed)"),
    ("record", "false", "true: record each run into its own MCAP bag and run.json (vla_r1_recorder, runs/)"),
    ("teleop", "false", "false, xbox (Xbox or Logitech F710 via joy), spacemouse (spacenav); true means xbox"),
]
REASONING_ARGUMENTS = (
    "model", "device", "camera_namespace", "color_topic", "depth_topic", "camera_info_topic", "target_frame", "use_depth",
)  # fmt: skip


def generate_launch_description() -> LaunchDescription:
    package = FindPackageShare("vla_r1_ros")
    declared = [DeclareLaunchArgument(name, default_value=default, description=text) for name, default, text in ARGUMENTS]
    # Full-size RGB-D needs a larger Fast DDS shared-memory segment (see the profile); a profile
    # already chosen in the environment wins. Start the camera driver with the same variable.
    profile = DeclareLaunchArgument(
        "fastdds_profile",
        default_value=EnvironmentVariable(
            "FASTRTPS_DEFAULT_PROFILES_FILE", default_value=PathJoinSubstitution([package, "config", "fastdds_rgbd.xml"])
        ),
        description="Fast DDS XML profile for the started processes (default: config/fastdds_rgbd.xml)",
    )
    use_profile = SetEnvironmentVariable("FASTRTPS_DEFAULT_PROFILES_FILE", LaunchConfiguration("fastdds_profile"))
    return LaunchDescription(
        [*declared, profile, use_profile, OpaqueFunction(function=_reasoning), OpaqueFunction(function=_arm),
         OpaqueFunction(function=_viewer), OpaqueFunction(function=_teleop), OpaqueFunction(function=_recorder)]
    )  # fmt: skip


def _reasoning(context: LaunchContext) -> list:
    overrides: dict = {name: LaunchConfiguration(name) for name in REASONING_ARGUMENTS}
    if _flag(context, "sim", True):  # the simulated objects are 4-6 cm tall: close the fingers 2 cm below the top
        overrides.update(grasp_depth=0.02, approach_height=0.1)
    config = PathJoinSubstitution([FindPackageShare("vla_r1_ros"), "config", "vla_r1_node.yaml"])
    return [Node(package="vla_r1_ros", executable="vla_r1_node", name="vla_r1_node", output="screen",
                 parameters=[config, overrides])]  # fmt: skip


def _flag(context: LaunchContext, name: str, automatic: bool) -> bool:
    value = LaunchConfiguration(name).perform(context).strip().lower()
    return automatic if value == "auto" else value in ("true", "1", "yes")


def _arm(context: LaunchContext) -> list:
    """The simulated arm (sim:=true) and the executor, with their safe defaults for each mode."""
    package = FindPackageShare("vla_r1_ros")
    simulated = _flag(context, "sim", True)
    actions: list = []
    if simulated:
        actions.append(
            Node(
                package="vla_r1_ros",
                executable="sim_arm",
                name="sim_arm",
                output="screen",
                parameters=[
                    PathJoinSubstitution([package, "config", "sim_arm.yaml"]),
                    PathJoinSubstitution([package, "config", "sim_arm_servo.yaml"]),
                    {"seed": int(LaunchConfiguration("seed").perform(context)),
                     "camera_namespace": LaunchConfiguration("camera_namespace")},
                ],
            )  # fmt: skip
        )
    if _flag(context, "executor", True):
        overrides = executor_overrides(context)
        actions.append(
            Node(
                package="vla_r1_ros",
                executable="vla_r1_executor",
                name="vla_r1_executor",
                output="screen",
                parameters=[PathJoinSubstitution([package, "config", "vla_r1_executor.yaml"]), overrides],
            )
        )
    return actions


def executor_overrides(context: LaunchContext) -> dict:
    """The executor's parameters from the launch arguments: safe defaults on a real arm (dry run,
    approval), none of them in the simulator."""
    simulated = _flag(context, "sim", True)
    backend = LaunchConfiguration("backend").perform(context)
    overrides = {
        "backend": ("sim" if simulated else "move_group") if backend == "auto" else backend,
        "dry_run": _flag(context, "dry_run", not simulated),
        "require_approval": _flag(context, "require_approval", not simulated),
        "planning_frame": LaunchConfiguration("target_frame"),
    }
    if simulated:  # pybullet's Panda model puts its tool centre 0.105 m along the hand
        overrides["tcp_offset"] = [0.0, 0.0, 0.105, 0.0, 0.0, 0.0, 1.0]
    moveit_params = LaunchConfiguration("moveit_params").perform(context)
    if moveit_params:
        overrides["moveit_py_params_file"] = moveit_params
    return overrides


def _viewer(context: LaunchContext) -> list:
    """RViz when asked for and installed; a headless robot PC, CI or a container has none."""
    if not _flag(context, "rviz", True):
        return []
    try:
        get_package_share_directory("rviz2")
    except PackageNotFoundError:
        return [LogInfo(msg="RViz (rviz2) is not installed: starting without it; rviz:=false silences this")]
    config = PathJoinSubstitution([FindPackageShare("vla_r1_ros"), "config", "vla_r1.rviz"])
    return [Node(package="rviz2", executable="rviz2", name="rviz2", arguments=["-d", config])]


def _installed(package: str) -> bool:
    try:
        get_package_share_directory(package)
    except PackageNotFoundError:
        return False
    return True


def _teleop(context: LaunchContext) -> list:
    """The teleop device's driver (where installed) and vla_r1_teleop, for teleop:=xbox or spacemouse."""
    device = LaunchConfiguration("teleop").perform(context).strip().lower()
    device = {"true": "xbox", "1": "xbox", "yes": "xbox"}.get(device, device)
    if device in ("false", "0", "no", ""):
        return []
    if device == "xbox":  # SDL's fixed layout for game controllers (see vla_r1_ros/core/teleop.py)
        package, joy_topic = "joy", "/joy"
        driver = Node(package="joy", executable="game_controller_node", name="joy", output="screen")
    elif device == "spacemouse":
        package, joy_topic = "spacenav", "/spacenav/joy"
        driver = Node(package="spacenav", executable="spacenav", name="spacenav", output="screen")
    else:
        raise ValueError(f"teleop must be false, true, xbox or spacemouse, got {device!r}")
    actions: list = [driver]
    if not _installed(package):
        actions = [LogInfo(msg=f"{package} is not installed: vla_r1_teleop waits for Joy messages on {joy_topic}")]
    config = PathJoinSubstitution([FindPackageShare("vla_r1_ros"), "config", "vla_r1_teleop.yaml"])
    overrides = {"profile": device, "joy_topic": joy_topic, "frame_id": LaunchConfiguration("target_frame")}
    actions.append(Node(package="vla_r1_ros", executable="vla_r1_teleop", name="vla_r1_teleop", output="screen",
                        parameters=[config, overrides]))  # fmt: skip
    return actions


def _recorder(context: LaunchContext) -> list:
    """vla_r1_recorder for record:=true; the sidecar's condition follows the other arguments."""
    if not _flag(context, "record", False):
        return []
    teleop = LaunchConfiguration("teleop").perform(context).strip().lower() not in ("false", "0", "no", "")
    approval = _flag(context, "require_approval", not _flag(context, "sim", True))
    camera = "/".join(LaunchConfiguration(n).perform(context).strip("/") for n in ("camera_namespace", "color_topic"))
    overrides: dict = {"condition": "teleop" if teleop else ("vla+approval" if approval else "vla"),
                       "camera_topic": f"/{camera}"}  # fmt: skip
    if _flag(context, "sim", True):  # runs of one scene are one task, whoever picks
        overrides["scene_seed"] = int(LaunchConfiguration("seed").perform(context))
        overrides["task"] = f"seed{overrides['scene_seed']}"
    config = PathJoinSubstitution([FindPackageShare("vla_r1_ros"), "config", "vla_r1_recorder.yaml"])
    return [Node(package="vla_r1_ros", executable="vla_r1_recorder", name="vla_r1_recorder", output="screen",
                 parameters=[config, overrides])]  # fmt: skip
