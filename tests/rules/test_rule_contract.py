"""Every rule and preset: the shared contract (empty study continues, pure, deterministic, explained)."""

from __future__ import annotations

import copy
import doctest
import importlib

import pytest
from rules_helpers import make_history

from metricwatch.rules import PRESETS, RULES, StudyHistory, build_rule
from metricwatch.types import Decision, JobState, Verdict

SPECS: list[tuple[str, dict[str, object]]] = [
    *((name, {}) for name in PRESETS),
    ("median", {}),
    ("percentile", {"percentile": 25}),
    ("threshold", {"max": 5.0}),
    ("patience", {"patience": 1}),
    ("any", {}),
]


def _build(name: str, params: dict[str, object], direction: str) -> object:
    if name == "any":
        return build_rule({"any": ["median", {"rule": "threshold", "max": 5}]}, direction=direction)
    return build_rule(name, direction=direction, **params)


def _study() -> StudyHistory:
    h = make_history(
        {"a": [3, 2, 1, 1, 1], "b": [4, 3, 2, 2, 2], "c": [5, 4, 3, 3, 3], "d": [9, 8, 7, 6, 6]},
        {"a": JobState.COMPLETED, "b": JobState.COMPLETED, "c": JobState.STOPPED},
    )
    h.record_series("e", [9, 9, 9, 9, 9])
    return h


@pytest.mark.parametrize(("name", "params"), SPECS)
@pytest.mark.parametrize("direction", ["minimize", "maximize"])
def test_rule_lets_a_lone_job_continue(name: str, params: dict, direction: str) -> None:
    """With no peers a rule cannot judge, so the job continues (never STOP on an empty study)."""
    h = StudyHistory()
    h.record("only", 1, 1.0)
    assert _build(name, params, direction).decide(h, "only", 1).verdict is not Verdict.STOP


@pytest.mark.parametrize(("name", "params"), SPECS)
@pytest.mark.parametrize("direction", ["minimize", "maximize"])
def test_rule_is_pure_and_deterministic(name: str, params: dict, direction: str) -> None:
    """Deciding twice gives equal decisions and leaves the history's contents unchanged."""
    h = _study()
    before = [(j, h.state(j), h.values(j)) for j in h.jobs]
    rule = _build(name, params, direction)
    first = [rule.decide(h, j, e) for j in h.jobs for e in range(1, 6)]
    again = [rule.decide(h, j, e) for j in h.jobs for e in range(1, 6)]
    assert first == again
    assert [(j, h.state(j), h.values(j)) for j in h.jobs] == before


@pytest.mark.parametrize(("name", "params"), SPECS)
def test_rule_decisions_explain_themselves(name: str, params: dict) -> None:
    """Each decision names its job, epoch, rule, params and a reason; a STOP names the threshold."""
    h = _study()
    rule = _build(name, params, "minimize")
    for e in range(1, 6):
        d = rule.decide(h, "e", e)
        assert isinstance(d, Decision) and (d.job, d.epoch) == ("e", e)
        assert d.rule and d.reason and isinstance(d.params, dict)
        if d.verdict is Verdict.STOP and d.reason != "nonfinite_value":
            assert d.value is not None and d.threshold is not None


@pytest.mark.parametrize(("name", "params"), SPECS)
def test_rule_params_cannot_be_changed_through_a_decision(name: str, params: dict) -> None:
    rule = _build(name, params, "minimize")
    saved = copy.deepcopy(rule.params)  # type: ignore[attr-defined]
    rule.decide(_study(), "e", 5).params["direction"] = "maximize"  # type: ignore[attr-defined]
    assert rule.params == saved  # type: ignore[attr-defined]


def test_registry_names() -> None:
    assert set(PRESETS) == {"sagemaker", "vizier", "katib", "ray", "optuna", "nni"}
    assert {"median", "percentile", "threshold", "patience"} <= set(RULES)


@pytest.mark.parametrize(
    "module", ["_median", "_percentile", "_optuna", "_threshold"], ids=lambda m: m.strip("_")
)
def test_docstring_examples_run(module: str) -> None:
    """The examples in the rules' docstrings are executed, so they cannot drift from the code."""
    result = doctest.testmod(importlib.import_module(f"metricwatch.rules.{module}"))
    assert result.attempted > 0 and result.failed == 0
