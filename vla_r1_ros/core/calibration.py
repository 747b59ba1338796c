"""Camera calibration files (the YAML that camera_calibration / camera_info_manager write).

Reads them into an object shaped like sensor_msgs/CameraInfo, so the same
``CameraModel.from_camera_info`` serves a live topic and a file on disk.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from vla_r1_ros.core.geometry.camera import Roi

__all__ = ["CalibrationError", "CameraInfoData", "load_camera_info"]


class CalibrationError(ValueError):
    """The calibration file is missing, unreadable or incomplete."""


@dataclass(frozen=True)
class _Header:
    frame_id: str = ""


@dataclass(frozen=True)
class CameraInfoData:
    """The fields of sensor_msgs/CameraInfo (ROS 2 lower-case names) as plain Python values."""

    width: int
    height: int
    k: tuple[float, ...]
    d: tuple[float, ...]
    r: tuple[float, ...]
    p: tuple[float, ...]
    distortion_model: str = "plumb_bob"
    binning_x: int = 0
    binning_y: int = 0
    roi: Roi = field(default_factory=Roi)  # a calibration file describes the full sensor
    header: _Header = field(default_factory=_Header)


def _matrix(
    document: dict[str, Any], key: str, size: int, default: tuple[float, ...] | None = None
) -> tuple[float, ...]:
    entry = document.get(key)
    if entry is None:
        if default is None:
            raise CalibrationError(f"calibration has no {key}")
        return default
    data = entry.get("data") if isinstance(entry, dict) else entry
    if not isinstance(data, list) or (size and len(data) != size):
        raise CalibrationError(f"{key} must hold {size} numbers")
    try:
        return tuple(float(v) for v in data)
    except (TypeError, ValueError):
        raise CalibrationError(f"{key} must hold numbers") from None


def load_camera_info(path: str | Path, frame_id: str = "") -> CameraInfoData:
    """Read a camera_calibration YAML (image_width, camera_matrix, distortion_coefficients, ...)."""
    try:
        document = yaml.safe_load(Path(path).read_text())
    except OSError as err:
        raise CalibrationError(f"cannot read {path}: {err.strerror}") from None
    except yaml.YAMLError as err:
        raise CalibrationError(f"{path} is not valid YAML: {err}") from None
    if not isinstance(document, dict):
        raise CalibrationError(f"{path} does not hold a calibration mapping")
    try:
        width, height = int(document["image_width"]), int(document["image_height"])
    except (KeyError, TypeError, ValueError):
        raise CalibrationError(f"{path} needs integer image_width and image_height") from None
    k = _matrix(document, "camera_matrix", 9)
    identity = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
    p_default = (k[0], k[1], k[2], 0.0, k[3], k[4], k[5], 0.0, k[6], k[7], k[8], 0.0)
    return CameraInfoData(
        width=width,
        height=height,
        k=k,
        d=_matrix(document, "distortion_coefficients", 0, ()),
        r=_matrix(document, "rectification_matrix", 9, identity),
        p=_matrix(document, "projection_matrix", 12, p_default),
        distortion_model=str(document.get("distortion_model", "plumb_bob")),
        header=_Header(frame_id),
    )
