"""How alike two tool paths are, whatever their speed: Fréchet and DTW after arc-length resampling.

Resampling both paths to the same number of points evenly spaced along their length removes
timing (a slow teleoperator and a fast arm on the same path compare equal) and sampling rate.
"""

from __future__ import annotations

from dataclasses import dataclass

from numpy.typing import ArrayLike

from vla_r1_ros.core.metrics import dtw_batch, frechet_batch, resample_by_arc_length

__all__ = ["DEFAULT_POINTS", "PathSimilarity", "path_similarity"]

#: Points per resampled path: 5 mm spacing along a 1 m path.
DEFAULT_POINTS = 200


@dataclass(frozen=True)
class PathSimilarity:
    """Distances between two resampled paths, in the paths' unit (m for tool paths).

    ``dtw`` is the sum over the best coupling, so it grows with ``count``; ``dtw_per_point``
    divides it by ``count`` (the mean matched distance of a one-to-one coupling).
    """

    frechet: float
    dtw: float
    count: int

    @property
    def dtw_per_point(self) -> float:
        return self.dtw / self.count


def path_similarity(path_a: ArrayLike, path_b: ArrayLike, count: int = DEFAULT_POINTS) -> PathSimilarity:
    """Discrete Fréchet and DTW distances of two (n, d) paths resampled to ``count`` points each."""
    a, b = resample_by_arc_length(path_a, count), resample_by_arc_length(path_b, count)
    return PathSimilarity(float(frechet_batch([a], [b])[0]), float(dtw_batch([a], [b])[0]), count)
