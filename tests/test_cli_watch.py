"""`metricwatch check`, `watch`, `status` and `demo` as a user drives them.

Fast cases go through click's CliRunner; whatever involves signals, the daemon or real training
processes runs `python -m metricwatch ...` as a subprocess. Expected values come from outside the code
under test: the keys written into the config by hand, the rows stored by hand through StateStore, and
for the demo the curves the training script prints when nobody stops it.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from metricwatch.cli import cli
from metricwatch.cli.watch import _stop_on_signals
from metricwatch.demo import DEFAULT_RATES, train_script
from metricwatch.state import FileState, StateStore
from metricwatch.types import Decision, Direction, JobState, Observation, Verdict

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "metricwatch.toml"


def invoke(*args: object) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args])


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error: ")]


# ------------------------------------------------------------------------------------------- check

# Four independent mistakes a cross-reference check must find, plus a glob that matches nothing yet
# (a sweep not started yet is normal: a warning, never an error).
CROSS_REFERENCE_ERRORS = """\
[daemon]
state_db = "state.db"

[[study]]
name = "s1"
logs = ["not-started/*.log"]
patterns = "nope"
direction = "minimize"

[study.rule]
min_population = 0

[[study]]
name = "s2"
logs = "runs/*.log"
patterns = "plain"
objective = "accuracy_top5"
direction = "minimize"

[study.action]
type = "command"
argv = ["/no/such/dir/scancel", "{job_id}"]
"""
CROSS_REFERENCE_KEYS = {
    "study[0].patterns": "nope",
    "study[0].rule.min_population": "min_population",
    "study[1].objective": "accuracy_top5",
    "study[1].action.argv": "/no/such/dir/scancel",
}

# Mistakes that parsing alone finds: all of them must be listed, not just the first.
PARSE_ERRORS = """\
[daemon]
state_db = "state.db"
colour = "red"

[[study]]
name = "s1"
logs = ["runs/*.log"]
patterns = "plain"
directoin = "minimize"

[study.completion]
idle_timeout = "soon"
"""
PARSE_KEYS = {"daemon.colour", "study[0].directoin", "study[0].completion.idle_timeout"}


def write(tmp_path: Path, text: str, name: str = "sweep.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    (tmp_path / "runs").mkdir(exist_ok=True)
    (tmp_path / "runs" / "trial-1.log").write_text("")
    return path


def test_check_accepts_the_shipped_example() -> None:
    result = invoke("check", EXAMPLE)
    assert result.exit_code == 0, result.output
    assert f"{EXAMPLE}: OK (2 studies)" in result.stdout
    assert error_lines(result.stderr) == []


def test_check_lists_every_cross_reference_error_by_file_and_key(tmp_path: Path) -> None:
    config = write(tmp_path, CROSS_REFERENCE_ERRORS)
    result = invoke("check", config)
    assert result.exit_code == 2
    errors = error_lines(result.stderr)
    assert len(errors) == len(CROSS_REFERENCE_KEYS), result.stderr
    for key, detail in CROSS_REFERENCE_KEYS.items():
        [line] = [e for e in errors if f"{config}: {key}: " in e]
        assert detail in line
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert any(f"{config}: study[0].logs[0]" in w and "matches no file" in w for w in warnings)
    assert "OK" not in result.stdout


def test_check_json_has_ok_each_error_with_where_message_hint_and_warnings(tmp_path: Path) -> None:
    config = write(tmp_path, CROSS_REFERENCE_ERRORS)
    result = invoke("check", config, "--json")
    assert result.exit_code == 2
    report = json.loads(result.stdout)
    assert set(report) == {"ok", "errors", "warnings"} and report["ok"] is False
    assert all(set(e) == {"where", "message", "hint"} for e in report["errors"])
    expected = sorted(f"{config}: {k}" for k in CROSS_REFERENCE_KEYS)
    assert sorted(e["where"] for e in report["errors"]) == expected
    assert any("study[0].logs[0]" in w for w in report["warnings"])


def test_check_json_of_the_shipped_example_is_ok() -> None:
    result = invoke("check", EXAMPLE, "--json")
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert report["ok"] is True and report["errors"] == []


@pytest.mark.parametrize("as_json", [False, True])
def test_check_lists_every_parse_error_by_file_and_key(tmp_path: Path, as_json: bool) -> None:
    config = write(tmp_path, PARSE_ERRORS)
    result = invoke("check", config, *(["--json"] if as_json else []))
    assert result.exit_code == 2
    expected = {f"{config}: {k}" for k in PARSE_KEYS}
    if as_json:
        wheres = [e["where"] for e in json.loads(result.stdout)["errors"]]
    else:  # one line each: "error: FILE: KEY: message (hint)"
        lines = error_lines(result.stderr)
        wheres = [w for line in lines for w in expected if line.startswith(f"error: {w}: ")]
        assert len(lines) == len(expected), result.stderr
    assert sorted(wheres) == sorted(expected)


def test_check_lists_parse_and_cross_reference_errors_together(tmp_path: Path) -> None:
    text = CROSS_REFERENCE_ERRORS.replace('state_db = "state.db"', 'state_db = "state.db"\ncolour = "red"')
    config = write(tmp_path, text)
    result = invoke("check", config, "--json")
    wheres = {e["where"] for e in json.loads(result.stdout)["errors"]}
    assert wheres == {f"{config}: {k}" for k in [*CROSS_REFERENCE_KEYS, "daemon.colour"]}


def test_check_reports_a_bad_rule_parameter_even_when_the_pack_is_unknown(tmp_path: Path) -> None:
    text = CROSS_REFERENCE_ERRORS.replace('direction = "minimize"\n\n[study.rule]', "\n[study.rule]")
    config = write(tmp_path, text)
    wheres = {e["where"] for e in json.loads(invoke("check", config, "--json").stdout)["errors"]}
    assert f"{config}: study[0].rule.min_population" in wheres


def test_check_from_flags_names_each_flag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = invoke("check", "logs/*.log", "--patterns", "nope", "--minimize")
    assert result.exit_code == 2
    [line] = error_lines(result.stderr)
    assert line.startswith("error: command line: --patterns: ") and "'nope'" in line

    result = invoke(
        "check", "logs/*.log", "--patterns", "plain", "--objective", "nope_loss",
        "--rule-param", "min_population=0",
        "--action", "command", "--action-param", 'argv=["/no/such/dir/scancel", "{job_id}"]',
        "--json",
    )  # fmt: skip
    assert result.exit_code == 2
    wheres = sorted(e["where"] for e in json.loads(result.stdout)["errors"])
    assert wheres == [
        "command line: --action-param argv",
        "command line: --objective",
        "command line: --rule-param min_population",
    ]


# ------------------------------------------------------------------------------ watch: bad usage


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["logs/*.log"], "--patterns is required"),
        (["missing.toml"], "missing.toml: cannot read the config"),
        ([], "give a config file or at least one log glob"),
    ],
)
def test_watch_bad_usage_is_one_line_and_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], expected: str
) -> None:
    monkeypatch.chdir(tmp_path)
    result = invoke("watch", *args)
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and expected in result.stderr, result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("command", "options"),
    [
        (["watch"], ["--patterns", "--objective", "--rule-param", "--action", "--dry-run", "--state-db"]),
        (["check"], ["--patterns", "--json", "--rule-param", "--action-param"]),
        (["status"], ["--state-db", "--study", "--json"]),
        (["demo"], ["--epochs", "--epoch-seconds", "--keep", "--json"]),
        (["run"], ["--study", "--log", "--state-dir"]),
        (["replay"], ["--patterns", "--objective", "--json"]),
        (["extract"], ["--patterns"]),
        (["patterns", "list"], []),
        (["patterns", "show"], []),
        (["patterns", "test"], []),
    ],
)
def test_help_of_every_command(command: list[str], options: list[str]) -> None:
    result = invoke(*command, "--help")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Usage: ") and " ".join(command) in result.stdout.splitlines()[0]
    for option in options:
        assert option in result.stdout, f"{' '.join(command)} --help does not mention {option}"


# ----------------------------------------------------------------------------------------- status


def build_state(db: Path) -> None:
    """Three jobs of study `sweep`, stored as the daemon stores them: a finished one, a running one
    judged `continue`, and one stopped at epoch 3 because 0.9 > the median 0.5."""
    store = StateStore(db)
    store.ensure_study("sweep", "val_loss", Direction.MINIMIZE)
    curves = {"a": [0.8, 0.6, 0.4, 0.3], "b": [0.7, 0.5, 0.45], "c": [1.2, 1.0, 0.9]}
    for ino, (job, curve) in enumerate(curves.items(), start=1):
        obs = [
            Observation(job, metric, epoch, value + (0.1 if metric == "train_loss" else 0.0))
            for epoch, value in enumerate(curve, start=1)
            for metric in ("train_loss", "val_loss")
        ]
        store.commit_batch("sweep", FileState(f"/logs/{job}.log", 1, ino, 100, job=job), obs)
    base = {"rule": "median", "population": ("a", "b"), "threshold": 0.5}
    store.record_decision("sweep", Decision("b", 3, Verdict.CONTINUE, value=0.45, reason="not_worse", **base))
    store.record_decision(
        "sweep", Decision("c", 3, Verdict.STOP, value=0.9, reason="worse_than_median", **base)
    )
    assert store.claim_stop("sweep", "c", epoch=3, reason="worse_than_median")
    store.finish_stop("sweep", "c", ok=True, detail={"signal": "SIGTERM"})
    store.set_job_state("sweep", "a", JobState.COMPLETED, "process_exited")
    store.set_job_state("sweep", "c", JobState.STOPPED, "stopped_by_metricwatch")
    store.close()


# job → (state, last epoch, objective, threshold, decision), by hand from build_state
EXPECTED_STATUS = {
    "a": ("completed", 4, 0.3, None, None),
    "b": ("running", 3, 0.45, 0.5, "continue"),
    "c": ("stopped", 3, 0.9, 0.5, "stop"),
}


def test_status_table_shows_state_epoch_objective_threshold_and_decision(tmp_path: Path) -> None:
    build_state(tmp_path / "state.db")
    result = invoke("status", "--state-db", tmp_path / "state.db")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "study sweep (val_loss, minimize): 3 job(s)"
    header = re.split(r"\s{2,}", lines[1].strip())
    assert header[:6] == ["JOB", "STATE", "EPOCH", "OBJECTIVE", "THRESHOLD", "DECISION"]
    rows = {cells[0]: cells for cells in (re.split(r"\s{2,}", line.strip()) for line in lines[2:])}
    assert set(rows) == set(EXPECTED_STATUS)
    for job, (state, epoch, objective, threshold, decision) in EXPECTED_STATUS.items():
        cells = rows[job]
        assert cells[1:6] == [
            state,
            str(epoch),
            f"{objective:g}",
            "-" if threshold is None else f"{threshold:g}",
            decision or "-",
        ]
    assert "worse_than_median" in rows["c"][6] and "epoch 3" in rows["c"][6]


def test_status_json_has_the_same_and_the_stop(tmp_path: Path) -> None:
    build_state(tmp_path / "state.db")
    result = invoke("status", "--state-db", tmp_path / "state.db", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert list(data) == ["sweep"]
    rows = {r["job"]: r for r in data["sweep"]}
    assert [r["job"] for r in data["sweep"]] == ["a", "b", "c"]  # start order
    for job, (state, epoch, objective, threshold, decision) in EXPECTED_STATUS.items():
        r = rows[job]
        d = r["decision"]
        got = (r["state"], r["last_epoch"], r["objective"], d and d["threshold"], d and d["verdict"])
        assert got == (state, epoch, objective, threshold, decision)
    assert rows["c"]["decision"]["population"] == ["a", "b"]
    assert rows["c"]["stopped"] == {"epoch": 3, "ok": True, "detail": {"signal": "SIGTERM"}}
    assert rows["a"]["stopped"] is None and rows["a"]["state_reason"] == "process_exited"


def test_status_missing_database_names_it_and_says_to_start_watch(tmp_path: Path) -> None:
    db = tmp_path / "nowhere" / "state.db"
    for extra in ([], ["--json"]):
        result = invoke("status", "--state-db", db, *extra)
        assert result.exit_code == 2
        assert str(db) in result.stderr and "metricwatch watch" in result.stderr
        assert result.stderr.count("\n") == 1 and result.stdout == ""
    assert not db.exists() and not db.parent.exists()  # looking never creates it


def test_status_unknown_study_is_an_error_listing_the_known_ones(tmp_path: Path) -> None:
    build_state(tmp_path / "state.db")
    result = invoke("status", "--state-db", tmp_path / "state.db", "--study", "nope")
    assert result.exit_code == 2
    assert "'nope'" in result.stderr and "studies: sweep" in result.stderr


def test_status_of_a_database_with_no_study_says_so(tmp_path: Path) -> None:
    StateStore(tmp_path / "state.db").close()  # what a daemon leaves when it has not seen a log yet
    result = invoke("status", "--state-db", tmp_path / "state.db")
    assert result.exit_code == 0 and "no study has been watched yet" in result.stdout
    assert json.loads(invoke("status", "--state-db", tmp_path / "state.db", "--json").stdout) == {}


# ------------------------------------------------------------------ watch: signals (subprocesses)


def start_watch(tmp_path: Path, *extra: str) -> tuple[subprocess.Popen[bytes], Path]:
    """`metricwatch watch` on tmp_path/logs with JSON events; returns once its handlers are in place."""
    (tmp_path / "logs").mkdir(exist_ok=True)
    events = tmp_path / "events.jsonl"
    argv = [
        sys.executable, "-m", "metricwatch", "watch", str(tmp_path / "logs" / "*.log"),
        "--patterns", "plain", "--state-db", str(tmp_path / "state.db"), "--log-format", "json", *extra,
    ]  # fmt: skip
    with events.open("wb") as err:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err)
    wait_for(lambda: "daemon_started" in event_names(events), proc)
    return proc, events


def event_names(events: Path) -> list[str]:
    return [json.loads(line)["event"] for line in events.read_text().splitlines() if line.startswith("{")]


def wait_for(condition: object, proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert proc.poll() is None, f"metricwatch watch exited early with {proc.returncode}"
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def stored_epochs(db: Path) -> list[int]:
    with StateStore(db, readonly=True) as store:
        return sorted(o.epoch for h in store.load_history("default") for o in h.latest())


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_watch_stops_cleanly_on_sigterm_and_sigint(tmp_path: Path, signum: int) -> None:
    proc, events = start_watch(tmp_path, "--dry-run", "--poll-interval", "0.2")
    log = tmp_path / "logs" / "trial-1.log"
    log.write_text("epoch 1 val_loss=0.5\nepoch 2 val_loss=0.4\n")
    db = tmp_path / "state.db"
    # Nothing writes the log, so the job soon counts as complete and its last epoch settles too.
    wait_for(lambda: db.exists() and stored_epochs(db) == [1, 2], proc)
    proc.send_signal(signum)
    assert proc.wait(timeout=5) == 0
    assert event_names(events)[-1] == "daemon_stopped"
    assert "Traceback" not in events.read_text()
    assert stored_epochs(db) == [1, 2]  # closed cleanly: the database reads back as it was


def test_sigint_ends_the_wait_at_once_even_with_a_long_safety_poll(tmp_path: Path) -> None:
    """The loop sleeps up to --poll-interval between steps; a stop request must not wait that out."""
    proc, _ = start_watch(tmp_path, "--poll-interval", "20")
    time.sleep(0.5)
    start = time.monotonic()
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=5) == 0
    assert time.monotonic() - start < 2.0


def test_a_second_signal_leaves_at_once_with_128_plus_signal() -> None:
    """While the loop finishes its step after a first Ctrl-C, a second one exits with 130 (not 1)."""
    woken = []
    with _stop_on_signals(on_stop=lambda: woken.append(True)) as stop:
        handler = signal.getsignal(signal.SIGINT)
        assert callable(handler)
        handler(signal.SIGINT, None)
        assert stop.is_set() and woken == [True]
        with pytest.raises(SystemExit) as exc:
            handler(signal.SIGINT, None)
    assert exc.value.code == 128 + signal.SIGINT
    assert signal.getsignal(signal.SIGINT) is not handler  # restored


# --------------------------------------------------------------------------- demo (real sweep)


def final_val_loss(lr: float, epochs: int) -> float:
    """The script's last val_loss when nobody stops it (fixed seed, no sleeps)."""
    argv = [sys.executable, str(train_script()), "--lr", str(lr), "--epochs", str(epochs)]
    out = subprocess.run([*argv, "--epoch-seconds", "0"], capture_output=True, text=True, check=True).stdout
    return [float(line.split("val_loss=")[1]) for line in out.splitlines() if line.startswith("epoch ")][-1]


@pytest.mark.slow
def test_demo_stops_losers_never_the_best_and_status_agrees(tmp_path: Path) -> None:
    epochs = 8
    workdir = tmp_path / "demo"
    argv = [
        sys.executable, "-m", "metricwatch", "demo", "--json",
        "--epoch-seconds", "0.15", "--epochs", str(epochs), "--keep", str(workdir),
    ]  # fmt: skip
    start = time.monotonic()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    elapsed = time.monotonic() - start
    assert done.returncode == 0, done.stderr
    assert elapsed < 40, f"the demo took {elapsed:.1f} s"
    trials = json.loads(done.stdout)

    assert [t["lr"] for t in trials] == list(DEFAULT_RATES)
    finals = [final_val_loss(lr, epochs) for lr in DEFAULT_RATES]
    best = trials[finals.index(min(finals))]
    assert best["stopped_epoch"] is None and best["exit_code"] == 0 and best["epochs_run"] == epochs

    stopped = [t for t in trials if t["stopped_epoch"] is not None]
    assert stopped, "the demo must stop at least one loser"
    for t in trials:
        assert {"epochs_run", "stopped_epoch", "threshold"} <= t.keys()
        logged = (workdir / "logs" / f"{t['job']}.log").read_text().count("\nepoch ")
        if t["stopped_epoch"] is None:
            assert (t["exit_code"], t["epochs_run"], logged, t["threshold"]) == (0, epochs, epochs, None)
        else:
            assert t["exit_code"] == -signal.SIGTERM
            assert t["stopped_epoch"] <= t["epochs_run"] <= logged < epochs
            assert t["value"] > t["threshold"] and t["population"] >= 3  # the median rule's default

    status = subprocess.run(
        [sys.executable, "-m", "metricwatch", "status", "--state-db", str(workdir / "state.db"), "--json"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    rows = {r["job"]: r for r in json.loads(status)["demo"]}
    assert set(rows) == {t["job"] for t in trials}
    for t in trials:
        r = rows[t["job"]]
        assert r["last_epoch"] == t["epochs_run"]
        if t["stopped_epoch"] is None:
            assert r["state"] == "completed" and r["stopped"] is None
        else:
            assert r["state"] == "stopped" and r["stopped"]["ok"] is True
            assert (r["decision"]["verdict"], r["decision"]["epoch"]) == ("stop", t["stopped_epoch"])
            assert r["decision"]["threshold"] == t["threshold"]
