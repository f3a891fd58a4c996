"""The Follower: globs in, ordered Batches of Records and lifecycle events out.

One loop step (`poll`) does, in order:

1. **rescan** the globs when a wake-up asked for it (a name was created, moved or deleted) or every
   `rescan_interval` seconds, opening new files (from a checkpoint when one matches);
2. **look** at the paths that wake-ups named, or at every path on the safety poll (`poll_interval`):
   one `stat` per file; a path that now names another inode is a rotation, a missing path a deletion
   or rename-away; either way the old descriptor is *retired*, not closed;
3. **adopt** files renamed away from a followed name before they were ever opened (inotify only, see
   below), as retired files;
4. **read** retired files first (so a rotated file's tail precedes the new file's head), then active
   ones, at most `chunk_bytes` each; a retired file is closed only after it has been at its end and
   unchanged for `rotate_wait` seconds, so a writer still holding the old descriptor is not cut off.

Everything runs on the caller's thread; watchdog's thread only leaves hints (see `wakeup.py`).

**Renamed before opened.** A log created and renamed out of the glob (`train.log` → `train.log.1`) before
a rescan opened it is invisible to globbing and to the safety poll. With inotify the move's
(source, destination) pair says where it went: when the source matches a glob and the file now at the
destination (fstat: dev, ino) is not open, it is opened there as a *retired* file under its followed
name (ADDED or RESUMED from a checkpoint, then ROTATED with reason `renamed_before_open:<dest>`), read
to its end and closed after `rotate_wait`, like any rotated file; a file open here, or already
drained and closed here (its move reported late), is left alone. A file renamed again before it is
opened (`.1` → `.2`) is tracked along the chain of moves; a destination that is gone is kept for
`_MOVE_GRACE` seconds waiting for the move that explains it, then given up (it was deleted or moved
out of the watched tree). Because the move can be reported after a rescan already opened the new file
at the followed name, such a file's lines may come after the first lines of its successor; nothing is
lost or repeated. Polled directories see no moves: a file created and rotated away between two polls
is never read there.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from metricwatch.errors import ConfigError, InputError
from metricwatch.follow.discovery import Root, escapes_root, glob_matches, is_network_fs, matches, root_of
from metricwatch.follow.identity import FileKey, FileState, resume_mismatch
from metricwatch.follow.tailer import DEFAULT_CHUNK_BYTES, NotRegularFile, Tailer, open_log
from metricwatch.follow.values import Batch, EventKind, FileEvent, Item
from metricwatch.follow.wakeup import Fallback, Wakeup
from metricwatch.types import Record

MODES = ("auto", "inotify", "poll")
_MAX_REMEMBERED = 10_000  # states of closed files kept for renames and checkpoints
_MAX_MOVES = 1_000  # renamed-before-opened files awaiting their open (oldest dropped beyond)
_MAX_CLOSED = 1_000  # files closed here, never adopted again by a late move (oldest dropped beyond)
# How long a renamed file's missing destination waits for the move that explains it. watchdog holds a
# rename's first half up to 0.5 s to pair it; the rest is slack for a loaded machine.
_MOVE_GRACE = 5.0


@dataclass(frozen=True, slots=True)
class _Resume:
    offset: int
    line_no: int
    kind: EventKind
    reason: str


@dataclass(frozen=True, slots=True)
class _Move:
    """A file renamed away from a followed name before we opened it (keyed by its current name)."""

    origin: str  # the followed name: batches and events carry it, so the job is the same
    root: Root
    since: float  # when its latest move was seen


class Follower:
    """Follow every file the globs name, across rotation, truncation, deletion and restarts.

    Args:
        globs: shell globs (`**` allowed); relative ones are taken from the current directory.
        mode: "auto" (inotify wake-ups except on network file systems), "inotify", or "poll".
        poll_interval: seconds between safety polls (one stat per followed file).
        rescan_interval: seconds between glob rescans that do not come from a wake-up.
        rotate_wait: seconds a rotated or deleted file must stay unchanged at its end before it is
            closed; it is always read to its end first.
        max_record_bytes: the framer's cap on one record (its tail is kept).
        chunk_bytes: most bytes read from one file per poll, so no file starves the others.
        allow_symlinks: also follow logs whose real path is outside their glob's base directory.
        checkpoints: the output of a previous `checkpoint()`, to resume from.
        clock: monotonic seconds (a seam for tests).
        wakeup_event: an event shared with other followers, set on every wake-up (see `idle_for`).

    Example:
        >>> follower = Follower(["runs/*/train.log"], mode="poll")   # doctest: +SKIP
        >>> for item in follower.poll(timeout=1.0):                  # doctest: +SKIP
        ...     if isinstance(item, Batch): handle(item.records); store(item.state)
    """

    def __init__(
        self,
        globs: Iterable[str],
        *,
        mode: str = "auto",
        poll_interval: float = 1.0,
        rescan_interval: float = 10.0,
        rotate_wait: float = 5.0,
        max_record_bytes: int = 1 << 20,
        chunk_bytes: int = DEFAULT_CHUNK_BYTES,
        allow_symlinks: bool = False,
        checkpoints: Mapping[str, Mapping[str, object]] | None = None,
        clock: Callable[[], float] = time.monotonic,
        wakeup_event: threading.Event | None = None,
    ) -> None:
        self._roots = [root_of(g) for g in globs]
        _validate(self._roots, mode, poll_interval, rescan_interval, rotate_wait, chunk_bytes)
        self.mode = mode
        self.poll_interval = poll_interval
        self.rescan_interval = rescan_interval
        self.rotate_wait = rotate_wait
        self.max_record_bytes = max_record_bytes
        self.chunk_bytes = chunk_bytes
        self.allow_symlinks = allow_symlinks
        self._clock = clock
        self._wakeup = Wakeup(wakeup_event)
        self._active: dict[str, Tailer] = {}  # path → the tailer of the file it names now
        self._open: dict[FileKey, Tailer] = {}  # every open tailer, active or retired
        self._retired: dict[FileKey, Tailer] = {}
        self._resume: dict[FileKey, FileState] = _load_checkpoints(checkpoints or {})
        self._resume_path = {s.path: k for k, s in self._resume.items()}
        self._moves: dict[str, _Move] = {}  # current name → a renamed file not yet opened
        self._done: dict[FileKey, FileState] = {}  # files drained and closed here, newest last
        self._reported: set[tuple[str, str]] = set()  # (path, reason) of skips already reported
        self._events: list[Item] = []
        self._started = False
        self._closed = False
        self._next_sweep = 0.0
        self._next_rescan = 0.0

    # ------------------------------------------------------------------ public API

    def start(self) -> None:
        """Set up directory watches (or report polling) and find the files that exist now."""
        if self._started:
            return
        self._started = True
        if self.mode == "poll":
            for root in self._roots:
                self._fallback(Fallback(root.base, "requested"))
        self._watch_roots()

    def wait(self, timeout: float) -> None:
        """Block until a wake-up, the next safety poll or rescan is due, or `timeout` passes."""
        self._wakeup.wait(self.idle_for(timeout))

    def idle_for(self, timeout: float) -> float:
        """How long the caller may sleep before this follower has work: 0 when work is waiting, else
        until the next safety poll or rescan, at most `timeout`. A loop serving several followers
        sleeps for the least of these on their shared wake-up event."""
        if not self._started:
            self.start()
        if self._events or any(t.behind for t in self._open.values()):
            return 0.0
        due = min(self._next_sweep, self._next_rescan) - self._clock()
        if self._retired:
            due = min(due, self.poll_interval)
        return max(0.0, min(timeout, due))

    def poll(self, timeout: float = 0.0) -> list[Item]:
        """Wait up to `timeout` seconds (see `wait`), then return what is new, in order."""
        if self._closed:
            raise RuntimeError("Follower is closed")
        if timeout > 0:
            self.wait(timeout)
        if not self._started:
            self.start()
        out, self._events = self._events, []
        now = self._clock()
        for lost in self._wakeup.check_alive():
            self._fallback(lost, out)
        hints = self._wakeup.drain()
        dirty: Iterable[str] = hints.paths
        if hints.moves:
            self._note_moves(hints.moves, now)
        to_read: dict[FileKey, Tailer] = {}
        if hints.rescan or now >= self._next_rescan:
            self._next_rescan = now + self.rescan_interval
            self._watch_roots(out)
            self._rescan(out, to_read)
        if now >= self._next_sweep:
            self._next_sweep = now + self.poll_interval
            dirty = set(self._active)
        for path in dirty:
            self._look(path, out, to_read)
        if self._moves:  # after the rescan and looks: what they opened is not opened twice
            self._adopt_moved(now, out)
        for t in self._open.values():
            if t.behind:
                to_read[t.key] = t
        for t in list(self._retired.values()):
            self._read_retired(t, out)
        for t in to_read.values():
            if t.key not in self._retired and not t.closed:
                self._read(t, out)
        return out

    def checkpoint(self) -> dict[str, dict[str, object]]:
        """Per-file resume states, JSON-serialisable, keyed by "dev:ino"."""
        states = dict(self._resume)
        for t in self._open.values():
            states[t.key] = t.state()
        return {str(k): s.to_dict() for k, s in states.items()}

    def close(self) -> None:
        """Stop watching and close every descriptor (unread bytes stay for the next resume)."""
        if self._closed:
            return
        self._closed = True
        self._wakeup.stop()
        for t in self._open.values():
            t.close()
        self._open.clear()
        self._active.clear()
        self._retired.clear()
        self._moves.clear()

    def __enter__(self) -> Follower:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def polling_only(self) -> bool:
        """True when no directory is watched (all wake-ups come from the safety poll)."""
        return not self._wakeup.watching

    # ------------------------------------------------------------------ discovery

    def _watch_roots(self, out: list[Item] | None = None) -> None:
        if self.mode == "poll":
            return
        for root in self._roots:
            if not os.path.isdir(root.base):
                continue  # retried at every rescan until the directory exists
            fstype = is_network_fs(root.base) if self.mode == "auto" else ""
            fallback = (
                Fallback(root.base, f"network_fs:{fstype}")
                if fstype
                else self._wakeup.watch(root.base, root.recursive)
            )
            if fallback:
                self._fallback(fallback, out)

    def _fallback(self, fallback: Fallback, out: list[Item] | None = None) -> None:
        if (fallback.directory, fallback.reason) in self._reported:
            return
        self._reported.add((fallback.directory, fallback.reason))
        event = FileEvent(EventKind.POLLING, fallback.directory, reason=fallback.reason)
        (self._events if out is None else out).append(event)

    def _rescan(self, out: list[Item], to_read: dict[FileKey, Tailer]) -> None:
        for root in self._roots:
            for path in matches(root):
                if path not in self._active:
                    self._open_path(path, root, out, to_read)

    def _root_for(self, path: str) -> Root:
        for root in self._roots:
            if path.startswith(root.base.rstrip(os.sep) + os.sep):
                return root
        return self._roots[0]

    def _skip(self, path: str, reason: str, out: list[Item]) -> None:
        if (path, reason) not in self._reported:
            self._reported.add((path, reason))
            out.append(FileEvent(EventKind.SKIPPED, path, reason=reason))

    # ------------------------------------------------------------------ opening and identity

    def _open_path(self, path: str, root: Root, out: list[Item], to_read: dict[FileKey, Tailer]) -> None:
        try:
            opened = self._open_checked(path, root, out)
        except FileNotFoundError:
            return  # gone between glob and open
        if opened is None:
            return
        fd, st = opened
        key = FileKey(st.st_dev, st.st_ino)
        known = self._open.get(key)
        if known is not None:
            os.close(fd)
            self._same_file(known, path, out, to_read)
            return
        self._start_tailer(fd, st, path, out, to_read)

    def _open_checked(self, path: str, root: Root, out: list[Item]) -> tuple[int, os.stat_result] | None:
        """Open `path` under the symlink policy; None (reported once) when refused or unreadable.

        Raises FileNotFoundError when nothing is there.
        """
        is_link = os.path.islink(path)
        if escapes_root(path, root) and not self.allow_symlinks:
            self._skip(path, "symlink_outside_tree", out)
            return None
        try:
            return open_log(path, nofollow=not is_link)
        except NotRegularFile:
            self._skip(path, "not_regular_file", out)
        except FileNotFoundError:
            raise
        except OSError as exc:
            self._skip(path, f"open_failed:{exc.strerror or exc}", out)
        return None

    def _same_file(self, known: Tailer, path: str, out: list[Item], to_read: dict[FileKey, Tailer]) -> None:
        """A file we already hold appeared under `path`: a rename onto a followed name, or a link."""
        if known.key in self._retired:
            del self._retired[known.key]
            known.retired_since = None
            old, known.path = known.path, path
            self._active[path] = known
            to_read[known.key] = known
            out.append(FileEvent(EventKind.RENAMED, path, known.key, reason=f"from:{old}"))
        elif known.path != path:
            self._skip(path, f"same_file_as:{known.path}", out)

    def _start_tailer(
        self,
        fd: int,
        st: os.stat_result,
        path: str,
        out: list[Item],
        to_read: dict[FileKey, Tailer],
    ) -> None:
        try:
            resume = self._resume_point(fd, st, path)
        except OSError as exc:
            os.close(fd)
            self._skip(path, f"open_failed:{exc.strerror or exc}", out)
            return
        t = self._new_tailer(fd, st, path, resume, out)
        if t is not None:
            self._active[path] = t
            to_read[t.key] = t

    def _new_tailer(
        self, fd: int, st: os.stat_result, path: str, resume: _Resume, out: list[Item]
    ) -> Tailer | None:
        """Wrap an open descriptor in a Tailer starting at `resume`; register it as open and say so."""
        try:
            t = Tailer(
                fd,
                st,
                path,
                offset=resume.offset,
                line_no=resume.line_no,
                max_record_bytes=self.max_record_bytes,
            )
        except OSError as exc:
            os.close(fd)
            self._skip(path, f"open_failed:{exc.strerror or exc}", out)
            return None
        t.emitted = resume.offset
        self._open[t.key] = t
        out.append(FileEvent(resume.kind, path, t.key, reason=resume.reason, offset=resume.offset))
        return t

    def _resume_point(self, fd: int, st: os.stat_result, path: str) -> _Resume:
        """Where to start: a matching checkpoint's offset, else 0 (saying why when one existed)."""
        by_key = self._resume_by_key(fd, st, path)
        if by_key is not None:
            return by_key
        old_key = self._resume_path.get(path)
        if old_key is not None:
            reason = resume_mismatch(fd, st, self._resume[old_key])
            self._forget(old_key)
            return _Resume(0, 0, EventKind.RESTARTED_FROM_ZERO, reason)
        return _Resume(0, 0, EventKind.ADDED, "")

    def _resume_by_key(self, fd: int, st: os.stat_result, path: str) -> _Resume | None:
        """The checkpoint of this very file (dev, ino, head, marker all match), if there is one."""
        key = FileKey(st.st_dev, st.st_ino)
        state = self._resume.get(key)
        if state is None or resume_mismatch(fd, st, state):
            return None
        self._forget(key)
        reason = "" if state.path == path else f"renamed_from:{state.path}"
        return _Resume(state.committed, state.line_no, EventKind.RESUMED, reason)

    def _forget(self, key: FileKey) -> None:
        state = self._resume.pop(key)
        if self._resume_path.get(state.path) == key:
            del self._resume_path[state.path]

    def _remember(self, state: FileState) -> None:
        self._resume[state.key] = state
        self._resume_path[state.path] = state.key
        while len(self._resume) > _MAX_REMEMBERED:
            self._forget(next(iter(self._resume)))

    # ------------------------------------------------------------------ renamed before opened

    def _note_moves(self, moves: Iterable[tuple[str, str]], now: float) -> None:
        """Track files renamed away from a followed name, following chains (.1 → .2) in order."""
        for src, dest in moves:
            prior = self._moves.pop(src, None)
            if prior is not None:
                self._moves[dest] = _Move(prior.origin, prior.root, now)
                continue
            root = self._glob_root(src)
            if root is not None:
                self._moves[dest] = _Move(src, root, now)
        while len(self._moves) > _MAX_MOVES:
            del self._moves[next(iter(self._moves))]

    def _glob_root(self, path: str) -> Root | None:
        return next((r for r in self._roots if glob_matches(r, path)), None)

    def _adopt_moved(self, now: float, out: list[Item]) -> None:
        for dest, move in list(self._moves.items()):
            if self._adopt(dest, move, out) or now - move.since >= _MOVE_GRACE:
                del self._moves[dest]

    def _adopt(self, dest: str, move: _Move, out: list[Item]) -> bool:
        """Open the file at `dest` as retired unless we hold it already; False if `dest` is missing.

        Usually we do hold it (it was renamed after we opened it) and this costs one open and close.
        """
        try:
            opened = self._open_checked(dest, move.root, out)
        except FileNotFoundError:
            return False  # renamed again (the next move says where) or deleted
        if opened is None:
            return True
        fd, st = opened
        try:
            if self._holds_or_has_read(fd, st):
                os.close(fd)
                return True
            # Only this file's own checkpoint: the one kept for the followed name is its successor's.
            resume = self._resume_by_key(fd, st, move.origin) or _Resume(0, 0, EventKind.ADDED, "")
        except OSError as exc:
            os.close(fd)
            self._skip(dest, f"open_failed:{exc.strerror or exc}", out)
            return True
        t = self._new_tailer(fd, st, move.origin, resume, out)
        if t is not None:
            t.retired_since = self._clock()
            self._retired[t.key] = t
            out.append(FileEvent(EventKind.ROTATED, move.origin, t.key, reason=f"renamed_before_open:{dest}"))
        return True

    def _holds_or_has_read(self, fd: int, st: os.stat_result) -> bool:
        """True when the file is open here, or was drained and closed here (and is still that file).

        The second happens when a move is reported late (watchdog holds a rename up to 0.5 s to pair
        its halves) and the file, renamed after we opened it, was closed after `rotate_wait` meanwhile.
        `_resume` cannot tell: opening the next file under the same name forgets the old state there.
        """
        key = FileKey(st.st_dev, st.st_ino)
        if key in self._open:
            return True
        state = self._done.get(key)
        return state is not None and not resume_mismatch(fd, st, state)

    # ------------------------------------------------------------------ looking and reading

    def _look(self, path: str, out: list[Item], to_read: dict[FileKey, Tailer]) -> None:
        """Re-stat a followed path: same file (read if changed), another file, or gone."""
        t = self._active.get(path)
        if t is None:
            return
        try:
            st = os.stat(path)
        except OSError:
            self._retire(t, out)
            return
        if (st.st_dev, st.st_ino) != (t.key.dev, t.key.ino):
            self._retire(t, out, rotated=True)
            self._open_path(path, self._root_for(path), out, to_read)
        elif t.needs_look(st):
            to_read[t.key] = t

    def _retire(self, t: Tailer, out: list[Item], *, rotated: bool = False) -> None:
        """The path no longer names `t`'s file: keep draining it, by descriptor."""
        del self._active[t.path]
        t.retired_since = self._clock()
        self._retired[t.key] = t
        try:
            deleted = os.fstat(t.fd).st_nlink == 0
        except OSError:
            deleted = True
        kind = EventKind.DELETED if deleted and not rotated else EventKind.ROTATED
        out.append(FileEvent(kind, t.path, t.key, reason="deleted" if deleted else "renamed"))

    def _read(self, t: Tailer, out: list[Item]) -> bool:
        """Check for truncation, then read one chunk; False if the file could not be read."""
        try:
            changed, truncated = t.refresh()
            if truncated:
                self._emit(t, t.finish(), out)
                t.restart()
                t.emitted = 0
                out.append(FileEvent(EventKind.TRUNCATED, t.path, t.key, reason=truncated))
            records = t.read(self.chunk_bytes)
        except OSError as exc:
            out.append(FileEvent(EventKind.ERROR, t.path, t.key, reason=exc.strerror or str(exc)))
            self._drop(t, out)
            return False
        if changed or records:
            t.last_change = self._clock()
        self._emit(t, records, out)
        return True

    def _read_retired(self, t: Tailer, out: list[Item]) -> None:
        """Drain a rotated/deleted file; close it once quiet at its end for `rotate_wait`.

        Its unterminated last line, if any, is emitted at the close: a writer still holding the old
        descriptor may yet complete it.
        """
        if not self._read(t, out) or t.behind:
            return
        quiet_since = max(t.last_change, t.retired_since or 0.0)
        if self._clock() - quiet_since >= self.rotate_wait:
            self._emit(t, t.finish(), out)
            self._drop(t, out)
            out.append(FileEvent(EventKind.CLOSED, t.path, t.key, reason="drained"))

    def _drop(self, t: Tailer, out: list[Item]) -> None:
        if not t.closed:
            state = t.state()
            self._remember(state)
            self._done.pop(state.key, None)
            self._done[state.key] = state
            while len(self._done) > _MAX_CLOSED:
                del self._done[next(iter(self._done))]
        t.close()
        self._open.pop(t.key, None)
        self._retired.pop(t.key, None)
        if self._active.get(t.path) is t:
            del self._active[t.path]

    def _emit(self, t: Tailer, records: list[Record], out: list[Item]) -> None:
        committed = t.framer.committed
        if records or committed != t.emitted:
            t.emitted = committed
            out.append(Batch(t.key, t.path, tuple(records), t.state()))


def _validate(
    roots: list[Root],
    mode: str,
    poll_interval: float,
    rescan_interval: float,
    rotate_wait: float,
    chunk_bytes: int,
) -> None:
    if not roots:
        raise ConfigError("no log globs given", where="follow.globs", hint="give at least one glob")
    if mode not in MODES:
        raise ConfigError(f"unknown follow mode {mode!r}", where="follow.mode", hint=f"use one of {MODES}")
    for name, value in (
        ("poll_interval", poll_interval),
        ("rescan_interval", rescan_interval),
        ("rotate_wait", rotate_wait),
    ):
        if not value >= 0:
            raise ConfigError(f"{name} must be >= 0, got {value!r}", where=f"follow.{name}")
    if chunk_bytes < 1:
        raise ConfigError(f"chunk_bytes must be >= 1, got {chunk_bytes!r}", where="follow.chunk")


def _load_checkpoints(checkpoints: Mapping[str, Mapping[str, object]]) -> dict[FileKey, FileState]:
    states: dict[FileKey, FileState] = {}
    for name, entry in checkpoints.items():
        try:
            state = FileState.from_dict(dict(entry))
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(
                f"malformed follow checkpoint: {exc}",
                where=f"checkpoint {name}",
                hint="delete this entry to re-read the file from the start",
            ) from exc
        states[state.key] = state
    return states
