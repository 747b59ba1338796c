"""VLA-R1 on a live RGB-D camera: the reasoning node and RViz.

    ros2 launch vla_r1_ros demo.launch.py model:=/path/to/vla-r1 camera_namespace:=camera

Start your camera driver with depth registered to colour (e.g. realsense2_camera with
align_depth.enable:=true), then send a goal:

    ros2 action send_goal /vla_r1_node/reason vla_r1_ros/action/Reason \
        "{instruction: 'pick up the red mug', task: affordance}" --feedback
"""

from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
from launch import LaunchContext, LaunchDescription
from launch.actions import DeclareLaunchArgument, LogInfo, OpaqueFunction, SetEnvironmentVariable
from launch.substitutions import EnvironmentVariable, LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

ARGUMENTS = [
    ("model", "GigaAI-Research/vla-r1", "Hub id or local folder of the VLA-R1 weights, or http(s):// URL of an OpenAI-compatible server"),
    ("device", "auto", "where the model runs: auto, cuda or cpu"),
    ("camera_namespace", "camera", "namespace of the RGB-D camera topics"),
    ("color_topic", "color/image_raw", "colour image topic, relative to camera_namespace"),
    ("depth_topic", "aligned_depth_to_color/image_raw", "depth registered to colour, relative to camera_namespace"),
    ("camera_info_topic", "color/camera_info", "CameraInfo of the colour image, relative to camera_namespace"),
    ("target_frame", "base_link", "frame of the published 3-D targets and waypoints"),
    ("use_depth", "true", "lift answers to 3-D with depth (false: 2-D answers only)"),
    ("rviz", "true", "start RViz with the VLA-R1 display configuration (skipped, with a warning, where RViz is not installed)"),
]


def generate_launch_description() -> LaunchDescription:
    package = FindPackageShare("vla_r1_ros")
    declared = [DeclareLaunchArgument(name, default_value=default, description=text) for name, default, text in ARGUMENTS]
    overrides = {name: LaunchConfiguration(name) for name, _, _ in ARGUMENTS if name != "rviz"}
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
    reasoning = Node(
        package="vla_r1_ros",
        executable="vla_r1_node",
        name="vla_r1_node",
        output="screen",
        parameters=[PathJoinSubstitution([package, "config", "vla_r1_node.yaml"]), overrides],
    )
    # The waypoint executor (MoveIt behind the safety gates) joins here as a third node.
    return LaunchDescription([*declared, profile, use_profile, reasoning, OpaqueFunction(function=_viewer)])


def _viewer(context: LaunchContext) -> list:
    """RViz when asked for and installed; a headless robot PC, CI or a container has none."""
    if LaunchConfiguration("rviz").perform(context).strip().lower() not in ("true", "1", "yes"):
        return []
    try:
        get_package_share_directory("rviz2")
    except PackageNotFoundError:
        return [LogInfo(msg="RViz (rviz2) is not installed: starting without it; rviz:=false silences this")]
    config = PathJoinSubstitution([FindPackageShare("vla_r1_ros"), "config", "vla_r1.rviz"])
    return [Node(package="rviz2", executable="rviz2", name="rviz2", arguments=["-d", config])]
