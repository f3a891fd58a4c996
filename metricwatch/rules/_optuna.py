"""OptunaRule: Optuna's PercentilePruner/MedianPruner, decision for decision (optuna 3.6–5.0)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from metricwatch.rules import _quantile
from metricwatch.rules._base import Rule, check_direction, check_int, check_number
from metricwatch.rules._index import population
from metricwatch.types import Decision, Direction, JobState, Verdict

if TYPE_CHECKING:
    from metricwatch.rules._history import StudyHistory

_COMPLETED = frozenset({JobState.COMPLETED})


class OptunaRule(Rule):
    """Optuna's percentile pruner: the job's best value against a percentile of completed jobs' raw values.

    The rule in plain words (research note §5): once at least `n_startup_trials` jobs are COMPLETED,
    at the job's last reported step s (s ≥ `n_warmup_steps`, first report in its `interval_steps`
    window), take the raw values that completed jobs reported at exactly s and their percentile
    (linear interpolation; 100 − p when maximizing); prune if the job's best value over all its steps
    is strictly worse. No running average anywhere.

    Steps are Optuna's: metricwatch epoch e is Optuna step e − 1, so `n_warmup_steps=3` first judges
    epoch 4, as a loop reporting steps 0, 1, 2, … would in Optuna.

    NaN handling (Optuna's own):
    1. A job whose values are all NaN is pruned (reason "nonfinite_value").
    2. NaN values of completed jobs are skipped by the percentile but count toward `n_min_trials`.
    3. If every completed value at s is NaN the rule cannot judge ("nonfinite_threshold").
    ±inf values take part in the percentile exactly as in numpy.

    Example:
        >>> from metricwatch.rules import StudyHistory, build_rule
        >>> from metricwatch.types import JobState
        >>> h = StudyHistory()
        >>> h.record_series("done", [10, 5, 2, 1]); h.set_state("done", JobState.COMPLETED)
        >>> h.record_series("new", [6, 5, 4, 3])
        >>> d = build_rule("optuna", direction="minimize", n_startup_trials=1).decide(h, "new", 4)
        >>> (d.verdict.value, d.value, d.threshold)
        ('stop', 3.0, 1.0)

    Args:
        direction: "minimize" or "maximize".
        percentile: in [0, 100]; 50 is MedianPruner.
        n_startup_trials: int ≥ 0, default 5: no pruning until this many jobs completed.
        n_warmup_steps: int ≥ 0, default 0.
        interval_steps: int ≥ 1, default 1.
        n_min_trials: int ≥ 1, default 1: completed values needed at the step.
    """

    name = "optuna"

    def __init__(
        self,
        *,
        direction: Direction | str,
        percentile: float = 50.0,
        n_startup_trials: int = 5,
        n_warmup_steps: int = 0,
        interval_steps: int = 1,
        n_min_trials: int = 1,
    ) -> None:
        n = self.name
        self.direction = check_direction(n, direction)
        self.percentile = check_number(n, "percentile", percentile, 0.0, 100.0)
        self.n_startup_trials = check_int(n, "n_startup_trials", n_startup_trials, 0)
        self.n_warmup_steps = check_int(n, "n_warmup_steps", n_warmup_steps, 0)
        self.interval_steps = check_int(n, "interval_steps", interval_steps, 1)
        self.n_min_trials = check_int(n, "n_min_trials", n_min_trials, 1)
        p = self.percentile if self.direction is Direction.MINIMIZE else 100 - self.percentile
        self._q = p / 100  # numpy.nanpercentile divides by 100 the same way
        super().__init__(
            {
                "direction": self.direction.value,
                "percentile": self.percentile,
                "n_startup_trials": self.n_startup_trials,
                "n_warmup_steps": self.n_warmup_steps,
                "interval_steps": self.interval_steps,
                "n_min_trials": self.n_min_trials,
            }
        )

    def decide(self, history: StudyHistory, job: str, epoch: int) -> Decision:
        series = history.series(job)
        completed = history.count(JobState.COMPLETED)
        completed -= history.state(job) is JobState.COMPLETED
        if completed == 0 or completed < self.n_startup_trials:
            return self._decision(job, epoch, Verdict.NOT_YET, "startup")
        k = series.reports_upto(epoch)
        if k == 0:
            return self._decision(job, epoch, Verdict.NOT_YET, "no_value")
        last_epoch = series.epochs[k - 1]
        step = last_epoch - 1
        if step < self.n_warmup_steps:
            return self._decision(job, epoch, Verdict.NOT_YET, "warmup")
        if not self._first_in_interval(step, series.epochs[k - 2] - 1 if k > 1 else -1):
            return self._decision(job, epoch, Verdict.NOT_YET, "off_interval")
        best = series.best(last_epoch, self.direction)
        if math.isnan(best):
            return self._decision(job, epoch, Verdict.STOP, "nonfinite_value", value=best)
        index = history.index("value", _COMPLETED)

        rank = history.rank(job)
        sample, member_ids = population(
            index, last_epoch, history.ids_by_rank, before=len(history), skip=rank
        )
        peers = member_ids(False)
        if sample.n_members < self.n_min_trials:
            return self._decision(job, epoch, Verdict.NOT_YET, "too_few_peers", value=best, population=peers)
        if sample.n_values == 0:
            return self._decision(
                job, epoch, Verdict.NOT_YET, "nonfinite_threshold", value=best, population=peers
            )
        threshold = _quantile.linear_numpy(sample.n_values, sample.value, self._q)
        if math.isnan(threshold):
            verdict, reason = Verdict.NOT_YET, "nonfinite_threshold"
        elif self.direction.worse(best, threshold):
            verdict, reason = Verdict.STOP, "worse_than_percentile"
        else:
            verdict, reason = Verdict.CONTINUE, "not_worse"
        return self._decision(job, epoch, verdict, reason, value=best, threshold=threshold, population=peers)

    def _first_in_interval(self, step: int, previous_step: int) -> bool:
        # Optuna's _is_first_in_interval_step: a check at warm-up + k·interval, postponed to the
        # first report after it when nothing was reported exactly then.
        w, i = self.n_warmup_steps, self.interval_steps
        nearest_lower = (step - w) // i * i + w
        return previous_step < nearest_lower
