"""Job state from the scheduler (Slurm), for the daemon: what the logs alone cannot say.

A log on a shared filesystem says nothing when its task is cancelled, killed or never started, and the
task's processes run on another node, out of reach of /proc. So for a study whose jobs are Slurm tasks,
`SlurmTracker.refresh(jobs)` asks Slurm once per housekeeping tick (one `squeue` call for every job of
the study, plus `sacct` for tasks squeue forgot) and returns updates for the daemon to apply:

- `JobSeen`: a task of an array we follow that has not written its log yet, so `metricwatch status`
  shows it (PENDING while queued). Its log path is the one a known task's log name gives with the
  task id replaced. Unknown tasks are registered in task order, which is then their start order.
- `JobEnded`: a task that ended in Slurm (or left the queue): STOPPED when a stop of ours reached it,
  CANCELLED "cancelled_by_someone_else" when a person or the scheduler cancelled it, else COMPLETED or
  FAILED, with Slurm's final state and exit code in the reason. The end is reported once the log has
  been read to its end (or `drain_seconds` after Slurm's end, for a last line without a newline or a
  filesystem that reports sizes late), so the last epochs are extracted before the job is closed.

The tracker is not pure (it calls Slurm and stats logs) but it never changes the store: the daemon
applies the updates, so every state change goes through one place.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from metricwatch import events
from metricwatch.actions import Action
from metricwatch.actions._slurm import SlurmAction
from metricwatch.errors import ActionError, MetricwatchError
from metricwatch.follow import FileState
from metricwatch.jobs import JobNamer
from metricwatch.slurm import (
    DEFAULT_LOG_PATTERNS,
    SlurmClient,
    SlurmJobRef,
    SlurmStatus,
    classify_end,
    ref_for_log,
)
from metricwatch.state import StateStore
from metricwatch.types import JobState

FINAL = frozenset({JobState.COMPLETED, JobState.STOPPED, JobState.CANCELLED, JobState.FAILED})
DRAIN_SECONDS = 5.0


class TrackedJob(Protocol):
    """What the tracker reads of the daemon's per-job record (`daemon.JobInfo` has it)."""

    @property
    def log_path(self) -> str: ...
    @property
    def state(self) -> JobState: ...
    @property
    def last_file(self) -> FileState | None: ...


@dataclass(frozen=True, slots=True)
class JobSeen:
    """A task the daemon does not know yet: register it (PENDING, or RUNNING before its first line)."""

    job: str
    log_path: str
    state: JobState
    reason: str  # "queued_in_slurm" | "running_in_slurm"


@dataclass(frozen=True, slots=True)
class JobEnded:
    """A task Slurm reports ended: record `state` with `reason` (see the module docstring)."""

    job: str
    state: JobState
    reason: str


Update = JobSeen | JobEnded


def tracker_for(
    study: str, action: Action, namer: JobNamer, store: StateStore, *, clock: Callable[[], float]
) -> SlurmTracker | None:
    """The study's tracker when its jobs are Slurm tasks (its action is `slurm`), else None."""
    if not isinstance(action, SlurmAction):
        return None
    return SlurmTracker(
        client=action.client,
        namer=namer,
        stopped_by_us=stop_reached(store, study, action),
        log_pattern=action.pattern,
        clock=clock,
        study=study,
    )


def stop_reached(store: StateStore, study: str, action: Action) -> Callable[[str], bool]:
    """Whether a stop of ours reached `job`: the action delivered one in this run, or the store holds
    a claimed stop that did not fail (a stop in flight when an earlier daemon run ended). A dry run
    reaches nothing, so a job ending after a dry-run "stop" is never counted as ours."""

    def reached(job: str) -> bool:
        if action.dry_run:
            return False
        delivered = getattr(action, "stopped_by_us", None)
        if delivered is not None and delivered(job):
            return True
        return any(c.job == job and c.ok is not False for c in store.stop_claims(study))

    return reached


class SlurmTracker:
    """Follows the Slurm side of one study's jobs.

    Args:
        client: the Slurm command seam (shared with the Slurm action when there is one).
        namer: the study's job namer (a log path → job id), for tasks known before their log exists.
        stopped_by_us: whether a stop of ours reached a job (see `classify_end`).
        log_pattern: regex with `array_job`+`task` or `job` groups naming the task in a log path;
            default sbatch's `slurm-%A_%a.out` / `slurm-%j.out`.
        drain_seconds: longest wait for a log to be read to its end after Slurm reports its task ended.
    """

    def __init__(
        self,
        *,
        client: SlurmClient,
        namer: JobNamer,
        stopped_by_us: Callable[[str], bool],
        log_pattern: re.Pattern[str] | None = None,
        drain_seconds: float = DRAIN_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        study: str = "",
    ) -> None:
        self.client = client
        self.namer = namer
        self.stopped_by_us = stopped_by_us
        self.pattern = log_pattern
        self.drain_seconds = drain_seconds
        self.clock = clock
        self.study = study
        self._refs: dict[str, SlurmJobRef] = {}  # job → its Slurm task, for every job that has one
        self._ended_at: dict[str, float] = {}  # job → when Slurm was first seen reporting its end
        self._last_error = ""

    def tracks(self, job: str) -> bool:
        """Whether `job` is a Slurm task whose state comes from Slurm (not from local processes)."""
        return job in self._refs

    def refresh(self, jobs: Mapping[str, TrackedJob]) -> list[Update]:
        """One query for every unfinished job; the updates to apply, new tasks first."""
        active = self._active_refs(jobs)
        if not active:
            return []
        try:
            states, listed = self.client.survey(active.values())
        except ActionError as exc:  # the controller is busy or down: try again next tick
            self._report(str(exc))
            return []
        self._last_error = ""
        updates: list[Update] = list(self._new_tasks(jobs, listed))
        for job, ref in active.items():
            ended = self._ended(job, jobs[job], states[ref])
            if ended is not None:
                updates.append(ended)
        return updates

    # ---------------------------------------------------------------------------------------- parts
    def _active_refs(self, jobs: Mapping[str, TrackedJob]) -> dict[str, SlurmJobRef]:
        active: dict[str, SlurmJobRef] = {}
        for job, info in jobs.items():
            ref = self._refs.get(job) or self._ref(job, info)
            if ref is not None and info.state not in FINAL:
                active[job] = ref
        return active

    def _ref(self, job: str, info: TrackedJob) -> SlurmJobRef | None:
        pids = [p.pid for p in getattr(info, "processes", ())]
        ref = ref_for_log(info.log_path, pattern=self.pattern, pids=pids)
        if ref is not None:
            self._refs[job] = ref
        return ref

    def _new_tasks(self, jobs: Mapping[str, TrackedJob], listed: Iterable[SlurmStatus]) -> list[JobSeen]:
        """Tasks of our arrays that no job stands for yet, in task order (their start order)."""
        known = set(self._refs.values())
        templates: dict[str, str] = {}  # array job id → a log path of one of its tasks
        for job, ref in self._refs.items():
            if ref.task is not None and job in jobs:
                templates.setdefault(ref.job_id, jobs[job].log_path)
        seen: list[JobSeen] = []
        for status in sorted(listed, key=lambda s: s.ref):
            ref = status.ref
            if ref in known or ref.task is None or ref.job_id not in templates or status.ended:
                continue
            path = log_path_for(templates[ref.job_id], ref, self.pattern)
            task_job = self._job_id(path) if path is not None else None
            if path is None or task_job is None or task_job in jobs:
                continue
            known.add(ref)
            self._refs[task_job] = ref
            if status.state is JobState.PENDING:
                seen.append(JobSeen(task_job, path, JobState.PENDING, "queued_in_slurm"))
            else:  # started, but its log is not there yet (or not yet visible from this node)
                seen.append(JobSeen(task_job, path, JobState.RUNNING, "running_in_slurm"))
        return seen

    def _job_id(self, path: str) -> str | None:
        try:
            return self.namer.job_id(path)
        except MetricwatchError:
            return None  # the study's job pattern does not name this path: not one of its jobs

    def _ended(self, job: str, info: TrackedJob, status: SlurmStatus) -> JobEnded | None:
        end = classify_end(status, stopped_by_us=self.stopped_by_us(job))
        if end is None:
            self._ended_at.pop(job, None)  # a requeued task runs again
            return None
        first = self._ended_at.setdefault(job, self.clock())
        if _unread(info) and self.clock() - first < self.drain_seconds:
            return None  # its last lines are still to be read: extract them before closing the job
        del self._ended_at[job]
        return JobEnded(job, end.state, f"{end.reason} ({self._slurm_end(status)})")

    def _slurm_end(self, status: SlurmStatus) -> str:
        """Slurm's word for the end, with the exit code while scontrol still knows the task."""
        if status.source == "absent":
            return "Slurm: left the queue"
        text = f"Slurm: {status.raw_state}"
        if status.source == "squeue":
            try:
                shown = self.client.show_job(status.ref)
            except ActionError:
                shown = {}
            if "ExitCode" in shown:
                text += f", ExitCode={shown['ExitCode']}"
        return text

    def _report(self, message: str) -> None:
        if message != self._last_error:  # once per distinct failure, not once a second
            events.daemon("slurm_query_failed", study=self.study, error=message)
            self._last_error = message


def log_path_for(template: str, ref: SlurmJobRef, pattern: re.Pattern[str] | None = None) -> str | None:
    """The log path of task `ref`, from the log path of another task of the same array: the task id
    (or the whole `job` group) in `template` replaced. None when the pattern does not find it."""
    for candidate in (pattern,) if pattern is not None else DEFAULT_LOG_PATTERNS:
        match = candidate.search(template)
        if match is None:
            continue
        groups = {k for k, v in match.groupdict().items() if v}
        if "task" in groups:
            start, end = match.span("task")
            return template[:start] + str(ref.task) + template[end:]
        if "job" in groups and re.fullmatch(r"\d+_\d+", match["job"]):
            start, end = match.span("job")
            return template[:start] + ref.spec + template[end:]
    return None


def _unread(info: TrackedJob) -> bool:
    """Whether the job's log holds bytes past what the daemon has read."""
    path = info.last_file.path if info.last_file is not None else info.log_path
    try:
        size = os.stat(path).st_size
    except OSError:
        return False  # no log (a task that never started) or it is gone: nothing to wait for
    read = info.last_file.committed if info.last_file is not None else 0
    return size > read
