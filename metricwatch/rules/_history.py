"""StudyHistory: the jobs of one study in start order, their per-epoch values and states.

Pure and incremental: `record()` appends one value and updates the indexes rules have asked for, so a
decision never re-averages history. No clocks, files or logging.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable

from metricwatch.rules._index import EpochIndex
from metricwatch.rules._series import Series
from metricwatch.types import Direction, JobState

_IndexKey = tuple[str, frozenset[JobState], int]


class StudyHistory:
    """Jobs in start order, each job's objective values by 1-based epoch (latest attempt), and states.

    - `add_job(job)` appends the job after every known job; `order=` gives an explicit start order
      (a number such as a start time; ties keep the order of adding). `record()` adds unknown jobs.
    - `record(job, epoch, value)` stores one settled value. Epochs must increase within an attempt; a
      value for an epoch at or before the job's last is ignored (first wins, as in Optuna) and
      `record` returns False. A new attempt (epoch counter went backwards) calls `reset_job(job)` first.
    - Epochs may skip: a job that reported epochs 1, 2 and 5 has *reached* epochs 3 and 4, and its
      running average there is the average of the values reported so far.
    - Values are any floats; NaN and ±inf are stored as given and each rule states how it treats them.

    The history does not know the direction of the objective: rules take it, so one history can be
    judged by several rules (replay `--compare`).
    """

    def __init__(self) -> None:
        self._ids: list[str] = []  # by start rank
        self._orders: list[float] = []  # by start rank, non-decreasing
        self._rank: dict[str, int] = {}
        self._series: dict[str, Series] = {}
        self._state: dict[str, JobState] = {}
        self._state_counts: dict[JobState, int] = dict.fromkeys(JobState, 0)
        self._completions: list[str] = []  # jobs in the order they first completed
        self._completed: set[str] = set()
        self._completed_at_add: dict[str, int] = {}
        self._indexes: dict[_IndexKey, tuple[EpochIndex, frozenset[JobState]]] = {}

    # -- jobs --------------------------------------------------------------------------------------
    def add_job(self, job: str, *, order: float | None = None, state: JobState = JobState.RUNNING) -> None:
        """Register a job. Without `order` it starts after every known job. Adding twice is an error."""
        if job in self._rank:
            raise ValueError(f"job {job!r} is already in the history")
        if order is None:
            order = self._orders[-1] + 1 if self._orders else 0.0
        if not math.isfinite(order):
            raise ValueError(f"order must be a finite number, got order={order!r} for job {job!r}")
        rank = bisect_right(self._orders, order)
        self._ids.insert(rank, job)
        self._orders.insert(rank, order)
        if rank < len(self._ids) - 1:  # inserted before others: later ranks shift by one
            for r in range(rank, len(self._ids)):
                self._rank[self._ids[r]] = r
            for index, _ in self._indexes.values():
                index.insert_rank(rank)
        self._rank[job] = rank
        self._series[job] = Series()
        self._state[job] = state
        self._state_counts[state] += 1
        self._completed_at_add[job] = len(self._completions)
        if state is JobState.COMPLETED:
            self._mark_completed(job)

    def set_state(self, job: str, state: JobState) -> None:
        """Change a job's state; indexes that select by state gain or lose its values."""
        old = self._state[job]
        if old is state:
            return
        rank, series = self._rank[job], self._series[job]
        for index, states in self._indexes.values():
            if old in states and state not in states:
                index.remove(rank, series)
            elif state in states and old not in states:
                index.add(rank, series)
        self._state[job] = state
        self._state_counts[old] -= 1
        self._state_counts[state] += 1
        if state is JobState.COMPLETED:
            self._mark_completed(job)

    def _mark_completed(self, job: str) -> None:
        if job not in self._completed:
            self._completed.add(job)
            self._completions.append(job)

    def reset_job(self, job: str) -> None:
        """Forget a job's values (a new attempt starts); its start order and state are kept."""
        rank, series = self._rank[job], self._series[job]
        for index, states in self._indexes.values():
            if self._state[job] in states:
                index.remove(rank, series)
        self._series[job] = Series()

    # -- values ------------------------------------------------------------------------------------
    def record(self, job: str, epoch: int, value: float) -> bool:
        """Store `value` for `job` at 1-based `epoch`; False when ignored (epoch not after the last)."""
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 1:
            raise ValueError(f"epoch must be an int ≥ 1, got epoch={epoch!r} for job {job!r}")
        if job not in self._rank:
            self.add_job(job)
        series = self._series[job]
        last = series.last_epoch
        if epoch <= last:
            return False
        series.append(epoch, float(value))
        state = self._state[job]
        rank = self._rank[job]
        for index, states in self._indexes.values():
            if state in states:
                index.add(rank, series, after=last)
        return True

    def record_series(self, job: str, values: Iterable[float], *, start: int = 1) -> None:
        """Record consecutive epochs start, start+1, … (a finished log in one call)."""
        for offset, value in enumerate(values):
            self.record(job, start + offset, value)

    # -- read access -------------------------------------------------------------------------------
    @property
    def jobs(self) -> tuple[str, ...]:
        """Job ids in start order."""
        return tuple(self._ids)

    def __contains__(self, job: object) -> bool:
        return job in self._rank

    def __len__(self) -> int:
        return len(self._ids)

    def state(self, job: str) -> JobState:
        return self._state[job]

    def rank(self, job: str) -> int:
        """0-based position of the job in start order."""
        return self._rank[job]

    def count(self, state: JobState) -> int:
        """How many jobs are in `state` now."""
        return self._state_counts[state]

    def last_epoch(self, job: str) -> int:
        """The job's last reported epoch (0 before its first report)."""
        return self._series[job].last_epoch

    def values(self, job: str) -> tuple[tuple[int, float], ...]:
        """(epoch, value) pairs of the job's latest attempt."""
        series = self._series[job]
        return tuple(zip(series.epochs, series.values, strict=True))

    def value_at(self, job: str, epoch: int) -> float | None:
        return self._series[job].value_at(epoch)

    def running_average(self, job: str, epoch: int, *, start: int = 1) -> float:
        """Mean of the job's values at epochs start..epoch (NaN if none, or any is non-finite)."""
        return self._series[job].window_mean(start, epoch)

    def best(self, job: str, epoch: int, direction: Direction) -> float:
        """The job's best value at epochs ≤ epoch, NaN ignored (NaN when no value is a number)."""
        return self._series[job].best(epoch, direction)

    def completed_when_added(self, job: str) -> tuple[str, ...]:
        """Jobs that had completed when `job` was added (Katib freezes its threshold then)."""
        return tuple(self._completions[: self._completed_at_add[job]])

    # -- for rules -----------------------------------------------------------------------------------
    def series(self, job: str) -> Series:
        try:
            return self._series[job]
        except KeyError:
            raise KeyError(f"job {job!r} is not in the history (add_job or record it first)") from None

    def series_at_rank(self, rank: int) -> Series:
        return self._series[self._ids[rank]]

    @property
    def ids_by_rank(self) -> list[str]:
        """The live list of ids by rank (read-only by convention; avoids a copy per decision)."""
        return self._ids

    def index(self, kind: str, states: frozenset[JobState], start: int = 1) -> EpochIndex:
        """The per-epoch index of `kind` ("average" from epoch `start`, or "value") over `states`.

        Built from the stored values on first request, then kept up to date by `record`/`set_state`.
        """
        key = (kind, states, start)
        found = self._indexes.get(key)
        if found is not None:
            return found[0]
        if kind == "average":
            index = EpochIndex(lambda s, e: s.window_mean(start, e), start, every_epoch=True)
        elif kind == "value":
            index = EpochIndex(_value_at, 1, every_epoch=False)
        else:
            raise ValueError(f"unknown index kind {kind!r}")
        for rank, job in enumerate(self._ids):
            if self._state[job] in states:
                index.add(rank, self._series[job])
        self._indexes[key] = (index, states)
        return index


def _value_at(series: Series, epoch: int) -> float:
    value = series.value_at(epoch)
    return math.nan if value is None else value
