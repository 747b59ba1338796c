"""Velocity and acceleration scaling: what a goal asks for, bounded by what the operator allows.

Why this needs a rule of its own: MoveIt's time parameterisation (TOTG) treats any scaling
outside (0, 1] as 1.0, and ROS messages default numbers to 0, so an unset scaling would run the
arm at full speed. A requested value outside (0, 1] (0, negative, above 1, NaN) is therefore
replaced by the configured default, and any value is clamped to the configured maximum; the
result is always in (0, maximum].
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["ResolvedScaling", "resolve_scaling"]


@dataclass(frozen=True)
class ResolvedScaling:
    """The scaling to send and, when it differs from the request, why (for logs and feedback)."""

    value: float
    note: str = ""


def _valid(value: float) -> bool:
    return math.isfinite(value) and 0.0 < value <= 1.0


def resolve_scaling(requested: float | None, maximum: float, default: float | None = None) -> ResolvedScaling:
    """The scaling to use for a goal's ``requested`` value.

    ``maximum`` is the configured ceiling (in (0, 1]); ``default`` (in (0, 1], None: the maximum)
    stands in for a request outside (0, 1] or None.
    """
    if not _valid(maximum):
        raise ValueError(f"the configured maximum scaling must be in (0, 1], got {maximum}")
    fallback = maximum if default is None else default
    if not _valid(fallback):
        raise ValueError(f"the default scaling must be in (0, 1], got {fallback}")
    fallback = min(fallback, maximum)
    if requested is None:
        return ResolvedScaling(fallback, f"no scaling requested: using the default {fallback}")
    if not _valid(requested):
        return ResolvedScaling(fallback, f"scaling {requested} is outside (0, 1]: using the default {fallback}")
    if requested > maximum:
        return ResolvedScaling(maximum, f"scaling {requested} is above the maximum {maximum}: clamped")
    return ResolvedScaling(float(requested))
