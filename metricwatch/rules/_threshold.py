"""ThresholdRule: stop when the value leaves fixed bounds or stops being a number (divergence guard)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from metricwatch.rules._base import Rule, bad, check_choice, check_direction, check_int
from metricwatch.types import Decision, Direction, Verdict

if TYPE_CHECKING:
    from metricwatch.rules._history import StudyHistory


class ThresholdRule(Rule):
    """Stop a job whose value at epoch e is above `max`, below `min`, or not a finite number.

    The rule in plain words: no peers, no statistics; a fixed bound on the current value, like
    Optuna's ThresholdPruner. Comparisons are strict (a value equal to a bound continues).

    Non-finite values: NaN or ±inf stop the job with reason "nonfinite_value" (`nonfinite="stop"`,
    the default: a diverged loss is the classic case), or are left to the bounds (`"ignore"`: +inf is
    above any `max`, NaN never crosses a bound). With neither bound given it is a pure divergence guard.

    Example:
        >>> from metricwatch.rules import StudyHistory, build_rule
        >>> h = StudyHistory(); h.record_series("a", [2.0, float("nan")])
        >>> build_rule({"rule": "threshold", "max": 10}, direction="minimize").decide(h, "a", 2).reason
        'nonfinite_value'

    Args:
        min: lower bound (any finite number) or None.
        max: upper bound (any finite number, ≥ min) or None.
        nonfinite: "stop" or "ignore".
        warmup_epochs: int ≥ 0, default 0.
        direction: accepted for uniformity with the other rules; bounds do not depend on it.
    """

    name = "threshold"

    def __init__(
        self,
        *,
        min: float | None = None,  # shadows the builtin: the user-facing names are min/max
        max: float | None = None,
        nonfinite: str = "stop",
        warmup_epochs: int = 0,
        direction: Direction | str | None = None,
    ) -> None:
        n = self.name
        self.lower = _bound(n, "min", min)
        self.upper = _bound(n, "max", max)
        if self.lower is not None and self.upper is not None and self.lower > self.upper:
            raise bad(n, "max", max, f"≥ min ({min})")
        self.nonfinite = check_choice(n, "nonfinite", nonfinite, ("stop", "ignore"))
        self.warmup_epochs = check_int(n, "warmup_epochs", warmup_epochs, 0)
        if direction is not None:
            check_direction(n, direction)
        super().__init__(
            {"min": self.lower, "max": self.upper, "nonfinite": self.nonfinite,
             "warmup_epochs": self.warmup_epochs}
        )  # fmt: skip

    def decide(self, history: StudyHistory, job: str, epoch: int) -> Decision:
        value = history.series(job).value_at(epoch)
        if value is None:
            return self._decision(job, epoch, Verdict.NOT_YET, "no_value")
        if epoch <= self.warmup_epochs:
            return self._decision(job, epoch, Verdict.NOT_YET, "warmup", value=value)
        if not math.isfinite(value) and self.nonfinite == "stop":
            return self._decision(job, epoch, Verdict.STOP, "nonfinite_value", value=value)
        if self.upper is not None and value > self.upper:
            return self._stop(job, epoch, value, self.upper, "above_max")
        if self.lower is not None and value < self.lower:
            return self._stop(job, epoch, value, self.lower, "below_min")
        return self._decision(job, epoch, Verdict.CONTINUE, "within_bounds", value=value)

    def _stop(self, job: str, epoch: int, value: float, bound: float, reason: str) -> Decision:
        return self._decision(job, epoch, Verdict.STOP, reason, value=value, threshold=bound)


def _bound(rule: str, param: str, value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise bad(rule, param, value, "a finite number or null")
    return float(value)
