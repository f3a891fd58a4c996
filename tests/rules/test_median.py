"""MedianRule (SageMaker's rule, the default): hand-computed cases and a property test against numpy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rules_helpers import make_history

from metricwatch.errors import ConfigError
from metricwatch.rules import MedianRule, StudyHistory, build_rule
from metricwatch.types import Direction, JobState, Verdict

C, S, N = Verdict.CONTINUE, Verdict.STOP, Verdict.NOT_YET
NAN, INF = math.nan, math.inf
# Running averages at epoch 2: a = 2, b = 4, c = 6 → median 4.
ABC = {"a": [3, 1], "b": [5, 3], "c": [7, 5]}


def median(**params: object) -> MedianRule:
    return MedianRule(direction=params.pop("direction", "minimize"), **params)  # type: ignore[arg-type]


def test_median_rule_stops_a_job_worse_than_the_median_of_running_averages() -> None:
    """SageMaker §1: 4.1 > median(2, 4, 6) stops; the decision names value, threshold, peers."""
    h = make_history({**ABC, "d": [9, 4.1]})
    d = median().decide(h, "d", 2)
    assert (d.verdict, d.value, d.threshold, d.population, d.reason) == (
        S, 4.1, 4.0, ("a", "b", "c"), "worse_than_median"
    )  # fmt: skip
    assert d.rule == "median" and d.params["min_population"] == 3


def test_median_rule_continues_on_a_tie_and_when_better() -> None:
    for value in (4.0, 3.9):
        h = make_history({**ABC, "d": [9, value]})
        assert median().decide(h, "d", 2).verdict is C


def test_median_rule_maximize_mirrors() -> None:
    h = make_history({**ABC, "d": [0, 3.9]})
    assert median(direction="maximize").decide(h, "d", 2).verdict is S
    h = make_history({**ABC, "d": [0, 4.1]})
    assert median(direction="maximize").decide(h, "d", 2).verdict is C


def test_median_rule_counts_only_jobs_started_earlier() -> None:
    """Default population: started earlier; a later job never judges an earlier one."""
    h = make_history({"a": [1, 1], "b": [2, 2], "c": [9, 9], "d": [0, 0], "e": [0, 0]})
    d = median(min_population=2).decide(h, "c", 2)
    assert (d.population, d.threshold, d.verdict) == (("a", "b"), 1.5, S)
    everyone = median(population="all").decide(h, "c", 2)
    assert (everyone.population, everyone.threshold) == (("a", "b", "d", "e"), 0.5)


def test_median_rule_ignores_jobs_that_did_not_reach_the_epoch() -> None:
    h = make_history({"a": [1], "b": [1, 1, 1], "c": [2, 2, 2], "d": [3, 3, 3], "e": [9, 9, 9]})
    d = median().decide(h, "e", 3)
    assert d.population == ("b", "c", "d")


def test_median_rule_running_average_carries_over_skipped_epochs() -> None:
    """A job that reported epochs 1 and 3 reached epoch 2; its average there is over epoch 1."""
    h = make_history({"a": {1: 2.0, 3: 8.0}, "b": [2, 2, 2], "c": [2, 2, 2], "d": [3, 3, 3]})
    assert median().decide(h, "d", 2).population == ("a", "b", "c")
    assert median().decide(h, "d", 2).threshold == 2.0


@pytest.mark.parametrize(
    ("state", "counted"),
    [(JobState.RUNNING, True), (JobState.COMPLETED, True), (JobState.STOPPED, True),
     (JobState.CANCELLED, True), (JobState.FAILED, False)],
)  # fmt: skip
def test_median_rule_default_population_states(state: JobState, counted: bool) -> None:
    h = make_history({**ABC, "x": [0, 0], "d": [9, 4.1]}, {"x": state})
    assert ("x" in median().decide(h, "d", 2).population) is counted


def test_median_rule_states_parameter_selects_completed_only() -> None:
    h = make_history({**ABC, "d": [9, 9]}, {"a": JobState.COMPLETED})
    d = median(states=["completed"], min_population=1).decide(h, "d", 2)
    assert d.population == ("a",)


def test_median_rule_even_count_interpolates() -> None:
    h = make_history({"a": [1], "b": [2], "c": [3], "d": [4], "e": [2.6]})
    d = median().decide(h, "e", 1)
    assert (d.threshold, d.verdict) == (2.5, S)


def test_median_rule_lenient_even_count_is_nni() -> None:
    h = make_history({"a": [1], "b": [2], "c": [3], "d": [4], "e": [2.6]})
    assert median(interpolation="lenient").decide(h, "e", 1).threshold == 3.0
    assert median(interpolation="lenient", direction="maximize").decide(h, "e", 1).threshold == 2.0


def test_median_rule_waits_for_min_population_and_warmup() -> None:
    h = make_history({"a": [1, 1], "b": [1, 1], "c": [9, 9]})
    assert median().decide(h, "c", 2).reason == "too_few_peers"
    assert median(min_population=2).decide(h, "c", 2).verdict is S
    assert median(min_population=2, warmup_epochs=2).decide(h, "c", 2).reason == "warmup"
    assert median(min_population=2, warmup_epochs=1).decide(h, "c", 2).verdict is S


def test_median_rule_needs_a_value_at_the_epoch() -> None:
    h = make_history({**ABC, "d": {1: 9.0}})
    assert median().decide(h, "d", 2).reason == "no_value"


@pytest.mark.parametrize("bad", [NAN, INF, -INF])
def test_median_rule_nonfinite_current_value_counts_as_worst(bad: float) -> None:
    h = make_history({**ABC, "d": [1, bad]})
    d = median().decide(h, "d", 2)
    assert (d.verdict, d.reason, d.threshold) == (S, "nonfinite_value", 4.0)
    assert median(nonfinite="ignore").decide(h, "d", 2).verdict is N


def test_median_rule_nonfinite_peer_is_left_out_not_poisoning() -> None:
    """ray#24809: one NaN peer must not make the median NaN and stop everybody."""
    h = make_history({"x": [NAN, 0], **ABC, "d": [0, 3.9]})
    d = median().decide(h, "d", 2)
    assert (d.verdict, d.threshold, d.population) == (C, 4.0, ("a", "b", "c"))


def test_median_rule_nonfinite_peer_as_worst() -> None:
    """others_nonfinite="worst": a diverged peer counts as the worst one (+inf when minimizing)."""
    h = make_history({"x": [INF, 0], **ABC, "d": [0, 4.9]})
    d = median(others_nonfinite="worst").decide(h, "d", 2)
    assert (d.threshold, d.verdict, d.population) == (5.0, C, ("x", "a", "b", "c"))
    h = make_history({"x": [NAN, 0], "a": [3, 1], "d": [0, 4.9]})
    assert median(others_nonfinite="worst", min_population=2).decide(h, "d", 2).threshold == INF


def test_median_rule_best_so_far_statistic() -> None:
    h = make_history({**ABC, "d": [3, 5]})
    assert median().decide(h, "d", 2).verdict is S
    d = median(statistic="best").decide(h, "d", 2)
    assert (d.verdict, d.value) == (C, 3)


def test_median_rule_new_attempt_replaces_values() -> None:
    h = make_history({**ABC, "d": [9, 9]})
    h.reset_job("d")
    h.record("d", 1, 0.0)
    h.record("d", 2, 0.0)
    assert median().decide(h, "d", 2).verdict is C
    # The old attempt's values no longer count for a later job either.
    h.record_series("e", [5, 4.5])
    assert median().decide(h, "e", 2).threshold == 3.0


def test_median_rule_explicit_start_order() -> None:
    h = StudyHistory()
    h.add_job("late", order=30.0)
    h.add_job("early", order=10.0)
    h.add_job("mid", order=20.0)
    for job, v in (("late", 9.0), ("early", 1.0), ("mid", 2.0)):
        h.record(job, 1, v)
    assert h.jobs == ("early", "mid", "late")
    d = median(min_population=2).decide(h, "late", 1)
    assert (d.population, d.threshold, d.verdict) == (("early", "mid"), 1.5, S)


@pytest.mark.parametrize(
    ("params", "name"),
    [({"min_population": 0}, "min_population"), ({"warmup_epochs": -1}, "warmup_epochs"),
     ({"statistic": "mean"}, "statistic"), ({"states": ["paused"]}, "states"),
     ({"direction": "up"}, "direction"), ({"nonfinite": "drop"}, "nonfinite")],
)  # fmt: skip
def test_median_rule_rejects_bad_parameters(params: dict[str, object], name: str) -> None:
    with pytest.raises(ConfigError, match=name) as info:
        build_rule("median", **{"direction": "minimize", **params})
    assert info.value.where == f"rule median: {name}"


# -- property: the incremental rule equals a recompute-everything numpy oracle ------------------------

values_st = st.one_of(
    st.integers(0, 6).map(float),
    st.sampled_from([NAN, INF, -INF]),
)
job_st = st.tuples(
    st.dictionaries(st.integers(1, 6), values_st, max_size=6),
    st.sampled_from(list(JobState)),
    st.integers(0, 3),  # start order, ties allowed
)


def oracle(h_jobs, rule: MedianRule, job: str, epoch: int):
    """Straight from the documented semantics, recomputing everything with numpy."""
    rank = {j: i for i, (j, *_rest) in enumerate(h_jobs)}
    data = {j: (vals, state) for j, vals, state in h_jobs}
    vals = data[job][0]
    if epoch <= rule.warmup_epochs or epoch not in vals:
        return N, None
    mine = [vals[e] for e in sorted(vals) if e <= epoch]
    value = vals[epoch]
    if rule.statistic == "best":
        arr = np.array(mine)
        value = (
            (np.nanmin if rule.direction is Direction.MINIMIZE else np.nanmax)(arr)
            if not np.isnan(arr).all()
            else NAN
        )
    avgs, peers = [], []
    for j, (v, state) in data.items():
        earlier = rank[j] < rank[job] if rule.scope == "earlier" else j != job
        if not earlier or state not in rule.states or not v or max(v) < epoch:
            continue
        window = np.array([v[e] for e in v if e <= epoch])
        avg = float(np.mean(window)) if window.size and np.isfinite(window).all() else NAN
        if math.isfinite(avg):
            avgs.append(avg)
            peers.append(j)
        elif rule.others == "worst":
            avgs.append(1e15 if rule.direction is Direction.MINIMIZE else -1e15)
            peers.append(j)
    if len(avgs) < rule.min_population:
        return N, None
    q = 50 if rule.direction is Direction.MINIMIZE else 100 - 50
    threshold = float(np.percentile(np.array(avgs), q))
    if not math.isfinite(value):
        return (S if rule.nonfinite == "worst" else N), threshold
    return (S if rule.direction.worse(value, threshold) else C), threshold, tuple(peers)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    jobs=st.lists(job_st, min_size=1, max_size=7),
    direction=st.sampled_from(["minimize", "maximize"]),
    statistic=st.sampled_from(["current", "best"]),
    population=st.sampled_from(["earlier", "all"]),
    others=st.sampled_from(["exclude", "worst"]),
    min_population=st.integers(1, 3),
    warmup=st.integers(0, 1),
)
def test_median_rule_equals_recompute_oracle(
    jobs, direction, statistic, population, others, min_population, warmup
) -> None:
    """Random studies (gaps, NaN/inf, states, tied start orders): same verdicts and thresholds."""
    rule = median(
        direction=direction, statistic=statistic, population=population,
        others_nonfinite=others, min_population=min_population, warmup_epochs=warmup,
    )  # fmt: skip
    h = StudyHistory()
    for i, (_vals, _state, order) in enumerate(jobs):
        h.add_job(f"j{i}", order=float(order))
    for i, (vals, state, _order) in enumerate(jobs):  # interleave records and state changes
        for e in sorted(vals):
            h.record(f"j{i}", e, vals[e])
        h.set_state(f"j{i}", state)
    ordered = [(j, dict(jobs[int(j[1:])][0]), jobs[int(j[1:])][1]) for j in h.jobs]
    for job, *_ in ordered:
        for epoch in range(1, 8):
            got = rule.decide(h, job, epoch)
            want = oracle(ordered, rule, job, epoch)
            assert got.verdict is want[0], (job, epoch, got, want)
            if want[1] is not None and abs(want[1]) < 1e6:
                assert got.threshold == pytest.approx(want[1], rel=1e-12, abs=1e-12)
            elif want[1] is not None:
                assert got.threshold in (INF, -INF)
            if len(want) == 3:
                assert got.population == want[2]


@pytest.mark.parametrize("n_failed", [3, 100])
def test_median_rule_population_is_in_start_order_without_excluded_jobs(n_failed: int) -> None:
    """Many or few excluded jobs (failed, non-finite, not reached): the peers listed are exactly the rest."""
    jobs: dict[str, list[float]] = {}
    states = {}
    for i in range(200):
        jobs[f"j{i:03d}"] = [float(i % 7), NAN] if i % 50 == 1 else [float(i % 7)] * (1 + (i % 9 != 0))
        if i % 2 and len(states) < n_failed:
            states[f"j{i:03d}"] = JobState.FAILED
    jobs["new"] = [1.0, 1.0]
    h = make_history(jobs, states)
    expected = tuple(
        j for j, v in jobs.items()
        if j != "new" and j not in states and len(v) == 2 and not math.isnan(v[1])
    )  # fmt: skip
    for population in ("earlier", "all"):
        assert median(population=population).decide(h, "new", 2).population == expected
