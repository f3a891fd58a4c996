"""One job's objective values (latest attempt), with prefix sums and prefix bests kept as they arrive.

Everything a rule asks of one job (value at an epoch, running average up to an epoch, mean over a window,
best so far) is O(1) for a job that reported every epoch and O(log n) otherwise, because the prefix arrays
are fixed once a value is appended: a later epoch never changes an earlier running average.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_right

from metricwatch.types import Direction

_NAN = math.nan


class Series:
    """Per-report arrays: epoch, value, finite prefix sum, non-finite prefix count, prefix nanmin/nanmax."""

    __slots__ = ("bad", "bmax", "bmin", "csum", "epochs", "values")

    def __init__(self) -> None:
        self.epochs = array("l")
        self.values = array("d")
        self.csum = array("d")  # sum of the finite values among reports 1..k
        self.bad = array("l")  # number of non-finite values among reports 1..k
        self.bmin = array("d")  # nanmin of reports 1..k (NaN until a non-NaN value arrives)
        self.bmax = array("d")

    def __len__(self) -> int:
        return len(self.epochs)

    @property
    def last_epoch(self) -> int:
        return self.epochs[-1] if self.epochs else 0

    def append(self, epoch: int, value: float) -> None:
        """Append one report; the caller guarantees `epoch` > last_epoch."""
        k = len(self.epochs)
        finite = math.isfinite(value)
        prev_sum = self.csum[k - 1] if k else 0.0
        prev_bad = self.bad[k - 1] if k else 0
        self.epochs.append(epoch)
        self.values.append(value)
        self.csum.append(prev_sum + value if finite else prev_sum)
        self.bad.append(prev_bad if finite else prev_bad + 1)
        lo = self.bmin[k - 1] if k else _NAN
        hi = self.bmax[k - 1] if k else _NAN
        if value == value:  # NaN never becomes the best (numpy nanmin/nanmax semantics)
            lo = value if lo != lo or value < lo else lo
            hi = value if hi != hi or value > hi else hi
        self.bmin.append(lo)
        self.bmax.append(hi)

    def reports_upto(self, epoch: int) -> int:
        """How many reports were made at epochs ≤ `epoch`."""
        n = len(self.epochs)
        if n and self.epochs[-1] == n:  # no gaps: report k is epoch k
            return max(0, min(epoch, n))
        return bisect_right(self.epochs, epoch)

    def value_at(self, epoch: int) -> float | None:
        """The value reported at exactly `epoch`, or None if that epoch was not reported."""
        k = self.reports_upto(epoch)
        if k and self.epochs[k - 1] == epoch:
            return self.values[k - 1]
        return None

    def window_mean(self, start: int, epoch: int) -> float:
        """Mean of the values reported at epochs start..epoch; NaN when none, or when any is non-finite."""
        k_end = self.reports_upto(epoch)
        k_start = self.reports_upto(start - 1) if start > 1 else 0
        n = k_end - k_start
        if n <= 0:
            return _NAN
        bad = self.bad[k_end - 1] - (self.bad[k_start - 1] if k_start else 0)
        if bad:
            return _NAN
        total = self.csum[k_end - 1] - (self.csum[k_start - 1] if k_start else 0.0)
        return total / n

    def best(self, epoch: int, direction: Direction) -> float:
        """Best value reported at epochs ≤ `epoch`, ignoring NaN; NaN when there is none."""
        k = self.reports_upto(epoch)
        if not k:
            return _NAN
        return (self.bmin if direction is Direction.MINIMIZE else self.bmax)[k - 1]

    def report_values(self, first: int, last: int) -> list[float]:
        """Values of reports first..last (1-based report numbers, inclusive)."""
        return list(self.values[first - 1 : last])
