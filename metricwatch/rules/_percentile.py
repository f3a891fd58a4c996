"""PercentileRule: stop a job that is worse than a percentile of its peers at the same epoch."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING

from metricwatch.rules import _quantile
from metricwatch.rules._base import (
    Rule,
    bad,
    check_choice,
    check_direction,
    check_int,
    check_number,
)
from metricwatch.rules._index import Sample, population
from metricwatch.types import Decision, Direction, JobState, Verdict

if TYPE_CHECKING:
    from metricwatch.rules._history import StudyHistory

#: Default population states: every job that produced real values, except failed ones (a crash often
#: follows divergence, and a failed job is usually retried as a new attempt).
DEFAULT_STATES = frozenset({JobState.RUNNING, JobState.COMPLETED, JobState.STOPPED, JobState.CANCELLED})
_INF = math.inf


def parse_states(rule: str, value: object) -> frozenset[JobState]:
    """States given as JobState members or their names ("running", "completed", …)."""
    items = [value] if isinstance(value, (str, JobState)) else value
    if not isinstance(items, Iterable):
        raise bad(rule, "states", value, "a list of job states")
    states = set()
    for item in items:
        try:
            states.add(item if isinstance(item, JobState) else JobState(str(item).lower()))
        except ValueError:
            names = ", ".join(s.value for s in JobState)
            raise bad(rule, "states", value, f"a list drawn from {names}") from None
    if not states:
        raise bad(rule, "states", value, "a non-empty list of job states")
    return frozenset(states)


class PercentileRule(Rule):
    """Stop a job whose value is worse than the p-th percentile of its peers' running averages.

    The rule in plain words: at epoch e, take every peer's running average of the objective over epochs
    `window_start`..e (or its raw value at e, `reference="value"`), take the percentile p counted from
    the best side (p=50 is the median; p=25 keeps roughly the best quarter), and stop the job if its own
    statistic (its value at e, or its best value so far) is strictly worse. Ties continue.

    Peers ("population"): jobs in `states` that reached epoch e (reported at e or later) and, with
    `population="earlier"`, started before the job; `"all"` takes every other job (Ray's choice).

    Non-finite values:
    1. The job's own NaN/±inf statistic counts as worst and stops it (`nonfinite="worst"`), or the
       rule declines to judge it (`"ignore"`). Its best-so-far ignores NaN values.
    2. A peer whose running average is non-finite (it reported NaN/±inf in the window, or nothing in
       the window) is left out of the population (`others_nonfinite="exclude"`), so one NaN never
       poisons the threshold (unlike ray-project/ray#24809); or it counts as the worst peer
       (`"worst"`).

    Cannot judge → NOT_YET (the job continues): epoch ≤ `warmup_epochs` ("warmup"), no value at e
    ("no_value"), fewer than `min_population` usable peers ("too_few_peers").

    Example:
        >>> from metricwatch.rules import StudyHistory, build_rule
        >>> h = StudyHistory()
        >>> for job, vals in [("a", [4, 2]), ("b", [6, 4]), ("c", [8, 6]), ("d", [9, 7])]:
        ...     h.record_series(job, vals)
        >>> rule = build_rule("percentile", direction="minimize", percentile=25)
        >>> d = rule.decide(h, "d", 2)
        >>> (d.verdict.value, d.threshold, d.population)
        ('stop', 4.0, ('a', 'b', 'c'))

    Args:
        direction: "minimize" or "maximize".
        percentile: in [0, 100], counted from the best side (Optuna's convention).
        statistic: "current" (the value at e, SageMaker's words) or "best" (best so far, the others').
        reference: "average" (running average, SageMaker/Vizier) or "value" (raw value at e, Optuna).
        window_start: int ≥ 1; first epoch of the running average (Ray's grace period starts it).
        population: "earlier" or "all".
        states: job states whose jobs may be peers; default running, completed, stopped, cancelled.
        min_population: int ≥ 1, default 3.
        warmup_epochs: int ≥ 0, default 0; no judgement at epochs 1..warmup_epochs.
        interpolation: "linear" (numpy; an even-count median averages the two middle values) or
            "lenient" (NNI: the middle element on the worse side).
        nonfinite: "worst" or "ignore", for the job's own statistic.
        others_nonfinite: "exclude" or "worst", for peers.
    """

    name = "percentile"

    def __init__(
        self,
        *,
        direction: Direction | str,
        percentile: float,
        statistic: str = "current",
        reference: str = "average",
        window_start: int = 1,
        population: str = "earlier",
        states: Iterable[JobState | str] = DEFAULT_STATES,
        min_population: int = 3,
        warmup_epochs: int = 0,
        interpolation: str = "linear",
        nonfinite: str = "worst",
        others_nonfinite: str = "exclude",
    ) -> None:
        n = self.name
        self.direction = check_direction(n, direction)
        self.percentile = check_number(n, "percentile", percentile, 0.0, 100.0)
        self.statistic = check_choice(n, "statistic", statistic, ("current", "best"))
        self.reference = check_choice(n, "reference", reference, ("average", "value"))
        self.window_start = check_int(n, "window_start", window_start, 1)
        self.scope = check_choice(n, "population", population, ("earlier", "all"))
        self.states = parse_states(n, states)
        self.min_population = check_int(n, "min_population", min_population, 1)
        self.warmup_epochs = check_int(n, "warmup_epochs", warmup_epochs, 0)
        self.interpolation = check_choice(n, "interpolation", interpolation, ("linear", "lenient"))
        self.nonfinite = check_choice(n, "nonfinite", nonfinite, ("worst", "ignore"))
        self.others = check_choice(n, "others_nonfinite", others_nonfinite, ("exclude", "worst"))
        if self.reference == "value" and self.window_start != 1:
            raise bad(n, "window_start", window_start, '1 when reference="value"')
        # Ascending fraction: the best side is the low end when minimizing (Optuna's 100 - p rule).
        q_best = self.percentile / 100
        self._q = q_best if self.direction is Direction.MINIMIZE else (100 - self.percentile) / 100
        super().__init__(
            {
                "direction": self.direction.value,
                "percentile": self.percentile,
                "statistic": self.statistic,
                "reference": self.reference,
                "window_start": self.window_start,
                "population": self.scope,
                "states": sorted(s.value for s in self.states),
                "min_population": self.min_population,
                "warmup_epochs": self.warmup_epochs,
                "interpolation": self.interpolation,
                "nonfinite": self.nonfinite,
                "others_nonfinite": self.others,
            }
        )

    def decide(self, history: StudyHistory, job: str, epoch: int) -> Decision:
        series = history.series(job)
        if epoch <= self.warmup_epochs:
            return self._decision(job, epoch, Verdict.NOT_YET, "warmup")
        own = series.value_at(epoch)
        if own is None:
            return self._decision(job, epoch, Verdict.NOT_YET, "no_value")
        value = own if self.statistic == "current" else series.best(epoch, self.direction)
        kind = "average" if self.reference == "average" else "value"
        index = history.index(kind, self.states, self.window_start)
        rank = history.rank(job)

        before = rank if self.scope == "earlier" else len(history)
        sample, member_ids = population(index, epoch, history.ids_by_rank, before=before, skip=rank)
        exclude = self.others == "exclude"
        n = sample.n_finite if exclude else sample.n_members
        if n < self.min_population:
            return self._decision(
                job, epoch, Verdict.NOT_YET, "too_few_peers", value=value,
                population=member_ids(exclude),
            )  # fmt: skip
        threshold = self._threshold(sample, n, exclude)
        peers = member_ids(exclude)
        if not math.isfinite(value):
            verdict = Verdict.STOP if self.nonfinite == "worst" else Verdict.NOT_YET
            return self._decision(
                job, epoch, verdict, "nonfinite_value", value=value, threshold=threshold,
                population=peers,
            )  # fmt: skip
        worse = self.direction.worse(value, threshold)
        return self._decision(
            job, epoch, Verdict.STOP if worse else Verdict.CONTINUE,
            self._worse_reason if worse else "not_worse",
            value=value, threshold=threshold, population=peers,
        )  # fmt: skip

    @property
    def _worse_reason(self) -> str:
        return "worse_than_percentile"

    def _threshold(self, sample: Sample, n: int, exclude: bool) -> float:
        if exclude:
            at = sample.finite
        else:
            n_fin = sample.n_finite
            n_bad = n - n_fin
            if self.direction is Direction.MINIMIZE:

                def at(j: int) -> float:
                    return sample.finite(j) if j < n_fin else _INF
            else:

                def at(j: int) -> float:
                    return -_INF if j < n_bad else sample.finite(j - n_bad)

        if self.interpolation == "lenient":
            return _quantile.lenient(n, at, self._q, self.direction is Direction.MINIMIZE)
        return _quantile.linear(n, at, self._q)
