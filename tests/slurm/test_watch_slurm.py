"""`metricwatch watch` with the Slurm action against a real slurmctld/slurmd (scripts/slurm-up).

A real job array of a legacy training script (it knows nothing of metricwatch) writes `slurm-%A_%a.out`;
the daemon follows the logs, learns the queued tasks from squeue before they write a line, stops the
losers with scancel, and learns every end from Slurm. Ground truth comes from outside metricwatch: the
expected losers from SageMaker's rule computed by hand over the curves the script prints when nobody
stops it (run without Slurm, no sleeps), each task's end from `scontrol show job`, and what each log holds.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from watch_support import reference_stops, watch_argv

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

TASKS = 6
EPOCHS = 10
EPOCH_SECONDS = 1.0
STAGGER = 1.2  # task i starts i × STAGGER late: > one epoch, so an earlier task is always ahead
# val_loss(task, e) = 1/e + OFFSET + DRIFT·e²/4: tasks 3 and 4 start well, then diverge (overfit).
CURVES = ((0.0, 0.0), (0.1, 0.0), (0.05, 0.0), (-0.3, 0.08), (-0.45, 0.12), (-0.05, 0.0))
CANCELLED_BY_HAND = 5  # a good task, cancelled with plain scancel by "a person" mid-run
STUDY = "default"

SCRIPT = f"""\
import os, sys, time
curves = {CURVES!r}
task = int(os.environ["SLURM_ARRAY_TASK_ID"])
epochs, seconds, stagger = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
offset, drift = curves[task]
time.sleep(task * stagger)
for e in range(1, epochs + 1):
    print(f"epoch {{e}} val_loss={{1 / e + offset + drift * e * e / 4:.4f}}", flush=True)
    time.sleep(seconds)
"""

Wait = Callable[..., object]


def full_curve(script: Path, task: int) -> list[float]:
    """What task `task` prints when nobody stops it (no Slurm, no sleeps)."""
    env = {**os.environ, "SLURM_ARRAY_TASK_ID": str(task)}
    out = subprocess.run(
        [sys.executable, str(script), str(EPOCHS), "0", "0"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [float(line.split("val_loss=")[1]) for line in out.splitlines()]


def scontrol(spec: str) -> dict[str, str]:
    out = subprocess.run(["scontrol", "show", "job", "-o", spec], capture_output=True, text=True, check=True)
    return dict(kv.split("=", 1) for kv in out.stdout.split() if "=" in kv)


def epochs_in(log: Path) -> list[int]:
    text = log.read_text() if log.exists() else ""
    return [int(line.split()[1]) for line in text.splitlines() if line.startswith("epoch ")]


def status(db: Path, *, strict: bool = True) -> dict[str, dict[str, Any]]:
    """`metricwatch status --json`, as a user (or a script) reads it: job → row. Not strict: {} while
    the daemon is still creating its database."""
    done = subprocess.run(
        [sys.executable, "-m", "metricwatch", "status", "--json", "--state-db", str(db)],
        capture_output=True,
        text=True,
        check=strict,
    )
    if done.returncode != 0:
        return {}
    return {row["job"]: row for row in json.loads(done.stdout).get(STUDY, [])}


@pytest.fixture
def array(slurm: None, tmp_path: Path) -> Iterator[Callable[[], str]]:
    """Submit the held job array (every task PENDING); all of it is cancelled at the end."""
    submitted: list[str] = []
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)

    def submit() -> str:
        wrap = f"exec python3 -u {script} {EPOCHS} {EPOCH_SECONDS} {STAGGER}"
        argv = [
            "sbatch",
            "--parsable",
            "--hold",
            f"--array=0-{TASKS - 1}",
            f"--chdir={tmp_path}",
            "--output=slurm-%A_%a.out",
            "--wrap",
            wrap,
        ]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=True)
        submitted.append(done.stdout.strip().split(";")[0])
        return submitted[-1]

    yield submit
    for job in submitted:
        subprocess.run(["scancel", job], capture_output=True, timeout=30, check=False)


@pytest.fixture
def daemon(slurm: None, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`metricwatch watch` on the array's logs with the Slurm action (started once Slurm is up)."""
    argv = watch_argv(
        str(tmp_path / "slurm-*.out"),
        tmp_path / "state.db",
        "--job-id",
        r"slurm-(?P<job>\d+_\d+)\.out",
        "--action",
        "slurm",
    )
    with (tmp_path / "events.jsonl").open("ab") as err:
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err)
    yield proc
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)


def test_watch_stops_the_losing_array_tasks_and_learns_every_end_from_slurm(
    array: Callable[[], str], daemon: subprocess.Popen[bytes], tmp_path: Path, wait_for: Wait
) -> None:
    expected = reference_stops([full_curve(tmp_path / "train.py", t) for t in range(TASKS)])
    assert expected and 0 not in expected, "the sweep must have losers, and the best start must win"
    assert CANCELLED_BY_HAND not in expected
    db = tmp_path / "state.db"
    job = array()
    name = {t: f"{job}_{t}" for t in range(TASKS)}
    logs = {t: tmp_path / f"slurm-{job}_{t}.out" for t in range(TASKS)}

    # Task 0 runs first; from its log name the daemon learns the array and lists the queued tasks.
    subprocess.run(["scontrol", "release", name[0]], check=True, capture_output=True)
    wait_for(lambda: len(status(db, strict=False)) == TASKS, timeout=30, what="all tasks in status")
    rows = status(db)
    assert all(not logs[t].exists() for t in range(1, TASKS))
    assert {t: rows[name[t]]["state"] for t in range(1, TASKS)} == dict.fromkeys(range(1, TASKS), "pending")
    assert all(rows[name[t]]["log"] == str(logs[t]) for t in range(TASKS))

    subprocess.run(["scontrol", "release", job], check=True, capture_output=True)
    wait_for(lambda: len(epochs_in(logs[CANCELLED_BY_HAND])) >= 3, timeout=40, what="task 5 at epoch 3")
    subprocess.run(["scancel", name[CANCELLED_BY_HAND]], check=True, capture_output=True)  # the person
    wait_for(
        lambda: all(r["state"] not in ("pending", "running") for r in status(db, strict=False).values()),
        timeout=60,
        what="every task to end in metricwatch's records",
    )
    rows = status(db)
    slurm_end = {t: scontrol(name[t]) for t in range(TASKS)}
    print({t: (s["JobState"], s["ExitCode"]) for t, s in slurm_end.items()})  # which end Slurm reports

    for t in range(TASKS):
        row, end = rows[name[t]], slurm_end[t]
        if t in expected:
            # Killed by the TERM of `scancel --signal=TERM --full` (22.05: FAILED 0:15), or CANCELLED.
            assert end["JobState"] in {"FAILED", "CANCELLED"} and end["ExitCode"].endswith(":15"), end
            assert expected[t] <= len(epochs_in(logs[t])) <= expected[t] + 1, f"task {t} ran on"
            assert row["state"] == "stopped", row
            assert str(row["state_reason"]).startswith("stopped_by_metricwatch"), row
            assert end["JobState"] in str(row["state_reason"]), row  # Slurm's end, recorded
            decision = row["decision"]
            assert decision is not None and (decision["epoch"], decision["verdict"]) == (expected[t], "stop")
            assert row["stopped"] is not None and row["stopped"]["ok"] is True, row
        elif t == CANCELLED_BY_HAND:
            assert end["JobState"] == "CANCELLED"
            assert row["state"] == "cancelled", row
            assert str(row["state_reason"]).startswith("cancelled_by_someone_else"), row
            assert row["stopped"] is None, "a person's cancel must never count as a stop of ours"
            assert 3 <= len(epochs_in(logs[t])) < EPOCHS
        else:
            assert (end["JobState"], end["ExitCode"]) == ("COMPLETED", "0:0")
            assert epochs_in(logs[t]) == list(range(1, EPOCHS + 1))
            assert (row["state"], row["last_epoch"]) == ("completed", EPOCHS), row
            assert row["stopped"] is None
    _assert_actions_record_the_confirmed_end(db, {name[t] for t in expected}, slurm_end, name, expected)


def _assert_actions_record_the_confirmed_end(
    db: Path,
    stopped: set[str],
    slurm_end: dict[int, dict[str, str]],
    name: dict[int, str],
    expected: dict[int, int],
) -> None:
    """The actions table holds, per stop, the scancel sent and Slurm's confirmed end with its exit code."""
    from metricwatch.state import StateStore

    store = StateStore(db, readonly=True)
    try:
        actions = store.actions(STUDY)
        claims = {c.job for c in store.stop_claims(STUDY)}
    finally:
        store.close()
    assert claims == stopped
    assert {a.job for a in actions} == stopped
    for t in expected:
        details = [str(a.detail["detail"]) for a in actions if a.job == name[t]]
        assert any("--full" in d for d in details), details
        confirmed = [d for d in details if d.startswith("confirmed")]
        assert confirmed and slurm_end[t]["JobState"] in confirmed[-1], details
        assert f"ExitCode={slurm_end[t]['ExitCode']}" in confirmed[-1], details
