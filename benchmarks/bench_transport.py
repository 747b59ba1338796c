"""Full-size RGB-D over ROS 2 on one host: how many frames reach vla_r1_node, and how many pair.

A camera-driver process (``python -m vla_r1_ros.ros.sim_camera``: 640x480 rgb8 + 16UC1 depth +
CameraInfo, sensor-data QoS) publishes at 30 Hz to a separate process running ``vla_r1_node``
(scripted backend, no goals). Run once with Fast DDS's default transports and once with the
shipped profile (``config/fastdds_rgbd.xml``), back to back, and print the fraction of published
frames received per stream and the fraction of colour frames that found their depth.

    source scripts/env.sh
    unshare -n bash -c 'ip link set lo up && python benchmarks/bench_transport.py'      # as root
    # --frames 300 --rate 30 --size 640x480 --repeats 2

Creates DDS participants: it refuses to run outside a loopback-only network namespace.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROFILE = ROOT / "config" / "fastdds_rgbd.xml"
PROFILE_VARIABLE = "FASTRTPS_DEFAULT_PROFILES_FILE"


def run_node(seconds: float) -> None:
    """The subscriber side: vla_r1_node for ``seconds``, then its stream counts as JSON."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter

    from vla_r1_ros.model.backends import ScriptedBackend
    from vla_r1_ros.ros.vla_r1_node import VlaR1Node

    rclpy.init()
    node = VlaR1Node(
        backend=ScriptedBackend({"affordance": ""}),
        parameter_overrides=[Parameter("static_camera_transform", value=[0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0])],
    )
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    print("ready", flush=True)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        executor.spin_once(timeout_sec=0.1)
    counts = node.stream_counts()
    print(json.dumps({"color": counts.color, "depth": counts.depth, "pairs": counts.pairs}), flush=True)
    executor.shutdown()
    node.destroy_node()
    rclpy.shutdown()


def measure(frames: int, rate: float, size: str, profile: Path | None) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if k != PROFILE_VARIABLE}
    if profile is not None:
        env[PROFILE_VARIABLE] = str(profile)
    seconds = frames / rate + 6.0  # the camera's start-up and discovery
    node = subprocess.Popen(
        [sys.executable, __file__, "--role", "node", "--seconds", str(seconds)],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert node.stdout is not None
    ready = node.stdout.readline().strip()  # the node is subscribed before the first frame
    if ready != "ready":
        raise RuntimeError(f"the node did not start: {ready!r}")
    camera = [sys.executable, "-m", "vla_r1_ros.ros.sim_camera", "--size", size, "--rate", str(rate)]
    subprocess.run(
        [*camera, "--frames", str(frames), "--depth-encoding", "16UC1", "--wait-for-subscribers"], env=env, check=True
    )
    out, _ = node.communicate(timeout=seconds + 30)
    counts = json.loads(out.strip().splitlines()[-1])
    return {key: counts[key] / frames for key in ("color", "depth", "pairs")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--rate", type=float, default=30.0)
    parser.add_argument("--size", default="640x480")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--role", choices=("bench", "node"), default="bench", help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=0.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    from vla_r1_ros.ros.loopback import loopback_only_reason

    refused = loopback_only_reason()
    if refused:
        parser.error(f"refusing to create DDS participants: {refused}")
    if args.role == "node":
        run_node(args.seconds)
        return 0
    print(f"{args.frames} frames of {args.size} rgb8 + 16UC1 at {args.rate:.0f} Hz, camera and node in two processes")
    print(f"{'transport':<34} {'colour':>8} {'depth':>8} {'paired':>8}")
    for repeat in range(args.repeats):
        for label, profile in (("Fast DDS defaults", None), ("config/fastdds_rgbd.xml", PROFILE)):
            got = measure(args.frames, args.rate, args.size, profile)
            name = f"{label} (run {repeat + 1})"
            print(f"{name:<34} {got['color']:>8.0%} {got['depth']:>8.0%} {got['pairs']:>8.0%}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
