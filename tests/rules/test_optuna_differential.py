"""The `optuna` preset against the real optuna package, decision for decision, on random studies."""

from __future__ import annotations

import math
import random
import warnings
from collections import Counter

import optuna
from optuna.trial import TrialState, create_trial

from metricwatch.rules import StudyHistory, build_rule
from metricwatch.types import JobState, Verdict

optuna.logging.set_verbosity(optuna.logging.WARNING)

_STATES = {
    TrialState.COMPLETE: JobState.COMPLETED,
    TrialState.PRUNED: JobState.STOPPED,
    TrialState.FAIL: JobState.FAILED,
}


def _value(rng: random.Random) -> float:
    # Few distinct values so ties with the percentile are common; NaN and ±inf sprinkled in.
    roll = rng.random()
    if roll < 0.08:
        return math.nan
    if roll < 0.10:
        return rng.choice([math.inf, -math.inf])
    return rng.choice([0.0, 0.5, 1.0, 1.5, 2.0, 3.0, rng.uniform(0, 3)])


def _steps(rng: random.Random, max_step: int) -> dict[int, float]:
    # Mostly dense reports (so steps line up), sometimes sparse or none.
    low = 0 if rng.random() < 0.2 else (max_step + 1) // 2
    chosen = sorted(rng.sample(range(max_step + 1), rng.randint(low, max_step + 1)))
    return {s: _value(rng) for s in chosen}


def _random_case(rng: random.Random) -> tuple[dict[str, object], list, dict[int, float]]:
    params = {
        "direction": rng.choice(["minimize", "maximize"]),
        "percentile": rng.choice([0.0, 25.0, 50.0, 50.0, 75.0, 100.0, rng.uniform(0, 100)]),
        "n_startup_trials": rng.choice([0, 0, 1, 2, 3, 5]),
        "n_warmup_steps": rng.choice([0, 0, 1, 2, 4]),
        "interval_steps": rng.choice([1, 1, 2, 3]),
        "n_min_trials": rng.randint(1, 3),
    }
    max_step = rng.randint(0, 8)
    others = [
        (rng.choice([TrialState.COMPLETE] * 4 + [TrialState.PRUNED, TrialState.FAIL]),
         _steps(rng, max_step))
        for _ in range(rng.randint(0, 10))
    ]  # fmt: skip
    running = _steps(rng, max_step) or {0: _value(rng)}
    return params, others, running


def _optuna_decisions(params: dict, others: list, running: dict[int, float]) -> list[bool]:
    pruner = optuna.pruners.PercentilePruner(
        params["percentile"],
        n_startup_trials=params["n_startup_trials"],
        n_warmup_steps=params["n_warmup_steps"],
        interval_steps=params["interval_steps"],
        n_min_trials=params["n_min_trials"],
    )
    study = optuna.create_study(direction=params["direction"])
    for state, values in others:
        value = 0.0 if state is TrialState.COMPLETE else None
        study.add_trial(create_trial(state=state, value=value, intermediate_values=values))
    out = []
    for step in range(max(running) + 2):  # asked at every step, also between reports
        seen = {s: v for s, v in running.items() if s <= step}
        trial = create_trial(state=TrialState.RUNNING, intermediate_values=seen)
        out.append(pruner.prune(study, trial))
    return out


def _our_decisions(
    params: dict, others: list, running: dict[int, float], reasons: Counter[str] | None = None
) -> list[bool]:
    rule = build_rule("optuna", **params)
    history = StudyHistory()
    for i, (state, values) in enumerate(others):
        for step, value in values.items():
            history.record(f"t{i}", step + 1, value)  # Optuna step s is epoch s + 1
        if f"t{i}" not in history:
            history.add_job(f"t{i}")
        history.set_state(f"t{i}", _STATES[state])
    for step, value in running.items():
        history.record("running", step + 1, value)
    decisions = [rule.decide(history, "running", step + 1) for step in range(max(running) + 2)]
    if reasons is not None:
        reasons.update(d.reason for d in decisions)
    return [d.verdict is Verdict.STOP for d in decisions]


def test_optuna_preset_matches_optuna_on_random_studies() -> None:
    """3,000 random studies, asked at every step: the preset prunes exactly when optuna prunes (~2 s)."""
    rng = random.Random(20261128)
    decisions = 0
    reasons: Counter[str] = Counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numpy's all-NaN slice warnings inside optuna
        for case in range(3000):
            params, others, running = _random_case(rng)
            expected = _optuna_decisions(params, others, running)
            got = _our_decisions(params, others, running, reasons)
            assert got == expected, f"case {case}: {params} {others} {running}"
            decisions += len(got)
    assert decisions > 12000
    # Every path of the pruner was exercised, not just the common ones.
    for reason in (
        "startup",
        "warmup",
        "off_interval",
        "nonfinite_value",
        "too_few_peers",
        "nonfinite_threshold",
        "worse_than_percentile",
        "not_worse",
    ):
        assert reasons[reason] > 10, (reason, reasons)
