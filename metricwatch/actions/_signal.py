"""The signal action: SIGTERM to the job's processes (tree or owned group), SIGKILL to survivors after grace.

SageMaker's StopTrainingJob sends SIGTERM and hard-stops 120 s later so the job can save artifacts
(research §1.4); NNI tree-kills with SIGTERM and SIGKILLs after ~5 s. The escalation never blocks the
daemon: `stop()` sends the first signal and records an `Escalation`; `poll_escalations(now)`, called from
the daemon loop, sends SIGKILL to whatever survived the grace period, re-verifying start times so a PID
reused in the meantime is not touched. Escalations are frozen values so the daemon can persist them and
`adopt()` them after a restart.
"""

from __future__ import annotations

import signal as _signal
import time
from collections.abc import Mapping
from dataclasses import dataclass

import psutil

from metricwatch.actions._base import Action, ActionOutcome, Clock, check_keys, take
from metricwatch.actions._targets import Group, Guard, Selection, reselect, select
from metricwatch.errors import ActionError
from metricwatch.jobs import JobTarget, ProcessRef
from metricwatch.types import Decision

SCOPES = ("group", "tree")


@dataclass(frozen=True, slots=True)
class Escalation:
    """A SIGKILL due at `deadline` for whatever of `targets` (and their groups) is still alive."""

    job: str
    targets: tuple[ProcessRef, ...]
    groups: tuple[Group, ...]
    deadline: float


class SignalAction(Action):
    """Send `signal` to the job's processes, then `kill_signal` to survivors after `grace` seconds.

    Args:
        signal: first signal (default SIGTERM); a name ("SIGINT", "INT") or number.
        grace: seconds before escalating, ≥ 0 (default 120, as SageMaker).
        kill_signal: escalation signal (default SIGKILL), or None for no escalation.
        scope: "group" (default): each job process's tree, plus its whole process group when the job owns
            it (see `_targets`); "tree": the processes and their descendants only.
        allow_other_users: also signal processes of other uids (off by default).

    Example:
        >>> action = SignalAction(grace=30)  # doctest: +SKIP
        >>> action.stop(target, decision).signalled  # doctest: +SKIP
        ((4242, 'SIGTERM'), (4250, 'SIGTERM'))
        >>> action.poll_escalations()  # in the daemon loop; SIGKILLs survivors 30 s later  # doctest: +SKIP
    """

    name = "signal"

    def __init__(
        self,
        *,
        signal: int | str = _signal.SIGTERM,
        grace: float = 120.0,
        kill_signal: int | str | None = _signal.SIGKILL,
        scope: str = "group",
        allow_other_users: bool = False,
        dry_run: bool = False,
        clock: Clock = time.time,
        where: str = "action",
    ) -> None:
        super().__init__(dry_run=dry_run, clock=clock)
        self.signal = parse_signal(signal, where=f"{where}.signal")
        self.kill_signal = (
            None if kill_signal is None else parse_signal(kill_signal, where=f"{where}.kill_signal")
        )
        if grace < 0:
            raise ActionError(f"grace must be ≥ 0 seconds, got grace={grace}", where=f"{where}.grace")
        if scope not in SCOPES:
            raise ActionError(
                f"scope must be one of {', '.join(SCOPES)}, got {scope!r}", where=f"{where}.scope"
            )
        self.grace = float(grace)
        self.scope = scope
        self.allow_other_users = allow_other_users
        self._pending: dict[str, Escalation] = {}

    @classmethod
    def from_spec(cls, params: Mapping[str, object], *, where: str, dry_run: bool) -> SignalAction:
        check_keys(params, {"signal", "grace", "kill_signal", "scope", "allow_other_users"}, where=where)
        kill = params.get("kill_signal", "SIGKILL")
        if kill is not None and not isinstance(kill, (str, int)):
            raise ActionError(
                f"kill_signal must be a signal name, got {kill!r}", where=f"{where}.kill_signal"
            )
        return cls(
            signal=_str_or_int(params.get("signal", "SIGTERM"), where=f"{where}.signal"),
            grace=take(params, "grace", float, 120.0, where=where),
            kill_signal=None if kill is None or str(kill).lower() in ("", "none") else kill,
            scope=take(params, "scope", str, "group", where=where),
            allow_other_users=take(params, "allow_other_users", bool, False, where=where),
            dry_run=dry_run,
            where=where,
        )

    @property
    def pending(self) -> tuple[Escalation, ...]:
        """Escalations not yet resolved, for the daemon to persist."""
        return tuple(self._pending.values())

    def adopt(self, escalation: Escalation) -> None:
        """Resume an escalation persisted before a daemon restart."""
        self._pending[escalation.job] = escalation

    def stop(self, job: JobTarget, decision: Decision) -> ActionOutcome:
        if job.job in self._pending:  # idempotent: the first stop's escalation is already running
            return self._outcome(job, ok=True, detail="already stopping; escalation pending", pending=True)
        if not job.processes:
            return self._outcome(job, ok=False, detail="no processes known for this job")
        guard = Guard.current(allow_other_users=self.allow_other_users)
        sel = select(job.processes, scope=self.scope, job_pgid=job.pgid, guard=guard)
        name = _signal.Signals(self.signal).name
        if self.dry_run:
            pids = sorted(sel.procs)
            return self._dry_run(job, f"send {name} to {pids}", skipped=_skipped(sel))
        sent, refs = _send(sel, self.signal)
        if refs and self.kill_signal is not None:
            deadline = self.clock() + self.grace
            self._pending[job.job] = Escalation(job.job, refs, tuple(sel.groups), deadline)
        return self._outcome(
            job,
            ok=bool(sent) or not _refused(sel),
            detail=_describe(name, sent, sel),
            signalled=tuple((pid, name) for pid in sent),
            skipped=_skipped(sel),
            pending=job.job in self._pending,
        )

    def poll_escalations(self, now: float | None = None) -> list[ActionOutcome]:
        """SIGKILL survivors of escalations that are due; report escalations that ended early."""
        now = self.clock() if now is None else now
        return [out for esc in list(self._pending.values()) if (out := self._advance(esc, now))]

    def _advance(self, esc: Escalation, now: float) -> ActionOutcome | None:
        guard = Guard.current(allow_other_users=self.allow_other_users)
        sel = reselect(esc.targets, esc.groups, guard)
        target = esc.job
        if not sel.procs:
            del self._pending[esc.job]
            return self._outcome(target, ok=True, detail="all processes exited within the grace period")
        if now < esc.deadline:
            return None
        del self._pending[esc.job]
        assert self.kill_signal is not None  # escalations are only created with a kill signal
        name = _signal.Signals(self.kill_signal).name
        sent, _ = _send(sel, self.kill_signal)
        return self._outcome(
            target,
            ok=True,
            detail=_describe(name, sent, sel) + f" after {self.grace:g} s grace",
            signalled=tuple((pid, name) for pid in sent),
            skipped=_skipped(sel),
        )


def _send(sel: Selection, sig: int) -> tuple[list[int], tuple[ProcessRef, ...]]:
    """Signal every selected process; psutil re-checks each start time right before sending."""
    sent: list[int] = []
    refs: list[ProcessRef] = []
    for pid, proc in sorted(sel.procs.items()):
        try:
            ref = ProcessRef.from_process(proc)
            proc.send_signal(sig)
        except psutil.NoSuchProcess:
            sel.skipped[pid] = "exited before the signal"
            continue
        except psutil.AccessDenied:
            sel.skipped[pid] = "permission denied"
            continue
        sent.append(pid)
        if ref is not None:
            refs.append(ref)
    return sent, tuple(refs)


def _refused(sel: Selection) -> bool:
    """True when a live process of the job was deliberately left alone (not merely gone)."""
    return any(not why.startswith("exited") for why in sel.skipped.values())


def _skipped(sel: Selection) -> tuple[tuple[int, str], ...]:
    return tuple(sorted(sel.skipped.items()))


def _describe(name: str, sent: list[int], sel: Selection) -> str:
    parts = [f"sent {name} to {sent}" if sent else f"sent {name} to no process"]
    parts += [f"left {pid} alone: {why}" for pid, why in sorted(sel.skipped.items())]
    return "; ".join(parts + sel.notes)


def parse_signal(value: int | str, *, where: str) -> int:
    """A signal number from 15, "15", "TERM" or "SIGTERM"."""
    # str() of an IntEnum member is "Signals.SIGTERM" before Python 3.11: take ints as ints.
    text = str(int(value)) if isinstance(value, int) else str(value).strip().upper()
    try:
        if text.isdigit():
            return int(_signal.Signals(int(text)))
        return int(_signal.Signals[text if text.startswith("SIG") else f"SIG{text}"])
    except (KeyError, ValueError) as exc:
        raise ActionError(
            f"unknown signal {value!r}", where=where, hint="use a name such as SIGTERM or SIGINT"
        ) from exc


def _str_or_int(value: object, *, where: str) -> int | str:
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        return value
    raise ActionError(f"expected a signal name, got {value!r}", where=where)
