"""Each anchor's own published scenarios (research note §9), run under that anchor's preset.

Numbers and expected outcomes are the upstream tests' (Optuna, Ray) or the note's derived cases
(Katib, §9.5 divergences). Optuna step s is epoch s + 1; Ray time t is epoch t + 1, so a Ray grace
period g becomes g + 1 epochs.
"""

from __future__ import annotations

import math

import pytest
from rules_helpers import make_history

from metricwatch.errors import ConfigError
from metricwatch.rules import StudyHistory, build_rule
from metricwatch.types import JobState, Verdict

C, S, N = Verdict.CONTINUE, Verdict.STOP, Verdict.NOT_YET
DONE = JobState.COMPLETED
NAN = math.nan


def optuna_rule(n_startup: int, n_warmup: int, interval: int = 1, **kw: object) -> object:
    return build_rule(
        "optuna", direction=kw.pop("direction", "minimize"), n_startup_trials=n_startup,
        n_warmup_steps=n_warmup, interval_steps=interval, **kw,
    )  # fmt: skip


def report(h: StudyHistory, job: str, value: float, step: int) -> None:
    """Optuna's trial.report(value, step)."""
    h.record(job, step + 1, value)


def pruned(rule: object, h: StudyHistory, job: str) -> bool:
    """Optuna's should_prune(): judged at the job's last reported step."""
    return rule.decide(h, job, max(h.last_epoch(job), 1)).verdict is S  # type: ignore[attr-defined]


# -- Optuna: tests/pruners_tests/test_median.py ------------------------------------------------------


def test_optuna_median_first_trial_is_not_pruned() -> None:
    """with_one_trial: no completed trials, no pruning."""
    h, rule = StudyHistory(), optuna_rule(0, 0)
    report(h, "t1", 1, 1)
    assert not pruned(rule, h, "t1")


@pytest.mark.parametrize(("direction", "value"), [("minimize", 2), ("maximize", 0.5)])
def test_optuna_median_prunes_worse_intermediate_value(direction: str, value: float) -> None:
    """intermediate_values: no reports → kept; a worse report at step 1 → pruned."""
    h, rule = StudyHistory(), optuna_rule(0, 0, direction=direction)
    report(h, "t1", 1, 1)
    h.set_state("t1", DONE)
    h.add_job("t2")
    assert not pruned(rule, h, "t2")
    report(h, "t2", value, 1)
    assert pruned(rule, h, "t2")


def test_optuna_median_nan_sequence() -> None:
    """intermediate_values_nan: not pruned → pruned (best is NaN) → not pruned (median of NaN)."""
    h, rule = StudyHistory(), optuna_rule(0, 0)
    report(h, "t1", NAN, 1)
    assert not pruned(rule, h, "t1")
    h.set_state("t1", DONE)
    report(h, "t2", NAN, 1)
    assert pruned(rule, h, "t2")
    h.set_state("t2", DONE)
    report(h, "t3", 1, 1)
    assert not pruned(rule, h, "t3")


def test_optuna_median_n_startup_trials() -> None:
    """n_startup_trials=2: the second trial is safe, the third (3 > median 1.5) is pruned."""
    h, rule = StudyHistory(), optuna_rule(2, 0)
    report(h, "t1", 1, 1)
    h.set_state("t1", DONE)
    report(h, "t2", 2, 1)
    assert not pruned(rule, h, "t2")
    h.set_state("t2", DONE)
    report(h, "t3", 3, 1)
    assert pruned(rule, h, "t3")


def test_optuna_median_n_warmup_steps() -> None:
    """n_warmup_steps=1: step 0 is warm-up; the same value at step 1 is pruned."""
    h, rule = StudyHistory(), optuna_rule(0, 1)
    report(h, "t1", 1, 0)
    report(h, "t1", 1, 1)
    h.set_state("t1", DONE)
    report(h, "t2", 2, 0)
    assert not pruned(rule, h, "t2")
    report(h, "t2", 2, 1)
    assert pruned(rule, h, "t2")


@pytest.mark.parametrize(
    ("warmup", "interval", "report_steps", "expected"),
    [
        (0, 1, 1, [0, 1, 2, 3, 4, 5]),
        (1, 1, 1, [1, 2, 3, 4, 5]),
        (1, 2, 1, [1, 3, 5]),
        (0, 3, 10, list(range(29))),
        (2, 3, 10, list(range(10, 29))),
        (0, 10, 3, [0, 1, 2, 12, 13, 14, 21, 22, 23]),
        (2, 10, 3, [3, 4, 5, 12, 13, 14, 24, 25, 26]),
    ],
)
def test_optuna_median_interval_steps(
    warmup: int, interval: int, report_steps: int, expected: list[int]
) -> None:
    """interval_steps: checks at warm-up + k·interval, postponed to the next report; asked every step."""
    h, rule = StudyHistory(), optuna_rule(0, warmup, interval)
    last_step = max(expected) + 1
    for i in range(last_step):
        report(h, "ref", 0, i)
    h.set_state("ref", DONE)
    h.add_job("new")
    got = []
    for i in range(last_step):
        if i % report_steps == 0:
            report(h, "new", 2, i)
        if rule.decide(h, "new", i + 1).verdict is S:
            got.append(i)
    assert got == expected


def test_optuna_median_n_min_trials() -> None:
    """n_min_trials=2: one completed value at step 2 is not enough; two (median 2.5 < 3) prune."""
    h, rule = StudyHistory(), optuna_rule(2, 0, 1, n_min_trials=2)
    report(h, "t1", 4, 1)
    report(h, "t1", 2, 2)
    h.set_state("t1", DONE)
    report(h, "t2", 3, 1)
    h.set_state("t2", DONE)
    report(h, "t3", 4, 1)
    report(h, "t3", 3, 2)
    assert not pruned(rule, h, "t3")
    h.set_state("t3", DONE)
    report(h, "t4", 4, 1)
    report(h, "t4", 3, 2)
    assert pruned(rule, h, "t4")


# -- Optuna: tests/pruners_tests/test_percentile.py --------------------------------------------------


@pytest.mark.parametrize("percentile", [0.0, 25.0, 100.0])
def test_optuna_percentile_accepts_range(percentile: float) -> None:
    rule = build_rule("optuna", direction="minimize", percentile=percentile)
    assert rule.params["percentile"] == percentile  # kept as given, and shown in every decision


@pytest.mark.parametrize(
    ("param", "value"),
    [("percentile", -0.1), ("percentile", 100.1), ("n_startup_trials", -1),
     ("n_warmup_steps", -1), ("interval_steps", 0), ("interval_steps", -1)],
)  # fmt: skip
def test_optuna_percentile_rejects_out_of_range(param: str, value: float) -> None:
    with pytest.raises(ConfigError, match=param):
        build_rule("optuna", direction="minimize", **{param: value})


@pytest.mark.parametrize(("direction", "value"), [("minimize", 2.1), ("maximize", 3.9)])
def test_optuna_percentile_25(direction: str, value: float) -> None:
    """Five completed trials 1..5: 25th percentile 2.0 (min) / 75th 4.0 (max); 2.1 / 3.9 pruned."""
    h = StudyHistory()
    rule = build_rule("optuna", direction=direction, percentile=25.0, n_startup_trials=0)
    for i in range(1, 6):
        report(h, f"t{i}", i, 1)
        h.set_state(f"t{i}", DONE)
    h.add_job("empty")
    assert not pruned(rule, h, "empty")
    report(h, "new", value, 1)
    decision = rule.decide(h, "new", 2)
    assert decision.verdict is S
    assert decision.threshold == (2.0 if direction == "minimize" else 4.0)


@pytest.mark.parametrize(
    ("values", "direction", "best"),
    [([0.1, 0.2], "minimize", 0.1), ([0.1, 0.2], "maximize", 0.2), ([0.3, NAN], "minimize", 0.3)],
)
def test_optuna_percentile_best_over_steps(values: list[float], direction: str, best: float) -> None:
    """The compared value is the best over all steps, NaN ignored."""
    h = make_history({"done": [5.0, 5.0]}, {"done": DONE})
    h.record_series("new", values)
    rule = build_rule("optuna", direction=direction, n_startup_trials=0)
    assert rule.decide(h, "new", 2).value == best


def test_optuna_percentile_across_trials_with_nan() -> None:
    """Nine completed trials: step 0 → 0.3; step 1 with four NaN → 0.2; all-NaN step → no judgement."""
    h = StudyHistory()
    for i in range(9):
        v = (i + 1) / 10
        report(h, f"t{i}", v, 0)
        report(h, f"t{i}", v if i < 5 else NAN, 1)
        report(h, f"t{i}", NAN, 2)
        h.set_state(f"t{i}", DONE)
    h.record_series("new", [1.0, 1.0, 1.0])
    for n_min in (1, 2):
        rule = build_rule(
            "optuna", direction="minimize", percentile=25.0, n_startup_trials=0, n_min_trials=n_min
        )
        assert rule.decide(h, "new", 1).threshold == pytest.approx(0.3)
        assert rule.decide(h, "new", 2).threshold == pytest.approx(0.2)
        all_nan = rule.decide(h, "new", 3)
        assert (all_nan.verdict, all_nan.reason) == (N, "nonfinite_threshold")


# -- Ray: python/ray/tune/tests/test_trial_scheduler.py, EarlyStoppingSuite (mode max) -----------


def ray_rule(grace: float, min_samples: int, direction: str = "maximize") -> object:
    # Ray times start at 0, metricwatch epochs at 1: Ray's grace g is g + 1 epochs here.
    return build_rule("ray", direction=direction, grace_period=grace + 1, min_samples_required=min_samples)


def ray_result(rule: object, h: StudyHistory, job: str, t: int, r: float) -> Verdict:
    h.record(job, t + 1, r)
    return rule.decide(h, job, t + 1).verdict  # type: ignore[attr-defined]


def ray_basic_setup(rule: object, sign: float = 1.0) -> StudyHistory:
    h = StudyHistory()
    verdicts = [ray_result(rule, h, "t1", t, sign * 100 * t) for t in range(10)]
    verdicts += [ray_result(rule, h, "t2", t, sign * 450) for t in range(5)]
    assert S not in verdicts  # all 15 continue
    return h


def ray_complete(h: StudyHistory, job: str, t: int, r: float) -> None:
    h.record(job, t + 1, r)
    h.set_state(job, DONE)


def test_ray_constant_perf() -> None:
    rule = ray_rule(0, 1)
    h = ray_basic_setup(rule)
    ray_complete(h, "t1", 10, 1000)
    assert ray_result(rule, h, "t2", 5, 450) is C  # median 250
    assert ray_result(rule, h, "t2", 6, 0) is C  # median 300, best 450
    assert ray_result(rule, h, "t2", 10, 450) is S  # t1's mean over 0..10 is 500
    assert rule.decide(h, "t2", 11).threshold == 500  # type: ignore[attr-defined]


def test_ray_on_complete_only() -> None:
    rule = ray_rule(0, 1)
    h = ray_basic_setup(rule)
    assert ray_result(rule, h, "t2", 100, 0) is N  # nobody reached t = 100: too few samples
    ray_complete(h, "t1", 101, 1000)
    assert ray_result(rule, h, "t2", 101, 0) is S  # median 500, best 450


def test_ray_grace_period() -> None:
    rule = ray_rule(2.5, 1)
    h = ray_basic_setup(rule)
    ray_complete(h, "t1", 10, 1000)
    ray_complete(h, "t2", 10, 1000)
    assert ray_result(rule, h, "t3", 1, 10) is N  # inside the grace period
    assert ray_result(rule, h, "t3", 2, 10) is N
    assert ray_result(rule, h, "t3", 3, 10) is S  # window [2.5, 3]: 300 and 450, median 375
    assert rule.decide(h, "t3", 4).threshold == 375  # type: ignore[attr-defined]


def test_ray_min_samples() -> None:
    rule = ray_rule(0, 2)
    h = ray_basic_setup(rule)
    ray_complete(h, "t1", 10, 1000)
    assert ray_result(rule, h, "t3", 5, 10) is N  # only t1 reached t = 5
    ray_complete(h, "t2", 5, 1000)
    assert ray_result(rule, h, "t3", 5, 10) is S  # means 250 and 541.7 → 395.8
    assert rule.decide(h, "t3", 6).threshold == pytest.approx((250 + 3250 / 6) / 2)  # type: ignore[attr-defined]


def test_ray_uses_median() -> None:
    rule = ray_rule(0, 1)
    h = ray_basic_setup(rule)
    ray_complete(h, "t1", 10, 1000)
    ray_complete(h, "t2", 10, 1000)
    assert ray_result(rule, h, "t3", 1, 260) is C  # means 50 and 450 → 250
    assert ray_result(rule, h, "t3", 2, 260) is S  # means 100 and 450 → 275


def test_ray_soft_stop_is_refused() -> None:
    """hard_stop=False would PAUSE; an unmodified job cannot be paused, so the preset refuses it."""
    with pytest.raises(ConfigError, match="hard_stop"):
        build_rule("ray", direction="maximize", hard_stop=False)


def test_ray_alternate_metric_minimized() -> None:
    """AlternateMetricsMin: mean_loss = −reward, mode min: the same continues as ConstantPerf."""
    rule = ray_rule(0, 1, direction="minimize")
    h = ray_basic_setup(rule, sign=-1.0)
    ray_complete(h, "t1", 10, -1000)
    assert ray_result(rule, h, "t2", 5, -450) is C
    assert ray_result(rule, h, "t2", 6, 0) is C


def test_ray_sparse_reports_do_not_stop_a_good_trial() -> None:
    """Derived (ray#24809, PR #65957): a peer with no report in the window is 'no sample', not NaN."""
    rule = ray_rule(3, 1)
    h = StudyHistory()
    ray_result(rule, h, "A", 0, 1.0)
    ray_result(rule, h, "A", 10, 1.0)
    decision = rule.decide(h, "B", 6) if ray_result(rule, h, "B", 5, 100.0) else None  # type: ignore[attr-defined]
    assert decision is not None and decision.verdict is N and decision.reason == "too_few_peers"


def test_ray_one_nan_peer_does_not_stop_everyone() -> None:
    """Derived (ray#24809): a NaN in one peer's window leaves that peer out; the median stays sane."""
    rule = ray_rule(0, 1)
    h = make_history({"bad": [1.0, NAN, 1.0, 1.0], "ok": [1.0, 1.0, 1.0, 1.0]})
    h.record_series("good", [5.0, 5.0, 5.0, 5.0])
    decision = rule.decide(h, "good", 4)  # type: ignore[attr-defined]
    assert (decision.verdict, decision.threshold, decision.population) == (C, 1.0, ("ok",))


# -- Katib (derived, §9.4) ---------------------------------------------------------------------------


def katib_study() -> StudyHistory:
    return make_history({"a": [0.25] * 4, "b": [0.65] * 4, "c": [0.90] * 4}, {j: DONE for j in "abc"})


def test_katib_takes_the_mean_not_the_median() -> None:
    """Maximize, averages 0.25/0.65/0.90: Katib's threshold is the mean 0.60, so 0.62 continues;
    a median rule (Vizier) stops it against 0.65."""
    h = katib_study()
    h.record_series("new", [0.5, 0.62, 0.55, 0.6])
    katib = build_rule("katib", direction="maximize").decide(h, "new", 4)
    assert (katib.verdict, katib.threshold, katib.value) == (C, pytest.approx(0.6), 0.62)
    vizier = build_rule("vizier", direction="maximize").decide(h, "new", 4)
    assert (vizier.verdict, vizier.threshold) == (S, 0.65)


def test_katib_checks_only_once() -> None:
    """start_step=4: judged at the 4th report only; a collapse afterwards is never re-checked."""
    h = katib_study()
    h.record_series("new", [0.9, 0.9, 0.9, 0.9, 0.0, 0.0])
    rule = build_rule("katib", direction="maximize")
    assert [rule.decide(h, "new", e).reason for e in range(1, 7)] == [
        "warmup", "warmup", "warmup", "not_worse", "checked_once", "checked_once"
    ]  # fmt: skip


def test_katib_no_rule_for_trials_created_before_enough_successes() -> None:
    """A job added before the 3rd success has no rule, even after more jobs complete."""
    h = make_history({"a": [0.9] * 4, "b": [0.9] * 4}, {"a": DONE, "b": DONE})
    h.add_job("early")
    h.record_series("c", [0.9] * 4)
    h.set_state("c", DONE)
    h.record_series("early", [0.0] * 4)
    decision = build_rule("katib", direction="maximize").decide(h, "early", 4)
    assert (decision.verdict, decision.reason) == (N, "no_rule")


@pytest.mark.parametrize(
    ("params", "match"),
    [({"min_trials_required": 0}, "min_trials_required"), ({"start_step": 0}, "start_step"),
     ({"unknown_conf": 1}, "unknown_conf")],
)  # fmt: skip
def test_katib_validation(params: dict[str, int], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        build_rule("katib", direction="maximize", **params)


def test_katib_accepts_documented_settings() -> None:
    rule = build_rule("katib", direction="maximize", min_trials_required=2, start_step=5)
    assert rule.params == {"direction": "maximize", "min_trials_required": 2, "start_step": 5}


# -- §9.5 cross-anchor divergences -------------------------------------------------------------------


def test_running_average_versus_raw_value() -> None:
    """Minimize; completed job 10, 5, 2, 1 (average 4.5, raw 1); new job's best 3 at epoch 4."""
    h = make_history({"done": [10, 5, 2, 1]}, {"done": DONE})
    h.record_series("new", [6, 5, 4, 3])
    continuing = {
        "sagemaker": {"statistic": "best", "min_population": 1},
        "vizier": {},
        "nni": {},
        "ray": {"grace_period": 0, "min_samples_required": 1},
    }
    for name, params in continuing.items():
        d = build_rule(name, direction="minimize", **params).decide(h, "new", 4)
        assert (d.verdict, d.threshold, d.value) == (C, 4.5, 3), name
    d = build_rule("optuna", direction="minimize", n_startup_trials=1).decide(h, "new", 4)
    assert (d.verdict, d.threshold, d.value) == (S, 1.0, 3)
    # SageMaker's defaults need three previous jobs: with one it cannot judge, and the job continues.
    assert build_rule("sagemaker", direction="minimize").decide(h, "new", 4).verdict is N


@pytest.mark.parametrize(
    ("direction", "best", "nni_threshold"), [("maximize", 0.45, 0.4), ("minimize", 0.55, 0.6)]
)
def test_even_count_median(direction: str, best: float, nni_threshold: float) -> None:
    """References 0.2/0.4/0.6/0.8: NNI's lenient element keeps the job; numpy's 0.5 stops it."""
    refs = {f"r{i}": [v] * 2 for i, v in enumerate([0.2, 0.4, 0.6, 0.8])}
    h = make_history(refs, dict.fromkeys(refs, DONE))
    h.record_series("new", [best, best])
    d = build_rule("nni", direction=direction).decide(h, "new", 2)
    assert (d.verdict, d.threshold) == (C, nni_threshold)
    for name, params in [("ray", {"grace_period": 0}), ("optuna", {"n_startup_trials": 4})]:
        d = build_rule(name, direction=direction, **params).decide(h, "new", 2)
        assert (d.verdict, d.threshold) == (S, pytest.approx(0.5)), name


def test_current_value_versus_best_value() -> None:
    """Maximize, median 0.70; values 0.72 then 0.69: current-value stops at epoch 2, best continues."""
    h = make_history({"a": [0.6, 0.6], "b": [0.7, 0.7], "c": [0.8, 0.8]})
    h.record_series("new", [0.72, 0.69])
    current = build_rule("sagemaker", direction="maximize")
    best = build_rule("sagemaker", direction="maximize", statistic="best")
    assert current.decide(h, "new", 1).verdict is C
    assert (current.decide(h, "new", 2).verdict, current.decide(h, "new", 2).threshold) == (S, 0.7)
    assert best.decide(h, "new", 2).verdict is C


def test_stopped_jobs_in_the_reference_set() -> None:
    """Stopped jobs count for SageMaker (metricwatch's choice) and Ray, not for Vizier/Optuna/NNI."""
    h = make_history(
        {"a": [1] * 5, "b": [2] * 5, "c": [9] * 3, "d": [10] * 3},
        {"a": DONE, "b": DONE, "c": JobState.STOPPED, "d": JobState.STOPPED},
    )
    h.record_series("new", [4, 4, 4])
    expected = {"sagemaker": (C, 5.5), "ray": (C, 5.5), "vizier": (S, 1.5), "nni": (S, 2.0),
                "optuna": (S, 1.5)}  # fmt: skip
    params = {"ray": {"grace_period": 0}, "optuna": {"n_startup_trials": 2}}
    for name, (verdict, threshold) in expected.items():
        d = build_rule(name, direction="minimize", **params.get(name, {})).decide(h, "new", 3)
        assert (d.verdict, d.threshold) == (verdict, threshold), name


@pytest.mark.parametrize("name", ["sagemaker", "vizier", "nni", "ray", "optuna", "katib"])
@pytest.mark.parametrize("direction", ["minimize", "maximize"])
def test_tie_continues_everywhere(name: str, direction: str) -> None:
    """The job's value equals the threshold → continue, in every anchor (all are strict)."""
    refs = {"a": [1.0] * 4, "b": [2.0] * 4, "c": [3.0] * 4}
    h = make_history(refs, dict.fromkeys(refs, DONE))
    h.record_series("new", [2.0] * 4)
    params = {"ray": {"grace_period": 0}, "optuna": {"n_startup_trials": 3}}.get(name, {})
    d = build_rule(name, direction=direction, **params).decide(h, "new", 4)
    assert (d.verdict, d.threshold, d.value) == (C, 2.0, 2.0)


# -- NNI (research note §6) ---------------------------------------------------------------------------


def test_nni_one_completed_trial_is_enough_after_start_step() -> None:
    """No minimum population; no judgement while the report count is below start_step."""
    h = make_history({"done": [1.0, 1.0, 1.0]}, {"done": DONE})
    h.record_series("new", [2.0, 2.0, 2.0])
    rule = build_rule("nni", direction="minimize", start_step=3)
    assert [rule.decide(h, "new", e).verdict for e in (1, 2, 3)] == [N, N, S]


def test_nni_counts_only_completed_trials() -> None:
    h = make_history({"running": [1.0], "stopped": [1.0]}, {"stopped": JobState.STOPPED})
    h.record_series("new", [2.0])
    assert build_rule("nni", direction="minimize").decide(h, "new", 1).reason == "too_few_peers"


def test_nni_start_step_range() -> None:
    with pytest.raises(ConfigError, match=r"start_step must be an integer in \[0, 9999\]"):
        build_rule("nni", direction="maximize", start_step=10000)
