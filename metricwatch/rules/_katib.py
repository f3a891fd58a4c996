"""KatibRule: Kubeflow Katib's `medianstop` (which takes a mean, and checks once)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from metricwatch.rules._base import Rule, check_direction, check_int
from metricwatch.types import Decision, Direction, Verdict

if TYPE_CHECKING:
    from metricwatch.rules._history import StudyHistory


class KatibRule(Rule):
    """Katib's medianstop: best of the first `start_step` reports against a frozen mean of averages.

    The rule in plain words (research note §3b/3c): when a job is created, take the jobs that had
    completed successfully by then; if there are at least `min_trials_required`, the threshold is the
    arithmetic **mean** (not the median) of each one's average over its first `start_step` reports.
    The job is judged exactly once, at its `start_step`-th report: stop if its best value so far is
    strictly worse. Jobs created before enough completions have no rule and are never stopped.

    "Created" is when the job was added to the `StudyHistory` (`completed_when_added`). NaN values
    propagate into the mean as in Katib, and a NaN threshold never stops anyone (the comparison is
    false). A completed job with no reports is skipped (Katib would divide by zero).

    Args:
        direction: "minimize" or "maximize".
        min_trials_required: int ≥ 1, default 3.
        start_step: int ≥ 1, default 4 (reports).
    """

    name = "katib"

    def __init__(
        self, *, direction: Direction | str, min_trials_required: int = 3, start_step: int = 4
    ) -> None:
        self.direction = check_direction(self.name, direction)
        self.min_trials_required = check_int(self.name, "min_trials_required", min_trials_required, 1)
        self.start_step = check_int(self.name, "start_step", start_step, 1)
        super().__init__(
            {
                "direction": self.direction.value,
                "min_trials_required": self.min_trials_required,
                "start_step": self.start_step,
            }
        )

    def decide(self, history: StudyHistory, job: str, epoch: int) -> Decision:
        series = history.series(job)
        k = series.reports_upto(epoch)
        if k == 0 or series.epochs[k - 1] != epoch:
            return self._decision(job, epoch, Verdict.NOT_YET, "no_value")
        if k != self.start_step:
            reason = "warmup" if k < self.start_step else "checked_once"
            return self._decision(job, epoch, Verdict.NOT_YET, reason)
        averages = {}
        for peer in history.completed_when_added(job):
            values = history.series(peer).report_values(1, self.start_step)
            if values and peer != job:
                averages[peer] = sum(values) / len(values)
        if len(averages) < self.min_trials_required:
            return self._decision(job, epoch, Verdict.NOT_YET, "no_rule")
        threshold = sum(averages.values()) / len(averages)
        best = series.best(epoch, self.direction)
        worse = self.direction.worse(best, threshold)
        return self._decision(
            job, epoch, Verdict.STOP if worse else Verdict.CONTINUE,
            "worse_than_mean" if worse else "not_worse",
            value=best, threshold=threshold, population=tuple(averages),
        )  # fmt: skip
