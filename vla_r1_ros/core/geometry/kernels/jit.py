"""The numba decorators of every kernel, and the scalar helpers the kernels share."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar, cast

import numba
import numpy as np

__all__ = ["jit", "inner", "maximum", "minimum", "copy_column", "set_column"]

# error_model="numpy": a division by zero gives inf/NaN as in NumPy instead of raising (and
# costs no check); nogil: the ROS node may lift on another thread than the one receiving images.
jit = numba.njit(cache=True, nogil=True, error_model="numpy")
_F = TypeVar("_F", bound=Callable[..., Any])


class _Decorator(Protocol):
    def __call__(self, function: _F, /) -> _F: ...


# Helpers only ever called from compiled code need no CPython entry point (less to compile).
# numba's type stubs leave that option out; numba.njit passes it on to the dispatcher.
inner = cast(
    _Decorator,
    numba.njit(cache=True, nogil=True, error_model="numpy", no_cpython_wrapper=True),  # type: ignore[call-overload]
)


@inner
def maximum(a: float, b: float) -> float:
    """``np.maximum`` of two scalars: NaN when either is NaN (Python's ``max`` is order-dependent)."""
    return a if (a >= b or a != a) else b


@inner
def minimum(a: float, b: float) -> float:
    """``np.minimum`` of two scalars (NaN propagates)."""
    return a if (a <= b or a != a) else b


@inner
def copy_column(target: np.ndarray, j: int, source: np.ndarray, k: int) -> None:
    """``target[:, j] = source[:, k]`` for (3, N) arrays (a loop compiles faster than a slice assignment)."""
    for i in range(3):
        target[i, j] = source[i, k]


@inner
def set_column(target: np.ndarray, j: int, point: np.ndarray) -> None:
    """``target[:, j] = point`` for a (3, N) array and a 3-vector."""
    for i in range(3):
        target[i, j] = point[i]
