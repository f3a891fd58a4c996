"""PatienceRule: no improvement in the last patience + 1 epochs, alone or gating another rule."""

from __future__ import annotations

import math
import random
import warnings

import optuna
import pytest
from optuna.trial import TrialState, create_trial
from rules_helpers import make_history

from metricwatch.rules import PatienceRule, build_rule
from metricwatch.types import Verdict

C, S, N = Verdict.CONTINUE, Verdict.STOP, Verdict.NOT_YET


def test_patience_rule_stops_a_stalled_job() -> None:
    """patience=2: best before the last 3 epochs is 1; the last three (2, 3, 2) are all worse."""
    h = make_history({"a": [5, 1, 2, 3, 2]})
    rule = PatienceRule(direction="minimize", patience=2)
    assert [rule.decide(h, "a", e).verdict for e in range(1, 6)] == [N, N, N, C, S]


def test_patience_rule_min_delta_tolerates_small_worsening() -> None:
    h = make_history({"a": [1.0, 1.05, 1.05]})
    assert PatienceRule(direction="minimize", patience=1).decide(h, "a", 3).verdict is S
    assert PatienceRule(direction="minimize", patience=1, min_delta=0.1).decide(h, "a", 3).verdict is C


def test_patience_rule_wraps_another_rule() -> None:
    """Stalled AND worse than the median → stop; stalled but better than the median → continue."""
    peers = {"a": [9, 9, 9, 9], "b": [9, 9, 9, 9], "c": [9, 9, 9, 9]}
    spec = {"rule": "patience", "patience": 1, "wrapped": {"rule": "median"}}
    rule = build_rule(spec, direction="minimize")
    h = make_history({**peers, "good": [1, 2, 2, 2], "bad": [20, 10, 12, 12]})
    good, bad = rule.decide(h, "good", 4), rule.decide(h, "bad", 4)
    assert (good.verdict, good.rule) == (C, "patience/median")
    assert (bad.verdict, bad.reason) == (S, "worse_than_median")


def _optuna_patient(direction: str, patience: int, min_delta: float, values: dict) -> bool:
    study = optuna.create_study(direction=direction)
    trial = create_trial(state=TrialState.RUNNING, intermediate_values=values)
    return optuna.pruners.PatientPruner(None, patience, min_delta).prune(study, trial)


def test_patience_rule_matches_optuna_patient_pruner() -> None:
    """Random curves with NaN: the same stop decisions as optuna.pruners.PatientPruner(None, …)."""
    rng = random.Random(3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(400):
            direction = rng.choice(["minimize", "maximize"])
            patience, min_delta = rng.randint(0, 3), rng.choice([0.0, 0.0, 0.5])
            n = rng.randint(1, 7)
            values = {s: rng.choice([math.nan, 1.0, 2.0, 3.0, rng.random() * 3]) for s in range(n)}
            h = make_history({"a": list(values.values())})
            got = PatienceRule(direction=direction, patience=patience, min_delta=min_delta)
            expected = _optuna_patient(direction, patience, min_delta, values)
            assert (got.decide(h, "a", n).verdict is S) == expected, (values, patience)


@pytest.mark.parametrize("patience", [-1, 1.5])
def test_patience_rule_rejects_bad_patience(patience: object) -> None:
    from metricwatch.errors import ConfigError

    with pytest.raises(ConfigError, match="patience must be an integer ≥ 0"):
        build_rule("patience", direction="minimize", patience=patience)
