"""The command action: run an argv template (e.g. `scancel --signal=TERM {job_id}`) without a shell.

Each template argument is filled on its own with `str.format_map`, so a value taken from a log path or a
job id (`a b; rm -rf $(x)`) always stays exactly one argument and is never interpreted by a shell. The
executable is resolved with `shutil.which` when the action is built, so a missing `scancel` fails at
startup with a hint instead of at the first stop.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence

from metricwatch.actions._base import (
    Action,
    ActionOutcome,
    Clock,
    check_keys,
    take,
    template_fields,
)
from metricwatch.errors import ActionError
from metricwatch.jobs import JobTarget
from metricwatch.types import Decision

PLACEHOLDERS = {
    "job",
    "job_id",
    "log_path",
    "log_dir",
    "log_stem",
    "study",
    "epoch",
    "rule",
    "value",
    "threshold",
}
_TAIL_CHARS = 500


class CommandAction(Action):
    """Run a command per stopped job; its exit code and the tail of its stderr are recorded.

    Args:
        argv: the command as a list; placeholders `{job_id}` (= `{job}`), `{log_path}`, `{log_dir}`,
            `{log_stem}`, `{study}`, `{epoch}`, `{rule}`, `{value}`, `{threshold}` in any argument but
            the first.
        timeout: seconds before the command (and its process group) is killed, > 0.

    Example:
        >>> CommandAction(argv=["scancel", "--signal=TERM", "{job_id}"])  # doctest: +SKIP
    """

    name = "command"

    def __init__(
        self,
        *,
        argv: Sequence[str],
        timeout: float = 60.0,
        dry_run: bool = False,
        clock: Clock = time.time,
        where: str = "action",
    ) -> None:
        super().__init__(dry_run=dry_run, clock=clock)
        self.argv = _checked_argv(argv, where=f"{where}.argv")
        if timeout <= 0:
            raise ActionError(f"timeout must be > 0 seconds, got {timeout}", where=f"{where}.timeout")
        self.timeout = float(timeout)
        self.executable = _resolve(self.argv[0], where=f"{where}.argv")
        self._done: set[str] = set()

    @classmethod
    def from_spec(cls, params: Mapping[str, object], *, where: str, dry_run: bool) -> CommandAction:
        check_keys(params, {"argv", "timeout"}, where=where)
        argv = params.get("argv")
        if not isinstance(argv, (list, tuple)) or not all(isinstance(a, str) for a in argv):
            raise ActionError(
                f"argv must be a list of strings, got {argv!r}",
                where=f"{where}.argv",
                hint='write it as a list, e.g. argv = ["scancel", "--signal=TERM", "{job_id}"]',
            )
        timeout = take(params, "timeout", float, 60.0, where=where)
        return cls(argv=list(argv), timeout=timeout, dry_run=dry_run, where=where)

    def command_for(self, job: JobTarget, decision: Decision) -> list[str]:
        values = {**job.placeholders(), **_decision_values(decision)}
        return [self.executable, *(arg.format_map(values) for arg in self.argv[1:])]

    def stop(self, job: JobTarget, decision: Decision) -> ActionOutcome:
        argv = self.command_for(job, decision)
        if self.dry_run:
            return self._dry_run(job, f"run {argv}")
        if job.job in self._done:  # idempotent: a command that succeeded is not run again
            return self._outcome(job, ok=True, detail="command already ran for this job")
        code, out, tail = _run(argv, self.timeout)
        if code == 0:
            self._done.add(job.job)
        detail = f"ran {argv}: exit {code}" if code is not None else f"{argv} timed out"
        return self._outcome(
            job,
            ok=code == 0,
            detail=detail + (f"; stderr: {tail}" if tail else ""),
            exit_code=code,
            output=out,
        )


def _checked_argv(argv: Sequence[str], *, where: str) -> list[str]:
    if isinstance(argv, str) or not argv:
        raise ActionError(
            "argv must be a non-empty list of arguments, not a shell string",
            where=where,
            hint='e.g. ["scancel", "--signal=TERM", "{job_id}"]',
        )
    argv = list(argv)
    template_fields(argv[0], set(), where=f"{where}[0]")  # the program itself is never templated
    for i, arg in enumerate(argv[1:], start=1):
        template_fields(arg, PLACEHOLDERS, where=f"{where}[{i}]")
    return argv


def _resolve(program: str, *, where: str) -> str:
    found = shutil.which(program)
    if found is None:
        raise ActionError(
            f"command {program!r} not found or not executable",
            where=where,
            hint="install it, add its directory to PATH, or give its absolute path",
        )
    return found


def _decision_values(decision: Decision) -> dict[str, str]:
    return {
        "epoch": str(decision.epoch),
        "rule": decision.rule,
        "value": "" if decision.value is None else repr(decision.value),
        "threshold": "" if decision.threshold is None else repr(decision.threshold),
    }


def _run(argv: list[str], timeout: float) -> tuple[int | None, str, str]:
    """Exit code (None on timeout) and the stdout and stderr tails.

    The command gets its own session so a timeout kills everything it started, and no stdin so it
    cannot hang waiting for input.
    """
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as exc:
        return 127, "", f"cannot execute: {exc.strerror or exc}"
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc.pid)
        out, err = proc.communicate()
        return None, _tail(out), _tail(err)
    return proc.returncode, _tail(out), _tail(err)


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def _tail(data: bytes) -> str:
    return data.decode("utf-8", errors="replace").strip()[-_TAIL_CHARS:]
