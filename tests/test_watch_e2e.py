"""`metricwatch watch` end to end: real training processes, real logs, real SIGTERM, real SQLite.

The expected stops come from a ten-line reference implementation of SageMaker's documented rule
applied to the curves the training script prints when run to completion (same seed, no sleeps), not
from metricwatch's own rule engine.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from watch_support import reference_stops, watch_argv

from metricwatch.demo import train_script
from metricwatch.replay import replay
from metricwatch.state import StateStore

pytestmark = pytest.mark.slow

EPOCHS = 8
EPOCH_SECONDS = 0.5
STAGGER = 0.8  # > one epoch: an earlier trial is always ahead, as in a staggered sweep
RATES = (0.05, 0.1, 0.07, 0.0005, 0.45, 0.08, 0.002)  # trial-N has RATES[N-1]


def full_curve(lr: float) -> list[float]:
    """The val_loss the script prints per epoch when nobody stops it (deterministic: fixed seed)."""
    out = subprocess.run(
        [
            sys.executable,
            str(train_script()),
            "--lr",
            str(lr),
            "--epochs",
            str(EPOCHS),
            "--epoch-seconds",
            "0",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [float(line.split("val_loss=")[1]) for line in out.splitlines() if line.startswith("epoch ")]


def watch(logs: Path, db: Path, events: Path, *extra: str) -> subprocess.Popen[bytes]:
    argv = watch_argv(str(logs / "*.log"), db, *extra)
    with events.open("ab") as err:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err)


def launch(logs: Path, n: int, lr: float, *, unbuffered: bool = True) -> subprocess.Popen[bytes]:
    """`python train.py --lr X > trial-N.log 2>&1`, through a shell, as a legacy sweep script would."""
    env = (
        {**os.environ, "PYTHONUNBUFFERED": "1"}
        if unbuffered
        else {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    )
    cmd = (
        f"exec {sys.executable} {train_script()} --lr {lr} --epochs {EPOCHS} "
        f"--epoch-seconds {EPOCH_SECONDS} > {logs}/trial-{n}.log 2>&1"
    )
    return subprocess.Popen(["sh", "-c", cmd], env=env)


def run_sweep(logs: Path, count: int = len(RATES)) -> list[int]:
    """Start the first `count` trials, STAGGER apart; their exit codes."""
    procs = []
    for n, lr in enumerate(RATES[:count], start=1):
        procs.append(launch(logs, n, lr))
        time.sleep(STAGGER)
    return [p.wait(timeout=60) for p in procs]


def stop_daemon(proc: subprocess.Popen[bytes]) -> None:
    time.sleep(2.0)  # housekeeping records the last exits
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0


def logged_epochs(log: Path) -> int:
    return sum(1 for line in log.read_text().splitlines() if line.startswith("epoch "))


def test_losers_get_sigterm_at_the_rules_epoch_and_winners_complete(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    expected = reference_stops([full_curve(lr) for lr in RATES])
    assert expected, "the sweep must contain losers for this test to mean anything"
    daemon = watch(logs, tmp_path / "state.db", tmp_path / "events.jsonl")
    time.sleep(1.5)
    codes = run_sweep(logs)
    stop_daemon(daemon)

    for i, code in enumerate(codes):
        log = logs / f"trial-{i + 1}.log"
        if i in expected:
            assert code == -signal.SIGTERM, f"trial-{i + 1} should have been stopped (exit {code})"
            assert logged_epochs(log) == expected[i], f"trial-{i + 1} ran past the epoch the rule fired"
        else:
            assert code == 0, f"trial-{i + 1} is not a loser but exited {code}"
            assert logged_epochs(log) == EPOCHS
    finals = {i: full_curve(lr)[-1] for i, lr in enumerate(RATES)}
    assert min(finals, key=finals.__getitem__) not in expected  # the best job is never stopped

    store = StateStore(tmp_path / "state.db", readonly=True)
    overview = {r.job: r for r in store.jobs_overview("default")}
    stops = {c.job: c for c in store.stop_claims("default")}
    store.close()
    assert {int(j.split("-")[1]) - 1 for j in stops} == set(expected)
    for i in expected:
        row = overview[f"trial-{i + 1}"]
        assert row.state.value == "stopped" and row.decision is not None
        d = row.decision.decision
        assert (d.epoch, d.verdict.value, d.reason) == (expected[i], "stop", "worse_than_median")
        assert d.value is not None and d.threshold is not None and d.value > d.threshold
    # The same logs, replayed afterwards in start order, give exactly the live decisions.
    replayed = replay(sorted(logs.glob("*.log")), "plain", "val_loss", "minimize")
    offline = sorted(
        (j.job, d.epoch, d.verdict.value, d.threshold, d.population)
        for j in replayed.jobs
        for d in j.decisions
    )
    assert offline == _table(tmp_path / "state.db")[1]

    events = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    stop_events = [e for e in events if e["event"] == "decision" and e["verdict"] == "stop"]
    assert all({"value", "threshold", "population", "rule", "params"} <= e.keys() for e in stop_events)
    assert len(stop_events) == len(expected)


def _table(db: Path) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    store = StateStore(db, readonly=True)
    try:
        obs = sorted(
            (o.job, o.attempt, o.metric, o.epoch, o.raw)
            for h in store.load_history("default")
            for o in h.observations
        )
        decisions = sorted(
            (
                s.decision.job,
                s.decision.epoch,
                s.decision.verdict.value,
                s.decision.threshold,
                s.decision.population,
            )
            for s in store.decisions("default")
        )
    finally:
        store.close()
    return obs, decisions


def test_sigkill_and_restart_gives_the_same_observations_and_decisions(tmp_path: Path) -> None:
    """Two daemons watch the same live sweep (dry run, so they cannot change it): one runs throughout,
    the other is SIGKILLed at random moments and restarted. Their stores must end up identical."""
    logs = tmp_path / "logs"
    logs.mkdir()
    steady = watch(logs, tmp_path / "steady.db", tmp_path / "steady.jsonl", "--dry-run")
    flaky_db, flaky_events = tmp_path / "flaky.db", tmp_path / "flaky.jsonl"
    flaky = watch(logs, flaky_db, flaky_events, "--dry-run")
    time.sleep(1.5)
    procs = []
    rng = random.Random(7)
    kills = 0
    for n, lr in enumerate(RATES, start=1):
        procs.append(launch(logs, n, lr))
        time.sleep(STAGGER * rng.uniform(0.3, 0.9))
        flaky.send_signal(signal.SIGKILL)
        flaky.wait()
        kills += 1
        time.sleep(STAGGER * rng.uniform(0.1, 0.7))
        flaky = watch(logs, flaky_db, flaky_events, "--dry-run")
    for p in procs:
        p.wait(timeout=60)
    stop_daemon(steady)
    stop_daemon(flaky)
    assert kills == len(RATES)

    steady_obs, steady_decisions = _table(tmp_path / "steady.db")
    flaky_obs, flaky_decisions = _table(flaky_db)
    assert len(steady_obs) == len(RATES) * EPOCHS * 2  # train_loss and val_loss, every epoch, once
    assert flaky_obs == steady_obs
    assert flaky_decisions == steady_decisions
    assert any(d[2] == "stop" for d in steady_decisions)


def test_block_buffered_python_job_is_flagged(tmp_path: Path) -> None:
    """A Python job writing to a file without -u/PYTHONUNBUFFERED gets a warning naming the fix."""
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "trial-1.log").write_text("")  # exists before the job writes, as with `> log`
    daemon = watch(logs, tmp_path / "state.db", tmp_path / "events.jsonl", "--dry-run")
    time.sleep(1.5)
    job = launch(logs, 1, 0.05, unbuffered=False)
    job.wait(timeout=60)
    stop_daemon(daemon)
    events = [json.loads(x) for x in (tmp_path / "events.jsonl").read_text().splitlines()]
    warnings = [e for e in events if e["event"] == "output_looks_block_buffered"]
    assert warnings and "PYTHONUNBUFFERED" in warnings[0]["hint"]


def test_symlinked_log_to_an_outside_file_is_never_acted_on(tmp_path: Path) -> None:
    """A log that links outside the watched tree is skipped: its writer is never signalled."""
    logs, outside = tmp_path / "logs", tmp_path / "elsewhere"
    logs.mkdir()
    outside.mkdir()
    victim_log = outside / "other.log"
    with victim_log.open("wb") as out:
        victim = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import time\nfor e in range(1, 60):\n"
                "    print(f'epoch {e} val_loss=999', flush=True)\n    time.sleep(0.2)",
            ],
            stdout=out,
        )
    (logs / "evil.log").symlink_to(victim_log)
    daemon = watch(logs, tmp_path / "state.db", tmp_path / "events.jsonl", "--rule-param", "min_population=1")
    time.sleep(1.5)
    codes = run_sweep(logs, 3)
    time.sleep(1.0)
    assert victim.poll() is None, "the outside process must not be touched"
    victim.kill()
    victim.wait()
    stop_daemon(daemon)
    assert all(c in (0, -signal.SIGTERM) for c in codes)
    events = [json.loads(x) for x in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert any(e["event"] == "file_skipped" and e["path"].endswith("evil.log") for e in events)
    assert not any(e.get("job") == "evil" for e in events if e["event"] in ("decision", "job_stopped"))


STUBBORN_JOB = """
import signal, sys, time
signal.signal(signal.SIGTERM, lambda *_: print("ignoring SIGTERM", flush=True))
for epoch in range(1, 80):
    print(f"epoch {epoch} val_loss=5.0", flush=True)
    time.sleep(0.25)
"""


def test_a_sigkill_escalation_survives_a_daemon_crash(tmp_path: Path) -> None:
    """A job that ignores SIGTERM is still SIGKILLed after its grace period even when the daemon is
    SIGKILLed during that grace period and restarted: the stop is resumed from the state store."""
    logs = tmp_path / "logs"
    logs.mkdir()
    events = tmp_path / "events.jsonl"
    rule = ("--rule", "threshold", "--rule-param", "max=1", "--action-param", "grace=4")
    daemon = watch(logs, tmp_path / "state.db", events, *rule)
    time.sleep(1.5)
    with (logs / "stubborn.log").open("wb") as out:
        job = subprocess.Popen([sys.executable, "-c", STUBBORN_JOB], stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 15
    while "job_stopped" not in events.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "job_stopped" in events.read_text(), "the daemon never sent SIGTERM"
    daemon.send_signal(signal.SIGKILL)  # mid-grace: the pending SIGKILL dies with it
    daemon.wait()
    restarted = watch(logs, tmp_path / "state.db", events, *rule)
    try:
        code = job.wait(timeout=15)  # grace (4 s) again from the restart, then SIGKILL
    finally:
        job.kill()
        stop_daemon(restarted)
    assert code == -signal.SIGKILL
    assert "ignoring SIGTERM" in (logs / "stubborn.log").read_text()
    store = StateStore(tmp_path / "state.db", readonly=True)
    claims = store.stop_claims("default")
    store.close()
    assert [c.job for c in claims] == ["stubborn"] and claims[0].finished_at is not None


def test_every_study_of_a_config_is_woken_promptly(tmp_path: Path) -> None:
    """Two studies, one loop: a write to the second study's log is decided on without waiting for
    the safety poll (5 s here): all followers share one wake-up."""
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    config = tmp_path / "two.toml"
    study = """
[[study]]
name = "{name}"
logs = ["{name}/*.log"]
patterns = "plain"
dry_run = true
[study.rule]
name = "threshold"
max = 0
"""
    config.write_text(
        '[daemon]\nstate_db = "state.db"\npoll_interval = "5s"\n'
        + study.format(name="a")
        + study.format(name="b")
    )
    events = tmp_path / "events.jsonl"
    with events.open("ab") as err:
        daemon = subprocess.Popen(
            [sys.executable, "-m", "metricwatch", "watch", str(config), "--log-format", "json"],
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    try:
        for name in ("a", "b"):
            (tmp_path / name / "job.log").write_text("starting\n")
        time.sleep(2.0)  # both logs are followed
        for name in ("b", "a"):
            with (tmp_path / name / "job.log").open("a") as log:
                log.write("epoch 1 val_loss=0.5\n")
            written = time.monotonic()
            while time.monotonic() - written < 3:
                decided = [
                    e
                    for e in map(json.loads, events.read_text().splitlines())
                    if e["event"] == "decision" and e["study"] == name
                ]
                if decided:
                    break
                time.sleep(0.02)
            assert decided, f"study {name} was not woken by the write"
            assert time.monotonic() - written < 1.0
    finally:
        stop_daemon(daemon)
