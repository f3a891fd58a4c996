"""The stop-file action: write a JSON reason file that a cooperating training script polls for.

The file is written atomically (a temp file in the same directory created with O_CREAT|O_EXCL|O_NOFOLLOW,
fsync, `os.replace`, fsync of the directory) so a polling script never reads half a reason. Symlinks are
never followed: the final name is `lstat`ed and refused when it is a symlink (`os.replace` would replace the
link itself, not its target, but a symlink planted there means someone expects us to write elsewhere), and
the directory is opened with O_NOFOLLOW unless `allow_symlink_dir` is set. Every file operation is relative
to that directory fd, so a directory swapped for a symlink mid-way cannot redirect the write.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import stat
import time
from collections.abc import Mapping
from pathlib import Path

from metricwatch.actions._base import (
    Action,
    ActionOutcome,
    Clock,
    check_keys,
    decision_reason,
    take,
    template_fields,
)
from metricwatch.jobs import JobTarget, filename_safe
from metricwatch.types import Decision

PLACEHOLDERS = {"log_dir", "log_stem", "job", "job_id", "study"}


class StopFileAction(Action):
    """Write `<log dir>/<job>.stop` (or a templated path) containing the decision as JSON.

    Args:
        path_template: `{log_dir}`, `{log_stem}`, `{job}` (= `{job_id}`, with `/` replaced by `_` so an
            id such as `trial3/train` stays one file name) and `{study}`. A relative result is taken
            relative to the log's directory.
        allow_symlink_dir: write even when the target directory itself is a symlink.

    Example:
        >>> action = StopFileAction(path_template="{log_dir}/{log_stem}.stop")  # doctest: +SKIP
        >>> action.stop(target, decision).detail  # doctest: +SKIP
        'wrote runs/trial3/train.stop'
    """

    name = "stop-file"
    DEFAULT_TEMPLATE = "{log_dir}/{job}.stop"

    def __init__(
        self,
        *,
        path_template: str = DEFAULT_TEMPLATE,
        allow_symlink_dir: bool = False,
        dry_run: bool = False,
        clock: Clock = time.time,
        where: str = "action.path",
    ) -> None:
        super().__init__(dry_run=dry_run, clock=clock)
        template_fields(path_template, PLACEHOLDERS, where=where)
        self.path_template = path_template
        self.allow_symlink_dir = allow_symlink_dir

    @classmethod
    def from_spec(cls, params: Mapping[str, object], *, where: str, dry_run: bool) -> StopFileAction:
        check_keys(params, {"path", "allow_symlink_dir"}, where=where)
        return cls(
            path_template=take(params, "path", str, cls.DEFAULT_TEMPLATE, where=where),
            allow_symlink_dir=take(params, "allow_symlink_dir", bool, False, where=where),
            dry_run=dry_run,
            where=f"{where}.path",
        )

    def path_for(self, job: JobTarget) -> Path:
        values = job.placeholders()
        values["job"] = values["job_id"] = filename_safe(job.job)
        path = Path(self.path_template.format_map(values))
        return path if path.is_absolute() else job.log_dir / path

    def stop(self, job: JobTarget, decision: Decision) -> ActionOutcome:
        path = self.path_for(job)
        if self.dry_run:
            return self._dry_run(job, f"write {path}")
        timestamp = self.clock()
        payload = json.dumps(decision_reason(decision, timestamp), indent=2) + "\n"
        try:
            replaced = self._write(path, payload.encode())
        except OSError as exc:
            return self._outcome(job, ok=False, detail=f"cannot write {path}: {_why(exc)}")
        except _Refused as exc:
            return self._outcome(job, ok=False, detail=f"refused {path}: {exc}")
        verb = "replaced" if replaced else "wrote"
        return self._outcome(job, ok=True, detail=f"{verb} {path}")

    def _write(self, path: Path, data: bytes) -> bool:
        """Atomically put `data` at `path`; True when an earlier stop file was replaced."""
        dir_flags = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
        if not self.allow_symlink_dir:
            if path.parent.is_symlink():
                raise _Refused("its directory is a symlink (set allow_symlink_dir to permit)")
            dir_flags |= os.O_NOFOLLOW
        dfd = os.open(path.parent, dir_flags)
        try:
            replaced = _check_final(path.name, dfd)
            _replace_atomically(path.name, data, dfd)
            return replaced
        finally:
            os.close(dfd)


class _Refused(Exception):
    """The target path is unsafe to write."""


def _check_final(name: str, dfd: int) -> bool:
    """True when a regular file is already there; refuse symlinks and anything that is not a file."""
    try:
        st = os.lstat(name, dir_fd=dfd)
    except FileNotFoundError:
        return False
    if stat.S_ISLNK(st.st_mode):
        raise _Refused("it is a symlink; metricwatch never writes through symlinks")
    if not stat.S_ISREG(st.st_mode):
        raise _Refused("it exists and is not a regular file")
    return True


def _replace_atomically(name: str, data: bytes, dfd: int) -> None:
    tmp = f".{name}.{secrets.token_hex(6)}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(tmp, flags, 0o644, dir_fd=dfd)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        # rename(2) replaces a symlink at the destination rather than following it.
        os.replace(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp, dir_fd=dfd)
        raise
    os.fsync(dfd)  # make the rename itself durable


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc)
