"""Lifting a 2-D trajectory: from normalised image points to collision-aware waypoints in the base frame.

A 2-D trajectory is not a surface: lifting every point with depth would drag the gripper along
the table. Only the end point uses depth (it lands on the target surface); every other point
slides along its camera ray to the lowest position that keeps ``clearance`` above the highest
observed surface within the gripper's footprint beneath it. A short straight approach along
the grasp axis finishes the path.

The stages, in order: the end pose (a lifted target, the surface under the last point, or the
model's own depth), the camera rays of the transit points and the region of the base frame
they can use, the height map of that region, the pre-approach point, the transit and descent
(one compiled call), and the orientations. Polylines are coordinate rows (3, N) inside, and
every pass over them runs compiled (:mod:`.kernels.polyline`, :mod:`.kernels.transit`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from vla_r1_ros.core.geometry.box_lifting import lift_box
from vla_r1_ros.core.geometry.height_map import HeightMap
from vla_r1_ros.core.geometry.kernels.medians import sorting_network
from vla_r1_ros.core.geometry.kernels.polyline import arc_length_rows, resample_rows
from vla_r1_ros.core.geometry.kernels.transit import PathShape, RayFan, transit_path, transit_rays, window_pixels
from vla_r1_ros.core.geometry.results import PathResult, Target3D, WaypointPath
from vla_r1_ros.core.geometry.scene import DepthScene
from vla_r1_ros.core.geometry.settings import BoxLiftSettings, TrajectorySettings
from vla_r1_ros.core.geometry.transforms import (
    check_rigid_transform,
    frame_rows,
    quaternion_from_matrix,
    quaternion_from_rows,
    slerp,
)
from vla_r1_ros.core.protocol import Box2D, Trajectory2D

__all__ = ["lift_trajectory", "resample_polyline"]

NO_POINT = np.empty(0)  # transit_path's "no start position"
NO_RAY_ROWS = np.empty((3, 0))  # transit_rays' "the rays are affine: compute them"
NO_DEPTHS = np.empty(0)  # transit_rays' "no model depths: read the sensor's"
NO_WINDOWS = np.empty((0, 9), np.float32)  # ... and "no sensor windows: the model's depths"
_PRE_APPROACH_FACTORS = np.array([1.0, 1.5, 2.0, 3.0, 4.0])  # multiples of approach_height tried, in order


class _End(NamedTuple):
    """Where the path ends and how that was found."""

    position: list[float]  # base frame
    quaternion: list[float]  # x, y, z, w
    source: str  # "target", "sensor" or "model"
    target: Target3D | None


def lift_trajectory(
    trajectory: Trajectory2D,
    scene: DepthScene,
    config: TrajectorySettings = TrajectorySettings(),  # noqa: B008 (a frozen dataclass)
    target: Target3D | None = None,
    start: np.ndarray | None = None,
    lifting: BoxLiftSettings = BoxLiftSettings(),  # noqa: B008
) -> PathResult:
    """Lift a normalised 2-D end-effector trajectory to base-frame waypoints.

    ``target``: a lifted affordance box; when given, the path ends at its grasp pose. Otherwise
    the end point is the surface seen at the trajectory's last point (depth there, or the model's
    own depth for 3-D traces when the sensor has none), approached as ``lifting.approach`` says.
    ``start``: the current end-effector pose (4x4) or position (3,) in the base frame; the path
    then begins exactly there.
    """
    # One error state for the whole lift (a context switch per height lookup costs more than
    # the lookup): an absurd model depth may put points where no integer cell index reaches.
    with np.errstate(invalid="ignore", divide="ignore"):
        return _lift_trajectory(trajectory, scene, config, target, start, lifting)


def _lift_trajectory(
    trajectory: Trajectory2D,
    scene: DepthScene,
    config: TrajectorySettings,
    target: Target3D | None,
    start: np.ndarray | None,
    lifting: BoxLiftSettings,
) -> PathResult:
    n = len(trajectory)
    if n == 0:
        return PathResult(None, "trajectory has no points")
    if trajectory.depths is not None and len(trajectory.depths) != n:
        raise ValueError(f"trajectory has {n} points but {len(trajectory.depths)} depths")
    start_pos, start_quat = _start_pose(start)
    notes: list[str] = []
    # OpenCV pixels as rows (2, n): u, v (the protocol's corner convention shifted by half a pixel).
    uv = np.array(trajectory.points, dtype=float).T * np.array([[scene.width], [scene.height]]) - 0.5
    end = _end_pose(trajectory, scene, config, target, lifting, uv, notes)
    if isinstance(end, PathResult):
        return end
    end_rot = _rows_from_quaternion(end.quaternion)
    approach = [row[2] for row in end_rot]
    # With a known start, the model's first point (where it sees the gripper now) is replaced by
    # the start itself, and the height above the surface falls from the start's to the clearance.
    fan = _transit_rays(trajectory, scene, config, uv, 1 if start_pos is not None else 0)
    hmap = scene.height_map(config, _region(end.position, approach, start_pos, fan, config))
    pre = _pre_approach(end.position, approach, hmap, config, notes)
    positions, surface_heights, approach_index, finite = _transit_and_descent(
        fan, scene, start_pos, n, pre, end.position, hmap, config
    )
    orientations = _orientations(positions, approach_index + 1, start_quat, end_rot)
    if not (finite and np.isfinite(orientations).all()):
        return PathResult(None, "lifting produced a non-finite waypoint (degenerate depth or transform)")
    for array in (positions, orientations, surface_heights):
        array.flags.writeable = False
    path = WaypointPath(
        positions=positions,
        orientations=orientations,
        frame_id=scene.base_frame,
        approach_index=approach_index,
        surface_heights=surface_heights,
        end_target=end.target,
        end_source=end.source,
        notes=tuple(notes),
    )
    return PathResult(path, "; ".join(notes) or "ok")


def _start_pose(start: np.ndarray | None) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The start position (our own contiguous copy: the compiled path stage takes it) and orientation, if any."""
    if start is None:
        return None, None
    arr = np.array(start, dtype=float)
    if arr.shape == (3,):
        if not all(math.isfinite(value) for value in arr.tolist()):
            raise ValueError("start position holds a non-finite number")
        return arr, None
    pose = check_rigid_transform(arr, "start pose")
    return pose[:3, 3].copy(), quaternion_from_matrix(pose[:3, :3])


def _end_pose(
    trajectory: Trajectory2D,
    scene: DepthScene,
    config: TrajectorySettings,
    target: Target3D | None,
    lifting: BoxLiftSettings,
    uv: np.ndarray,
    notes: list[str],
) -> _End | PathResult:
    """The end pose: the target's grasp, else the surface under the last point, else the model's depth there."""
    if target is not None:
        return _End(*_grasp_of(target), "target", target)
    ex, ey = trajectory.points[-1]
    window = Box2D(ex, ey, config.end_window_px / scene.width, config.end_window_px / scene.height)
    lifted = lift_box(window, scene, lifting)
    if lifted.target is not None:
        return _End(*_grasp_of(lifted.target), "sensor", lifted.target)
    model_depth = trajectory.depths[-1] if trajectory.depths is not None else None
    if model_depth is None or not config.use_model_depth:
        return PathResult(None, f"cannot place the end point on a surface: {lifted.reason}")
    notes.append(f"end point from the model's depth ({lifted.reason})")
    ray = scene.rays.pixel_rays(uv[:, -1:].T, scene.rectified)
    position = scene.to_base(ray * float(model_depth))[0].tolist()
    return _End(position, quaternion_from_rows(frame_rows([0.0, 0.0, -1.0], [0.0, 1.0, 0.0])), "model", None)


def _grasp_of(target: Target3D) -> tuple[list[float], list[float]]:
    """The target's grasp position and orientation as Python floats."""
    grasp = target.grasp
    return np.asarray(grasp.position, dtype=float).tolist(), np.asarray(grasp.orientation, dtype=float).tolist()


def _transit_rays(
    trajectory: Trajectory2D, scene: DepthScene, config: TrajectorySettings, uv: np.ndarray, first: int
) -> RayFan:
    """The camera rays of the transit points (all but the last, and but the first when a start is known).

    Unit directions in the base frame, the distance along each ray to the surface (the model's
    depth, else the sensor's around the point, decoded on demand; where no depth was seen: down
    to the lowest observed surface), and positions along the rays from the surface towards the
    camera.
    """
    n_mid = max(0, len(trajectory) - 1 - first)
    uv_mid = np.ascontiguousarray(uv[:, first:-1]) if n_mid else np.zeros((2, 0))
    intrinsics = scene.rays.affine_rays(scene.rectified)
    if intrinsics is None:  # the camera's own rays (distortion, rectification); else the kernel's
        rays, intrinsics = scene.rays.pixel_ray_rows(uv_mid, scene.rectified), (1.0, 0.0, 0.0, 1.0, 0.0)
    else:
        rays = NO_RAY_ROWS
    if trajectory.depths is not None and config.use_model_depth:
        depths, windows = np.array(trajectory.depths[first:-1], dtype=float), NO_WINDOWS
    else:
        depths = NO_DEPTHS
        windows = scene.image.pixels(*window_pixels(uv_mid, scene.width, scene.height)).reshape(n_mid, 9)
    lowest = scene.cloud(config.cloud_points).lowest
    return transit_rays(
        uv_mid,
        intrinsics,
        rays,
        scene.rotation,
        scene.origin,
        depths,
        np.ascontiguousarray(windows),
        sorting_network(9),
        0.0 if math.isnan(lowest) else lowest,
        ray_fractions(config.ray_samples),
    )


def _region(
    end: list[float], approach: list[float], start: np.ndarray | None, fan: RayFan, config: TrajectorySettings
) -> tuple[list[float], list[float]]:
    """The base-frame xy region the path can use (lo, hi).

    It holds the end, the farthest pre-approach point, the start and both ends of every ray.
    """
    far_pre = [e - a * config.approach_height * 4.0 for e, a in zip(end, approach)]
    corners = [end[:2], far_pre[:2]] + ([start[:2]] if start is not None else [])
    lo_xy = [min(c[i] for c in corners) for i in range(2)]
    hi_xy = [max(c[i] for c in corners) for i in range(2)]
    if fan.reach.size:
        lo_xy = [min(a, b) for a, b in zip(lo_xy, fan.bounds[:2])]
        hi_xy = [max(a, b) for a, b in zip(hi_xy, fan.bounds[2:])]
    return lo_xy, hi_xy


def _pre_approach(
    end: list[float], approach: list[float], hmap: HeightMap, config: TrajectorySettings, notes: list[str]
) -> list[float]:
    """Where the straight approach starts: backed off along the approach axis until clear of the surface."""
    for factor in _PRE_APPROACH_FACTORS:
        candidate = [e - a * config.approach_height * factor for e, a in zip(end, approach)]
        if candidate[2] >= hmap.height_at(candidate[0], candidate[1]) + config.clearance:
            return candidate
    notes.append("pre-approach point could not clear the observed surface")
    return candidate


def _transit_and_descent(
    fan: RayFan,
    scene: DepthScene,
    start: np.ndarray | None,
    n_points: int,
    pre: list[float],
    end: list[float],
    hmap: HeightMap,
    config: TrajectorySettings,
) -> tuple[np.ndarray, np.ndarray, int, bool]:
    """Positions, surface heights, approach index and finiteness of the path: one compiled call (see transit_path)."""
    start_above = 0.0  # the start's height above the surface, spread down to the clearance
    if start is not None:
        start_above = float(start[2]) - hmap.height_at(float(start[0]), float(start[1]))
    shape = PathShape(
        float(config.clearance),
        float(config.max_climb_slope),
        float(config.spacing),
        smoothing_kernel(config.smoothing_iterations, config.smoothing_weight),
        int(config.smoothing_iterations),
        float(config.smoothing_weight),
    )
    return transit_path(
        fan,
        scene.origin,
        start if start is not None else NO_POINT,
        start_above,
        n_points,
        np.array(pre, dtype=float),
        np.array(end, dtype=float),
        hmap.table,
        shape,
    )


def _orientations(
    positions: np.ndarray, n_transit: int, start: np.ndarray | None, end_rows: list[list[float]]
) -> np.ndarray:
    """Slerp from the start's orientation to the grasp's along the transit (by arc length), then constant."""
    q_end = quaternion_from_rows(end_rows)
    orientations = np.empty((len(positions), 4))
    if start is None:  # one orientation throughout: what slerp gives for equal ends
        orientations[:n_transit] = _unit(_unit(q_end))
    else:
        s: np.ndarray = arc_length_rows(_rows(positions[:n_transit].T))
        frac = s / s[-1] if s[-1] > 0 else np.ones_like(s)
        orientations[:n_transit] = slerp(start, np.array(q_end), frac)
    orientations[n_transit:] = q_end
    return orientations


def _unit(q: Sequence[float]) -> list[float]:
    norm = math.sqrt(sum(c * c for c in q))
    return [c / norm for c in q]


def _rows_from_quaternion(q: Sequence[float]) -> list[list[float]]:
    """``transforms.matrix_from_quaternion`` on Python floats: the rows of the 3x3 rotation."""
    x, y, z, w = _unit(q)
    return [
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ]


@lru_cache(maxsize=8)
def ray_fractions(samples: int) -> np.ndarray:
    """Positions tried along a camera ray, as fractions of the distance to the surface (a constant)."""
    fractions = np.linspace(1.0, 0.05, samples)
    fractions.flags.writeable = False
    return fractions


@lru_cache(maxsize=8)
def smoothing_kernel(iterations: int, weight: float) -> np.ndarray:
    """The (2 * iterations + 1) taps of ``iterations`` smoothing steps (a constant).

    ``iterations`` Jacobi steps ``p += weight * (mean of the neighbours - p)`` with fixed ends are
    one convolution with the step's kernel taken ``iterations`` times, over the polyline
    extended by its point reflection through each end (the reflection keeps an end's
    neighbours' mean on the end, so it never moves, exactly as a fixed end); equal up to
    rounding.
    """
    kernel = np.ones(1)
    for _ in range(iterations):
        kernel = np.convolve(kernel, [0.5 * weight, 1.0 - weight, 0.5 * weight])
    kernel.flags.writeable = False
    return kernel


def _rows(points: ArrayLike) -> np.ndarray:
    """A polyline's coordinate rows (3, N) as a C-contiguous float array (no copy when it is one)."""
    return np.ascontiguousarray(points, dtype=float)


def resample_polyline(points: np.ndarray, spacing: float) -> np.ndarray:
    """Points (N, 3) evenly spaced by arc length (at most ``spacing`` apart), both ends kept exactly."""
    pts = np.asarray(points, dtype=float).reshape(-1, 3)
    resampled: np.ndarray = resample_rows(_rows(pts.T), float(spacing))
    return resampled.T.copy()
