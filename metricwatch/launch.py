"""`metricwatch run`: launch a training command so the daemon can follow and stop it.

The command runs without a shell in its own session (so its process group is the job's alone and a
signal to that group never reaches us or the terminal's other jobs), with `PYTHONUNBUFFERED=1` (a Python
script writing to a pipe is otherwise block-buffered and its epochs arrive in bursts, late). Its stdout and
stderr are merged and copied byte for byte, `\\r` progress frames included, to the study's log (append) and
to our stdout. The child's pid, start time and process group are registered under
`<state_dir>/launched/` (see `jobs.registry_path`) so the daemon finds and signals the child rather than
this launcher; SIGTERM/SIGINT/SIGHUP sent to the launcher are forwarded to the child's group. The launcher
exits with the child's exit code (128+N when signal N killed it) and marks its registry entry as ended.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import BinaryIO

from metricwatch.errors import ConfigError, InputError
from metricwatch.jobs import LaunchRecord, ProcessRef, registry_path

FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
_CHUNK = 65536
# After the child exits, a grandchild may still hold the pipe open (a daemonised helper); stop copying
# once the pipe has been quiet this long, so the launcher does not outlive its job forever.
_DRAIN_QUIET_S = 1.0


def default_state_dir() -> Path:
    """`$XDG_STATE_HOME/metricwatch`, else `~/.local/state/metricwatch`."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "metricwatch"


def default_log_path(state_dir: Path, study: str) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return state_dir / "logs" / study / f"{stamp}-{os.getpid()}.log"


def run_command(
    argv: Sequence[str],
    *,
    study: str,
    log_path: Path | None = None,
    state_dir: Path | None = None,
    out: BinaryIO | None = None,
) -> int:
    """Run `argv` as a registered job of `study`; return the exit status to exit with."""
    _check_study(study)
    if not argv:
        raise ConfigError("no command given", where="run", hint="write it after --, e.g. -- python train.py")
    state_dir = default_state_dir() if state_dir is None else Path(state_dir)
    log_path = default_log_path(state_dir, study) if log_path is None else Path(log_path)
    sink = sys.stdout.buffer if out is None else out
    log_fd = _open_log(log_path)
    try:
        with _forwarding() as forward:
            child = _spawn(list(argv))
            forward.attach(child.pid)
            record = _register(state_dir, study, log_path, child)
            assert child.stdout is not None
            _pump(child.stdout.fileno(), log_fd, sink, child)
            code = _exit_status(child.wait())
        _write_record(state_dir, log_path, _ended(record, code))
        return code
    finally:
        os.close(log_fd)


def _check_study(study: str) -> None:
    if not study or "/" in study or study in (".", ".."):
        raise ConfigError(
            f"invalid study name {study!r}", where="--study", hint="use a plain name such as lr-sweep"
        )


def _open_log(path: Path) -> int:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise InputError(
            f"cannot open the log for appending: {exc.strerror or exc}",
            where=str(path),
            hint="choose a writable --log path",
        ) from exc


def _spawn(argv: list[str]) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    try:
        return subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    except OSError as exc:
        raise InputError(
            f"cannot run {argv[0]!r}: {exc.strerror or exc}",
            where="command",
            hint="check the program name and that it is executable",
        ) from exc


class _Forwarder:
    """Signals received before the child exists are held and delivered once it does."""

    def __init__(self) -> None:
        self.pgid: int | None = None
        self.held: list[int] = []

    def handle(self, signum: int, _frame: FrameType | None) -> None:
        if self.pgid is None:
            self.held.append(signum)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pgid, signum)

    def attach(self, pgid: int) -> None:
        self.pgid = pgid
        for signum in self.held:
            self.handle(signum, None)


@contextlib.contextmanager
def _forwarding() -> Iterator[_Forwarder]:
    forwarder = _Forwarder()
    previous = {sig: signal.signal(sig, forwarder.handle) for sig in FORWARDED}
    try:
        yield forwarder
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _register(state_dir: Path, study: str, log_path: Path, child: subprocess.Popen[bytes]) -> LaunchRecord:
    child_ref = ProcessRef.of(child.pid) or ProcessRef(child.pid, time.time(), os.getuid())
    launcher = ProcessRef.of(os.getpid())
    assert launcher is not None  # we are running
    record = LaunchRecord(
        study=study,
        log_path=os.path.realpath(log_path),
        child=child_ref,
        pgid=child.pid,  # start_new_session: the child leads its own group
        launcher=launcher,
        started_at=time.time(),
    )
    _write_record(state_dir, log_path, record)
    return record


def _ended(record: LaunchRecord, code: int) -> LaunchRecord:
    return LaunchRecord(
        study=record.study,
        log_path=record.log_path,
        child=record.child,
        pgid=record.pgid,
        launcher=record.launcher,
        started_at=record.started_at,
        ended_at=time.time(),
        exit_code=code,
    )


def _write_record(state_dir: Path, log_path: Path, record: LaunchRecord) -> None:
    """Atomically (temp file + rename) so the daemon never reads half a record."""
    path = registry_path(state_dir, log_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(record.to_json(), encoding="utf-8")
    os.replace(tmp, path)


def _pump(src: int, log_fd: int, sink: BinaryIO, child: subprocess.Popen[bytes]) -> None:
    """Copy bytes from the child's pipe to the log and `sink` until EOF (or quiet after the child exits)."""
    sink_ok = True
    quiet_since: float | None = None
    while True:
        ready, _, _ = select.select([src], [], [], 0.2)
        if not ready:
            if child.poll() is None:
                continue
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since >= _DRAIN_QUIET_S:
                return
            continue
        data = os.read(src, _CHUNK)
        if not data:
            return
        quiet_since = None
        _write_all(log_fd, data)
        sink_ok = sink_ok and _pass_through(sink, data)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _pass_through(sink: BinaryIO, data: bytes) -> bool:
    """Write to our stdout; once that fails (closed pipe, `| head`), keep logging without it."""
    try:
        sink.write(data)
        sink.flush()
    except (OSError, ValueError):
        return False
    return True


def _exit_status(returncode: int) -> int:
    return 128 - returncode if returncode < 0 else returncode
