"""`metricwatch replay`: the table, --json, --compare, --plot and exit codes.

Most tests drive the click command in-process (CliRunner, fast); two run the installed entry point as a
subprocess to check the real exit code and stderr line. The hand-written study and its hand-computed
decisions are in tests/test_replay.py.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from metricwatch.cli import cli
from tests.test_replay import CURVES, SAMPLES, write_logs


@pytest.fixture
def logs(tmp_path: Path) -> list[Path]:
    return write_logs(tmp_path, CURVES)


def run(*args: object) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["replay", *map(str, args)])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_table_shows_each_stop_and_the_totals(logs: list[Path]) -> None:
    code, out, _ = run(*logs, "--patterns", "plain")
    assert code == 0
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.startswith("trial-")}
    # job start epochs outcome at value threshold peers final why
    assert rows["trial-4"][:8] == ["trial-4", "4", "1/4", "stopped", "1", "2", "1", "3"]
    assert rows["trial-5"][:8] == ["trial-5", "5", "3/4", "stopped", "3", "0.9", "0.8", "3"]
    assert rows["trial-1"][2:4] == ["4/4", "completed"]
    assert "epochs run      16 of 20 (20.0% compute saved)" in out
    assert "best job        trial-5 (final 0.3): STOPPED" in out
    assert "best survivor   trial-2 (final 0.4), regret 0.1" in out


def test_json_has_jobs_decisions_and_totals(logs: list[Path]) -> None:
    code, out, _ = run(*logs, "-p", "plain", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["rule"]["spec"] == "median" and data["direction"] == "minimize"
    assert data["rule"]["params"]["min_population"] == 3
    jobs = {j["job"]: j for j in data["jobs"]}
    assert jobs["trial-4"]["stop"] == {
        "epoch": 1, "verdict": "stop", "reason": "worse_than_median", "value": 2.0, "threshold": 1.0,
        "population_size": 3, "rule": "median", "population": ["trial-1", "trial-2", "trial-3"],
    }  # fmt: skip
    assert [d["verdict"] for d in jobs["trial-5"]["decisions"]] == ["continue", "continue", "stop"]
    assert jobs["trial-1"]["stop"] is None and jobs["trial-1"]["state"] == "completed"
    totals = data["totals"]
    assert (totals["epochs_run"], totals["epochs_full"], totals["jobs_stopped"]) == (16, 20, 2)
    assert totals["saved"] == pytest.approx(0.2) and totals["regret"] == pytest.approx(0.1)
    assert totals["best_job"] == "trial-5" and totals["best_survived"] is False


def test_order_parallel_and_params_reach_the_replay(logs: list[Path]) -> None:
    """--order given / --parallel 2 / --param as in the hand-computed API tests."""
    _, out, _ = run(logs[4], *logs[:4], "-p", "plain", "--order", "given", "--json")
    assert json.loads(out)["totals"]["epochs_run"] == 14
    _, out, _ = run(*logs, "-p", "plain", "--parallel", "2", "--json")
    assert (json.loads(out)["totals"]["ticks_run"], json.loads(out)["parallel"]) == (8, 2)
    _, out, _ = run(*logs, "-p", "plain", "--param", "min_population=5", "--json")
    assert json.loads(out)["totals"]["jobs_stopped"] == 0  # never 5 earlier peers among 5 jobs


def test_objective_and_direction_flags(tmp_path: Path) -> None:
    paths = write_logs(tmp_path, {"a-1": [0.5], "a-2": [0.6], "a-3": [0.7], "a-4": [0.4]}, "val_acc")
    _, out, _ = run(*paths, "-p", "plain", "--objective", "val_acc", "--maximize", "--json")
    data = json.loads(out)
    assert data["direction"] == "maximize"
    assert data["jobs"][3]["stop"]["threshold"] == pytest.approx(0.6)


def test_compare_prints_totals_side_by_side(logs: list[Path]) -> None:
    code, out, _ = run(*logs, "-p", "plain", "--compare", "sagemaker,optuna,vizier")
    assert code == 0
    cells = [re.split(r"\s{2,}", line.strip()) for line in out.splitlines()[2:]]
    lines = {row[0]: row for row in cells}
    assert lines["rule"][1:] == ["sagemaker", "optuna", "vizier"]
    # sagemaker = the hand-computed median replay; optuna stops nobody (5 startup trials, 5 jobs);
    # vizier (best so far vs median of COMPLETED averages, ≥ 1 peer): trial-3 at 1 (1.2 > median of
    # 1.0 and 0.9 = 0.95), trial-4 at 1 (2.0 > 0.95); trial-5's best stays under 0.95, 0.85, 0.75, 0.675.
    assert lines["epochs run"][1:] == ["16/20", "20/20", "14/20"]
    assert lines["saved"][1:] == ["20.0%", "0.0%", "30.0%"]
    assert lines["jobs stopped"][1:] == ["2/5", "0/5", "2/5"]
    assert lines["best survived"][1:] == ["no", "yes", "yes"]
    assert lines["regret"][1:] == ["0.1", "0", "0"]


def test_compare_puts_an_explicit_rule_first_and_has_json(logs: list[Path]) -> None:
    _, out, _ = run(*logs, "-p", "plain", "--param", "min_population=4", "--compare", "sagemaker", "--json")
    results = json.loads(out)["compare"]
    assert [r["rule"]["spec"] for r in results] == ["median", "sagemaker"]
    assert results[0]["rule"]["params"]["min_population"] == 4


@pytest.mark.parametrize("suffix", [".png", ".svg"])
def test_plot_writes_a_file(logs: list[Path], tmp_path: Path, suffix: str) -> None:
    target = tmp_path / "out" / f"replay{suffix}"
    code, out, _ = run(*logs, "-p", "plain", "--plot", target)
    assert code == 0 and f"plot written to {target}" in out
    data = target.read_bytes()
    assert data.startswith(b"\x89PNG") if suffix == ".png" else b"<svg" in data
    assert len(data) > 10_000


def test_plot_of_a_real_sweep_with_a_diverging_trial(tmp_path: Path) -> None:
    """pytorch/sweep trial-05 goes to 1e14 then nan: the plot still draws (its stop pinned off scale)."""
    target = tmp_path / "pytorch.png"
    code, _, _ = run(*sorted((SAMPLES / "pytorch" / "sweep").glob("*.log")), "-p", "plain", "--plot", target)
    assert code == 0 and target.stat().st_size > 50_000


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--patterns", "no-such-pack"], "--patterns"),
        (["-p", "plain", "--objective", "val_nope"], "--objective"),
        (["-p", "plain", "--param", "min_population=0"], "min_population"),
        (["-p", "plain", "--param", "nonsense"], "--param"),
        (["-p", "plain", "--compare", "sagemaker,bogus"], "--compare bogus"),
        (["-p", "plain", "--plot", "out.gif"], "--plot"),
        (["-p", "plain", "--order", "birth"], "--order"),
        (["-p", "plain", "--parallel", "0"], "--parallel"),
    ],
)
def test_bad_input_exits_2_naming_the_flag(logs: list[Path], args: list[str], named: str) -> None:
    code, _, err = run(*logs, *args)
    assert code == 2
    assert named in err


def test_missing_log_exits_2_naming_the_file_end_to_end(logs: list[Path], tmp_path: Path) -> None:
    missing = tmp_path / "gone.log"
    proc = subprocess.run(
        [sys.executable, "-m", "metricwatch", "replay", *map(str, logs), str(missing), "-p", "plain"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"metricwatch: error: {missing}: log file not found (check the path)"


def test_real_sweep_json_totals_are_consistent_end_to_end() -> None:
    """The installed command on xgboost/sweep: run ≤ full, saved = 1 − run/full, stops add up."""
    logs = sorted((SAMPLES / "xgboost" / "sweep").glob("*.log"))
    proc = subprocess.run(
        [sys.executable, "-m", "metricwatch", "replay", *map(str, logs), "-p", "xgboost", "--json"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    data = json.loads(proc.stdout)
    t = data["totals"]
    assert t["epochs_run"] == sum(j["epochs_run"] for j in data["jobs"]) <= t["epochs_full"] == 9 * 30
    assert t["saved"] == pytest.approx(1 - t["epochs_run"] / t["epochs_full"])
    assert t["jobs_stopped"] == sum(j["state"] == "stopped" for j in data["jobs"])
    assert data["objective"] == "validation:logloss" and t["best_job"] == "trial-05"
