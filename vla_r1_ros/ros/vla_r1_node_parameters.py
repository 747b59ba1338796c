"""vla_r1_node's parameters: each declared with a descriptor, validated into one NodeSettings.

config/vla_r1_node.yaml documents them; a test checks it holds exactly these names and defaults.
"""

from __future__ import annotations

from dataclasses import dataclass

from rclpy.node import Node

from vla_r1_ros.core.answer_lifting import LiftSettings
from vla_r1_ros.core.geometry import BoxLiftSettings, DepthRange, TrajectorySettings
from vla_r1_ros.ros.parameters import BOOL, DOUBLE, DOUBLES, INT, STRING, ParameterTable, declare_table
from vla_r1_ros.ros.safety_parameters import safety_limits, safety_parameters

__all__ = ["NodeSettings", "PARAMETERS", "declare_settings"]


@dataclass(frozen=True)
class NodeSettings:
    """The node's validated parameters (see config/vla_r1_node.yaml for documentation)."""

    model: str
    device: str
    max_new_tokens: int
    generation_timeout: float
    max_instruction_chars: int
    max_prompt_tokens: int
    color_topic: str
    depth_topic: str
    camera_info_topic: str
    target_frame: str
    tf_timeout: float
    static_camera_transform: tuple[float, ...]
    stamp_tolerance: float
    max_frame_age: float
    frame_wait_timeout: float
    use_depth: bool
    default_task: str
    depth_range: DepthRange
    lift: LiftSettings


_STRING, _DOUBLE, _INT, _BOOL, _DOUBLES = STRING, DOUBLE, INT, BOOL, DOUBLES

# name: (default, type, description)
PARAMETERS: ParameterTable = {
    "model": (
        "GigaAI-Research/vla-r1",
        _STRING,
        "Hub id or local folder of the VLA-R1 weights, or http(s):// URL of an OpenAI-compatible server",
    ),
    "device": ("auto", _STRING, "auto, cuda or cpu (in-process model only)"),
    "max_new_tokens": (1024, _INT, "cap on generated tokens per answer"),
    "generation_timeout": (
        30.0,
        _DOUBLE,
        "wall-clock seconds allowed for one prediction, prompt prefill included (a goal ends within "
        "this plus one model layer's time)",
    ),
    "max_instruction_chars": (2000, _INT, "longer instructions are refused at once"),
    "max_prompt_tokens": (
        8192,
        _INT,
        "prompts (instruction and image tokens) longer than this are refused at once (in-process model)",
    ),
    "camera_namespace": ("camera", _STRING, "namespace prefixed to the three camera topics"),
    "color_topic": ("color/image_raw", _STRING, "colour image topic, relative to camera_namespace"),
    "depth_topic": (
        "aligned_depth_to_color/image_raw",
        _STRING,
        "depth registered to the colour image (16UC1 mm or 32FC1 m)",
    ),
    "camera_info_topic": ("color/camera_info", _STRING, "CameraInfo of the colour image"),
    "target_frame": ("base_link", _STRING, "frame of the published 3-D targets and waypoints"),
    "tf_timeout": (0.2, _DOUBLE, "seconds to wait for the camera -> target transform at the image stamp"),
    "static_camera_transform": (
        [0.0],
        _DOUBLES,
        "x y z qx qy qz qw of the camera optical frame in target_frame, used when tf2 is unavailable; [0.0] = unset",
    ),
    "stamp_tolerance": (0.02, _DOUBLE, "maximum seconds between paired colour and depth stamps"),
    "max_frame_age": (0.5, _DOUBLE, "frames older than this (seconds) are never used"),
    "frame_wait_timeout": (2.0, _DOUBLE, "seconds a goal waits for a fresh frame pair"),
    "use_depth": (True, _BOOL, "lift answers to 3-D with depth; false = 2-D answers only"),
    "default_task": ("affordance", _STRING, "task for ~/instruction messages: affordance, trajectory or both"),
    "min_depth": (0.1, _DOUBLE, "depth readings nearer than this (m) are invalid"),
    "max_depth": (3.0, _DOUBLE, "depth readings farther than this (m) are invalid"),
    "approach": ("top_down", _STRING, "grasp approach: top_down or normal (along the surface normal)"),
    "grasp_depth": (0.0, _DOUBLE, "how far (m) the grasp point sits below the observed surface, along the approach"),
    "clearance": (0.05, _DOUBLE, "height (m) kept above the observed surface between start and target"),
    "approach_height": (0.08, _DOUBLE, "length (m) of the final straight approach onto the target"),
    "waypoint_spacing": (0.01, _DOUBLE, "arc-length spacing (m) of the waypoints"),
    **safety_parameters("target_frame"),
}


def declare_settings(node: Node) -> NodeSettings:
    """Declare every parameter with a descriptor and return them validated."""
    value = declare_table(node, PARAMETERS)
    namespace = str(value["camera_namespace"]).strip("/")

    def topic(name: str) -> str:
        raw = str(value[name])
        if raw.startswith("/") or not namespace:
            return raw
        return f"/{namespace}/{raw}"

    positive = (
        "generation_timeout",
        "tf_timeout",
        "max_frame_age",
        "frame_wait_timeout",
        "waypoint_spacing",
        "max_reach",
    )
    for name in positive:
        if not float(value[name]) > 0.0:
            raise ValueError(f"parameter {name} must be > 0, got {value[name]}")
    for name in ("max_new_tokens", "max_instruction_chars", "max_prompt_tokens"):
        if int(value[name]) < 1:
            raise ValueError(f"parameter {name} must be >= 1, got {value[name]}")
    if str(value["default_task"]) not in ("affordance", "trajectory", "both"):
        raise ValueError(
            f"parameter default_task must be affordance, trajectory or both, got {value['default_task']!r}"
        )
    static = tuple(float(v) for v in value["static_camera_transform"])
    if static != (0.0,) and len(static) != 7:
        raise ValueError("parameter static_camera_transform must hold 7 numbers (x y z qx qy qz qw) or be [0.0]")
    trajectory = TrajectorySettings(
        clearance=float(value["clearance"]),
        approach_height=float(value["approach_height"]),
        spacing=float(value["waypoint_spacing"]),
    )
    return NodeSettings(
        model=str(value["model"]),
        device=str(value["device"]),
        max_new_tokens=int(value["max_new_tokens"]),
        generation_timeout=float(value["generation_timeout"]),
        max_instruction_chars=int(value["max_instruction_chars"]),
        max_prompt_tokens=int(value["max_prompt_tokens"]),
        color_topic=topic("color_topic"),
        depth_topic=topic("depth_topic"),
        camera_info_topic=topic("camera_info_topic"),
        target_frame=str(value["target_frame"]),
        tf_timeout=float(value["tf_timeout"]),
        static_camera_transform=static if static != (0.0,) else (),
        stamp_tolerance=float(value["stamp_tolerance"]),
        max_frame_age=float(value["max_frame_age"]),
        frame_wait_timeout=float(value["frame_wait_timeout"]),
        use_depth=bool(value["use_depth"]),
        default_task=str(value["default_task"]),
        depth_range=DepthRange(float(value["min_depth"]), float(value["max_depth"])),
        lift=LiftSettings(
            BoxLiftSettings(approach=str(value["approach"]), grasp_depth=float(value["grasp_depth"])),
            trajectory,
            safety_limits(value),
        ),
    )
