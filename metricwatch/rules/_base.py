"""The one-method rule interface and the parameter checks every rule shares."""

from __future__ import annotations

import abc
import math
from collections.abc import Collection
from typing import TYPE_CHECKING

from metricwatch.errors import ConfigError
from metricwatch.types import Decision, Direction, Verdict

if TYPE_CHECKING:
    from metricwatch.rules._history import StudyHistory


class Rule(abc.ABC):
    """A stopping rule: pure, deterministic, and never changes the history it reads.

    `decide(history, job, epoch)` judges `job` at `epoch` after its value there was recorded. When the
    rule cannot judge (warm-up, too few peers, no value) the verdict is NOT_YET and the job continues.
    """

    name: str = "rule"

    def __init__(self, params: dict[str, object]) -> None:
        self._params = params

    @property
    def params(self) -> dict[str, object]:
        """The rule's parameters as given to `build_rule` (a copy)."""
        return dict(self._params)

    @abc.abstractmethod
    def decide(self, history: StudyHistory, job: str, epoch: int) -> Decision:
        """Judge `job` at `epoch`."""

    def _decision(
        self,
        job: str,
        epoch: int,
        verdict: Verdict,
        reason: str,
        *,
        value: float | None = None,
        threshold: float | None = None,
        population: tuple[str, ...] = (),
    ) -> Decision:
        return Decision(
            job=job,
            epoch=epoch,
            verdict=verdict,
            rule=self.name,
            params=dict(self._params),
            value=value,
            threshold=threshold,
            population=population,
            reason=reason,
        )

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._params.items())
        return f"{type(self).__name__}({args})"


# -- parameter checks: each raises ConfigError naming the rule, the parameter and the valid range ----


def bad(rule: str, param: str, value: object, valid: str) -> ConfigError:
    return ConfigError(
        f"{param} must be {valid}, got {param}={value!r}",
        where=f"rule {rule}: {param}",
        hint=f"set {param} to {valid}",
    )


def check_direction(rule: str, value: object) -> Direction:
    if isinstance(value, Direction):
        return value
    if isinstance(value, str) and value.lower() in ("minimize", "maximize", "min", "max"):
        return Direction.MINIMIZE if value.lower().startswith("min") else Direction.MAXIMIZE
    raise bad(rule, "direction", value, '"minimize" or "maximize"')


def check_int(rule: str, param: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise bad(rule, param, value, f"an integer ≥ {minimum}")
    return value


def check_number(
    rule: str, param: str, value: object, low: float = -math.inf, high: float = math.inf
) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or math.isnan(float(value)) or not low <= float(value) <= high:  # type: ignore[arg-type]
        raise bad(rule, param, value, f"a number in [{low:g}, {high:g}]")
    return float(value)  # type: ignore[arg-type]


def check_choice(rule: str, param: str, value: object, choices: Collection[str]) -> str:
    if value not in choices:
        raise bad(rule, param, value, "one of " + ", ".join(repr(c) for c in choices))
    return str(value)
