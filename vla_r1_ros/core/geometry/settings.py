"""Lifting's settings: the box fit and grasp (:class:`BoxLiftSettings`) and the path (:class:`TrajectorySettings`)."""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["BoxLiftSettings", "TrajectorySettings"]


@dataclass(frozen=True)
class BoxLiftSettings:
    """How a box is lifted. Defaults suit a tabletop RGB-D camera 0.4-1.5 m from the objects."""

    approach: str = "top_down"  # "top_down" (gripper z = -base z) or "normal" (along -surface normal)
    min_valid_points: int = 20  # fewer valid depth pixels (or plane inliers) than this: no target
    min_valid_fraction: float = 0.05  # ... or a smaller share of the box with valid depth
    max_samples: int = 1600  # pixels sampled from the box (stride grows with the box)
    core_fraction: float = 0.5  # the central part of the box (per axis) that seeds the plane
    min_inlier_band: float = 0.002  # metres; the plane inlier band is max(this, 3 x depth noise)
    smoothing_noise: float = 0.0015  # metres of depth noise above which pixels are classified on a median-filtered copy
    ransac_iterations: int = 24
    grasp_depth: float = 0.0  # metres the grasp point sits below the surface along the approach

    def __post_init__(self) -> None:
        if self.approach not in ("top_down", "normal"):
            raise ValueError(f"approach must be 'top_down' or 'normal', got {self.approach!r}")
        if self.min_valid_points < 3 or self.max_samples < self.min_valid_points:
            raise ValueError("need min_valid_points >= 3 and max_samples >= min_valid_points")
        if not (0.0 < self.core_fraction <= 1.0 and 0.0 <= self.min_valid_fraction <= 1.0):
            raise ValueError("core_fraction must be in (0, 1] and min_valid_fraction in [0, 1]")
        if not (self.min_inlier_band > 0.0 and self.grasp_depth >= 0.0 and self.ransac_iterations >= 1):
            raise ValueError("min_inlier_band must be > 0, grasp_depth >= 0, ransac_iterations >= 1")


@dataclass(frozen=True)
class TrajectorySettings:
    """How a 2-D trajectory becomes waypoints. Lengths in metres."""

    clearance: float = 0.05  # height kept above the observed surface under the gripper footprint
    footprint_radius: float = 0.04  # gripper radius used when looking for the surface beneath
    approach_height: float = 0.08  # length of the final straight approach onto the target
    spacing: float = 0.01  # arc-length spacing of the output waypoints
    smoothing_iterations: int = 4
    smoothing_weight: float = 0.5
    end_window_px: int = 9  # side of the pixel window that locates the end point's surface
    max_climb_slope: float = 1.0  # clearance is approached along ramps no steeper than this (dz / ds)
    use_model_depth: bool = True  # use per-point depth from the model (3-D traces) when given
    height_cell: float = 0.01  # height-map resolution
    cloud_points: int = 6000  # depth pixels (strided) that build the height map
    ray_samples: int = 48  # positions tried along each camera ray
    fill_radius: float = 0.10  # unobserved cells take the highest observed surface this close

    def __post_init__(self) -> None:
        for name in ("clearance", "footprint_radius", "fill_radius"):
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) >= 0.0):
                raise ValueError(f"{name} must be finite and >= 0")
        for name in ("approach_height", "spacing", "height_cell"):
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) > 0.0):
                raise ValueError(f"{name} must be finite and > 0")
        if self.approach_height < self.clearance:
            raise ValueError("approach_height must be >= clearance (the approach starts clear of the target)")
        if not (0.0 <= self.smoothing_weight <= 1.0 and self.smoothing_iterations >= 0):
            raise ValueError("smoothing_weight must be in [0, 1] and smoothing_iterations >= 0")
        if self.end_window_px < 3 or self.cloud_points < 100 or self.ray_samples < 4:
            raise ValueError("end_window_px >= 3, cloud_points >= 100 and ray_samples >= 4 are required")
