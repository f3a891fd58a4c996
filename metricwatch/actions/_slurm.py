"""The Slurm action: stop a job (array task) through the scheduler, from any node that has the client.

1. `scancel --signal=TERM --full <job>_<task>`: every process of the task, the batch shell included, gets
   SIGTERM and may save a checkpoint. (A PENDING task has no process: it gets a plain `scancel`.)
2. After `grace` seconds, a task still in the queue gets a plain `scancel` (Slurm then sends TERM, waits
   its KillWait and sends KILL).
3. The end is confirmed from squeue (sacct where accounting exists) and reported as a follow-up outcome
   from `poll_escalations`; a task still alive `confirm_timeout` seconds after the plain scancel is
   reported as a failure.

`stop()` never blocks: the daemon calls `poll_escalations()` every loop. `settle()` blocks until every
pending stop is confirmed (one-shot commands and tests).

What Slurm 22.05 calls the end: a task killed by the TERM of step 1 ends FAILED (ExitCode 0:15, Reason
JobLaunchFailure), one ended by the plain scancel of step 2 ends CANCELLED, and one that traps TERM and
exits 0 ends COMPLETED. All three are a stop of ours; `metricwatch.slurm.classify_end` uses the outcome,
not the Slurm state, to say so.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

from metricwatch.actions._base import Action, ActionOutcome, Clock, check_keys, take
from metricwatch.errors import ActionError
from metricwatch.jobs import JobTarget
from metricwatch.slurm import (
    SlurmClient,
    SlurmJobRef,
    SlurmStatus,
    compile_log_pattern,
    ref_for_log,
)
from metricwatch.types import Decision, JobState


@dataclass(slots=True)
class _Stopping:
    """A stop in progress (mutable bookkeeping private to the action, never passed on)."""

    target: JobTarget
    ref: SlurmJobRef
    deadline: float  # escalate (or, once escalated, give up) at this time
    escalated: bool = False


class SlurmAction(Action):
    """Stop the Slurm job of a log with scancel: TERM to all its processes, plain scancel after a grace.

    Args:
        grace: seconds between `scancel --signal=TERM --full` and a plain `scancel` (≥ 0).
        confirm_timeout: seconds after the plain scancel before a task still queued is a failure (> 0).
        signal: the first signal (`TERM`; `INT` or `USR1` for jobs that checkpoint on those).
        log_pattern: regex with named groups `array_job`+`task` or `job`, searched in the log path;
            default: sbatch's `slurm-%A_%a.out` / `slurm-%j.out`, then the writers' SLURM_* environment.
        client: the Slurm command seam (tests of the logic pass a fake; the real suite does not).

    Example:
        >>> action = SlurmAction(grace=30)  # doctest: +SKIP
        >>> action.stop(JobTarget("1234_7", Path("logs/slurm-1234_7.out")), decision).detail  # doctest: +SKIP
        'sent TERM to 1234_7 (scancel --signal=TERM --full); plain scancel after 30s if still queued'
    """

    name = "slurm"

    def __init__(
        self,
        *,
        grace: float = 30.0,
        confirm_timeout: float = 60.0,
        signal: str = "TERM",
        log_pattern: str | None = None,
        client: SlurmClient | None = None,
        dry_run: bool = False,
        clock: Clock = time.time,
        where: str = "action",
    ) -> None:
        super().__init__(dry_run=dry_run, clock=clock)
        if grace < 0 or confirm_timeout <= 0:
            raise ActionError(
                f"need grace ≥ 0 and confirm_timeout > 0, got {grace=}, {confirm_timeout=}",
                where=where,
                hint="set grace (seconds) to 0 or more",
            )
        if not signal.isalnum():
            raise ActionError(f"bad signal {signal!r}", where=f"{where}.signal", hint="e.g. TERM")
        self.grace = grace
        self.confirm_timeout = confirm_timeout
        self.signal = signal.upper().removeprefix("SIG")
        self.pattern = compile_log_pattern(log_pattern, where=f"{where}.log_pattern") if log_pattern else None
        self.client = client or SlurmClient()
        if not dry_run:
            self.client.check()
        self._stopping: dict[str, _Stopping] = {}
        self._delivered: set[str] = set()

    @classmethod
    def from_spec(cls, params: Mapping[str, object], *, where: str, dry_run: bool) -> SlurmAction:
        check_keys(params, {"grace", "confirm_timeout", "signal", "log_pattern"}, where=where)
        pattern = take(params, "log_pattern", str, "", where=where)
        return cls(
            grace=take(params, "grace", float, 30.0, where=where),
            confirm_timeout=take(params, "confirm_timeout", float, 60.0, where=where),
            signal=take(params, "signal", str, "TERM", where=where),
            log_pattern=pattern or None,
            dry_run=dry_run,
            where=where,
        )

    def ref_for(self, job: JobTarget) -> SlurmJobRef | None:
        """The Slurm job of a target: its log name first, then its local writers' environment."""
        return ref_for_log(job.log_path, pattern=self.pattern, pids=[p.pid for p in job.processes])

    def stopped_by_us(self, job: str) -> bool:
        """Whether a stop of ours reached this job while it was alive (for `classify_end`)."""
        return job in self._delivered

    def stop(self, job: JobTarget, decision: Decision) -> ActionOutcome:
        if job.job in self._stopping or job.job in self._delivered:
            # Idempotent, like the signal action: nothing is sent twice.
            pending = job.job in self._stopping
            detail = "already stopping; confirmation pending" if pending else "already stopped"
            return self._outcome(job, ok=True, detail=detail, pending=pending)
        ref = self.ref_for(job)
        if ref is None:
            return self._outcome(job, ok=False, detail=f"no Slurm job id in {job.log_path} or its writers")
        try:
            status = self.client.states([ref])[ref]
        except ActionError as exc:
            return self._outcome(job, ok=False, detail=f"cannot ask Slurm about {ref}: {exc}")
        if status.ended:
            return self._outcome(job, ok=False, detail=f"{ref} already ended: {_describe(status)}")
        first = None if status.state is JobState.PENDING else self.signal
        if self.dry_run:
            return self._dry_run(job, self._plan(ref, first))
        return self._send_first(job, ref, first)

    def _plan(self, ref: SlurmJobRef, first: str | None) -> str:
        if first is None:
            return f"scancel {ref} (pending: no process to signal)"
        return f"scancel --signal={first} --full {ref}, then scancel {ref} after {self.grace:g}s"

    def _send_first(self, job: JobTarget, ref: SlurmJobRef, first: str | None) -> ActionOutcome:
        try:
            done = self.client.scancel(ref, signal=first)
        except ActionError as exc:
            return self._outcome(job, ok=False, detail=str(exc))
        if done.returncode != 0:
            # Usually the task ended between our query and scancel ("Invalid job id specified").
            return self._outcome(job, ok=False, detail=f"scancel {ref} failed: {done.stderr.strip()}")
        now = self.clock()
        escalated = first is None
        deadline = now + (self.confirm_timeout if escalated else self.grace)
        self._stopping[job.job] = _Stopping(job, ref, deadline, escalated)
        self._delivered.add(job.job)
        sent = f"cancelled pending {ref}" if escalated else f"sent {first} to {ref} (--full)"
        return self._outcome(job, ok=True, detail=f"{sent}; confirming the end", pending=True)

    def poll_escalations(self, now: float | None = None) -> list[ActionOutcome]:
        """Confirm ended stops, escalate to a plain scancel after the grace, give up after the timeout."""
        if not self._stopping:
            return []
        now = self.clock() if now is None else now
        try:
            states = self.client.states(s.ref for s in self._stopping.values())
        except ActionError:
            return []  # the controller is busy or down: try again next loop
        outcomes = []
        for key, stopping in list(self._stopping.items()):
            outcome = self._advance(stopping, states[stopping.ref], now)
            if outcome is not None:
                outcomes.append(outcome)
                if not outcome.pending:
                    del self._stopping[key]
        return outcomes

    def _advance(self, stopping: _Stopping, status: SlurmStatus, now: float) -> ActionOutcome | None:
        job, ref = stopping.target, stopping.ref
        if status.ended:
            return self._outcome(job, ok=True, detail=f"confirmed {ref} ended: {self._final(status)}")
        if now < stopping.deadline:
            return None
        if stopping.escalated:
            detail = f"{ref} still {status.raw_state} {self.confirm_timeout:g}s after scancel"
            return self._outcome(job, ok=False, detail=detail)
        stopping.escalated = True
        stopping.deadline = now + self.confirm_timeout
        try:
            done = self.client.scancel(ref)
        except ActionError as exc:
            return self._outcome(job, ok=False, detail=str(exc))
        detail = f"{ref} still {status.raw_state} after {self.grace:g}s grace: scancel {ref}"
        if done.returncode != 0:
            detail += f" failed: {done.stderr.strip()}"
        return self._outcome(job, ok=done.returncode == 0, detail=detail, pending=True)

    def _final(self, status: SlurmStatus) -> str:
        """The end as Slurm records it, with scontrol's exit code and reason while it still knows."""
        extra = ""
        if status.source == "squeue":
            try:
                shown = self.client.show_job(SlurmJobRef(status.slurm_job_id or status.ref.job_id))
            except ActionError:
                shown = {}
            if shown:
                extra = f" ExitCode={shown.get('ExitCode', '?')} Reason={shown.get('Reason', '?')}"
        return _describe(status) + extra

    def settle(self, timeout: float, *, interval: float = 0.5) -> list[ActionOutcome]:
        """Block until every pending stop is confirmed or failed (or `timeout`); all outcomes."""
        outcomes: list[ActionOutcome] = []
        deadline = time.monotonic() + timeout
        while self._stopping and time.monotonic() < deadline:
            outcomes.extend(self.poll_escalations())
            if self._stopping:
                time.sleep(interval)
        return outcomes


def _describe(status: SlurmStatus) -> str:
    state = status.raw_state or "gone from the queue"
    return f"{state} (from {status.source})"
