"""Per-epoch sorted indexes over a study, and the order statistics rules read from them.

An `EpochIndex` keeps, for every epoch e, the statistic of every eligible job at e (its running average,
or its raw value) in a `SortedList`, plus, by start rank, a byte mask saying which jobs are members and
whether their statistic is finite, and an array of the statistics themselves. A job's statistic at e
never changes once recorded, so a decision is a few O(log n) lookups instead of re-averaging history
(issue 3, "incremental and fast").

New entries are queued per epoch and merged when that epoch is next queried: building a large history
costs list appends, and the first query of an epoch pays one bulk sort.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable, Sequence
from itertools import compress

from sortedcontainers import SortedList

from metricwatch.rules._series import Series

# Mask codes: 0 = not a member at this epoch; otherwise the kind of the member's statistic.
FINITE, INFINITE, NAN = 1, 2, 3
_ONLY_FINITE = bytes(1 if i == FINITE else 0 for i in range(256))
_MEMBER = bytes(1 if i else 0 for i in range(256))
_NON_NAN = bytes(1 if i in (FINITE, INFINITE) else 0 for i in range(256))
_INF = math.inf

StatFn = Callable[[Series, int], float]


def _code(value: float) -> int:
    if value != value:
        return NAN
    return FINITE if value not in (_INF, -_INF) else INFINITE


class EpochIndex:
    """Statistic of every eligible job at every epoch, sorted; members by start rank.

    `stat(series, e)` gives a job's statistic at e. With `every_epoch` a job is a member at every epoch
    from `first_epoch` up to its last report (running averages); otherwise only at reported epochs.
    """

    def __init__(self, stat: StatFn, first_epoch: int, every_epoch: bool) -> None:
        self.stat = stat
        self.first_epoch = first_epoch  # e.g. Ray's grace period: no window before it
        self.every_epoch = every_epoch  # a job is a member at every epoch up to its last report
        self._sorted: list[SortedList] = [SortedList()]
        self._pending: list[list[float]] = [[]]
        self._mask: list[bytearray] = [bytearray()]
        self._vals: list[array[float]] = [array("d")]

    # -- maintenance ------------------------------------------------------------------------------
    def _grow(self, epoch: int) -> None:
        while len(self._sorted) <= epoch:
            self._sorted.append(SortedList())
            self._pending.append([])
            self._mask.append(bytearray())
            self._vals.append(array("d"))

    def member_epochs(self, series: Series, after: int = 0) -> list[int]:
        """Epochs > `after` at which a job with this series is a member."""
        start = max(self.first_epoch, after + 1)
        if self.every_epoch:
            return list(range(start, series.last_epoch + 1))
        return list(series.epochs[bisect_left(series.epochs, start) :])

    def add(self, rank: int, series: Series, after: int = 0) -> None:
        """Add the job's entries at its member epochs > `after` (queued until the epoch is queried)."""
        epochs = self.member_epochs(series, after)
        if not epochs:
            return
        self._grow(epochs[-1])
        for e in epochs:
            value = self.stat(series, e)
            mask, vals = self._mask[e], self._vals[e]
            if len(mask) <= rank:
                grow = rank + 1 - len(mask)
                mask.extend(bytes(grow))
                vals.frombytes(bytes(8 * grow))
            mask[rank] = _code(value)
            vals[rank] = value
            if value == value:
                self._pending[e].append(value)

    def remove(self, rank: int, series: Series) -> None:
        """Remove every entry of the job (state change or a new attempt)."""
        for e in self.member_epochs(series):
            if e >= len(self._mask) or len(self._mask[e]) <= rank or not self._mask[e][rank]:
                continue
            self._flush(e)
            value = self._vals[e][rank]
            if value == value:
                self._sorted[e].remove(value)
            self._mask[e][rank] = 0

    def insert_rank(self, rank: int) -> None:
        """A job was inserted at `rank` (explicit start order): shift every later member by one."""
        for mask, vals in zip(self._mask, self._vals, strict=True):
            if len(mask) > rank:
                mask.insert(rank, 0)
                vals.insert(rank, 0.0)

    def _flush(self, epoch: int) -> None:
        pending = self._pending[epoch]
        if pending:
            self._sorted[epoch].update(pending)
            pending.clear()

    # -- queries ----------------------------------------------------------------------------------
    def mask(self, epoch: int) -> bytearray:
        return self._mask[epoch] if epoch < len(self._mask) else bytearray()

    def values_by_rank(self, epoch: int) -> array[float]:
        return self._vals[epoch] if epoch < len(self._vals) else array("d")

    def sorted_values(self, epoch: int) -> SortedList:
        if epoch >= len(self._sorted):
            return SortedList()
        self._flush(epoch)
        return self._sorted[epoch]


class Sample:
    """The non-NaN statistics of a population at one epoch: an index's sorted list minus excluded ones.

    `removed` holds the statistics of members that are not in the population (the current job, jobs
    started later); when few, order statistics skip them in O(|removed| log n), so the common live case
    (the current job is the newest) is O(log n).
    """

    __slots__ = ("n_nan", "neg_inf", "pos_inf", "removed", "values")

    def __init__(self, values: Sequence[float], removed: list[float], n_nan: int) -> None:
        self.values = values  # sorted, may contain ±inf, never NaN
        self.removed = removed  # sorted multiset ⊆ values
        self.n_nan = n_nan
        self.neg_inf = _bisect_r(values, -_INF) - bisect_right(removed, -_INF)
        self.pos_inf = (len(values) - _bisect_l(values, _INF)) - (len(removed) - bisect_left(removed, _INF))

    @property
    def n_values(self) -> int:
        """Members whose statistic is not NaN (±inf included)."""
        return len(self.values) - len(self.removed)

    @property
    def n_finite(self) -> int:
        return self.n_values - self.neg_inf - self.pos_inf

    @property
    def n_members(self) -> int:
        return self.n_values + self.n_nan

    def value(self, i: int) -> float:
        """The i-th smallest non-NaN statistic (0-based)."""
        return kth_excluding(self.values, self.removed, i)

    def finite(self, i: int) -> float:
        """The i-th smallest finite statistic (0-based)."""
        return kth_excluding(self.values, self.removed, self.neg_inf + i)


def _bisect_l(values: Sequence[float], x: float) -> int:
    return values.bisect_left(x) if isinstance(values, SortedList) else bisect_left(values, x)


def _bisect_r(values: Sequence[float], x: float) -> int:
    return values.bisect_right(x) if isinstance(values, SortedList) else bisect_right(values, x)


def kth_excluding(values: Sequence[float], removed: list[float], i: int) -> float:
    """The i-th smallest (0-based) element of the multiset `values` minus the multiset `removed`.

    Both are sorted and `removed` ⊆ `values`. Each round moves the candidate past the removed elements
    known to lie before it, so it ends after at most len(removed) + 1 rounds of O(log n).
    """
    if not removed:
        return values[i]
    j = i
    while True:
        v = values[j]
        upto = bisect_right(removed, v)
        below = bisect_left(removed, v)
        lt = _bisect_l(values, v) - below  # remaining elements < v
        le = _bisect_r(values, v) - upto  # remaining elements ≤ v
        if lt <= i < le:
            return v
        j = i + upto


def population(
    index: EpochIndex, epoch: int, ids: list[str], *, before: int, skip: int
) -> tuple[Sample, Callable[[bool], tuple[str, ...]]]:
    """The members of `index` at `epoch` with rank < `before`, except rank `skip`.

    Returns the sample and a function giving the member ids (all members, or only those with a finite
    statistic). The cheaper of two routes is taken, both in C: remove the excluded members from the
    full sorted list, or sort the included members.
    """
    mask, vals = index.mask(epoch), index.values_by_rank(epoch)
    n = len(mask)
    before = min(before, n)
    skip_in = 0 <= skip < before and mask[skip] != 0
    n_before = before - mask.count(0, 0, before) - skip_in
    n_after = (n - before) - mask.count(0, before, n)
    skip_nan = skip_in and mask[skip] == NAN
    non_nan = bytearray(mask.translate(_NON_NAN))
    if skip_in:
        non_nan[skip] = 0
    if n_after + skip_in <= n_before:
        removed = _compressed(vals, non_nan, before, n)
        if skip_in and not skip_nan:
            insort(removed, vals[skip])
        n_nan = mask.count(NAN) - mask.count(NAN, before) - skip_nan
        sample = Sample(index.sorted_values(epoch), removed, n_nan)
    else:
        n_nan = mask.count(NAN, 0, before) - skip_nan
        sample = Sample(_compressed(vals, non_nan, 0, before), [], n_nan)

    def member_ids(finite_only: bool) -> tuple[str, ...]:
        select = mask.translate(_ONLY_FINITE if finite_only else _MEMBER)
        if skip_in:
            select[skip] = 0
        return _select(ids, select, before)

    return sample, member_ids


def _select(ids: list[str], select: bytearray, stop: int) -> tuple[str, ...]:
    """The ids[r] with select[r] == 1 for r < stop, in rank order.

    Usually nearly every rank is selected: copying the runs between the few gaps is several times
    faster than compress() over every rank (the population tuple dominates a decision's cost).
    """
    gaps = stop - select.count(1, 0, stop)
    if gaps > 64:
        with memoryview(select) as view:
            return tuple(compress(ids, view[:stop]))
    out: list[str] = []
    start = 0
    while gaps:
        gap = select.find(0, start, stop)
        out.extend(ids[start:gap])
        start, gaps = gap + 1, gaps - 1
    out.extend(ids[start:stop])
    return tuple(out)


def _compressed(vals: array[float], select: bytearray, start: int, stop: int) -> list[float]:
    """sorted(vals[r] for r in start..stop-1 where select[r]), in C."""
    with memoryview(vals) as v, memoryview(select) as m:
        return sorted(compress(v[start:stop], m[start:stop]))
