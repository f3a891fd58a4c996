"""Quantiles of a sorted population read through an accessor, in numpy's "linear" way or NNI's way."""

from __future__ import annotations

import math
from collections.abc import Callable

_INF = math.inf


def linear(n: int, at: Callable[[int], float], q: float) -> float:
    """numpy.percentile(method="linear") of n ascending values at fraction q, infinities made sane.

    Equal to numpy for finite values. Between a finite value and an infinite one it gives the infinity
    (numpy gives NaN there), so a population with "worst" members yields a worst threshold, not NaN.
    """
    a, b, gamma = _neighbours(n, at, q)
    if gamma == 0 or a == b:
        return a
    if b == _INF or a == -_INF:
        return b if b == _INF else a
    return _numpy_lerp(a, b, gamma)


def linear_numpy(n: int, at: Callable[[int], float], q: float) -> float:
    """Bit-for-bit numpy.nanpercentile(method="linear") on n ascending non-NaN values (Optuna preset)."""
    a, b, gamma = _neighbours(n, at, q)
    return _numpy_lerp(a, b, gamma)


def lenient(n: int, at: Callable[[int], float], q: float, worse_is_higher: bool) -> float:
    """The element at the virtual index rounded towards the worse side (NNI's even-count median)."""
    v = (n - 1) * q
    return at(math.ceil(v) if worse_is_higher else math.floor(v))


def _neighbours(n: int, at: Callable[[int], float], q: float) -> tuple[float, float, float]:
    # numpy: virtual index (n-1)q; at or beyond the last index both neighbours are the last element and
    # gamma is measured from index -1, which only matters for infinities (inf - inf = NaN).
    v = (n - 1) * q
    if v >= n - 1:
        last = at(n - 1)
        return last, last, v + 1
    lo = math.floor(v)
    return at(lo), at(lo + 1), v - lo


def _numpy_lerp(a: float, b: float, t: float) -> float:
    # numpy's _lerp: two formulas for numerical symmetry, switched at t = 0.5.
    diff = b - a
    return b - diff * (1 - t) if t >= 0.5 else a + diff * t
