"""SlurmTracker without a scheduler: which updates the daemon gets from what Slurm says.

Slurm cannot run in this suite, so SlurmClient gets a fake `runner` that answers with squeue/scontrol
text in the format Slurm 22.05 prints it (captured in this repo's scripts/slurm-up cluster, see
tests/slurm/test_slurm_unit.py). The same behaviour against a real slurmctld:
tests/slurm/test_watch_slurm.py.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from metricwatch.daemon import JobInfo
from metricwatch.follow import FileState
from metricwatch.follow.identity import Signature
from metricwatch.jobs import JobNamer
from metricwatch.scheduler import JobEnded, JobSeen, SlurmTracker, log_path_for, stop_reached
from metricwatch.slurm import SlurmClient, SlurmJobRef
from metricwatch.state import StateStore
from metricwatch.types import Direction, JobState

JOB_ID = r"slurm-(?P<job>\d+_\d+)\.out"


class FakeSlurm:
    """Answers squeue and scontrol like Slurm 22.05; `queue` maps "5_1" → (Slurm's %A, state)."""

    def __init__(self) -> None:
        self.queue: dict[str, tuple[str, str]] = {}
        self.exit_codes: dict[str, str] = {}
        self.calls: list[list[str]] = []

    def __call__(self, argv: Sequence[str], **_: object) -> subprocess.CompletedProcess[str]:
        self.calls.append(list(argv))
        if argv[0] == "squeue":
            ids = set(argv[argv.index("-j") + 1].split(","))
            lines = [
                f"{own}|{task.split('_')[0]}|{task.split('_')[1]}|{state}|None"
                for task, (own, state) in sorted(self.queue.items())
                if task.split("_")[0] in ids
            ]
            if not lines:
                return subprocess.CompletedProcess(
                    argv, 1, "", "slurm_load_jobs error: Invalid job id specified"
                )
            return subprocess.CompletedProcess(argv, 0, "\n".join(lines) + "\n", "")
        if argv[0] == "scontrol":
            code = self.exit_codes.get(argv[-1], "0:0")
            return subprocess.CompletedProcess(argv, 0, f"JobId=9 JobState=X ExitCode={code}\n", "")
        return subprocess.CompletedProcess(argv, 1, "", "no accounting storage")  # sacct


def _tracker(fake: FakeSlurm, tmp_path: Path, ours: set[str] | None = None, **kw: object) -> SlurmTracker:
    return SlurmTracker(
        client=SlurmClient(runner=fake),
        namer=JobNamer(root=tmp_path, pattern=JOB_ID),
        stopped_by_us=lambda job: job in (ours or set()),
        **kw,  # type: ignore[arg-type]
    )


def _running(tmp_path: Path, job: str, text: str = "", read: int | None = None) -> JobInfo:
    """A job whose log holds `text`, of which the daemon has read `read` bytes (default: all)."""
    log = tmp_path / f"slurm-{job}.out"
    log.write_text(text)
    info = JobInfo(job, str(log), 0.0)
    committed = len(text) if read is None else read
    info.last_file = FileState(str(log), 1, 2, Signature(0, ""), committed, 0, "")
    return info


def test_log_path_of_another_task_replaces_the_task_id() -> None:
    assert log_path_for("/s/slurm-12_0.out", SlurmJobRef("12", 7)) == "/s/slurm-12_7.out"
    own = re.compile(r"sweep-(?P<array_job>\d+)/task(?P<task>\d+)/")
    assert log_path_for("/s/sweep-12/task0/log.txt", SlurmJobRef("12", 3), own) == "/s/sweep-12/task3/log.txt"
    one_group = re.compile(r"run-(?P<job>\d+_\d+)\.log")
    assert log_path_for("/s/run-12_0.log", SlurmJobRef("12", 3), one_group) == "/s/run-12_3.log"
    assert log_path_for("/s/train.log", SlurmJobRef("12", 3)) is None


def test_queued_tasks_of_a_followed_array_are_registered_once_in_task_order(tmp_path: Path) -> None:
    fake = FakeSlurm()
    fake.queue = {
        "5_0": ("6", "RUNNING"),
        "5_2": ("5", "PENDING"),
        "5_1": ("7", "RUNNING"),
        "5_3": ("5", "PENDING"),
    }
    jobs = {"5_0": _running(tmp_path, "5_0", "epoch 1 val_loss=1\n")}
    tracker = _tracker(fake, tmp_path)
    updates = tracker.refresh(jobs)
    assert updates == [
        JobSeen("5_1", str(tmp_path / "slurm-5_1.out"), JobState.RUNNING, "running_in_slurm"),
        JobSeen("5_2", str(tmp_path / "slurm-5_2.out"), JobState.PENDING, "queued_in_slurm"),
        JobSeen("5_3", str(tmp_path / "slurm-5_3.out"), JobState.PENDING, "queued_in_slurm"),
    ]
    assert [c[0] for c in fake.calls] == ["squeue"]  # one call for every job and every task
    for u in updates:
        assert isinstance(u, JobSeen)
        jobs[u.job] = JobInfo(u.job, u.log_path, 0.0, state=u.state)
    assert tracker.refresh(jobs) == []  # known now: nothing registered twice
    assert tracker.tracks("5_3") and not tracker.tracks("other")


def test_ends_are_told_apart_ours_someone_elses_completed_and_left_the_queue(tmp_path: Path) -> None:
    fake = FakeSlurm()
    fake.queue = {"8_0": ("8", "COMPLETED"), "8_1": ("9", "FAILED"), "8_2": ("10", "CANCELLED")}
    fake.exit_codes = {"8_1": "0:15", "8_2": "0:15"}
    jobs = {j: _running(tmp_path, j, "epoch 1 val_loss=1\n") for j in ("8_0", "8_1", "8_2", "3_0")}
    ended = {u.job: u for u in _tracker(fake, tmp_path, ours={"8_1"}).refresh(jobs)}
    assert ended == {
        "8_0": JobEnded("8_0", JobState.COMPLETED, "completed (Slurm: COMPLETED, ExitCode=0:0)"),
        "8_1": JobEnded("8_1", JobState.STOPPED, "stopped_by_metricwatch (Slurm: FAILED, ExitCode=0:15)"),
        "8_2": JobEnded(
            "8_2", JobState.CANCELLED, "cancelled_by_someone_else (Slurm: CANCELLED, ExitCode=0:15)"
        ),
        # Slurm no longer knows 3_0 and there is no accounting: it left the queue, so it is done.
        "3_0": JobEnded("3_0", JobState.COMPLETED, "left_queue (Slurm: left the queue)"),
    }


def test_an_ended_task_is_closed_only_after_its_log_is_read_or_the_drain_time(tmp_path: Path) -> None:
    fake = FakeSlurm()
    fake.queue = {"4_0": ("4", "COMPLETED")}
    now = [100.0]
    tracker = _tracker(fake, tmp_path, clock=lambda: now[0], drain_seconds=5.0)
    info = _running(tmp_path, "4_0", "epoch 1 val_loss=1\nepoch 2 val_loss=0.5\n", read=20)
    assert tracker.refresh({"4_0": info}) == []  # epoch 2 is not read yet
    now[0] = 106.0
    assert [type(u) for u in tracker.refresh({"4_0": info})] == [JobEnded]  # waited long enough
    info.last_file = _running(tmp_path, "4_0", "epoch 1 val_loss=1\n").last_file
    now[0] = 200.0
    assert [type(u) for u in tracker.refresh({"4_0": info})] == [JobEnded]  # read to the end: at once


def test_finished_jobs_are_not_asked_about(tmp_path: Path) -> None:
    fake = FakeSlurm()
    done = _running(tmp_path, "2_0")
    done.state = JobState.COMPLETED
    assert _tracker(fake, tmp_path).refresh({"2_0": done}) == [] and fake.calls == []


@pytest.mark.parametrize(
    ("outcome", "dry_run", "expected"),
    [(None, False, True), (True, False, True), (False, False, False), (True, True, False)],
)
def test_a_stop_counts_as_ours_only_if_it_reached_the_job(
    tmp_path: Path, outcome: bool | None, dry_run: bool, expected: bool
) -> None:
    """Claimed and in flight (None) or confirmed: ours. Failed (e.g. already ended) or dry run: not."""

    class Action:
        def __init__(self) -> None:
            self.dry_run = dry_run

    store = StateStore(tmp_path / "state.db")
    store.ensure_study("s", "val_loss", Direction.MINIMIZE)
    assert store.claim_stop("s", "1_0", epoch=3)
    if outcome is not None:
        store.finish_stop("s", "1_0", ok=outcome)
    reached = stop_reached(store, "s", Action())  # type: ignore[arg-type]
    assert reached("1_0") is expected
    assert reached("1_1") is False
    store.close()
