"""Camera model: image_geometry semantics, distortion round trips, pixel conventions."""

from __future__ import annotations

from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from geometry_reference import (
    cv_pixels_to_normalised,
    normalised_to_cv_pixels,
    pixel_to_ray,
    point_to_pixel,
    project_3d_to_pixel,
    project_pixel_to_3d_ray,
    rays_at,
    rectify_points,
    unrectify_points,
)

from vla_r1_ros.core.geometry.camera import CameraModel, CameraModelError, Roi
from vla_r1_ros.core.geometry.rays import rays_of

W, H = 640, 480
K = [525.0, 0.0, 319.3, 0.0, 523.5, 241.7, 0.0, 0.0, 1.0]
P_RECT = [500.0, 0.0, 321.0, 0.0, 0.0, 500.0, 239.0, 0.0, 0.0, 0.0, 1.0, 0.0]
IDENTITY = np.eye(3).reshape(-1).tolist()

# Realistic, fairly strong lenses (a webcam, a wide-angle rational model, a fisheye).
DISTORTIONS = {
    "plumb_bob": [-0.28, 0.07, 0.0008, -0.0005, 0.0],
    "rational_polynomial": [0.4997, -2.6, 0.0007, -0.0003, 1.52, 0.38, -2.43, 1.44],  # Azure Kinect-like
    "equidistant": [-0.04, 0.012, -0.006, 0.001],
}


def _grid(step: int = 40) -> np.ndarray:
    cols, rows = np.meshgrid(np.arange(0, W, step, dtype=float), np.arange(0, H, step, dtype=float))
    pts = np.column_stack((cols.ravel(), rows.ravel()))
    return np.vstack((pts, [[0.0, 0.0], [W - 1.0, H - 1.0], [W - 1.0, 0.0], [0.0, H - 1.0]]))


@pytest.mark.parametrize("model", sorted(DISTORTIONS))
def test_pixel_ray_pixel_round_trip_within_0_01_px(model: str) -> None:
    cam = CameraModel(K, DISTORTIONS[model], IDENTITY, P_RECT, W, H, model)
    assert cam.is_distorted
    pixels = _grid()
    rays = pixel_to_ray(cam, pixels)
    np.testing.assert_allclose(np.linalg.norm(rays, axis=1), 1.0, atol=1e-12)
    back = point_to_pixel(cam, rays * 1.7)  # any point along the ray projects to the same pixel
    err = np.linalg.norm(back - pixels, axis=1)
    assert err.max() < 0.01, f"{model}: worst round trip {err.max():.2e} px"


@pytest.mark.parametrize("model", sorted(DISTORTIONS))
def test_rectify_unrectify_round_trip(model: str) -> None:
    cam = CameraModel(K, DISTORTIONS[model], IDENTITY, P_RECT, W, H, model)
    pixels = _grid(60)
    rect = rectify_points(cam, pixels)
    back = unrectify_points(cam, rect)
    assert np.abs(back - pixels).max() < 0.01


def test_distortion_actually_matters() -> None:
    """The distorted model must differ from the pinhole one (guards against ignoring D)."""
    plain = CameraModel(K, [], IDENTITY, P_RECT, W, H, "plumb_bob")
    bent = CameraModel(K, DISTORTIONS["plumb_bob"], IDENTITY, P_RECT, W, H, "plumb_bob")
    corner = np.array([[5.0, 5.0]])
    assert np.linalg.norm(pixel_to_ray(plain, corner) - pixel_to_ray(bent, corner)) > 0.01


def test_rectify_matches_opencv_like_image_geometry() -> None:
    """image_geometry's rectifyPoint is cv2.undistortPoints(K, D, R, P); so is ours."""
    r = cv2.Rodrigues(np.array([0.01, -0.02, 0.005]))[0]
    cam = CameraModel(K, DISTORTIONS["plumb_bob"], r.reshape(-1), P_RECT, W, H, "plumb_bob")
    pixels = _grid(80)
    ref = cv2.undistortPoints(
        pixels.reshape(-1, 1, 2), np.reshape(K, (3, 3)), np.array(DISTORTIONS["plumb_bob"]), R=r,
        P=np.reshape(P_RECT, (3, 4)), criteria=(cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 200, 1e-14),
    ).reshape(-1, 2)
    np.testing.assert_allclose(rectify_points(cam, pixels), ref, atol=1e-9)
    # With OpenCV's default 5 iterations (what image_geometry gets) the answer is close but coarser.
    coarse = cv2.undistortPoints(
        pixels.reshape(-1, 1, 2),
        np.reshape(K, (3, 3)),
        np.array(DISTORTIONS["plumb_bob"]),
        R=r,
        P=np.reshape(P_RECT, (3, 4)),
    ).reshape(-1, 2)
    assert np.abs(coarse - ref).max() < 2.0


def test_image_geometry_ray_and_projection_semantics() -> None:
    cam = CameraModel(K, [], IDENTITY, P_RECT, W, H, "plumb_bob")
    uv = np.array([[321.0, 239.0], [100.0, 50.0]])
    rays = project_pixel_to_3d_ray(cam, uv)
    np.testing.assert_allclose(rays[0], [0.0, 0.0, 1.0])
    x, y = (100.0 - 321.0) / 500.0, (50.0 - 239.0) / 500.0
    np.testing.assert_allclose(rays[1], np.array([x, y, 1.0]) / np.sqrt(x * x + y * y + 1.0))
    np.testing.assert_allclose(project_3d_to_pixel(cam, rays * 2.5), uv, atol=1e-9)


def test_binning_and_roi_adjust_k_and_p_like_image_geometry() -> None:
    cam = CameraModel(K, [], IDENTITY, P_RECT, W, H, "plumb_bob", binning_x=2, binning_y=2, roi=Roi(100, 40, 400, 300))
    assert (cam.width, cam.height) == (200, 150)
    assert cam.K[0, 0] == pytest.approx(525.0 / 2) and cam.K[1, 1] == pytest.approx(523.5 / 2)
    assert cam.K[0, 2] == pytest.approx((319.3 - 100) / 2) and cam.K[1, 2] == pytest.approx((241.7 - 40) / 2)
    assert cam.cx == pytest.approx((321.0 - 100) / 2) and cam.fy == pytest.approx(250.0)
    np.testing.assert_array_equal(cam.full_K, np.reshape(K, (3, 3)))
    # The same physical ray from the full image and from the binned ROI image (image_geometry maps
    # full-resolution pixel u to (u - x_offset) / binning).
    full = CameraModel(K, [], IDENTITY, P_RECT, W, H, "plumb_bob")
    ray_full = pixel_to_ray(full, np.array([[300.0, 200.0]]))
    ray_roi = pixel_to_ray(cam, np.array([[(300.0 - 100) / 2, (200.0 - 40) / 2]]))
    np.testing.assert_allclose(ray_roi, ray_full, atol=1e-12)


def test_from_camera_info_duck_typed_message() -> None:
    msg = SimpleNamespace(
        k=K, d=DISTORTIONS["plumb_bob"], r=IDENTITY, p=P_RECT, width=W, height=H, distortion_model="plumb_bob",
        binning_x=0, binning_y=0, roi=SimpleNamespace(x_offset=0, y_offset=0, width=0, height=0, do_rectify=False),
        header=SimpleNamespace(frame_id="cam_optical"),
    )
    cam = CameraModel.from_camera_info(msg)
    assert cam.frame_id == "cam_optical" and (cam.width, cam.height) == (W, H) and cam.is_distorted


def test_ray_grid_matches_pointwise_rays() -> None:
    cam = CameraModel(K, DISTORTIONS["rational_polynomial"], IDENTITY, P_RECT, 64, 48, "rational_polynomial")
    rows, cols = np.array([0, 10, 47]), np.array([0, 33, 63])
    np.testing.assert_allclose(
        rays_at(cam, rows, cols), rays_of(cam).pixel_rays(np.column_stack((cols, rows)).astype(float)), atol=1e-12
    )


def test_protocol_pixels_are_half_a_pixel_off_opencv() -> None:
    """Normalised (0, 0) is the image corner, i.e. OpenCV pixel (-0.5, -0.5)."""
    uv = normalised_to_cv_pixels(np.array([[0.0, 0.0], [1.0, 1.0], [0.5, 0.5]]), W, H)
    np.testing.assert_allclose(uv, [[-0.5, -0.5], [W - 0.5, H - 0.5], [W / 2 - 0.5, H / 2 - 0.5]])
    np.testing.assert_allclose(cv_pixels_to_normalised(uv, W, H), [[0, 0], [1, 1], [0.5, 0.5]])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"distortion_model": "kannala_brandt_9"}, "unsupported distortion model"),
        ({"d": [0.1, 0.2, 0.3]}, "takes"),
        ({"k": [0.0] * 9}, "not a calibrated camera matrix"),
        ({"width": 0}, "size must be positive"),
        ({"k": K[:8]}, "must hold 9 numbers"),
        ({"roi": Roi(600, 0, 100, 100)}, "does not fit"),
    ],
)
def test_bad_camera_info_is_a_clear_error(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {
        "k": K, "d": DISTORTIONS["plumb_bob"], "r": IDENTITY, "p": P_RECT, "width": W, "height": H,
        "distortion_model": "plumb_bob",
    }
    args.update(kwargs)
    with pytest.raises(CameraModelError, match=message):
        CameraModel(**args)  # type: ignore[arg-type]
