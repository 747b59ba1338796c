"""Raw NASA-TLX: the unweighted mean of the six subscales (Hart 2006), each rated 0-100.

Every subscale, performance included, runs from low demand to high: performance is rated from
0 = perfect to 100 = failure, as on the TLX form, so a higher raw TLX always means more workload.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

__all__ = ["TLX_SUBSCALES", "raw_tlx"]

TLX_SUBSCALES = ("mental", "physical", "temporal", "performance", "effort", "frustration")


def raw_tlx(scores: Mapping[str, float], scale_max: float = 100.0) -> float:
    """Mean of the six subscales; a missing or out-of-range subscale is an error naming it."""
    missing = [name for name in TLX_SUBSCALES if name not in scores]
    if missing:
        raise ValueError(f"NASA-TLX needs all six subscales; missing: {', '.join(missing)}")
    values = []
    for name in TLX_SUBSCALES:
        value = float(scores[name])
        if not (math.isfinite(value) and 0.0 <= value <= scale_max):
            raise ValueError(f"NASA-TLX subscale {name} must be within 0-{scale_max:g}, got {scores[name]!r}")
        values.append(value)
    return sum(values) / len(values)
