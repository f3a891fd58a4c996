"""metricwatch.replay: finished logs replayed as if live, with decisions worked out by hand.

The hand-written study (plain pack, `epoch N val_loss=X`, minimize, rule `median` with its defaults:
previous = earlier jobs that reached epoch e, running averages over 1..e, median, ≥ 3 peers, strict):

    trial-1  1.0  0.8  0.6  0.5
    trial-2  0.9  0.7  0.5  0.4
    trial-3  1.2  1.0  0.9  0.8
    trial-4  2.0  1.9  1.8  1.7
    trial-5  0.8  0.6  0.9  0.3
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest

from metricwatch.errors import ConfigError, InputError, PatternError
from metricwatch.plot import band
from metricwatch.replay import load_study, natural_key, replay, run_study
from metricwatch.types import Direction, JobState, Verdict

SAMPLES = Path(__file__).resolve().parent.parent / "sample_logs"
CURVES = {
    "trial-1": [1.0, 0.8, 0.6, 0.5],
    "trial-2": [0.9, 0.7, 0.5, 0.4],
    "trial-3": [1.2, 1.0, 0.9, 0.8],
    "trial-4": [2.0, 1.9, 1.8, 1.7],
    "trial-5": [0.8, 0.6, 0.9, 0.3],
}


def write_logs(folder: Path, curves: dict[str, list[float]], metric: str = "val_loss") -> list[Path]:
    paths = []
    for name, values in curves.items():
        lines = [f"starting {name}"] + [f"epoch {e} {metric}={v}" for e, v in enumerate(values, 1)]
        path = folder / f"{name}.log"
        path.write_text("\n".join(lines) + "\n")
        paths.append(path)
    return paths


@pytest.fixture
def logs(tmp_path: Path) -> list[Path]:
    return write_logs(tmp_path, CURVES)


def by_job(result):  # type: ignore[no-untyped-def]
    return {j.job: j for j in result.jobs}


def test_replay_sequential_median_matches_hand_calculation(logs: list[Path]) -> None:
    """trial-4 stops at 1 (2.0 > median 1.0); trial-5 stops at 3 (0.9 > median 0.8), though it ends best."""
    result = replay(logs, "plain")
    jobs = by_job(result)
    # trial-4, epoch 1: peers 1, 2, 3 averages 1.0, 0.9, 1.2 → median 1.0; 2.0 > 1.0.
    stop4 = jobs["trial-4"].stop
    assert stop4 is not None
    assert (stop4.epoch, stop4.value, stop4.threshold) == (1, 2.0, 1.0)
    assert stop4.population == ("trial-1", "trial-2", "trial-3")
    # trial-5: e1 peers 1..4 (4 stopped, reached 1): 1.0 0.9 1.2 2.0 → 1.1, 0.8 continues;
    # e2 peers 1..3: 0.9 0.8 1.1 → 0.9, 0.6 continues; e3: 0.8 0.7 1.0333 → 0.8, 0.9 > 0.8 stops.
    verdicts = [(d.epoch, d.verdict, d.threshold) for d in jobs["trial-5"].decisions]
    assert verdicts[0] == (1, Verdict.CONTINUE, pytest.approx(1.1))
    assert verdicts[1] == (2, Verdict.CONTINUE, pytest.approx(0.9))
    assert verdicts[2] == (3, Verdict.STOP, pytest.approx(0.8))
    assert jobs["trial-5"].stop is not None
    assert len(jobs["trial-5"].stop.population) == 3
    # trial-3 never has 3 earlier peers: it completes.
    assert {d.reason for d in jobs["trial-3"].decisions} == {"too_few_peers"}
    assert [jobs[j].state for j in CURVES] == [JobState.COMPLETED] * 3 + [JobState.STOPPED] * 2
    t = result.totals
    assert (t.epochs_run, t.epochs_full, t.jobs_stopped) == (4 + 4 + 4 + 1 + 3, 20, 2)
    assert t.saved == pytest.approx(4 / 20)
    # Best final: trial-5 (0.3), stopped; best survivor trial-2 (0.4); regret 0.1.
    assert (t.best_job, t.best_survived, t.best_surviving_job) == ("trial-5", False, "trial-2")
    assert t.regret == pytest.approx(0.1)
    assert (t.ticks_run, t.ticks_full) == (16, 20)


def test_replay_given_order_changes_who_is_judged(logs: list[Path]) -> None:
    """Order 5,1,2,3,4: trial-3 stops at 1 (1.2 > median 0.9), trial-4 at 1 (2.0 > 0.95); best survives."""
    order = [logs[4], *logs[:4]]
    result = replay(order, "plain", order="given")
    assert [j.job for j in result.jobs] == ["trial-5", "trial-1", "trial-2", "trial-3", "trial-4"]
    jobs = by_job(result)
    assert (jobs["trial-3"].stop.epoch, jobs["trial-3"].stop.threshold) == (1, pytest.approx(0.9))  # type: ignore[union-attr]
    assert (jobs["trial-4"].stop.epoch, jobs["trial-4"].stop.threshold) == (1, pytest.approx(0.95))  # type: ignore[union-attr]
    t = result.totals
    assert (t.epochs_run, t.saved, t.best_survived, t.regret) == (14, pytest.approx(0.3), True, 0.0)


def test_replay_mtime_order_is_oldest_first(logs: list[Path]) -> None:
    """Modification times 5 < 1 < 2 < 3 < 4 give the same replay as that explicit order."""
    for rank, path in enumerate([logs[4], *logs[:4]]):
        os.utime(path, (1_000_000 + rank, 1_000_000 + rank))
    result = replay(logs, "plain", order="mtime")
    assert [j.job for j in result.jobs] == ["trial-5", "trial-1", "trial-2", "trial-3", "trial-4"]
    assert result.totals.epochs_run == 14


def test_replay_name_order_is_natural(tmp_path: Path) -> None:
    """trial-2 starts before trial-10 (natural sort), whatever order the arguments came in."""
    paths = write_logs(tmp_path, {"trial-10": [1.0], "trial-2": [1.0], "trial-1": [1.0]})
    result = replay(paths, "plain")
    assert [j.job for j in result.jobs] == ["trial-1", "trial-2", "trial-10"]
    assert natural_key("a-2") < natural_key("a-10")


def test_replay_parallel_two_at_a_time(logs: list[Path]) -> None:
    """1+2 run at ticks 1-4; 3+4 start at 5 (4 stops at 5); 5 starts at 6, stops at its epoch 3 (tick 8)."""
    result = replay(logs, "plain", parallel=2)
    jobs = by_job(result)
    ticks = {j.job: (j.start_tick, j.end_tick) for j in result.jobs}
    assert ticks == {
        "trial-1": (1, 4), "trial-2": (1, 4), "trial-3": (5, 8), "trial-4": (5, 5), "trial-5": (6, 8),
    }  # fmt: skip
    # trial-4 is processed after trial-3 in the same tick, so it sees trial-3's epoch 1 (1.2).
    assert jobs["trial-4"].stop.population == ("trial-1", "trial-2", "trial-3")  # type: ignore[union-attr]
    assert jobs["trial-5"].stop.epoch == 3  # type: ignore[union-attr]
    # Without stopping: 1+2 at 1-4, 3+4 at 5-8, 5 at 9-12.
    assert (result.totals.ticks_run, result.totals.ticks_full) == (8, 12)
    assert result.totals.epochs_run == 16


def test_replay_parallel_with_completed_only_peers_cannot_judge_early(logs: list[Path]) -> None:
    """states=completed: sequential stops 4@1 and 5@3; all 5 at once, peers complete only at tick 4.

    At tick 4 trials 1-3 complete first (start order), so trial-4 is judged at its last epoch against
    their averages 0.725, 0.625, 0.975 → median 0.725 < 1.7: stopped there, saving nothing.
    """
    params = {"states": ["completed"]}
    sequential = by_job(replay(logs, "plain", params=params))
    assert (sequential["trial-4"].stop.epoch, sequential["trial-5"].stop.epoch) == (1, 3)  # type: ignore[union-attr]
    at_once = replay(logs, "plain", params=params, parallel=5)
    stop = by_job(at_once)["trial-4"].stop
    assert stop is not None
    assert (stop.epoch, stop.threshold, stop.population) == (
        4, pytest.approx(0.725), ("trial-1", "trial-2", "trial-3"),
    )  # fmt: skip
    # trial-5 at epoch 4: 0.3 against the same median 0.725 (trial-4 was stopped, not completed).
    assert by_job(at_once)["trial-5"].state is JobState.COMPLETED
    t = at_once.totals
    assert (t.jobs_stopped, t.epochs_run, t.saved, t.ticks_run) == (1, 20, 0.0, 4)


def test_replay_maximize(tmp_path: Path) -> None:
    """val_acc, maximize: trial-4 starts at 0.4 < median 0.6 and is stopped, though it would end best."""
    curves = {"trial-1": [0.5, 0.6], "trial-2": [0.6, 0.7], "trial-3": [0.7, 0.8], "trial-4": [0.4, 0.9]}
    paths = write_logs(tmp_path, curves, metric="val_acc")
    result = replay(paths, "plain", objective="val_acc", direction="maximize")
    stop = by_job(result)["trial-4"].stop
    assert stop is not None
    assert (stop.epoch, stop.value, stop.threshold) == (1, 0.4, 0.6)
    t = result.totals
    assert (t.best_job, t.best_survived, t.best_surviving_job) == ("trial-4", False, "trial-3")
    assert t.regret == pytest.approx(0.1)
    assert t.saved == pytest.approx(1 / 8)


def test_replay_nan_final_ranks_worst_and_skips_logs_without_values(tmp_path: Path) -> None:
    """A NaN final never counts as best; a log without the objective is skipped and listed."""
    paths = write_logs(tmp_path, {"trial-1": [1.0, math.nan], "trial-2": [2.0, 1.5]})
    (tmp_path / "trial-3.log").write_text("nothing here\n")
    result = replay([*paths, tmp_path / "trial-3.log"], "plain")
    assert result.totals.best_job == "trial-2"
    assert [j.job for j in result.jobs] == ["trial-1", "trial-2"]
    assert result.skipped == (f"{tmp_path / 'trial-3.log'}: no val_loss values",)


def test_replay_latest_attempt_counts(tmp_path: Path) -> None:
    """A job restarted into the same log (epoch counter back to 1) is replayed from its last attempt."""
    path = tmp_path / "job.log"
    path.write_text(
        "epoch 1 val_loss=9\nepoch 2 val_loss=8\nepoch 1 val_loss=3\nepoch 2 val_loss=2\nepoch 3 val_loss=1\n"
    )
    result = replay([path], "plain")
    assert result.jobs[0].points == ((1, 3.0), (2, 2.0), (3, 1.0))


def test_run_study_compares_rules_on_one_extraction(logs: list[Path]) -> None:
    """One extraction, several rules: sagemaker = median; optuna's startup (5 completed) never stops here."""
    study = load_study(logs, "plain")
    sagemaker = run_study(study, "sagemaker")
    assert sagemaker.totals == replay(logs, "plain").totals
    assert run_study(study, "optuna").totals.jobs_stopped == 0


def test_band_is_quartiles_of_running_averages(logs: list[Path]) -> None:
    """Epoch 1: averages 0.8 0.9 1.0 1.2 2.0 → 0.9 1.0 1.2; epoch 2: 0.7 0.8 0.9 1.1 1.95 → 0.8 0.9 1.1."""
    rows = band(replay(logs, "plain").jobs)
    assert rows[0] == (1, pytest.approx(0.9), pytest.approx(1.0), pytest.approx(1.2))
    assert rows[1] == (2, pytest.approx(0.8), pytest.approx(0.9), pytest.approx(1.1))


@pytest.mark.parametrize(
    ("kwargs", "error", "where"),
    [
        ({"pack": "no-such-pack"}, PatternError, "--patterns"),
        ({"objective": "val_nope"}, ConfigError, "--objective"),
        ({"objective": "train_loss"}, InputError, "--objective"),  # a metric of the pack, in no log
        ({"order": "birth"}, ConfigError, "--order"),
        ({"parallel": 0}, ConfigError, "--parallel"),
        ({"params": {"min_population": 0}}, ConfigError, "rule median: min_population"),
        ({"params": {"bogus": 1}}, ConfigError, "rule median: bogus"),
        ({"rule_spec": "nonesuch"}, ConfigError, "rule spec"),
    ],
)
def test_replay_bad_input_names_the_flag(logs: list[Path], kwargs: dict, error: type, where: str) -> None:  # type: ignore[type-arg]
    args = {"pack": "plain", **kwargs}
    with pytest.raises(error) as info:
        replay(logs, **args)
    assert info.value.where == where


def test_replay_missing_log_names_the_file(logs: list[Path], tmp_path: Path) -> None:
    missing = tmp_path / "gone.log"
    with pytest.raises(InputError) as info:
        replay([*logs, missing], "plain")
    assert info.value.where == str(missing)


# -- the real sample sweeps (sample_logs/README.md, sweep.json) ----------------------------------------

SWEEPS = [
    # folder, pack, trials that must be stopped (the clearly bad ones), the best trial
    ("xgboost", "xgboost", {"trial-04", "trial-06"}, "trial-05"),  # eta 1e-4, 1e-3 (depth 1)
    ("lightgbm", "lightgbm", {"trial-04", "trial-06", "trial-08"}, "trial-03"),  # lr 1e-4, 1e-3, 2.0
    ("keras3", "keras3", {"trial-05", "trial-07"}, "trial-08"),  # lr 10 SGD diverges, 1e-5 SGD
    ("pytorch", "plain", {"trial-05", "trial-07"}, "trial-08"),  # lr 5.0 → nan, 1e-4
]


@pytest.mark.parametrize(("folder", "pack", "bad", "best"), SWEEPS)
def test_sample_sweep_stops_the_bad_trials_and_keeps_the_best(
    folder: str, pack: str, bad: set[str], best: str
) -> None:
    result = replay(sorted((SAMPLES / folder / "sweep").glob("*.log")), pack)
    stopped = {j.job for j in result.jobs if j.stopped}
    assert bad <= stopped
    t = result.totals
    assert (t.best_job, t.best_survived, t.regret) == (best, True, 0.0)
    assert t.epochs_run == sum(j.epochs_run for j in result.jobs) < t.epochs_full
    assert t.saved == pytest.approx(1 - t.epochs_run / t.epochs_full)
    assert result.direction is Direction.MINIMIZE


@pytest.mark.parametrize("folder", ["keras3", "pytorch"])
def test_sample_sweep_third_trial_has_too_few_peers(folder: str) -> None:
    """The barely-learning trial-03 (lr 1e-6 / 1e-5) starts third: 2 earlier peers < 3, so it completes."""
    pack = "plain" if folder == "pytorch" else folder
    result = replay(sorted((SAMPLES / folder / "sweep").glob("*.log")), pack)
    third = by_job(result)["trial-03"]
    assert third.state is JobState.COMPLETED
    assert {d.reason for d in third.decisions} == {"too_few_peers"}
