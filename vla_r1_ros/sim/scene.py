"""A headless pybullet tabletop renderer that produces RGB-D frames from an exactly chosen K.

Why this exists: the geometry core must be right to the millimetre, and the only honest way to
show that is to lift depth that a real renderer produced for a camera whose intrinsics we chose,
then compare against the analytic truth of the scene (object poses and sizes, ray casts).

Conventions (all verified against ``reference/simulation.md`` and by the tests):

* World frame: REP 103, z up, the table top is the plane z = 0.
* Camera frame: the ROS optical frame (x right, y down, z forward). ``T_world_optical`` maps
  optical-frame points into the world.
* K uses the OpenCV / ROS convention: integer pixel coordinates sit at pixel centres, so the
  pixel in column ``u`` spans ``[u - 0.5, u + 0.5)``. (The protocol's normalised boxes use
  corner coordinates; ``protocol`` pixel = OpenCV pixel + 0.5.)
* pybullet matrices are 16 floats in column-major order. TinyRenderer's principal point is offset
  by (0, 1) pixel from what the OpenGL formula says, so the projection compensates for it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from vla_r1_ros.core.protocol import Box2D, PixelBox

if TYPE_CHECKING:  # imported lazily at run time to keep sim light
    from vla_r1_ros.core.geometry.camera import CameraModel
    from vla_r1_ros.core.geometry.scene import DepthScene

__all__ = [
    "Intrinsics",
    "SceneObject",
    "ObjectTruth",
    "RenderedScene",
    "RGBDFrame",
    "TabletopRenderer",
    "look_at",
    "projection_matrix",
    "view_matrix",
    "ray_cast_scene",
    "camera_model",
    "depth_scene",
    "capture_rgbd",
    "observed_truth",
]

# TinyRenderer's measured principal-point offset (ox, oy) in pixels; OpenGL/EGL would be (0.5, 0.5).
_TINY_OFFSET = (0.0, 1.0)
_OPTICAL_TO_GL = np.diag([1.0, -1.0, -1.0, 1.0])


@dataclass(frozen=True)
class Intrinsics:
    """A distortion-free pinhole camera: image size and K entries (OpenCV pixel convention)."""

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float

    @classmethod
    def from_vertical_fov(cls, width: int, height: int, vfov_deg: float) -> Intrinsics:
        """Square pixels, principal point at the image centre ((W-1)/2, (H-1)/2)."""
        f = (height / 2.0) / math.tan(math.radians(vfov_deg) / 2.0)
        return cls(width, height, f, f, (width - 1) / 2.0, (height - 1) / 2.0)

    def matrix(self) -> np.ndarray:
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])


@dataclass(frozen=True)
class SceneObject:
    """A primitive standing on the table.

    ``size`` is the full extent (x, y, z) in the object's frame; a cylinder uses (d, d, h).
    ``xy`` is the footprint centre in the world, ``yaw`` a rotation about world z (radians).
    """

    name: str
    shape: str  # "box" or "cylinder"
    size: tuple[float, float, float]
    xy: tuple[float, float]
    yaw: float = 0.0
    rgba: tuple[float, float, float, float] = (0.8, 0.2, 0.2, 1.0)

    def pose(self) -> np.ndarray:
        """4x4 world pose of the object's centre (the table top is z = 0)."""
        c, s = math.cos(self.yaw), math.sin(self.yaw)
        pose = np.eye(4)
        pose[:3, :3] = [[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]
        pose[:3, 3] = (self.xy[0], self.xy[1], self.size[2] / 2.0)
        return pose


@dataclass(frozen=True)
class ObjectTruth:
    """Ground truth for one rendered object."""

    name: str
    body_id: int
    shape: str
    pose: np.ndarray  # 4x4 world pose of the centre
    size: np.ndarray  # full extents (x, y, z)
    box_2d: Box2D | None  # tight normalised box of its visible pixels (half-open), None if unseen
    visible_pixels: int

    @property
    def top_center(self) -> np.ndarray:
        """World position of the centre of the top face."""
        top: np.ndarray = self.pose[:3, 3] + np.array([0.0, 0.0, self.size[2] / 2.0])
        return top

    def surface_height(self, xy: np.ndarray) -> np.ndarray:
        """Top height at world (x, y) points (N, 2) where they fall on the footprint, else -inf."""
        local = (np.asarray(xy, dtype=float) - self.pose[:2, 3]) @ self.pose[:2, :2]
        if self.shape == "cylinder":
            inside = np.hypot(local[:, 0], local[:, 1]) <= self.size[0] / 2.0
        else:
            inside = (np.abs(local[:, 0]) <= self.size[0] / 2.0) & (np.abs(local[:, 1]) <= self.size[1] / 2.0)
        return np.where(inside, float(self.size[2]), -np.inf)

    def intersect(self, origin: np.ndarray, direction: np.ndarray) -> tuple[float, np.ndarray] | None:
        """First hit (distance along the unit ``direction``, outward normal) or None."""
        rot, centre = self.pose[:3, :3], self.pose[:3, 3]
        o = rot.T @ (np.asarray(origin, float) - centre)
        d = rot.T @ np.asarray(direction, float)
        half = self.size / 2.0
        if self.shape == "cylinder":
            return _intersect_cylinder(o, d, half[0], half[2], rot)
        return _intersect_box(o, d, half, rot)


def _intersect_box(o: np.ndarray, d: np.ndarray, half: np.ndarray, rot: np.ndarray) -> tuple[float, np.ndarray] | None:
    t_near, t_far, axis, sign = -np.inf, np.inf, -1, 0.0
    for i in range(3):
        if abs(d[i]) < 1e-15:
            if abs(o[i]) > half[i]:
                return None
            continue
        t1, t2 = (-half[i] - o[i]) / d[i], (half[i] - o[i]) / d[i]
        entry_sign = -1.0 if t1 < t2 else 1.0
        if min(t1, t2) > t_near:
            t_near, axis, sign = min(t1, t2), i, entry_sign
        t_far = min(t_far, max(t1, t2))
    if t_near > t_far or t_far < 0.0 or t_near < 0.0 or axis < 0:
        return None
    normal = np.zeros(3)
    normal[axis] = sign
    return float(t_near), rot @ normal


def _intersect_cylinder(
    o: np.ndarray, d: np.ndarray, radius: float, half_h: float, rot: np.ndarray
) -> tuple[float, np.ndarray] | None:
    hits: list[tuple[float, np.ndarray]] = []
    a = d[0] ** 2 + d[1] ** 2
    if a > 1e-15:
        b = 2 * (o[0] * d[0] + o[1] * d[1])
        c = o[0] ** 2 + o[1] ** 2 - radius**2
        disc = b * b - 4 * a * c
        if disc >= 0:
            t = (-b - math.sqrt(disc)) / (2 * a)
            p = o + t * d
            if t >= 0 and abs(p[2]) <= half_h:
                hits.append((t, np.array([p[0], p[1], 0.0]) / radius))
    if abs(d[2]) > 1e-15:
        for cap in (half_h, -half_h):
            t = (cap - o[2]) / d[2]
            p = o + t * d
            if t >= 0 and p[0] ** 2 + p[1] ** 2 <= radius**2:
                hits.append((t, np.array([0.0, 0.0, math.copysign(1.0, cap)])))
    if not hits:
        return None
    t, n = min(hits, key=lambda hit: hit[0])
    return float(t), rot @ n


@dataclass(frozen=True)
class RenderedScene:
    """One RGB-D frame with everything needed to check a lift against the truth."""

    rgb: np.ndarray  # (H, W, 3) uint8
    depth: np.ndarray  # (H, W) float32 metres along the optical z axis, NaN where nothing was hit
    segmentation: np.ndarray  # (H, W) int32 body ids, -1 for nothing
    intrinsics: Intrinsics
    T_world_optical: np.ndarray  # 4x4
    objects: tuple[ObjectTruth, ...]
    table_body_id: int
    frame_id: str = "camera_color_optical_frame"
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def K(self) -> np.ndarray:
        return self.intrinsics.matrix()

    def object(self, name: str) -> ObjectTruth:
        for obj in self.objects:
            if obj.name == name:
                return obj
        raise KeyError(f"no object named {name!r}; have {[o.name for o in self.objects]}")

    def camera_ray(self, u_cv: float, v_cv: float) -> tuple[np.ndarray, np.ndarray]:
        """World origin and unit direction of the ray through OpenCV pixel (u, v)."""
        k = self.intrinsics
        d_opt = np.array([(u_cv - k.cx) / k.fx, (v_cv - k.cy) / k.fy, 1.0])
        d_opt /= np.linalg.norm(d_opt)
        return self.T_world_optical[:3, 3].copy(), self.T_world_optical[:3, :3] @ d_opt

    def true_hit(self, u_cv: float, v_cv: float) -> tuple[np.ndarray, np.ndarray, str] | None:
        """Analytic first surface hit (world point, normal, object name or 'table') of a pixel ray."""
        origin, direction = self.camera_ray(u_cv, v_cv)
        return ray_cast_scene(self.objects, origin, direction)

    def true_surface_height(self, xy: np.ndarray) -> np.ndarray:
        """Analytic height of the scene's top surface at world (x, y) points (table = 0)."""
        xy = np.atleast_2d(np.asarray(xy, dtype=float))
        heights = np.zeros(len(xy))
        for obj in self.objects:
            heights = np.maximum(heights, obj.surface_height(xy))
        return heights


def ray_cast_scene(
    objects: Sequence[ObjectTruth], origin: np.ndarray, direction: np.ndarray
) -> tuple[np.ndarray, np.ndarray, str] | None:
    """Nearest analytic hit among the objects and the table plane z = 0."""
    best: tuple[float, np.ndarray, str] | None = None
    if direction[2] < -1e-12:
        t = -origin[2] / direction[2]
        best = (t, np.array([0.0, 0.0, 1.0]), "table")
    for obj in objects:
        hit = obj.intersect(origin, direction)
        if hit is not None and (best is None or hit[0] < best[0]):
            best = (hit[0], hit[1], obj.name)
    if best is None:
        return None
    return origin + best[0] * direction, best[1], best[2]


def look_at(eye: Sequence[float], target: Sequence[float], up: Sequence[float] = (0.0, 0.0, 1.0)) -> np.ndarray:
    """T_world_optical for a camera at ``eye`` looking at ``target`` (optical z forward, y down)."""
    eye_v, target_v, up_v = (np.asarray(v, dtype=float) for v in (eye, target, up))
    z = target_v - eye_v
    z /= np.linalg.norm(z)
    x = np.cross(z, up_v)
    if np.linalg.norm(x) < 1e-9:
        raise ValueError("look_at: viewing direction is parallel to 'up'; pick another up vector")
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    pose = np.eye(4)
    pose[:3, 0], pose[:3, 1], pose[:3, 2], pose[:3, 3] = x, y, z, eye_v
    return pose


def projection_matrix(k: Intrinsics, near: float, far: float, offset: tuple[float, float] = _TINY_OFFSET) -> np.ndarray:
    """Row-major OpenGL projection that renders exactly the camera ``k`` (see module docstring)."""
    proj = np.zeros((4, 4))
    proj[0, 0] = 2.0 * k.fx / k.width
    proj[1, 1] = 2.0 * k.fy / k.height
    proj[0, 2] = 1.0 - 2.0 * (k.cx + offset[0]) / k.width
    proj[1, 2] = 2.0 * (k.cy + offset[1]) / k.height - 1.0
    proj[2, 2] = -(far + near) / (far - near)
    proj[2, 3] = -2.0 * far * near / (far - near)
    proj[3, 2] = -1.0
    return proj


def view_matrix(T_world_optical: np.ndarray) -> np.ndarray:
    """Row-major OpenGL view matrix (world -> GL camera: x right, y up, z backward)."""
    return np.linalg.inv(np.asarray(T_world_optical, dtype=float) @ _OPTICAL_TO_GL)


class TabletopRenderer:
    """Owns one headless pybullet client (p.DIRECT) and renders tabletop scenes with TinyRenderer.

    Use as a context manager or call :meth:`close`. The client is private to this object, so
    several renderers (or other pybullet users) do not interfere.
    """

    def __init__(self, near: float = 0.05, far: float = 5.0) -> None:
        import pybullet  # imported lazily: the banner it prints must not appear on plain imports

        self._p = pybullet
        self.near, self.far = near, far
        self._client = pybullet.connect(pybullet.DIRECT)
        self._bodies: list[int] = []

    def close(self) -> None:
        if self._client >= 0:
            self._p.disconnect(physicsClientId=self._client)
            self._client = -1

    def __enter__(self) -> TabletopRenderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def render(
        self,
        objects: Sequence[SceneObject],
        intrinsics: Intrinsics,
        T_world_optical: np.ndarray,
        table_rgba: tuple[float, float, float, float] = (0.75, 0.72, 0.65, 1.0),
    ) -> RenderedScene:
        """Build the scene (table top at z = 0 plus ``objects``) and render one RGB-D frame."""
        p, cid = self._p, self._client
        if cid < 0:
            raise RuntimeError("renderer is closed")
        for body in self._bodies:
            p.removeBody(body, physicsClientId=cid)
        self._bodies = []
        table_vis = p.createVisualShape(
            p.GEOM_BOX, halfExtents=[2.0, 2.0, 0.01], rgbaColor=list(table_rgba), physicsClientId=cid
        )
        table_id = p.createMultiBody(0, -1, table_vis, [0.0, 0.0, -0.01], physicsClientId=cid)
        self._bodies.append(table_id)
        ids = []
        for obj in objects:
            if obj.shape == "box":
                vis = p.createVisualShape(
                    p.GEOM_BOX, halfExtents=[s / 2.0 for s in obj.size], rgbaColor=list(obj.rgba), physicsClientId=cid
                )
            elif obj.shape == "cylinder":
                vis = p.createVisualShape(
                    p.GEOM_CYLINDER,
                    radius=obj.size[0] / 2.0,
                    length=obj.size[2],
                    rgbaColor=list(obj.rgba),
                    physicsClientId=cid,
                )
            else:
                raise ValueError(f"unknown shape {obj.shape!r}; expected 'box' or 'cylinder'")
            pose = obj.pose()
            quat = p.getQuaternionFromEuler([0.0, 0.0, obj.yaw])
            body = p.createMultiBody(0, -1, vis, pose[:3, 3].tolist(), quat, physicsClientId=cid)
            ids.append(body)
            self._bodies.append(body)

        rgb, depth, seg = capture_rgbd(p, cid, intrinsics, T_world_optical, self.near, self.far)
        truths = [
            observed_truth(obj.name, body, obj.shape, obj.pose(), obj.size, seg) for obj, body in zip(objects, ids)
        ]
        return RenderedScene(
            rgb, depth, seg, intrinsics, np.asarray(T_world_optical, dtype=float).copy(), tuple(truths), table_id
        )


def capture_rgbd(
    pybullet: Any, client: int, intrinsics: Intrinsics, T_world_optical: np.ndarray, near: float, far: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """RGB (H, W, 3) uint8, metric z-depth (H, W) float32 (NaN where nothing was hit) and body-id
    segmentation (H, W) int32 of whatever is in the pybullet ``client`` now, seen by the camera
    ``intrinsics`` at ``T_world_optical`` (TinyRenderer). :class:`TabletopRenderer` renders its
    scenes with this; a simulated world with an arm in it renders its camera with it too."""
    w, h = intrinsics.width, intrinsics.height
    view = view_matrix(T_world_optical)
    proj = projection_matrix(intrinsics, near, far)
    _, _, rgba, buffer, seg = pybullet.getCameraImage(
        w,
        h,
        viewMatrix=view.T.reshape(-1).tolist(),
        projectionMatrix=proj.T.reshape(-1).tolist(),
        renderer=pybullet.ER_TINY_RENDERER,
        shadow=0,
        lightDirection=[0.4, -0.3, 1.0],
        physicsClientId=client,
    )
    rgb = np.asarray(rgba, dtype=np.uint8).reshape(h, w, 4)[:, :, :3].copy()
    buffer = np.asarray(buffer, dtype=np.float64).reshape(h, w)
    seg = np.asarray(seg, dtype=np.int32).reshape(h, w)
    depth = (far * near / (far - (far - near) * buffer)).astype(np.float32)
    depth[(seg < 0) | (buffer >= 1.0)] = np.nan
    return rgb, depth, seg


def observed_truth(
    name: str, body_id: int, shape: str, pose: np.ndarray, size: Sequence[float], segmentation: np.ndarray
) -> ObjectTruth:
    """The truth of one object as rendered: its pose and size plus its visible pixels and tight box.

    The analytic ray cast and surface height of :class:`ObjectTruth` know boxes and cylinders
    only; other shapes are treated as their bounding box there.
    """
    h, w = segmentation.shape
    mask = segmentation == body_id
    count = int(mask.sum())
    box = None
    if count:
        rows, cols = np.nonzero(mask)
        box = Box2D.from_pixels(
            PixelBox(float(cols.min()), float(rows.min()), float(cols.max() + 1), float(rows.max() + 1)), w, h
        )
    return ObjectTruth(
        name, body_id, shape, np.asarray(pose, dtype=float), np.asarray(size, dtype=float), box, count
    )


class RGBDFrame(Protocol):
    """What a simulated registered RGB-D frame offers (:class:`RenderedScene`, ``topdown_scenes.TopDownFrame``)."""

    @property
    def rgb(self) -> np.ndarray: ...
    @property
    def depth(self) -> np.ndarray: ...
    @property
    def intrinsics(self) -> Intrinsics: ...
    @property
    def T_world_optical(self) -> np.ndarray: ...
    @property
    def frame_id(self) -> str: ...


def camera_model(scene: RGBDFrame) -> CameraModel:
    """The geometry core's camera model for a simulated frame (distortion-free, P = [K | 0])."""
    from vla_r1_ros.core.geometry.camera import CameraModel

    k = scene.intrinsics
    return CameraModel.from_intrinsics(k.fx, k.fy, k.cx, k.cy, k.width, k.height, frame_id=scene.frame_id)


def depth_scene(scene: RGBDFrame, depth: np.ndarray | None = None, base_frame: str = "world") -> DepthScene:
    """A geometry-core ``DepthScene`` for a simulated frame (optionally with a noisy depth image)."""
    from vla_r1_ros.core.geometry.depth import DepthImage
    from vla_r1_ros.core.geometry.scene import scene_from_frame

    image = DepthImage(scene.depth if depth is None else depth, scene.frame_id)
    return scene_from_frame(image, camera_model(scene), scene.T_world_optical, base_frame=base_frame)
