"""Jobs: who a log belongs to, and which live processes are that job.

A *job id* comes from the log's path:

* default: the path relative to the study root (the fixed prefix of its glob, see `glob_root`) without the
  file's last suffix, with `/` separators: `runs/trial3/train.log` under `runs/` → `trial3/train`. It is
  stable across restarts, unique within a study (two logs cannot share a relative path) and readable.
* or a user regex with a named group `job`, searched in the path: `slurm-(?P<job>\\d+_\\d+)\\.out` →
  `1234_7`.

A job's *processes* are found three ways, merged by `find_job_processes`:

(a) who holds the log open for writing, from `/proc/<pid>/fd` and the access mode in `/proc/<pid>/fdinfo`;
(b) a pidfile (rejected when the process started after the pidfile was written: the PID was reused);
(c) the launch registry written by `metricwatch run` (`launch.py`), keyed by the log's real path.

Every `ProcessRef` carries the process's start time; `live_process` re-checks it before anything acts on a
PID, because PIDs are reused (issue 4, "Guard against PID reuse").
"""

from __future__ import annotations

import glob as _glob
import hashlib
import json
import os
import re
import signal
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import psutil

from metricwatch.errors import ConfigError, InputError
from metricwatch.types import JobState

# Start times come from /proc/<pid>/stat in clock ticks (1/100 s) plus the boot time; the same process
# always yields the same float, a tolerance only absorbs float formatting through JSON.
_START_TIME_TOLERANCE = 0.005
# A pidfile is written after its process starts; a process that started clearly after the pidfile's mtime
# is a different process that reused the PID.
_PIDFILE_SLACK = 1.0
_O_ACCMODE = 0o3
_WRITE_MODES = (os.O_WRONLY, os.O_RDWR)


# --------------------------------------------------------------------------------------------- job ids


def glob_root(pattern: str) -> Path:
    """The fixed directory prefix of a glob: `runs/*/train.log` → `runs`, `logs/a.log` → `logs`."""
    parts = Path(pattern).parts
    fixed: list[str] = []
    for part in parts[:-1]:
        if _glob.has_magic(part):
            break
        fixed.append(part)
    return Path(*fixed) if fixed else Path(".")


@dataclass(frozen=True, slots=True)
class JobNamer:
    """Turns a log path into a job id (see the module docstring for the two ways).

    Args:
        root: the study root; default ids are relative to it.
        pattern: optional regex with a named group `job`, searched in the path as a string.
    """

    root: Path
    pattern: str | None = None

    def __post_init__(self) -> None:
        if self.pattern is None:
            return
        try:
            compiled = re.compile(self.pattern)
        except re.error as exc:
            raise ConfigError(
                f"job pattern {self.pattern!r} is not a valid regex: {exc}",
                where="job_pattern",
                hint="fix the regex; it must contain a named group (?P<job>...)",
            ) from exc
        if "job" not in compiled.groupindex:
            raise ConfigError(
                f"job pattern {self.pattern!r} has no named group 'job'",
                where="job_pattern",
                hint=r"mark the id with a named group, e.g. slurm-(?P<job>\d+_\d+)\.out",
            )

    def job_id(self, path: Path | str) -> str:
        """The job id of `path`; raises InputError when a job pattern does not match it."""
        path = Path(path)
        if self.pattern is not None:
            return self._from_pattern(path)
        try:
            rel = Path(os.path.abspath(path)).relative_to(os.path.abspath(self.root))
        except ValueError:
            rel = Path(path.name)  # outside the root (a symlinked log): the file name is all we have
        return rel.with_suffix("").as_posix() if rel.suffix else rel.as_posix()

    def _from_pattern(self, path: Path) -> str:
        match = re.search(str(self.pattern), str(path))
        if match is None or not match.group("job"):
            raise InputError(
                f"job pattern {self.pattern!r} does not match this path",
                where=str(path),
                hint="adjust job_pattern or the log globs so every log carries a job id",
            )
        return str(match.group("job"))


def filename_safe(job: str) -> str:
    """A job id usable as one file name: path separators and NULs become `_` (ids may contain `/`)."""
    return job.replace("/", "_").replace("\0", "_")


# --------------------------------------------------------------------------------------------- processes


@dataclass(frozen=True, slots=True)
class ProcessRef:
    """One process, pinned by its start time so a reused PID is never mistaken for it."""

    pid: int
    create_time: float
    uid: int  # real uid
    cmdline: tuple[str, ...] = ()  # for display only; never used to decide anything

    @classmethod
    def of(cls, pid: int) -> ProcessRef | None:
        """A reference to the live process `pid` now, or None when there is none (or it is a zombie)."""
        try:
            proc = psutil.Process(pid)
            return cls.from_process(proc)
        except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
            return None

    @classmethod
    def from_process(cls, proc: psutil.Process) -> ProcessRef | None:
        with proc.oneshot():
            if proc.status() == psutil.STATUS_ZOMBIE:
                return None
            try:
                cmdline = tuple(proc.cmdline())
            except psutil.AccessDenied:
                cmdline = ()
            return cls(proc.pid, proc.create_time(), proc.uids().real, cmdline)

    @property
    def display(self) -> str:
        return " ".join(self.cmdline)[:200] or f"pid {self.pid}"


def live_process(ref: ProcessRef) -> psutil.Process | None:
    """The running process `ref` names, or None when it exited, is a zombie, or the PID was reused."""
    try:
        proc = psutil.Process(ref.pid)
        if abs(proc.create_time() - ref.create_time) > _START_TIME_TOLERANCE:
            return None
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        return proc
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return None


def alive(refs: Iterable[ProcessRef]) -> tuple[ProcessRef, ...]:
    """The refs whose process is still running (same PID and start time)."""
    return tuple(ref for ref in refs if live_process(ref) is not None)


def all_exited(refs: Iterable[ProcessRef]) -> bool:
    """Completion hint for the daemon: every known process of the job is gone."""
    return not alive(refs)


# Exit statuses (as shells and `metricwatch run` report them: 128+N) of signals people and schedulers use
# to end a job on purpose; any other non-zero status is a failure.
_CANCEL_SIGNALS = frozenset({signal.SIGTERM, signal.SIGINT, signal.SIGKILL, signal.SIGHUP})


def state_from_exit(code: int) -> JobState:
    """Completion hint from an exit status: 0 completed, 128+TERM/INT/KILL/HUP cancelled, else failed.

    Whether a cancellation was metricwatch's own stop is the daemon's knowledge, not the exit status's.
    """
    if code == 0:
        return JobState.COMPLETED
    if code > 128 and code - 128 in _CANCEL_SIGNALS:
        return JobState.CANCELLED
    return JobState.FAILED


def uid_allowed(proc: psutil.Process, allowed_uids: frozenset[int] | None) -> bool:
    """True when both the real and effective uid are allowed (None allows everyone)."""
    if allowed_uids is None:
        return True
    uids = proc.uids()
    return uids.real in allowed_uids and uids.effective in allowed_uids


def own_uids() -> frozenset[int]:
    return frozenset({os.getuid()})


def _uids(allowed_uids: frozenset[int] | None, all_users: bool) -> frozenset[int] | None:
    """The uid filter: None (no filter) with `all_users`, else `allowed_uids`, defaulting to our own."""
    if all_users:
        return None
    return own_uids() if allowed_uids is None else allowed_uids


# ----------------------------------------------------------------------------- (a) writers from /proc


def _file_key(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def _fd_write_mode(pid: str, fd: str) -> bool:
    try:
        with open(f"/proc/{pid}/fdinfo/{fd}", encoding="ascii") as info:
            for line in info:
                if line.startswith("flags:"):
                    return int(line.split()[1], 8) & _O_ACCMODE in _WRITE_MODES
    except (OSError, ValueError, IndexError):
        pass
    return False


def _writer_fds(pid: str, targets: Mapping[str, tuple[int, int]]) -> set[tuple[int, int]]:
    """The targeted files that process `pid` holds open for writing (by dev/inode)."""
    found: set[tuple[int, int]] = set()
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:  # exited, or another user's process we may not inspect
        return found
    for fd in fds:
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        key = targets.get(link)
        # The link text is a cheap prefilter; dev/inode decides (a path may have been replaced since).
        if key is not None and _file_key(Path(f"/proc/{pid}/fd/{fd}")) == key and _fd_write_mode(pid, fd):
            found.add(key)
    return found


def find_writers(
    paths: Iterable[Path], *, allowed_uids: frozenset[int] | None = None, all_users: bool = False
) -> dict[Path, tuple[ProcessRef, ...]]:
    """Processes holding each of `paths` open for writing, in one scan of /proc.

    Only processes whose uids are in `allowed_uids` (default: our own uid; `all_users` lifts the filter)
    are returned. Processes in other mount namespaces (containers) see other paths and are not found;
    use a pidfile or `metricwatch run` for those.
    """
    allowed = _uids(allowed_uids, all_users)
    wanted: dict[str, tuple[int, int]] = {}
    by_key: dict[tuple[int, int], list[Path]] = {}
    for path in paths:
        key = _file_key(path)
        if key is not None:
            wanted[os.path.realpath(path)] = key
            by_key.setdefault(key, []).append(path)
    result: dict[Path, list[ProcessRef]] = {p: [] for ps in by_key.values() for p in ps}
    me = str(os.getpid())  # the daemon (or a demo that started the job) is never the job's writer
    for pid in _pids():
        if pid == me:
            continue
        for key in _writer_fds(pid, wanted):
            ref = _allowed_ref(int(pid), allowed)
            if ref is not None:
                for path in by_key[key]:
                    result[path].append(ref)
    return {path: tuple(refs) for path, refs in result.items()}


def _pids() -> list[str]:
    return [name for name in os.listdir("/proc") if name.isdigit()]


def _allowed_ref(pid: int, allowed: frozenset[int] | None) -> ProcessRef | None:
    try:
        proc = psutil.Process(pid)
        if not uid_allowed(proc, allowed):
            return None
        return ProcessRef.from_process(proc)
    except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
        return None


# ------------------------------------------------------------------------------------- (b) pidfiles


def read_pidfile(
    path: Path, *, allowed_uids: frozenset[int] | None = None, all_users: bool = False
) -> ProcessRef | None:
    """The process named by a pidfile, or None (missing, unreadable, exited, reused PID, other user).

    A pidfile carries no start time, so reuse is detected the other way round: the process must have
    started before the pidfile was last written.
    """
    try:
        st = os.stat(path)
        pid = int(Path(path).read_text(encoding="ascii").split()[0])
    except (OSError, ValueError, IndexError):
        return None
    ref = _allowed_ref(pid, _uids(allowed_uids, all_users)) if pid > 1 else None
    if ref is None or ref.create_time > st.st_mtime + _PIDFILE_SLACK:
        return None
    return ref


# ------------------------------------------------------------------------------ (c) launch registry


@dataclass(frozen=True, slots=True)
class LaunchRecord:
    """What `metricwatch run` registered about a job it launched (see launch.py)."""

    study: str
    log_path: str  # real path of the log
    child: ProcessRef
    pgid: int
    launcher: ProcessRef
    started_at: float
    ended_at: float | None = None
    exit_code: int | None = None  # as the launcher exits: the child's code, or 128+signal

    def to_json(self) -> str:
        data = {
            "study": self.study,
            "log_path": self.log_path,
            "child": _ref_dict(self.child),
            "pgid": self.pgid,
            "launcher": _ref_dict(self.launcher),
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "exit_code": self.exit_code,
        }
        return json.dumps(data, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> LaunchRecord:
        d = json.loads(text)
        return cls(
            study=str(d["study"]),
            log_path=str(d["log_path"]),
            child=_ref_from(d["child"]),
            pgid=int(d["pgid"]),
            launcher=_ref_from(d["launcher"]),
            started_at=float(d["started_at"]),
            ended_at=None if d.get("ended_at") is None else float(d["ended_at"]),
            exit_code=None if d.get("exit_code") is None else int(d["exit_code"]),
        )


def _ref_dict(ref: ProcessRef) -> dict[str, object]:
    return {"pid": ref.pid, "create_time": ref.create_time, "uid": ref.uid, "cmdline": ref.cmdline}


def _ref_from(d: Mapping[str, object]) -> ProcessRef:
    cmd = d.get("cmdline") or []
    assert isinstance(cmd, list)
    return ProcessRef(int(str(d["pid"])), float(str(d["create_time"])), int(str(d["uid"])), tuple(cmd))


def registry_path(state_dir: Path, log_path: Path) -> Path:
    """Where the launch record of `log_path` lives.

    Keyed by a hash of the log's real path, not by job id: the id depends on the study's naming rules,
    which the launcher does not need to know, while both sides agree on the log file.
    """
    digest = hashlib.sha256(os.path.realpath(log_path).encode()).hexdigest()[:20]
    return Path(state_dir) / "launched" / f"{digest}.json"


def read_launch_record(state_dir: Path, log_path: Path) -> LaunchRecord | None:
    """The launch record for `log_path`, or None when none exists or it is unreadable."""
    try:
        text = registry_path(state_dir, log_path).read_text(encoding="utf-8")
        record = LaunchRecord.from_json(text)
    except (OSError, ValueError, KeyError, TypeError, AssertionError):
        return None
    return record if record.log_path == os.path.realpath(log_path) else None


# ------------------------------------------------------------------------------------- merged view


@dataclass(frozen=True, slots=True)
class JobTarget:
    """Everything an action needs about one job: its id, log and live processes."""

    job: str
    log_path: Path
    study: str = ""
    processes: tuple[ProcessRef, ...] = ()
    pgid: int | None = None  # a process group the job owns (set by `metricwatch run`)

    @property
    def log_dir(self) -> Path:
        return Path(self.log_path).parent

    @property
    def log_stem(self) -> str:
        return Path(self.log_path).stem

    def placeholders(self) -> dict[str, str]:
        """Values for `{log_dir}`, `{log_path}`, `{log_stem}`, `{job}`/`{job_id}`, `{study}` templates."""
        return {
            "log_dir": str(self.log_dir),
            "log_path": str(self.log_path),
            "log_stem": self.log_stem,
            "job": self.job,
            "job_id": self.job,
            "study": self.study,
        }


def find_job_processes(
    log_path: Path,
    *,
    state_dir: Path | None = None,
    pidfile: Path | None = None,
    allowed_uids: frozenset[int] | None = None,
    all_users: bool = False,
    writers: tuple[ProcessRef, ...] | None = None,
) -> tuple[tuple[ProcessRef, ...], int | None]:
    """The job's live processes from the launch registry, a pidfile and /proc writers, and its own pgid.

    When `metricwatch run` launched the job, its launcher (which tees into the log and so is a writer) is
    left out: signalling it too would deliver the signal to the child twice (it forwards what it gets).
    Pass `writers` from one `find_writers` scan over many logs to avoid rescanning /proc per job.
    """
    refs: list[ProcessRef] = []
    pgid = None
    skip: set[int] = set()
    record = read_launch_record(state_dir, log_path) if state_dir is not None else None
    if record is not None and record.ended_at is None and live_process(record.child):
        refs.append(record.child)
        pgid = record.pgid
        skip.add(record.launcher.pid)
    if pidfile is not None and (ref := read_pidfile(pidfile, allowed_uids=allowed_uids, all_users=all_users)):
        refs.append(ref)
    if writers is None:
        found = find_writers([log_path], allowed_uids=allowed_uids, all_users=all_users)
        writers = found.get(Path(log_path), ())
    refs.extend(w for w in writers if w.pid not in skip)
    unique = {(r.pid, r.create_time): r for r in refs}
    return tuple(unique.values()), pgid
