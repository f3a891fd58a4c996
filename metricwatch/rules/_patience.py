"""PatienceRule: stop a job that has not improved for a while, alone or as a gate on another rule."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import TYPE_CHECKING

from metricwatch.rules._base import Rule, check_direction, check_int, check_number
from metricwatch.types import Decision, Direction, Verdict

if TYPE_CHECKING:
    from metricwatch.rules._history import StudyHistory


class PatienceRule(Rule):
    """Stop when the last `patience` + 1 values are worse than the best before them (Optuna's PatientPruner).

    The rule in plain words: split the job's values at epochs ≤ e into "before" and the last
    `patience` + 1 reports; if the best of the recent ones is worse than the best before by more than
    `min_delta`, the job has stopped improving. Alone, that stops the job ("no_improvement"). With
    `wrapped=` another rule, it only gives that rule the chance to stop the job: the job is stopped
    when it both stopped improving and the wrapped rule says stop (optuna#1447: jittery objectives).

    NaN handling (as Optuna): NaN values are ignored in both bests; if either side has no number the
    rule does not stop. Fewer than `patience` + 2 reports → NOT_YET ("too_few_epochs").

    Args:
        direction: "minimize" or "maximize".
        patience: int ≥ 0.
        min_delta: number ≥ 0, default 0.
        wrapped: a Rule, or None for patience alone.
    """

    name = "patience"

    def __init__(
        self,
        *,
        direction: Direction | str,
        patience: int,
        min_delta: float = 0.0,
        wrapped: Rule | None = None,
    ) -> None:
        self.direction = check_direction(self.name, direction)
        self.patience = check_int(self.name, "patience", patience, 0)
        self.min_delta = check_number(self.name, "min_delta", min_delta, 0.0)
        self.wrapped = wrapped
        params: dict[str, object] = {
            "direction": self.direction.value, "patience": self.patience,
            "min_delta": self.min_delta,
        }  # fmt: skip
        if wrapped is not None:
            params["wrapped"] = {"rule": wrapped.name, **wrapped.params}
        super().__init__(params)

    def decide(self, history: StudyHistory, job: str, epoch: int) -> Decision:
        series = history.series(job)
        k = series.reports_upto(epoch)
        if k <= self.patience + 1:
            return self._decision(job, epoch, Verdict.NOT_YET, "too_few_epochs")
        split = k - self.patience - 1
        before = series.best(series.epochs[split - 1], self.direction)
        after = _nanbest(series.report_values(split + 1, k), self.direction)
        if self.direction is Direction.MINIMIZE:
            limit = before + self.min_delta
            stalled = limit < after
        else:
            limit = before - self.min_delta
            stalled = limit > after
        if not stalled:
            return self._decision(job, epoch, Verdict.CONTINUE, "improving", value=after, threshold=limit)
        if self.wrapped is None:
            return self._decision(job, epoch, Verdict.STOP, "no_improvement", value=after, threshold=limit)
        inner = self.wrapped.decide(history, job, epoch)
        return replace(inner, rule=f"patience/{inner.rule}", params=self.params)


def _nanbest(values: list[float], direction: Direction) -> float:
    numbers = [v for v in values if not math.isnan(v)]
    if not numbers:
        return math.nan
    return min(numbers) if direction is Direction.MINIMIZE else max(numbers)
