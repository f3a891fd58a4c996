"""ThresholdRule: fixed bounds and a divergence guard."""

from __future__ import annotations

import math

import pytest
from rules_helpers import make_history

from metricwatch.errors import ConfigError
from metricwatch.rules import ThresholdRule, build_rule
from metricwatch.types import Verdict

C, S, N = Verdict.CONTINUE, Verdict.STOP, Verdict.NOT_YET


@pytest.mark.parametrize(
    ("value", "verdict", "reason"),
    [(10.0, C, "within_bounds"), (10.5, S, "above_max"), (-1.0, S, "below_min"),
     (0.0, C, "within_bounds"), (math.nan, S, "nonfinite_value"), (math.inf, S, "nonfinite_value")],
)  # fmt: skip
def test_threshold_rule_bounds_are_strict(value: float, verdict: Verdict, reason: str) -> None:
    h = make_history({"a": [value]})
    d = ThresholdRule(min=0, max=10).decide(h, "a", 1)
    assert (d.verdict, d.reason) == (verdict, reason)


def test_threshold_rule_divergence_guard_without_bounds() -> None:
    h = make_history({"a": [1e9, math.nan]})
    rule = build_rule("threshold")
    assert rule.decide(h, "a", 1).verdict is C
    assert rule.decide(h, "a", 2).verdict is S


def test_threshold_rule_ignore_nonfinite_leaves_it_to_bounds() -> None:
    h = make_history({"a": [math.nan, math.inf]})
    rule = ThresholdRule(max=10, nonfinite="ignore")
    assert rule.decide(h, "a", 1).verdict is C  # NaN never crosses a bound
    assert rule.decide(h, "a", 2).reason == "above_max"


def test_threshold_rule_warmup_and_missing_value() -> None:
    h = make_history({"a": {2: 99.0}})
    rule = ThresholdRule(max=10, warmup_epochs=2)
    assert rule.decide(h, "a", 1).reason == "no_value"
    assert rule.decide(h, "a", 2).reason == "warmup"


@pytest.mark.parametrize(
    ("params", "name"),
    [({"max": "ten"}, "max"), ({"min": math.nan}, "min"), ({"min": 5, "max": 1}, "max"),
     ({"nonfinite": "x"}, "nonfinite")],
)  # fmt: skip
def test_threshold_rule_rejects_bad_parameters(params: dict[str, object], name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        build_rule({"rule": "threshold", **params})
