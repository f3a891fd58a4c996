"""The daemon: the loop that runs follow → frame → extract → decide → act for every study.

One `StudyRunner` per study owns that study's follower, extractors (one per job, so an epoch carries
across a rotated log), rule history and action. The `Daemon` loop is five named steps:

1. `read`: records that arrived since the last step, from each study's follower;
2. `extract_and_decide`: records → settled observations → decisions, committed to the state store in
   one transaction together with the file offset they came from (a SIGKILL loses or repeats nothing);
3. `act`: a STOP decision claims the job's stop in the store first, so a job is stopped at most once,
   even across restarts; then the action runs and its outcome is recorded;
4. `housekeep` (about once a second): which jobs ended (their processes exited, an end pattern, idle
   past the timeout; for Slurm tasks, what one squeue call says: metricwatch/scheduler.py), pending
   SIGKILL escalations, block-buffering warnings;
5. on shutdown, nothing is lost: the store already holds everything up to the last complete record.

A restart rebuilds the rule history from the store, resumes each file at its committed offset with the
extractor state saved beside it, and never decides an epoch twice.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import regex

from metricwatch import events
from metricwatch.actions import Action, ActionOutcome, build_action
from metricwatch.config import Config, StudyConfig
from metricwatch.errors import ConfigError, MetricwatchError
from metricwatch.extract import Extractor
from metricwatch.follow import EventKind, FileEvent, FileState, Follower, Item
from metricwatch.jobs import (
    JobNamer,
    JobTarget,
    ProcessRef,
    alive,
    find_job_processes,
    find_writers,
    glob_root,
)
from metricwatch.packs import Pack, load_pack
from metricwatch.rules import Rule, StudyHistory, build_rule
from metricwatch.scheduler import JobSeen, Update, tracker_for
from metricwatch.state import FileState as StoredFile
from metricwatch.state import StateStore
from metricwatch.types import Decision, Direction, JobState, Observation

HOUSEKEEPING_SECONDS = 1.0
IDLE_RESCAN_SECONDS = 15.0  # how often a job with no output and no known process is looked for
_FINAL = {JobState.COMPLETED, JobState.STOPPED, JobState.CANCELLED, JobState.FAILED}


@dataclass(slots=True)
class JobInfo:
    """What the daemon knows about one job beyond its metric history."""

    job: str
    log_path: str
    last_output: float
    state: JobState = JobState.RUNNING
    processes: tuple[ProcessRef, ...] = ()
    pgid: int | None = None
    seen_processes: bool = False
    warned_buffered: bool = False
    scanned_at: float = -math.inf  # last /proc scan for this job's writers
    last_file: FileState | None = None  # where the job's latest records came from (for final commits)


class StudyRunner:
    """One study's pipeline. Everything here runs on the daemon's thread."""

    def __init__(
        self,
        cfg: StudyConfig,
        store: StateStore,
        *,
        poll_interval: float,
        rescan_interval: float,
        polling: bool,
        state_dir: Path,
        clock: Callable[[], float] = time.monotonic,
        wakeup_event: threading.Event | None = None,
    ) -> None:
        self.cfg = cfg
        self.name = cfg.name
        self.store = store
        self.state_dir = state_dir
        self.clock = clock
        self.pack: Pack = load_pack(cfg.patterns)
        self.objective, self.direction = _objective(cfg, self.pack)
        self.rule: Rule = build_rule(cfg.rule.name, direction=self.direction, **cfg.rule.params)
        self.action: Action = build_action(cfg.action.spec(), where=f"{cfg.name}.action", dry_run=cfg.dry_run)
        self.namer = JobNamer(root=glob_root(cfg.logs[0]), pattern=cfg.job_id)
        # Slurm tasks: their state comes from the scheduler (their processes run on other nodes).
        self.tracker = tracker_for(cfg.name, self.action, self.namer, store, clock=clock)
        self.end_pattern = regex.compile(cfg.completion.end_pattern) if cfg.completion.end_pattern else None
        self.history = StudyHistory()
        self.jobs: dict[str, JobInfo] = {}
        self.path_jobs: dict[str, str] = {}  # every log path seen → its job
        self.extractors: dict[str, Extractor] = {}
        self.decided: set[tuple[str, int, int]] = set()  # (job, attempt, epoch)
        self.stopped: set[str] = set()
        self.attempts: dict[str, int] = {}  # the attempt the history holds for each job
        self.condemned: set[str] = set()  # jobs with a STOP decision: never decided on again
        self.unacted: list[Decision] = []
        self.unfinished: list[tuple[str, Decision]] = []
        store.ensure_study(cfg.name, self.objective, self.direction)
        checkpoints = self._restore()
        self.follower = Follower(
            cfg.logs,
            mode="poll" if polling else "auto",
            poll_interval=poll_interval,
            rescan_interval=rescan_interval,
            checkpoints=checkpoints,
            clock=clock,
            wakeup_event=wakeup_event,
        )

    # ---------------------------------------------------------------------------------------- restart
    def _restore(self) -> dict[str, dict[str, object]]:
        """Rebuild history, job states, decided epochs and extractor states from the store."""
        now = self.clock()
        for h in self.store.load_history(self.name):
            row = h.job
            self.history.add_job(row.job, state=row.state)
            self.jobs[row.job] = JobInfo(row.job, row.log_path, now, state=row.state)
            self.path_jobs[row.log_path] = row.job
            self.attempts[row.job] = row.attempt
            for o in h.latest():
                if o.metric == self.objective:
                    self.history.record(row.job, o.epoch, o.value)
        for stored in self.store.decisions(self.name):
            self.decided.add((stored.decision.job, stored.attempt, stored.decision.epoch))
            if stored.decision.stop:
                self.condemned.add(stored.decision.job)
        self.stopped = {c.job for c in self.store.stop_claims(self.name)}
        # A STOP decision committed just before a crash, whose stop was never claimed: act on it now.
        self.unacted = [s.decision for s in self.store.pending_stops(self.name)]
        # A stop claimed but never finished (the daemon died during the grace period, or mid-action):
        # the job may still be running, and its SIGKILL escalation died with the daemon.
        stops = {d.decision.job: d.decision for d in self.store.decisions(self.name) if d.decision.stop}
        self.unfinished = [
            (c.job, stops[c.job]) for c in self.store.unfinished_stops(self.name) if c.job in stops
        ]
        checkpoints: dict[str, dict[str, object]] = {}
        latest: dict[str, dict[str, object]] = {}  # job → its most advanced extractor snapshot
        for f in self.store.load_file_states(self.name):
            resume = json.loads(f.resume) if f.resume else {}
            if "follow" in resume:
                checkpoints[f"{f.dev}:{f.ino}"] = resume["follow"]
            snap = resume.get("extract")
            if f.job and snap and (f.job not in latest or _progress(snap) > _progress(latest[f.job])):
                latest[f.job] = snap
        for job, snap in latest.items():
            self.extractors[job] = Extractor.restore(self.pack, job, snap)
        return checkpoints

    # ------------------------------------------------------------------------------------ per batch
    def handle(self, item: Item) -> None:
        if isinstance(item, FileEvent):
            self._file_event(item)
            return
        try:
            job = self.namer.job_id(item.path)
        except MetricwatchError as exc:  # one unnamed log never stops the others
            events.file_event("skipped", item.path, reason=str(exc), study=self.name)
            return
        info = self._job(job, item.path)
        info.last_output = self.clock() - _age(item.path)  # a backlog read at start-up is not "recent"
        info.last_file = item.state
        extractor = self._extractor(job)
        observations: list[Observation] = []
        ended = False
        for record in item.records:
            observations += extractor.feed(record)
            if self.end_pattern is not None and self.end_pattern.search(record.text):
                ended = True
        if ended:
            observations += extractor.finish()
        self._report_problems(extractor)
        decisions = self._decide(job, observations)
        self._commit(item.state, job, extractor, observations, decisions)
        for d in decisions:
            events.decision_made(self.name, d)
        for d in decisions:
            if d.stop:
                self._stop(info, d)
        if ended:
            self._end(info, JobState.COMPLETED, "end_pattern")

    def _decide(self, job: str, observations: Iterable[Observation]) -> list[Decision]:
        decisions: list[Decision] = []
        for o in observations:
            if o.metric != self.objective:
                continue
            if o.attempt > self.attempts.setdefault(job, 1):
                self.history.reset_job(job)
                self.attempts[job] = o.attempt
            self.history.record(job, o.epoch, o.value)
            key = (job, o.attempt, o.epoch)
            if key in self.decided or job in self.condemned or self.jobs[job].state in _FINAL:
                continue
            self.decided.add(key)
            decision = self.rule.decide(self.history, job, o.epoch)
            decisions.append(decision)
            if decision.stop:
                self.condemned.add(job)
        return decisions

    def _commit(
        self,
        follow_state: FileState,
        job: str,
        extractor: Extractor,
        observations: list[Observation],
        decisions: list[Decision],
    ) -> None:
        resume = json.dumps({"follow": follow_state.to_dict(), "extract": extractor.snapshot()})
        stored = StoredFile(
            follow_state.path,
            follow_state.dev,
            follow_state.ino,
            follow_state.committed,
            follow_state.line_no,
            job,
            resume=resume,
        )
        self.store.commit_batch(self.name, stored, observations, decisions)

    # ------------------------------------------------------------------------------------------ act
    def _stop(self, info: JobInfo, decision: Decision) -> None:
        if not self.store.claim_stop(self.name, info.job, epoch=decision.epoch, reason=decision.reason):
            return  # stopped before (perhaps by an earlier run of the daemon)
        self.stopped.add(info.job)
        self._act(info, decision)

    def _act(self, info: JobInfo, decision: Decision) -> None:
        processes, pgid = find_job_processes(Path(info.log_path), state_dir=self.state_dir)
        if processes:
            info.processes, info.pgid, info.seen_processes = processes, pgid or info.pgid, True
        target = JobTarget(info.job, Path(info.log_path), self.name, info.processes, info.pgid)
        outcome = self.action.stop(target, decision)
        self._record_outcome(outcome, final=not outcome.pending)
        if not self.action.dry_run and outcome.ok:
            self.history.set_state(info.job, JobState.STOPPED)

    def _resume_stop(self, job: str, decision: Decision) -> None:
        """Finish a stop an earlier run of the daemon began: act again if the job's processes live on.

        The action starts over (SIGTERM, then a full grace period before SIGKILL): stopping late is
        safe, killing early is not.
        """
        info = self.jobs.get(job)
        if info is None or info.state in _FINAL:
            return
        if find_job_processes(Path(info.log_path), state_dir=self.state_dir)[0]:
            self._act(info, decision)
        else:
            self.store.finish_stop(self.name, job, ok=True, detail={"detail": "ended before the restart"})

    def _record_outcome(self, outcome: ActionOutcome, *, final: bool) -> None:
        detail = _outcome_detail(outcome)
        self.store.record_action(self.name, outcome.job, outcome.action, ok=outcome.ok, detail=detail)
        if final:
            self.store.finish_stop(self.name, outcome.job, ok=outcome.ok, detail=detail)
        events.job_stopped(
            self.name, outcome.job, outcome.action, outcome.ok, outcome.detail, outcome.dry_run
        )

    # -------------------------------------------------------------------------------- housekeeping
    def housekeep(self) -> None:
        while self.unacted:
            decision = self.unacted.pop(0)
            info = self.jobs.get(decision.job)
            if info is not None and info.state not in _FINAL:
                self._stop(info, decision)
        while self.unfinished:
            self._resume_stop(*self.unfinished.pop(0))
        for outcome in self.action.poll_escalations():
            self._record_outcome(outcome, final=not outcome.pending)
        if self.tracker is not None:
            for update in self.tracker.refresh(self.jobs):
                self._scheduler_update(update)
        running = [
            i
            for i in self.jobs.values()
            if i.state is JobState.RUNNING and not (self.tracker and self.tracker.tracks(i.job))
        ]
        if not running:
            return
        # Scanning /proc for writers costs ~20 µs per process; do it only for jobs whose known
        # processes all exited, that wrote recently, or that were not scanned for a while. A job with a
        # live process is confirmed by a cheap start-time check of that process alone.
        now = self.clock()
        scan = [i for i in running if self._needs_scan(i, now)]
        writers = find_writers([Path(i.log_path) for i in scan]) if scan else {}
        for info in scan:
            info.scanned_at = now
            self._track(info, writers.get(Path(info.log_path), ()))

    def _needs_scan(self, info: JobInfo, now: float) -> bool:
        if info.processes and alive(info.processes):
            return False
        recent = now - info.last_output < IDLE_RESCAN_SECONDS
        return info.seen_processes or recent or now - info.scanned_at >= IDLE_RESCAN_SECONDS

    def _scheduler_update(self, update: Update) -> None:
        if isinstance(update, JobSeen):  # known from the queue before it wrote a line
            self._job(update.job, update.log_path, update.state, update.reason)
            return
        info = self.jobs.get(update.job)
        if info is not None and info.state not in _FINAL:
            self._end(info, update.state, update.reason)

    def _track(self, info: JobInfo, writers: tuple[ProcessRef, ...]) -> None:
        refs, pgid = find_job_processes(Path(info.log_path), state_dir=self.state_dir, writers=writers)
        if refs:
            info.processes, info.pgid, info.seen_processes = refs, pgid or info.pgid, True
            self._warn_if_buffered(info)
            return
        if info.seen_processes:
            self._end(
                info,
                JobState.STOPPED if info.job in self.stopped else JobState.COMPLETED,
                "stopped_by_metricwatch" if info.job in self.stopped else "process_exited",
            )
            return
        idle = self.cfg.completion.idle_timeout
        if idle is not None and self.clock() - info.last_output > idle:
            self._end(info, JobState.COMPLETED, f"idle_for_{idle:g}s_with_no_process")

    def _end(self, info: JobInfo, state: JobState, reason: str) -> None:
        extractor = self.extractors.get(info.job)
        if extractor is not None and info.last_file is not None:
            rest = extractor.finish()
            for o in rest:
                if o.metric == self.objective:
                    self.history.record(info.job, o.epoch, o.value)
            self._commit(info.last_file, info.job, extractor, rest, [])
        info.state = state
        self.history.set_state(info.job, state)
        self.store.set_job_state(self.name, info.job, state, reason)
        events.job_state(self.name, info.job, state.value, reason)

    def _warn_if_buffered(self, info: JobInfo) -> None:
        if info.warned_buffered:
            return
        for ref in info.processes:
            hint = _buffering_hint(ref.pid)
            if hint:
                events.buffered_output(self.name, info.job, ref.pid, hint)
                info.warned_buffered = True
                return

    # ---------------------------------------------------------------------------------- small parts
    def _job(
        self, job: str, path: str, state: JobState = JobState.RUNNING, why: str = "log_appeared"
    ) -> JobInfo:
        info = self.jobs.get(job)
        if info is None:
            info = JobInfo(job, path, self.clock(), state=state)
            self.jobs[job] = info
            self.history.add_job(job, state=state)
            self.store.register_job(self.name, job, log_path=path, state=state)
            events.job_state(self.name, job, state.value, why)
        elif info.state is JobState.PENDING and state is JobState.RUNNING:  # a queued task's log appeared
            info.state, info.log_path, info.last_output = JobState.RUNNING, path, self.clock()
            self.history.set_state(job, JobState.RUNNING)
            self.store.set_job_state(self.name, job, JobState.RUNNING, why)
            events.job_state(self.name, job, JobState.RUNNING.value, why)
        self.path_jobs[path] = job
        return info

    def _extractor(self, job: str) -> Extractor:
        if job not in self.extractors:
            self.extractors[job] = Extractor(self.pack, job)
        return self.extractors[job]

    def _report_problems(self, extractor: Extractor) -> None:
        for p in extractor.problems:
            events.extract_problem(self.name, p.job, p.line_no, p.definition, p.message)
        extractor.problems.clear()

    def _file_event(self, event: FileEvent) -> None:
        events.file_event(
            event.kind.value.removeprefix("file_"),
            event.path,
            study=self.name,
            reason=event.reason,
            offset=event.offset,
        )
        if event.kind in (EventKind.ADDED, EventKind.RESUMED, EventKind.RESTARTED_FROM_ZERO):
            # Known from its file's creation, not its first line: the start order is when the job
            # began, and a job whose output is block-buffered is still tracked (and warned about).
            with contextlib.suppress(MetricwatchError):  # reported with the file's first batch
                self._job(self.namer.job_id(event.path), event.path)
        if event.kind is EventKind.CLOSED and event.key is not None:
            self.store.forget_file(self.name, event.key.dev, event.key.ino)


class Daemon:
    """All studies of one config, one loop. `run()` returns when `stop` is set (SIGTERM/SIGINT)."""

    def __init__(
        self, config: Config, *, state_dir: Path | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.config = config
        self.store = StateStore(config.daemon.state_db)
        self._wakeup = threading.Event()  # set by any follower's wake-up, and by `wake()`
        state_dir = state_dir or Path(config.daemon.state_db).parent
        d = config.daemon
        self.studies = [
            StudyRunner(
                s,
                self.store,
                poll_interval=d.poll_interval,
                rescan_interval=d.rescan_interval,
                polling=d.polling,
                state_dir=state_dir,
                clock=clock,
                wakeup_event=self._wakeup,
            )
            for s in config.studies
        ]
        self.clock = clock
        self._next_housekeeping = 0.0

    def run(self, stop: threading.Event) -> None:
        events.daemon(
            "daemon_started",
            studies=[s.name for s in self.studies],
            state_db=str(self.config.daemon.state_db),
        )
        try:
            while not stop.is_set():
                self.step(timeout=self.config.daemon.poll_interval)
        finally:
            self.close()
            events.daemon("daemon_stopped")

    def step(self, timeout: float = 0.0) -> None:
        """One turn of the loop: read → extract and decide → act, then housekeeping when due."""
        # Every follower's wake-ups set one shared event: sleep until any has work, then poll them all.
        # Clearing before polling (not after) keeps a wake-up that arrives mid-poll for the next turn.
        self._wakeup.wait(min(s.follower.idle_for(timeout) for s in self.studies))
        self._wakeup.clear()
        items_by_study = [(s, s.follower.poll()) for s in self.studies]
        for study, items in items_by_study:
            for item in _in_start_order(study, items):
                study.handle(item)
        if self.clock() >= self._next_housekeeping:
            self._next_housekeeping = self.clock() + HOUSEKEEPING_SECONDS
            for study in self.studies:
                study.housekeep()

    def wake(self) -> None:
        """End the current wait now (a signal handler calls this after setting the stop event)."""
        self._wakeup.set()

    def close(self) -> None:
        for study in self.studies:
            study.follower.close()
        self.store.close()


def _in_start_order(study: StudyRunner, items: list[Item]) -> list[Item]:
    """Process known jobs' files in their start order (new files after, as they came).

    After a restart, a backlog of several jobs is decided as it was live: earlier jobs are ahead.
    Items of one file keep their relative order (a TRUNCATED event sits between its batches).
    """

    def rank(item: Item) -> int:
        job = study.path_jobs.get(item.path)
        return study.history.rank(job) if job in study.history else len(study.jobs)

    return sorted(items, key=rank)


def _age(path: str) -> float:
    """Seconds since `path` was last written (0 when it cannot be told)."""
    try:
        return max(0.0, time.time() - os.stat(path).st_mtime)
    except OSError:
        return 0.0


def _progress(snapshot: dict[str, object]) -> tuple[int, int]:
    """How far an extractor snapshot had read: (attempt, epoch), for picking a job's latest."""
    epoch = snapshot.get("epoch")
    return int(snapshot.get("attempt", 1)), int(epoch) if isinstance(epoch, int) else 0  # type: ignore[call-overload]


def _objective(cfg: StudyConfig, pack: Pack) -> tuple[str, Direction]:
    objective = cfg.objective or pack.objective
    direction = cfg.direction or pack.direction
    if not objective or direction is None:
        raise ConfigError(
            "no objective and direction given, and the pattern pack suggests none",
            where=f"{cfg.name}",
            hint="set objective and direction (--objective, --minimize)",
        )
    if pack.definition(objective) is None:
        names = ", ".join(d.name for d in pack.definitions)
        raise ConfigError(
            f"objective {objective!r} is not a metric of pack {pack.name!r}",
            where=f"{cfg.name}.objective",
            hint=f"choose one of: {names}",
        )
    return objective, direction


def _outcome_detail(o: ActionOutcome) -> dict[str, object]:
    return {
        "detail": o.detail,
        "dry_run": o.dry_run,
        "signalled": [list(s) for s in o.signalled],
        "skipped": [list(s) for s in o.skipped],
        "exit_code": o.exit_code,
        "output": o.output,
        "pending": o.pending,
    }


def _buffering_hint(pid: int) -> str:
    """Why a Python writer's epochs may arrive in bursts ("" when it looks unbuffered)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return ""
    exe = Path(cmdline[0].decode(errors="replace")).name if cmdline and cmdline[0] else ""
    if not exe.startswith("python"):
        return ""
    if any(
        a in (b"-u",) or (a.startswith(b"-") and not a.startswith(b"--") and b"u" in a[1:2])
        for a in cmdline[1:2]
    ):
        return ""
    if any(e.startswith(b"PYTHONUNBUFFERED=") and e != b"PYTHONUNBUFFERED=" for e in environ):
        return ""
    try:
        stdout = Path(f"/proc/{pid}/fd/1").resolve()
    except OSError:
        return ""
    if not stdout.is_file():
        return ""
    return (
        "python writes stdout to a file without -u or PYTHONUNBUFFERED=1: epochs arrive in 8 KiB "
        "bursts and the rule acts late; run it with python -u or PYTHONUNBUFFERED=1"
    )
