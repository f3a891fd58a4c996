"""any/all combinations and the build_rule spec forms (name, dict, JSON string, presets)."""

from __future__ import annotations

import json
import math

import pytest
from rules_helpers import make_history

from metricwatch.errors import ConfigError
from metricwatch.rules import PRESETS, RULES, AllRule, AnyRule, MedianRule, build_rule
from metricwatch.types import Verdict

C, S, N = Verdict.CONTINUE, Verdict.STOP, Verdict.NOT_YET
PEERS = {"a": [3, 1], "b": [5, 3], "c": [7, 5]}  # median 4 at epoch 2
GUARD_OR_MEDIAN = {"any": [{"rule": "threshold", "max": 10}, {"rule": "median"}]}


def test_any_stops_when_one_rule_stops_and_says_which() -> None:
    h = make_history({**PEERS, "worse": [1, 5], "fine": [1, 3], "over": [1, 11]})
    rule = build_rule(GUARD_OR_MEDIAN, direction="minimize")
    over, worse, fine = (rule.decide(h, j, 2) for j in ("over", "worse", "fine"))
    assert (over.verdict, over.rule, over.reason) == (S, "any/threshold", "above_max")
    assert (worse.verdict, worse.rule, worse.threshold) == (S, "any/median", 4.0)
    assert (fine.verdict, fine.rule) == (C, "any/threshold")


def test_all_stops_only_when_every_rule_stops() -> None:
    h = make_history({**PEERS, "worse": [1, 5], "over": [1, 11]})
    spec = {"all": [{"rule": "threshold", "max": 4.5}, {"rule": "median"}]}
    rule = build_rule(spec, direction="minimize")
    assert rule.decide(h, "over", 2).verdict is S
    assert rule.decide(h, "worse", 2).verdict is S
    h2 = make_history({"a": [1, 1], "x": [1, 11]})
    assert rule.decide(h2, "x", 2).verdict is N  # threshold stops, median cannot judge yet


def test_build_rule_forms_agree() -> None:
    by_name = build_rule("median", direction="minimize", min_population=5)
    by_dict = build_rule({"rule": "median", "min_population": 5, "direction": "minimize"})
    by_json = build_rule(json.dumps({"rule": "median", "min_population": 5}), direction="minimize")
    assert by_name.params == by_dict.params == by_json.params
    assert isinstance(build_rule(GUARD_OR_MEDIAN, direction="minimize"), AnyRule)
    assert isinstance(build_rule({"all": ["median"]}, direction="minimize"), AllRule)


def test_every_registered_rule_and_preset_builds() -> None:
    for name in RULES:
        extra = {"percentile": {"percentile": 50}, "patience": {"patience": 2}}.get(name, {})
        build_rule(name, direction="maximize", **extra)
    for name in PRESETS:
        build_rule(name, direction="maximize")
    assert isinstance(build_rule("sagemaker", direction="minimize"), MedianRule)


@pytest.mark.parametrize(
    ("spec", "params", "match"),
    [("nope", {}, "unknown rule 'nope'"),
     ("median", {"min_peers": 3}, "unknown parameter 'min_peers'"),
     ("optuna", {"n_min_trial": 3}, "unknown parameter 'n_min_trial'"),
     ({"any": []}, {}, "non-empty list"),
     ({"min_population": 3}, {}, 'no "rule" key'),
     ("{not json", {}, "not valid JSON"),
     ("median", {"min_population": math.inf}, "min_population must be an integer ≥ 1")],
)  # fmt: skip
def test_build_rule_errors_name_the_problem(spec: object, params: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        build_rule(spec, direction="minimize", **params)  # type: ignore[arg-type]


def test_build_rule_requires_a_direction_for_comparative_rules() -> None:
    with pytest.raises(ConfigError, match="direction is required"):
        build_rule("median")
    build_rule("threshold", max=1.0)  # bounds do not need one


def test_unknown_parameter_error_lists_valid_ones() -> None:
    with pytest.raises(ConfigError) as info:
        build_rule("katib", direction="minimize", start=4)
    assert "min_trials_required" in info.value.hint and "start_step" in info.value.hint
