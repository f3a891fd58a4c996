"""Against a real slurmctld/slurmd (scripts/slurm-up): mapping, state queries, the Slurm action.

Ground truth is Slurm itself (`scontrol show job`, what squeue prints) and the logs the jobs write.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from metricwatch.actions._slurm import SlurmAction
from metricwatch.jobs import JobTarget, find_writers
from metricwatch.slurm import (
    SlurmClient,
    SlurmJobRef,
    classify_end,
    ref_for_log,
    ref_from_path,
)
from metricwatch.types import Decision, JobState, Verdict

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

Submit = Callable[..., str]
Wait = Callable[..., object]


def _epochs(log: Path) -> list[int]:
    text = log.read_text() if log.exists() else ""
    return [int(n) for n in re.findall(r"^epoch (\d+) ", text, re.M)]


def _scontrol(ref: SlurmJobRef) -> dict[str, str]:
    out = subprocess.run(
        ["scontrol", "show", "job", "-o", ref.spec], capture_output=True, text=True, check=True
    ).stdout
    return dict(kv.split("=", 1) for kv in out.split() if "=" in kv)


def _decision(job: str) -> Decision:
    return Decision(job=job, epoch=3, verdict=Verdict.STOP, rule="median", reason="worse_than_median")


def test_pending_tasks_are_known_before_they_write_a_line(
    sbatch: Submit, tmp_path: Path, wait_for: Wait
) -> None:
    """A held array is PENDING in one query before any log exists; released, its tasks run."""
    job = sbatch("--hold", "--array=0-3", "--output=slurm-%A_%a.out", epochs=2)
    refs = [SlurmJobRef(job, task) for task in range(4)]
    client = SlurmClient()
    states = client.states(refs)
    assert {s.state for s in states.values()} == {JobState.PENDING}
    assert all(_scontrol(r)["JobState"] == "PENDING" for r in refs)
    assert not list(tmp_path.glob("slurm-*.out"))
    # A dry run of the action on a pending task changes nothing.
    log = tmp_path / f"slurm-{job}_0.out"
    outcome = SlurmAction(dry_run=True).stop(JobTarget(f"{job}_0", log), _decision(f"{job}_0"))
    assert outcome.dry_run and outcome.ok and f"scancel {job}_0" in outcome.detail
    assert client.states(refs[:1])[refs[0]].state is JobState.PENDING
    subprocess.run(["scontrol", "release", job], check=True, capture_output=True)
    wait_for(
        lambda: all(s.state is not JobState.PENDING for s in client.states(refs).values()),
        timeout=20,
        what="released tasks to start",
    )


def test_log_maps_to_its_task_by_name_and_by_writer_environment(
    sbatch: Submit, tmp_path: Path, wait_for: Wait
) -> None:
    """slurm-%A_%a.out names map by name; other names through the writer's SLURM_* environment."""
    job = sbatch("--array=0-1", "--output=train-%a.log", epochs=6)
    logs = [tmp_path / f"train-{task}.log" for task in range(2)]
    wait_for(lambda: all(_epochs(log) for log in logs), timeout=20, what="both tasks to write")
    writers = find_writers(logs)
    for task, log in enumerate(logs):
        assert ref_from_path(log) is None  # not sbatch's default name
        pids = [w.pid for w in writers[log]]
        assert ref_for_log(log, pids=pids) == SlurmJobRef(job, task)
    # The default sbatch names map without any process (as on a login node).
    assert ref_from_path(tmp_path / f"slurm-{job}_3.out") == SlurmJobRef(job, 3)
    assert ref_from_path(tmp_path / f"slurm-{job}.out") == SlurmJobRef(job)


def test_action_stops_the_loser_and_a_person_cancel_is_not_ours(
    sbatch: Submit, tmp_path: Path, wait_for: Wait
) -> None:
    """Task 3 (worst) stopped by SlurmAction ends early and counts as ours; task 2 cancelled by a
    person counts as cancelled by someone else; tasks 0 and 1 complete all 10 epochs."""
    job = sbatch("--array=0-3", "--output=slurm-%A_%a.out", epochs=10, offsets="0,0.1,0.5,2")
    refs = {task: SlurmJobRef(job, task) for task in range(4)}
    logs = {task: tmp_path / f"slurm-{job}_{task}.out" for task in range(4)}
    wait_for(
        lambda: all(len(_epochs(log)) >= 3 for log in logs.values()),
        timeout=30,
        what="every task to reach epoch 3",
    )
    action = SlurmAction(grace=5, confirm_timeout=20)
    target = JobTarget(f"{job}_3", logs[3])
    first = action.stop(target, _decision(target.job))
    assert first.ok and first.pending, first.detail
    assert action.stop(target, _decision(target.job)).detail.startswith("already stopping")
    subprocess.run(["scancel", refs[2].spec], check=True, capture_output=True)  # the person
    confirmed = action.settle(timeout=30)
    assert confirmed and confirmed[-1].ok and not confirmed[-1].pending, confirmed
    assert "ended" in confirmed[-1].detail

    client = SlurmClient()
    wait_for(
        lambda: all(s.ended for s in client.states(refs.values()).values()),
        timeout=30,
        what="every task to end",
    )
    states = client.states(refs.values())
    # Slurm's own record: the TERM of `scancel --signal=TERM --full` killed task 3 (signal 15).
    assert _scontrol(refs[3])["JobState"] in {"FAILED", "CANCELLED"}
    assert _scontrol(refs[3])["ExitCode"].endswith(":15")
    assert _scontrol(refs[2])["JobState"] == "CANCELLED"
    assert [_scontrol(refs[t])["JobState"] for t in (0, 1)] == ["COMPLETED", "COMPLETED"]

    ends = {
        t: classify_end(states[r], stopped_by_us=action.stopped_by_us(f"{job}_{t}")) for t, r in refs.items()
    }
    assert ends[3] is not None and (ends[3].state, ends[3].reason) == (
        JobState.STOPPED,
        "stopped_by_metricwatch",
    )
    assert ends[2] is not None and (ends[2].state, ends[2].reason) == (
        JobState.CANCELLED,
        "cancelled_by_someone_else",
    )
    assert all(ends[t] is not None and ends[t].state is JobState.COMPLETED for t in (0, 1))
    assert _epochs(logs[0]) == list(range(1, 11))
    assert len(_epochs(logs[3])) < 10


def test_task_ignoring_term_is_escalated_to_a_plain_scancel(
    sbatch: Submit, tmp_path: Path, wait_for: Wait
) -> None:
    """A job that ignores SIGTERM outlives the grace; the plain scancel then ends it CANCELLED."""
    job = sbatch("--output=slurm-%j.out", epochs=30, extra="--ignore-term")
    log = tmp_path / f"slurm-{job}.out"
    wait_for(lambda: _epochs(log), timeout=20, what="the job to write")
    action = SlurmAction(grace=1, confirm_timeout=20)
    first = action.stop(JobTarget(job, log), _decision(job))
    assert first.ok and first.pending, first.detail
    outcomes = action.settle(timeout=30)
    assert any("after 1s grace: scancel" in o.detail for o in outcomes), outcomes
    assert outcomes[-1].ok and "CANCELLED" in outcomes[-1].detail, outcomes
    assert _scontrol(SlurmJobRef(job))["JobState"] == "CANCELLED"


def test_states_of_many_jobs_take_one_call_and_unknown_jobs_have_left(slurm: None) -> None:
    """A job Slurm never heard of is reported as gone from the queue, not as an error."""
    ref = SlurmJobRef("987654321", 1)
    status = SlurmClient().states([ref])[ref]
    assert status.ended and status.source in {"absent", "sacct"}
