"""Lifting against ground truth from a real renderer (pybullet TinyRenderer, exact K).

Scenes are rendered once per module at 320x240 with cameras 0.4-1.5 m from the objects. Truth
comes from analytic ray casts against the known object poses, not from the rendered depth.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from vla_r1_ros.core.geometry import (
    BoxLiftSettings,
    DepthImage,
    DepthScene,
    FrameMismatchError,
    SafetyLimits,
    TrajectorySettings,
    TransformError,
    check_waypoints,
    lift_box,
    lift_trajectory,
    register_depth,
)
from vla_r1_ros.core.geometry.depth import encode_depth
from vla_r1_ros.core.protocol import Box2D, Trajectory2D
from vla_r1_ros.sim.noise import DepthNoise, apply_depth_noise
from vla_r1_ros.sim.scene import (
    Intrinsics,
    RenderedScene,
    SceneObject,
    TabletopRenderer,
    camera_model,
    depth_scene,
    look_at,
)

W, H = 320, 240
K = Intrinsics.from_vertical_fov(W, H, 50.0)
DISTANCES = np.linspace(0.42, 1.48, 12)


def _project(scene: RenderedScene, point: np.ndarray) -> tuple[float, float]:
    """World point -> OpenCV pixel of the rendered camera."""
    p = np.linalg.inv(scene.T_world_optical) @ np.r_[point, 1.0]
    return K.fx * p[0] / p[2] + K.cx, K.fy * p[1] / p[2] + K.cy


def _normalised(u: float, v: float) -> tuple[float, float]:
    return (u + 0.5) / W, (v + 0.5) / H


@pytest.fixture(scope="module")
def renderer() -> TabletopRenderer:
    with TabletopRenderer() as r:
        yield r


@pytest.fixture(scope="module")
def box_scenes(renderer: TabletopRenderer) -> list[tuple[RenderedScene, np.ndarray]]:
    """12 scenes of three cuboids each, seen from 0.42-1.48 m, with a seeded noisy depth copy."""
    rng = np.random.default_rng(20240601)
    scenes = []
    for dist in DISTANCES:
        objects = []
        for j in range(3):
            size = (rng.uniform(0.05, 0.12), rng.uniform(0.03, 0.07), rng.uniform(0.04, 0.15))
            xy = (0.5 + rng.uniform(-0.04, 0.04), (j - 1) * 0.16 + rng.uniform(-0.02, 0.02))
            objects.append(SceneObject(f"box{j}", "box", size, xy, rng.uniform(-1.5, 1.5)))
        centre = np.array([0.5, 0.0, 0.05])
        elevation, azimuth = math.radians(rng.uniform(35, 70)), rng.uniform(-0.6, 0.6)
        eye = centre + dist * np.array(
            [-math.cos(elevation) * math.cos(azimuth), -math.cos(elevation) * math.sin(azimuth), math.sin(elevation)]
        )
        scene = renderer.render(objects, K, look_at(eye, centre))
        scenes.append((scene, apply_depth_noise(scene.depth, DepthNoise(), rng)))
    return scenes


def _cases(scene: RenderedScene) -> list[tuple[str, Box2D, np.ndarray, np.ndarray]]:
    """(kind, box, true point at the box centre, true normal) for boxes whose centre hits a flat face.

    Two kinds: a small affordance box on the top face, and the object's tight 2-D box.
    """
    cases = []
    for obj in scene.objects:
        if obj.box_2d is None or obj.visible_pixels < 60:
            continue
        u, v = _project(scene, obj.top_center)
        x, y = _normalised(u, v)
        small = Box2D(x, y, 8.0 / W, 6.0 / H)
        for kind, box in (("top", small), ("object", obj.box_2d)):
            hit = scene.true_hit(box.x * W - 0.5, box.y * H - 0.5)
            if hit is not None and hit[2] == obj.name:
                cases.append((kind, box, hit[0], hit[1]))
    return cases


def test_renderer_depth_matches_analytic_ray_casts(box_scenes: list[tuple[RenderedScene, np.ndarray]]) -> None:
    """The exact-K renderer is the ground truth: its depth agrees with ray casts on flat faces."""
    scene = box_scenes[3][0]
    errors = []
    for v in range(2, H, 9):
        for u in range(2, W, 9):
            hit = scene.true_hit(u, v)
            if hit is None or not np.isfinite(scene.depth[v, u]):
                continue
            z_true = (np.linalg.inv(scene.T_world_optical) @ np.r_[hit[0], 1.0])[2]
            errors.append(abs(scene.depth[v, u] - z_true))
    errors_mm = np.array(errors) * 1000.0
    assert len(errors_mm) > 500
    assert np.median(errors_mm) < 0.01 and np.percentile(errors_mm, 95) < 0.5


def test_noise_free_box_centres_within_2mm_on_flat_faces(box_scenes: list[tuple[RenderedScene, np.ndarray]]) -> None:
    errors, normal_errors, kinds = [], [], set()
    for scene, _ in box_scenes:
        ds = depth_scene(scene)
        for kind, box, truth, normal in _cases(scene):
            result = lift_box(box, ds)
            assert result.ok, result.reason
            errors.append(np.linalg.norm(result.target.position - truth))
            kinds.add(kind)
            if kind == "top":
                normal_errors.append(math.degrees(math.acos(min(1.0, float(result.target.normal @ normal)))))
    errors_mm = np.array(errors) * 1000.0
    assert len(errors_mm) >= 40 and kinds == {"top", "object"}
    assert errors_mm.max() <= 2.0, f"worst {errors_mm.max():.3f} mm"
    assert max(normal_errors) < 1.0


def test_noisy_depth_median_error_at_most_10mm(box_scenes: list[tuple[RenderedScene, np.ndarray]]) -> None:
    errors, failures = [], 0
    for index, (scene, noisy) in enumerate(box_scenes):
        if index % 2:  # half the frames go through the 16UC1 millimetre encoding, as a driver sends them
            image = DepthImage.from_ros(encode_depth(noisy, "16UC1"), "16UC1", scene.frame_id)
            ds = DepthScene(register_depth(image, camera_model(scene)), scene.T_world_optical)
        else:
            ds = depth_scene(scene, noisy)
        for _, box, truth, _ in _cases(scene):
            result = lift_box(box, ds)
            if not result.ok:
                failures += 1
                continue
            errors.append(np.linalg.norm(result.target.position - truth))
    errors_mm = np.array(errors) * 1000.0
    assert failures <= len(errors) // 20
    assert np.median(errors_mm) <= 10.0, f"median {np.median(errors_mm):.2f} mm"


def test_grasp_is_top_down_with_fingers_across_the_shorter_side(
    box_scenes: list[tuple[RenderedScene, np.ndarray]],
) -> None:
    checked = 0
    for scene, _ in box_scenes:
        ds = depth_scene(scene)
        for obj in scene.objects:
            if obj.box_2d is None or obj.size[0] < 1.5 * obj.size[1] or obj.visible_pixels < 150:
                continue
            hit = scene.true_hit(obj.box_2d.x * W - 0.5, obj.box_2d.y * H - 0.5)
            if hit is None or hit[2] != obj.name or hit[1][2] < 0.99:
                continue  # the box centre must see the top face
            result = lift_box(obj.box_2d, ds)
            assert result.ok, result.reason
            grasp = result.target.grasp
            np.testing.assert_allclose(grasp.approach, [0.0, 0.0, -1.0], atol=1e-9)
            short_axis = obj.pose[:3, 1]  # the object's y side is the shorter one
            angle = math.degrees(math.acos(min(1.0, abs(float(grasp.closing_axis @ short_axis)))))
            assert angle < 6.0, f"{obj.name}: fingers {angle:.1f} deg off the shorter side"
            long_len, short_len = result.target.extent[:2]
            assert short_len <= obj.size[1] * 1.1 and long_len >= short_len
            checked += 1
    assert checked >= 5


def test_normal_approach_follows_the_surface(box_scenes: list[tuple[RenderedScene, np.ndarray]]) -> None:
    scene = box_scenes[0][0]
    _, box, _, normal = next(case for case in _cases(scene) if case[0] == "top")
    result = lift_box(box, depth_scene(scene), BoxLiftSettings(approach="normal", grasp_depth=0.01))
    assert result.ok
    np.testing.assert_allclose(result.target.grasp.approach, -normal, atol=0.02)
    # grasp_depth moves the grasp point into the object along the approach.
    assert np.linalg.norm(result.target.grasp.position - (result.target.position - 0.01 * normal)) < 1e-3


def test_sparse_depth_gives_a_reason_not_a_target(box_scenes: list[tuple[RenderedScene, np.ndarray]]) -> None:
    scene = box_scenes[0][0]
    holes = scene.depth.copy()
    holes[np.random.default_rng(0).random(holes.shape) < 0.985] = np.nan
    _, box, _, _ = _cases(scene)[1]
    result = lift_box(box, depth_scene(scene, holes))
    assert not result.ok and result.confidence == 0.0 and "too sparse" in result.reason
    empty = lift_box(Box2D(0.5, 0.5, 0.0, 0.0), depth_scene(scene))
    assert not empty.ok and "covers no pixel" in empty.reason


def test_confidence_reflects_coverage(box_scenes: list[tuple[RenderedScene, np.ndarray]]) -> None:
    scene, _ = box_scenes[2]
    _, box, _, _ = next(case for case in _cases(scene) if case[0] == "object")
    full = lift_box(box, depth_scene(scene))
    holes = scene.depth.copy()
    holes[np.random.default_rng(1).random(holes.shape) < 0.8] = np.nan
    sparse = lift_box(box, depth_scene(scene, holes))
    assert full.ok and sparse.ok and sparse.confidence < full.confidence <= 1.0


def test_frame_and_transform_mismatches_are_clear_errors(box_scenes: list[tuple[RenderedScene, np.ndarray]]) -> None:
    scene = box_scenes[0][0]
    registered = register_depth(DepthImage(scene.depth, scene.frame_id), camera_model(scene))
    with pytest.raises(FrameMismatchError, match="looked up for frame 'camera_link'"):
        DepthScene(registered, scene.T_world_optical, optical_frame="camera_link")
    skewed = scene.T_world_optical.copy()
    skewed[:3, :3] *= 1.01
    with pytest.raises(TransformError, match="not a proper rotation"):
        DepthScene(registered, skewed)


# ---------------------------------------------------------------------------------------------
# Trajectories
# ---------------------------------------------------------------------------------------------

START = np.array([0.33, -0.22, 0.30])


@pytest.fixture(scope="module")
def path_scene(renderer: TabletopRenderer) -> tuple[RenderedScene, np.ndarray]:
    objects = [
        SceneObject("target", "box", (0.06, 0.04, 0.08), (0.55, 0.12), 0.3, (0.2, 0.6, 0.2, 1.0)),
        SceneObject("obstacle", "box", (0.08, 0.08, 0.15), (0.47, -0.02), 0.0, (0.2, 0.3, 0.8, 1.0)),
        SceneObject("can", "cylinder", (0.06, 0.06, 0.10), (0.62, -0.12)),
    ]
    scene = renderer.render(objects, K, look_at((0.0, 0.05, 0.85), (0.55, 0.0, 0.0)))
    return scene, apply_depth_noise(scene.depth, DepthNoise(), np.random.default_rng(7))


def _trajectory(scene: RenderedScene, with_depth: bool = False) -> tuple[Trajectory2D, np.ndarray]:
    """A model-like 2-D trajectory: start in the air, over the obstacle, onto the target's top."""
    target = scene.object("target").top_center
    air = [START + a * (np.array([0.47, -0.02, 0.22]) - START) for a in (0.3, 0.6, 1.0)]
    above_obstacle, above_target = np.array([0.47, -0.02, 0.22]), target + np.array([0.0, 0.0, 0.12])
    air += [above_obstacle + a * (above_target - above_obstacle) for a in (0.4, 0.8)]
    points3d = np.array([START, *air, target])
    uv = [_project(scene, p) for p in points3d]
    depths = [(np.linalg.inv(scene.T_world_optical) @ np.r_[p, 1.0])[2] for p in points3d]
    pts = tuple(_normalised(u, v) for u, v in uv)
    return Trajectory2D(pts, tuple(depths) if with_depth else None), points3d


def _footprint_truth(scene: RenderedScene, xy: np.ndarray, radius: float) -> np.ndarray:
    """Highest true surface within ``radius`` of each point (sampled on rings)."""
    angles = np.linspace(0.0, 2 * np.pi, 24, endpoint=False)
    ring = np.column_stack((np.cos(angles), np.sin(angles)))
    out = []
    for p in xy:
        samples = np.vstack([p[None]] + [p + r * ring for r in np.linspace(radius / 4, radius, 4)])
        out.append(scene.true_surface_height(samples).max())
    return np.array(out)


@pytest.mark.parametrize("noisy", [False, True])
def test_trajectory_waypoints_clear_the_surface_and_end_on_the_target(
    path_scene: tuple[RenderedScene, np.ndarray], noisy: bool
) -> None:
    scene, noisy_depth = path_scene
    config = TrajectorySettings(clearance=0.05, footprint_radius=0.04, spacing=0.01)
    ds = depth_scene(scene, noisy_depth if noisy else None)
    trajectory, _ = _trajectory(scene)
    result = lift_trajectory(trajectory, ds, config, start=START)
    assert result.ok, result.reason
    path = result.path
    pos = path.positions
    np.testing.assert_array_equal(pos[0], START)
    # The end point is on the target's top surface, under the trajectory's last point.
    u, v = trajectory.points[-1][0] * W - 0.5, trajectory.points[-1][1] * H - 0.5
    true_end = scene.true_hit(u, v)
    assert true_end is not None and true_end[2] == "target"
    end_error = np.linalg.norm(pos[-1] - true_end[0]) * 1000.0
    assert end_error <= (10.0 if noisy else 2.0), f"end point {end_error:.2f} mm off"
    # Transit: clearance above the observed surface under the footprint, and above the truth.
    transit = slice(1, path.approach_index + 1)
    assert np.all(pos[transit, 2] >= path.surface_heights[transit] + config.clearance - 1e-9)
    truth = _footprint_truth(scene, pos[transit, :2], config.footprint_radius)
    margin = (pos[transit, 2] - truth).min()
    assert margin >= config.clearance - (0.005 if noisy else 0.001), f"transit clearance only {margin * 1000:.1f} mm"
    # No waypoint at all below the surface beneath it (the end sits on it, within the noise).
    below = (scene.true_surface_height(pos[:, :2]) - pos[:, 2]).max() * 1000.0
    assert below <= (10.0 if noisy else 0.5), f"a waypoint is {below:.2f} mm below the surface"
    # The descent is a straight line along the approach axis (top-down by default).
    descent = pos[path.approach_index :]
    np.testing.assert_allclose(descent[:, :2], np.repeat(pos[-1:, :2], len(descent), axis=0), atol=1e-9)
    # Arc-length spacing, smooth orientations ending at the grasp.
    segments = np.linalg.norm(np.diff(pos, axis=0), axis=1)
    assert segments.max() <= 0.02 and np.median(segments) == pytest.approx(0.01, abs=0.002)
    np.testing.assert_allclose(np.linalg.norm(path.orientations, axis=1), 1.0, atol=1e-9)
    assert path.end_source == "sensor"
    limits = SafetyLimits(max_segment_length=0.03, max_path_length=2.0)
    assert check_waypoints(pos, limits).accepted


def test_trajectory_goes_over_the_obstacle(path_scene: tuple[RenderedScene, np.ndarray]) -> None:
    scene, _ = path_scene
    trajectory, _ = _trajectory(scene)
    path = lift_trajectory(trajectory, depth_scene(scene), start=START).path
    obstacle = scene.object("obstacle")
    over = np.abs(path.positions[:, :2] - obstacle.pose[:2, 3]).max(axis=1) < 0.04
    assert over.any(), "the test trajectory should pass over the obstacle"
    assert path.positions[over, 2].min() >= 0.15 + 0.05 - 1e-3


def test_target_from_the_box_sets_the_end_pose(path_scene: tuple[RenderedScene, np.ndarray]) -> None:
    scene, _ = path_scene
    ds = depth_scene(scene)
    target = lift_box(scene.object("target").box_2d, ds).target
    assert target is not None
    trajectory, _ = _trajectory(scene)
    path = lift_trajectory(trajectory, ds, target=target).path
    assert path.end_source == "target"
    np.testing.assert_allclose(path.positions[-1], target.grasp.position)
    np.testing.assert_allclose(path.orientations[-1], target.grasp.orientation, atol=1e-12)


def test_start_orientation_is_interpolated_to_the_grasp(path_scene: tuple[RenderedScene, np.ndarray]) -> None:
    scene, _ = path_scene
    trajectory, _ = _trajectory(scene)
    start_pose = np.eye(4)
    start_pose[:3, 3] = START
    start_pose[:3, :3] = np.diag([1.0, -1.0, -1.0])  # gripper pointing down, rotated 180 deg about x
    path = lift_trajectory(trajectory, depth_scene(scene), start=start_pose).path
    q = path.orientations
    np.testing.assert_allclose(abs(q[0] @ [1.0, 0.0, 0.0, 0.0]), 1.0, atol=1e-9)
    steps = np.degrees(2 * np.arccos(np.clip(np.abs(np.sum(q[1:] * q[:-1], axis=1)), 0, 1)))
    assert steps.max() < 10.0


def test_model_depth_is_used_for_3d_traces(path_scene: tuple[RenderedScene, np.ndarray]) -> None:
    scene, _ = path_scene
    trajectory, points3d = _trajectory(scene, with_depth=True)
    config = TrajectorySettings(smoothing_iterations=0)
    holes = scene.depth.copy()
    u, v = _project(scene, points3d[-1])
    holes[int(v) - 12 : int(v) + 13, int(u) - 12 : int(u) + 13] = np.nan  # no sensor depth at the end
    result = lift_trajectory(trajectory, depth_scene(scene, holes), config)
    assert result.ok and result.path.end_source == "model"
    np.testing.assert_allclose(result.path.positions[-1], points3d[-1], atol=1e-3)
    # Mid points that were already clear stay exactly where the model put them.
    clear_points = [p for p in points3d[1:-1] if p[2] > 0.2]
    for p in clear_points:
        assert np.linalg.norm(result.path.positions - p, axis=1).min() < 0.006
    # Without model depth and without sensor depth, there is no end point: a reason, not a guess.
    bare = Trajectory2D(trajectory.points)
    refused = lift_trajectory(bare, depth_scene(scene, holes), config)
    assert not refused.ok and "cannot place the end point" in refused.reason
