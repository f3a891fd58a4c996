"""PercentileRule: any p counted from the best side, raw-value reference, window start."""

from __future__ import annotations

import pytest
from rules_helpers import make_history

from metricwatch.errors import ConfigError
from metricwatch.rules import PercentileRule, build_rule
from metricwatch.types import Verdict

C, S, N = Verdict.CONTINUE, Verdict.STOP, Verdict.NOT_YET
FIVE = {f"p{i}": [float(i)] for i in range(1, 6)}  # averages 1..5 at epoch 1


@pytest.mark.parametrize(
    ("direction", "percentile", "threshold"),
    [("minimize", 25, 2.0), ("maximize", 25, 4.0), ("minimize", 0, 1.0), ("minimize", 100, 5.0),
     ("maximize", 0, 5.0), ("minimize", 10, 1.4)],
)  # fmt: skip
def test_percentile_rule_counts_p_from_the_best_side(
    direction: str, percentile: float, threshold: float
) -> None:
    """p=25 keeps about the best quarter: 25th percentile when minimizing, 75th when maximizing."""
    h = make_history({**FIVE, "new": [3.0]})
    d = PercentileRule(direction=direction, percentile=percentile).decide(h, "new", 1)
    assert d.threshold == pytest.approx(threshold)
    assert d.reason in ("worse_than_percentile", "not_worse")


def test_percentile_rule_raw_value_reference() -> None:
    """reference="value": peers' raw values at e, not running averages (Optuna-style)."""
    h = make_history({"a": [10, 1], "b": [10, 2], "c": [10, 3], "new": [0, 2.5]})
    by_avg = PercentileRule(direction="minimize", percentile=50).decide(h, "new", 2)
    by_value = PercentileRule(direction="minimize", percentile=50, reference="value")
    assert (by_avg.threshold, by_avg.verdict) == (6.0, C)
    d = by_value.decide(h, "new", 2)
    assert (d.threshold, d.verdict) == (2.0, S)


def test_percentile_rule_window_start_averages_from_there() -> None:
    """window_start=2: the running average skips the (often huge) first epochs (ray#5485)."""
    h = make_history({"a": [100, 1, 1], "b": [100, 2, 2], "c": [100, 3, 3], "new": [0, 5, 5]})
    rule = PercentileRule(direction="minimize", percentile=50, window_start=2)
    assert rule.decide(h, "new", 3).threshold == 2.0
    assert rule.decide(h, "new", 1).reason == "too_few_peers"  # no window yet at epoch 1


def test_percentile_rule_spec_errors_name_the_range() -> None:
    with pytest.raises(ConfigError, match=r"percentile must be a number in \[0, 100\]"):
        build_rule("percentile", direction="minimize", percentile=101)
    with pytest.raises(ConfigError, match="window_start"):
        PercentileRule(direction="minimize", percentile=50, reference="value", window_start=2)


def test_percentile_rule_too_few_peers_lists_who_there_is() -> None:
    h = make_history({"a": [1.0], "new": [2.0]})
    d = PercentileRule(direction="minimize", percentile=50).decide(h, "new", 1)
    assert (d.verdict, d.reason, d.population) == (N, "too_few_peers", ("a",))
