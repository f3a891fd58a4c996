"""Slurm: which Slurm job a log belongs to, and what Slurm says about many jobs at once.

metricwatch talks to the scheduler only through its client commands (`squeue`, `sacct`, `scontrol`,
`scancel`), so the daemon can run on a login node and needs no agent of its own on compute nodes.

- **Mapping** a log to a job: from the file name (`slurm-%A_%a.out`, `slurm-%j.out`, or a user regex with
  the named groups `array_job` + `task`, or `job`), or from `/proc/<pid>/environ` of a local writer
  (`SLURM_ARRAY_JOB_ID` + `SLURM_ARRAY_TASK_ID`, else `SLURM_JOB_ID`).
- **States** of many jobs with one `squeue --array --states=all` call. The controller keeps finished jobs
  for `MinJobAge` seconds (default 300), so squeue also reports COMPLETED/CANCELLED/FAILED for a while;
  jobs it no longer knows are asked of `sacct` where accounting exists (one call), and a job nobody
  knows any more has left the queue: it is reported ended (`source="absent"`), as the issue asks.
- **classify_end** tells a stop of ours from a cancellation by someone else.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from metricwatch.errors import ActionError, ConfigError
from metricwatch.types import JobState

# The default output names of sbatch: `slurm-%A_%a.out` for array tasks, `slurm-%j.out` otherwise.
DEFAULT_LOG_PATTERNS = (
    re.compile(r"slurm-(?P<array_job>\d+)_(?P<task>\d+)\.out$"),
    re.compile(r"slurm-(?P<job>\d+)\.out$"),
)

# Slurm state (first word: sacct prints "CANCELLED by 0") → metricwatch state. Slurm's own STOPPED means
# SIGSTOPped and still allocated, so it is running for us. TIMEOUT/OUT_OF_MEMORY/NODE_FAIL end a job that
# did not finish its work: failed. PREEMPTED/REVOKED: ended by the scheduler, i.e. by someone else.
_STATES: dict[str, JobState] = {
    **dict.fromkeys(
        ("PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD"),
        JobState.PENDING,
    ),
    **dict.fromkeys(
        ("RUNNING", "COMPLETING", "SUSPENDED", "STOPPED", "SIGNALING", "STAGE_OUT", "RESIZING"),
        JobState.RUNNING,
    ),
    "COMPLETED": JobState.COMPLETED,
    **dict.fromkeys(("CANCELLED", "PREEMPTED", "REVOKED"), JobState.CANCELLED),
    **dict.fromkeys(
        ("FAILED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "BOOT_FAIL", "DEADLINE", "SPECIAL_EXIT"),
        JobState.FAILED,
    ),
}
_ENDED = {JobState.COMPLETED, JobState.CANCELLED, JobState.FAILED}
# One line per task: Slurm's own id of the task, array job id, task id (N/A), state, reason (may hold
# spaces, so it is last).
_SQUEUE_FORMAT = "%A|%F|%K|%T|%r"


@dataclass(frozen=True, slots=True, order=True)
class SlurmJobRef:
    """A Slurm job, or one task of a job array, as `scancel`/`squeue -j` name it (`1234_5` or `1234`)."""

    job_id: str  # the array job id for an array task, else the job id
    task: int | None = None

    @property
    def spec(self) -> str:
        return self.job_id if self.task is None else f"{self.job_id}_{self.task}"

    def __str__(self) -> str:
        return self.spec

    @classmethod
    def parse(cls, text: str) -> SlurmJobRef:
        match = re.fullmatch(r"\s*(\d+)(?:_(\d+))?\s*", text)
        if not match:
            raise ConfigError(f"not a Slurm job id: {text!r}", where="slurm", hint="write 1234 or 1234_5")
        return cls(match[1], None if match[2] is None else int(match[2]))


def compile_log_pattern(text: str, *, where: str = "slurm.log_pattern") -> re.Pattern[str]:
    """Compile a user regex that finds the job in a log path; it needs `array_job`+`task` or `job`."""
    try:
        pattern = re.compile(text)
    except re.error as exc:
        raise ConfigError(f"invalid regex {text!r}: {exc}", where=where) from exc
    groups = set(pattern.groupindex)
    if not ({"array_job", "task"} <= groups or "job" in groups):
        raise ConfigError(
            f"regex {text!r} has no named group for the job",
            where=where,
            hint="use (?P<array_job>\\d+) with (?P<task>\\d+), or (?P<job>\\d+)",
        )
    return pattern


def ref_from_path(path: str | os.PathLike[str], pattern: re.Pattern[str] | None = None) -> SlurmJobRef | None:
    """The job a log belongs to, read from its path (the user pattern, else sbatch's default names)."""
    text = os.fspath(path)
    for candidate in (pattern,) if pattern is not None else DEFAULT_LOG_PATTERNS:
        # search the whole path: a user pattern may take the job id from a directory name.
        match = candidate.search(text)
        if match is None:
            continue
        found = {k: v for k, v in match.groupdict().items() if v}
        if "array_job" in found and "task" in found:
            return SlurmJobRef(found["array_job"], int(found["task"]))
        if "job" in found:
            # A user pattern may take `1234_5` as one group: that is an array task, not job "1234_5".
            task = re.fullmatch(r"(\d+)_(\d+)", found["job"])
            return SlurmJobRef(task[1], int(task[2])) if task else SlurmJobRef(found["job"])
    return None


def ref_from_environ(environ: dict[str, str]) -> SlurmJobRef | None:
    """The job from a process environment: array task variables first, then SLURM_JOB_ID."""
    array_job, task = environ.get("SLURM_ARRAY_JOB_ID"), environ.get("SLURM_ARRAY_TASK_ID")
    if array_job and task and array_job.isdigit() and task.isdigit():
        return SlurmJobRef(array_job, int(task))
    job = environ.get("SLURM_JOB_ID") or environ.get("SLURM_JOBID")
    return SlurmJobRef(job) if job and job.isdigit() else None


def ref_from_pid(pid: int) -> SlurmJobRef | None:
    """The job of a local process, from /proc/<pid>/environ (None if gone, unreadable or not Slurm)."""
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return None
    pairs = (item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
    return ref_from_environ({k.decode(errors="replace"): v.decode(errors="replace") for k, v in pairs})


def ref_for_log(
    path: str | os.PathLike[str],
    *,
    pattern: re.Pattern[str] | None = None,
    pids: Iterable[int] = (),
) -> SlurmJobRef | None:
    """The job of a log: from its name first (works from any node), then from local writers' environ."""
    ref = ref_from_path(path, pattern)
    if ref is not None:
        return ref
    for pid in pids:
        ref = ref_from_pid(pid)
        if ref is not None:
            return ref
    return None


@dataclass(frozen=True, slots=True)
class SlurmStatus:
    """What Slurm says about one job/task now."""

    ref: SlurmJobRef
    state: JobState
    raw_state: str = ""  # Slurm's state word ("CANCELLED"); "" when Slurm no longer knows the job
    reason: str = ""
    source: str = "squeue"  # "squeue" | "sacct" | "absent"
    slurm_job_id: str = ""  # Slurm's own id of the task (%A), what scontrol/sacct also accept

    @property
    def ended(self) -> bool:
        return self.state in _ENDED


def map_state(raw: str) -> JobState | None:
    """metricwatch state of a Slurm state word; None for a state this version does not know."""
    words = raw.strip().split()
    return _STATES.get(words[0].rstrip("+").upper()) if words else None


def expand_tasks(text: str) -> list[int | None]:
    """Task ids of a squeue/sacct task field: "N/A", "3", "0-3", "[0-3%2]", "1,4-5"."""
    text = text.strip().strip("[]").split("%", 1)[0]
    if text in ("", "N/A"):
        return [None]
    tasks: list[int | None] = []
    for part in text.split(","):
        low, _, high = part.partition("-")
        if not low.isdigit() or (high and not high.isdigit()):
            return []
        tasks.extend(range(int(low), int(high or low) + 1))
    return tasks


def parse_squeue(output: str) -> list[SlurmStatus]:
    """Parse `squeue -h --array -o '%A|%F|%K|%T|%r'`; lines that do not fit are skipped, not fatal."""
    found: list[SlurmStatus] = []
    for line in output.splitlines():
        fields = line.strip().split("|", 4)
        if len(fields) != 5 or not fields[0].strip().isdigit():
            continue
        own, array_job, task_text, raw, reason = (f.strip() for f in fields)
        state = map_state(raw)
        if state is None:
            state = JobState.RUNNING  # an unknown state is never taken for an end
        for task in expand_tasks(task_text):
            job = array_job if task is not None and array_job.isdigit() else own
            found.append(SlurmStatus(SlurmJobRef(job, task), state, raw, reason, "squeue", own))
    return found


def parse_sacct(output: str) -> list[SlurmStatus]:
    """Parse `sacct -P -n -X -o JobID,State,Reason`: JobID is `1234`, `1234_5` or `1234_[6-9]`."""
    found: list[SlurmStatus] = []
    for line in output.splitlines():
        fields = line.strip().split("|")
        if len(fields) < 2:
            continue
        job, _, task_text = fields[0].partition("_")
        state = map_state(fields[1])
        if not job.isdigit() or state is None:
            continue
        reason = fields[2] if len(fields) > 2 else ""
        for task in expand_tasks(task_text or "N/A"):
            found.append(SlurmStatus(SlurmJobRef(job, task), state, fields[1], reason, "sacct"))
    return found


Runner = Callable[..., "subprocess.CompletedProcess[str]"]


class SlurmClient:
    """The one seam to Slurm's client commands (argv lists, never a shell; every call has a timeout)."""

    def __init__(self, *, timeout: float = 30.0, runner: Runner = subprocess.run) -> None:
        self.timeout = timeout
        self._run_process = runner
        self._accounting: bool | None = None

    def check(self) -> None:
        """Fail before the loop starts when the Slurm client commands are missing."""
        missing = [c for c in ("squeue", "scancel", "scontrol") if shutil.which(c) is None]
        if missing:
            raise ActionError(
                f"Slurm commands not found: {', '.join(missing)}",
                where="action slurm",
                hint="run metricwatch where the Slurm client is installed (a login node)",
            )

    def run(self, argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
        try:
            return self._run_process(
                list(argv), capture_output=True, text=True, timeout=self.timeout, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ActionError(f"{argv[0]} failed: {exc}", where=" ".join(argv)) from exc

    def accounting_available(self) -> bool:
        """Whether sacct answers (needs slurmdbd); asked once."""
        if self._accounting is None:
            if shutil.which("sacct") is None:
                self._accounting = False
            else:
                probe = self.run(["sacct", "-n", "-P", "-X", "-o", "JobID", "-S", "now"])
                self._accounting = probe.returncode == 0
        return self._accounting

    def states(self, refs: Iterable[SlurmJobRef]) -> dict[SlurmJobRef, SlurmStatus]:
        """States of many jobs: one squeue call, one sacct call for the ones squeue forgot."""
        wanted = set(refs)
        if not wanted:
            return {}
        return self._complete(wanted, self._squeue(wanted))

    def survey(self, refs: Iterable[SlurmJobRef]) -> tuple[dict[SlurmJobRef, SlurmStatus], list[SlurmStatus]]:
        """States of `refs` as `states()` gives them, and everything squeue listed for their job ids
        (every task of their arrays, pending ones included), from the same single squeue call."""
        wanted = set(refs)
        if not wanted:
            return {}, []
        listed = self._squeue(wanted)
        return self._complete(wanted, listed), listed

    def _complete(
        self, wanted: set[SlurmJobRef], listed: list[SlurmStatus]
    ) -> dict[SlurmJobRef, SlurmStatus]:
        """The wanted refs' states from squeue's list, then sacct, else `absent` (left the queue)."""
        known = {s.ref: s for s in listed if s.ref in wanted}
        missing = wanted - known.keys()
        if missing and self.accounting_available():
            known.update({s.ref: s for s in self._sacct(missing) if s.ref in missing})
        for ref in wanted - known.keys():
            # Left the queue and nobody remembers how it ended: done, as far as anyone can tell.
            known[ref] = SlurmStatus(ref, JobState.COMPLETED, source="absent")
        return known

    def show_job(self, ref: SlurmJobRef) -> dict[str, str]:
        """`scontrol show job -o` as a dict (JobState, ExitCode, Reason, …); {} if Slurm forgot it."""
        done = self.run(["scontrol", "show", "job", "-o", ref.spec])
        if done.returncode != 0:
            return {}
        line = done.stdout.strip().splitlines()[0] if done.stdout.strip() else ""
        return dict(item.split("=", 1) for item in line.split(" ") if "=" in item)

    def scancel(self, ref: SlurmJobRef, *, signal: str | None = None) -> subprocess.CompletedProcess[str]:
        """Plain `scancel` (cancel the job) or, with signal, `--signal=SIG --full` (signal every process
        of the job, the batch shell included, and let it end by itself)."""
        argv = ["scancel", *((f"--signal={signal}", "--full") if signal else ()), ref.spec]
        return self.run(argv)

    def _squeue(self, refs: set[SlurmJobRef]) -> list[SlurmStatus]:
        # Asking by job id covers every task of an array; tasks are filtered by the caller.
        ids = ",".join(sorted({r.job_id for r in refs}))
        argv = ["squeue", "-h", "--array", "--states=all", "-o", _SQUEUE_FORMAT, "-j", ids]
        done = self.run(argv)
        if done.returncode != 0:
            if "Invalid job id" in done.stderr:
                return []  # all of them have left the controller's memory
            raise ActionError(f"squeue failed: {done.stderr.strip()}", where=" ".join(argv))
        return parse_squeue(done.stdout)

    def _sacct(self, refs: set[SlurmJobRef]) -> list[SlurmStatus]:
        ids = ",".join(sorted({r.job_id for r in refs}))
        done = self.run(["sacct", "-P", "-n", "-X", "-o", "JobID,State,Reason", "-j", ids])
        return parse_sacct(done.stdout) if done.returncode == 0 else []


@dataclass(frozen=True, slots=True)
class JobEnd:
    """How a job ended, for metricwatch: the state to record and a short reason code."""

    state: JobState
    reason: str  # "stopped_by_metricwatch", "cancelled_by_someone_else", "completed", "failed", …
    slurm_state: str = ""


def classify_end(status: SlurmStatus, *, stopped_by_us: bool) -> JobEnd | None:
    """How a job ended, or None while it is still pending/running.

    `stopped_by_us` is True when metricwatch's action table holds a stop it delivered to this job
    (scancel accepted while the job was still alive). Then the end is ours whatever Slurm calls it:
    TERM via `scancel --signal=TERM --full` makes Slurm 22.05 report FAILED (ExitCode 0:15), a plain
    scancel CANCELLED, and a job that traps TERM and exits cleanly COMPLETED. Without such an entry,
    a CANCELLED job was ended by a person or the scheduler and is never counted as a stop of ours.
    """
    if not status.ended:
        return None
    if stopped_by_us:
        return JobEnd(JobState.STOPPED, "stopped_by_metricwatch", status.raw_state)
    if status.state is JobState.CANCELLED:
        return JobEnd(JobState.CANCELLED, "cancelled_by_someone_else", status.raw_state)
    if status.source == "absent":
        return JobEnd(JobState.COMPLETED, "left_queue", status.raw_state)
    return JobEnd(status.state, status.state.value, status.raw_state)
