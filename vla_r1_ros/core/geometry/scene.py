"""The scene lifting works in: one registered depth frame plus the camera pose in the robot's base frame."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from vla_r1_ros.core.geometry.camera import CameraModel
from vla_r1_ros.core.geometry.depth import DepthImage, RegisteredDepth, register_depth
from vla_r1_ros.core.geometry.height_map import HeightMap, build_height_map
from vla_r1_ros.core.geometry.kernels.height_grid import base_frame_cloud
from vla_r1_ros.core.geometry.rays import rays_of
from vla_r1_ros.core.geometry.settings import TrajectorySettings
from vla_r1_ros.core.geometry.transforms import check_rigid_transform, transform_points

__all__ = ["FrameMismatchError", "ImageSizeError", "PointCloud", "DepthScene", "check_colour_size", "scene_from_frame"]


class FrameMismatchError(ValueError):
    """The transform given for the camera does not start at the depth image's frame."""


class ImageSizeError(ValueError):
    """The colour image and its CameraInfo disagree on the image size."""


class PointCloud(NamedTuple):
    """Base-frame points of a strided grid of depth pixels, with the lowest and highest z.

    ``points`` (3, N) has a NaN column at every pixel without valid depth, in grid order. Why
    keep the gaps: lifting only ever keeps points inside a region, and a comparison with NaN is
    False, so the region test drops the gaps for free; selecting the valid pixels first would
    be an extra pass over every pixel. ``lowest``/``highest`` are NaN when no pixel has depth.
    """

    points: np.ndarray
    lowest: float
    highest: float


class DepthScene:
    """A registered depth frame plus the camera pose in the base frame.

    Create one per frame and lift every answer about that frame through it: the base-frame point
    cloud and the height map are computed once, on first use. Depth is read through the
    :class:`DepthImage`, which decodes only the pixels a request touches.

    The pose is kept in two forms: ``rotation_rows``/``translation`` as Python floats, for the
    3-vector arithmetic of single points, and ``rotation``/``origin`` as contiguous arrays for the
    compiled stages (a strided view of ``T`` would make numba compile another version of each
    for that memory layout). ``rays`` are the camera's optical-frame rays (:mod:`.rays`).
    """

    def __init__(
        self,
        depth: RegisteredDepth,
        T_base_optical: np.ndarray,
        base_frame: str = "base_link",
        optical_frame: str | None = None,
        pixels_rectified: bool = False,
    ) -> None:
        """``optical_frame``: the child frame of ``T_base_optical`` as tf2 named it, if known."""
        self.registered = depth
        self.camera = depth.camera
        self.rays = rays_of(depth.camera)
        self.image = depth.depth
        self.T = check_rigid_transform(T_base_optical, "T_base_optical")
        self.rotation_rows: list[list[float]] = self.T[:3, :3].tolist()
        self.translation: list[float] = self.T[:3, 3].tolist()
        self.rotation = np.ascontiguousarray(self.T[:3, :3])
        self.origin = np.array(self.translation)
        if optical_frame and depth.depth.frame_id and optical_frame != depth.depth.frame_id:
            raise FrameMismatchError(
                f"T_base_optical was looked up for frame {optical_frame!r} but the depth image is in "
                f"{depth.depth.frame_id!r}; look the transform up for the image's own frame"
            )
        self.base_frame = base_frame
        self.rectified = pixels_rectified
        self.height, self.width = self.image.height, self.image.width
        if (self.camera.width, self.camera.height) != (self.width, self.height):
            raise ValueError("registered depth and its camera disagree on the image size")
        self._clouds: dict[int, PointCloud] = {}

    @property
    def depth(self) -> np.ndarray:
        """The whole depth frame in metres (NaN = invalid), decoded on first access."""
        return self.image.metres

    def to_base(self, points_optical: np.ndarray) -> np.ndarray:
        """Optical-frame points (N, 3) in the base frame."""
        return transform_points(self.T, points_optical)

    def cloud(self, max_points: int) -> PointCloud:
        """The :class:`PointCloud` of a strided grid of about ``max_points`` depth pixels (computed once per size)."""
        cloud = self._clouds.get(max_points)
        if cloud is None:
            stride = max(1, math.ceil(math.sqrt(self.width * self.height / max_points)))
            rows = cols = slice(stride // 2, None, stride)
            z = np.require(self.image.window(rows, cols), np.float32, ["C", "W"])
            planes = self.rays.ray_planes(rows, cols, self.rectified)
            points, lowest, highest = base_frame_cloud(z, planes, self.rotation, self.origin)
            points.flags.writeable = False
            cloud = self._clouds[max_points] = PointCloud(points, float(lowest), float(highest))
        return cloud

    def height_map(self, config: TrajectorySettings, region: tuple[ArrayLike, ArrayLike] | None = None) -> HeightMap:
        """The height map of the whole frame, or only of the base-frame xy ``region`` (lo, hi).

        A region keeps the grid small (a camera sees metres of table; a path needs decimetres).
        Cells outside the grid read as the highest surface in the whole frame.
        """
        cloud = self.cloud(config.cloud_points)
        return build_height_map(cloud.points, cloud.highest, config, region)


def check_colour_size(camera: CameraModel, colour_size: tuple[int, int]) -> None:
    """:class:`ImageSizeError` unless the colour image's (width, height) is the camera's."""
    if tuple(colour_size) != (camera.width, camera.height):
        width, height = colour_size
        raise ImageSizeError(
            f"colour image is {width}x{height} but CameraInfo describes {camera.width}x{camera.height}"
        )


def scene_from_frame(
    depth: DepthImage,
    camera: CameraModel,
    T_base_optical: np.ndarray,
    base_frame: str = "base_link",
    optical_frame: str | None = None,
    colour_size: tuple[int, int] | None = None,
    depth_camera: CameraModel | None = None,
) -> DepthScene:
    """The scene of one RGB-D frame: the one builder (the node, ``vla-r1 predict`` and the simulator).

    Checks the colour image's (width, height) against the camera when given
    (:class:`ImageSizeError`), registers the depth to the colour camera
    (:func:`~vla_r1_ros.core.geometry.depth.register_depth`'s errors) and takes the camera pose.
    """
    if colour_size is not None:
        check_colour_size(camera, colour_size)
    registered = register_depth(depth, camera, depth_camera)
    return DepthScene(registered, T_base_optical, base_frame=base_frame, optical_frame=optical_frame)
