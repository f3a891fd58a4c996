"""MedianRule: SageMaker's median stopping rule (the default)."""

from __future__ import annotations

from collections.abc import Iterable

from metricwatch.rules._percentile import DEFAULT_STATES, PercentileRule
from metricwatch.types import Direction, JobState


class MedianRule(PercentileRule):
    """Stop a job whose value at epoch e is worse than the median of earlier jobs' running averages.

    The rule in plain words (SageMaker, research note §1): for every previous job take the running
    average of the objective over epochs 1..e, take the median of those averages, and stop the current
    job if its value at e is strictly worse (higher when minimizing). Equality continues.

    Where SageMaker is silent, the defaults are: previous = started earlier and reached epoch e, in
    state running, completed, stopped or cancelled (not failed); at least 3 such jobs; no warm-up; the
    current value (not best so far); an even count averages the two middle values; a NaN/inf current
    value counts as worst; a peer whose running average is non-finite is left out.

    This is `PercentileRule` with `percentile=50`; every other parameter and the NaN handling are
    documented there.

    Example:
        >>> from metricwatch.rules import MedianRule, StudyHistory
        >>> h = StudyHistory()
        >>> for job, vals in [("a", [3, 1]), ("b", [5, 3]), ("c", [7, 5]), ("d", [9, 4])]:
        ...     h.record_series(job, vals)
        >>> d = MedianRule(direction="minimize").decide(h, "d", 2)
        >>> (d.verdict.value, d.value, d.threshold, d.reason)
        ('continue', 4.0, 4.0, 'not_worse')
    """

    name = "median"

    def __init__(
        self,
        *,
        direction: Direction | str,
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
        super().__init__(
            direction=direction,
            percentile=50.0,
            statistic=statistic,
            reference=reference,
            window_start=window_start,
            population=population,
            states=states,
            min_population=min_population,
            warmup_epochs=warmup_epochs,
            interpolation=interpolation,
            nonfinite=nonfinite,
            others_nonfinite=others_nonfinite,
        )
        del self._params["percentile"]

    @property
    def _worse_reason(self) -> str:
        return "worse_than_median"
