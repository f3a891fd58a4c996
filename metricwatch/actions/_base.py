"""The Action contract, its outcome value, and helpers shared by the actions.

Deciding and acting are separate (style.md §7 item 6): an action gets a `JobTarget` and the `Decision` that
condemned it, and returns an `ActionOutcome`. Actions are idempotent: the daemon stops a job at most once,
but a second `stop()` for the same job must not do harm (no second signal, no second command run while the
first one's escalation is pending). Runtime trouble is reported in the outcome (`ok=False`), never raised;
only construction (bad configuration, missing executable) raises `ActionError`.
"""

from __future__ import annotations

import string
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import ClassVar, TypeVar

from metricwatch import events
from metricwatch.errors import ActionError
from metricwatch.jobs import JobTarget
from metricwatch.types import Decision, json_safe

Clock = Callable[[], float]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ActionOutcome:
    """What one action did (or would have done, with `dry_run`) to one job."""

    action: str
    job: str
    ok: bool
    detail: str
    timestamp: float
    dry_run: bool = False
    signalled: tuple[tuple[int, str], ...] = ()  # (pid, signal name) actually sent
    skipped: tuple[tuple[int, str], ...] = ()  # (pid, why) left alone on purpose
    exit_code: int | None = None  # command action: the command's exit code
    output: str = ""  # command action: the tail of its stdout
    pending: bool = False  # signal action: a SIGKILL escalation is scheduled


class Action(ABC):
    """Stops one job. Subclasses set `name` and implement `stop` and `from_spec`."""

    name: ClassVar[str]

    def __init__(self, *, dry_run: bool = False, clock: Clock = time.time) -> None:
        self.dry_run = dry_run
        self.clock = clock

    @abstractmethod
    def stop(self, job: JobTarget, decision: Decision) -> ActionOutcome:
        """Stop `job` because of `decision`; never raises for runtime trouble."""

    def poll_escalations(self, now: float | None = None) -> list[ActionOutcome]:
        """Advance any pending follow-up work (only the signal action has some)."""
        return []

    @classmethod
    @abstractmethod
    def from_spec(cls, params: Mapping[str, object], *, where: str, dry_run: bool) -> Action:
        """Build from configuration values; raise ActionError naming `where` and the key."""

    def _outcome(self, job: JobTarget | str, *, ok: bool, detail: str, **extra: object) -> ActionOutcome:
        return ActionOutcome(
            action=self.name,
            job=job if isinstance(job, str) else job.job,
            ok=ok,
            detail=detail,
            timestamp=self.clock(),
            dry_run=self.dry_run,
            **extra,  # type: ignore[arg-type]
        )

    def _dry_run(self, job: JobTarget, would: str, **extra: object) -> ActionOutcome:
        events.action_dry_run(self.name, job.job, would)
        return self._outcome(job, ok=True, detail=f"dry-run: would {would}", **extra)


def decision_reason(decision: Decision, timestamp: float) -> dict[str, object]:
    """The decision's explanation as the event log has it, JSON-safe, with the time of the stop."""
    return {**json_safe(events.decision_fields(decision)), "time": timestamp}  # type: ignore[dict-item]


# ------------------------------------------------------------------------------------ spec parsing


def check_keys(params: Mapping[str, object], known: set[str], *, where: str) -> None:
    unknown = sorted(set(params) - known)
    if unknown:
        raise ActionError(
            f"unknown key(s) {', '.join(unknown)}",
            where=where,
            hint=f"valid keys: {', '.join(sorted(known))}",
        )


def take(params: Mapping[str, object], key: str, kind: type[T], default: T, *, where: str) -> T:
    """`params[key]` checked against `kind` (ints are accepted for floats), or `default`."""
    if key not in params:
        return default
    value = params[key]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise ActionError(
            f"{key} must be {kind.__name__}, got {value!r}",
            where=f"{where}.{key}",
            hint=f"set {key} to a {kind.__name__}",
        )
    return value


def template_fields(template: str, allowed: set[str], *, where: str) -> set[str]:
    """The `{name}` fields of a template, all of which must be in `allowed`.

    Attribute and index access (`{job.__class__}`, `{job[0]}`) and format specs are rejected: templates
    come from configuration, and values from log paths must only ever be substituted, never evaluated.
    """
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ActionError(
            f"bad template {template!r}: {exc}", where=where, hint="write {{ and }} for literal braces"
        ) from exc
    fields = {name for _, name, _, _ in parsed if name is not None}
    specs = [spec or conv for _, name, spec, conv in parsed if name is not None and (spec or conv)]
    bad = sorted(fields - allowed)
    if bad or specs or "" in fields:
        raise ActionError(
            f"template {template!r} uses unknown or complex placeholder(s) {bad or specs or ['{}']}",
            where=where,
            hint=f"use only {', '.join('{' + a + '}' for a in sorted(allowed))}",
        )
    return fields
