"""Wake-ups: watchdog directory watches that only say "look at these paths soon".

Events are hints, never data (research §6 recipe): the kernel and watchdog coalesce them (10,000 writes
became 78 events), a queue overflow reaches no handler, and network file systems deliver none for
remote writes. The Follower therefore re-stats whatever an event names and runs its own safety poll.

The handler runs on watchdog's dispatcher thread. It only adds paths to a set under a lock and sets a
`threading.Event`, so it cannot raise (an exception there kills the observer) and the Follower's
state is touched by one thread only.

A file move is the one hint that carries more than "look here": its (source, destination) pair, in
the order the kernel reported it. A log created and renamed out of the glob before the Follower opened
it is found only through that pair (the name it was followed under no longer exists to be stat'ed).
"""

from __future__ import annotations

import errno
import threading
from dataclasses import dataclass

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer

# No open / close-without-write events: our own reads would wake us (research §6, [measured]).
EVENT_FILTER: list[type[FileSystemEvent]] = [
    FileCreatedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileDeletedEvent,
    FileClosedEvent,
    DirCreatedEvent,
    DirMovedEvent,
    DirDeletedEvent,
]
# Running out of inotify watches or instances is a reason to poll, not to fail (watchdog#673, #846).
LIMIT_ERRNOS = frozenset({errno.ENOSPC, errno.EMFILE, errno.ENFILE})


@dataclass(frozen=True, slots=True)
class Hints:
    """What the wake-ups since the last drain asked for."""

    paths: frozenset[str]  # names to re-stat
    rescan: bool  # a name was created, moved or deleted: re-glob
    moves: tuple[tuple[str, str], ...]  # (source, destination) of file renames, oldest first


@dataclass(frozen=True, slots=True)
class Fallback:
    """A directory that is polled instead of watched, and why."""

    directory: str
    reason: str  # "requested", "network_fs:nfs4", "inotify_limit:ENOSPC", "observer_died", …


class _Handler(FileSystemEventHandler):
    def __init__(self, wakeup: Wakeup) -> None:
        self._wakeup = wakeup

    def on_any_event(self, event: FileSystemEvent) -> None:
        paths = [_text(event.src_path)]
        if event.dest_path:
            paths.append(_text(event.dest_path))
        # A new or moved name may be a new log (or a rotation): ask for a glob rescan.
        structural = event.event_type in ("created", "moved", "deleted") or event.is_directory
        move = (paths[0], paths[1]) if event.event_type == "moved" and not event.is_directory else None
        self._wakeup.hint(paths, rescan=structural, move=move)


def _text(path: bytes | str) -> str:
    return path.decode("utf-8", "surrogateescape") if isinstance(path, bytes) else path


class Wakeup:
    """Collects wake-up hints from watchdog (or none, when polling) for the Follower's loop."""

    def __init__(self, event: threading.Event | None = None) -> None:
        """`event`, when given, is shared with other Wakeups so one loop can sleep on all of them; its
        owner clears it before polling them (a drain here must not swallow another follower's hint)."""
        self._lock = threading.Lock()
        self._shared = event is not None
        self._event = event or threading.Event()
        self._dirty: set[str] = set()
        self._rescan = False
        self._moves: list[tuple[str, str]] = []
        self._observer: Observer | None = None  # type: ignore[valid-type]
        self._watched: set[str] = set()
        self._handler = _Handler(self)

    @property
    def watching(self) -> bool:
        return bool(self._watched)

    def hint(self, paths: list[str], *, rescan: bool, move: tuple[str, str] | None = None) -> None:
        with self._lock:
            self._dirty.update(paths)
            self._rescan = self._rescan or rescan
            if move is not None:
                self._moves.append(move)
        self._event.set()

    def watch(self, directory: str, recursive: bool) -> Fallback | None:
        """Start watching `directory`; a Fallback when inotify cannot (limits), else None."""
        if directory in self._watched:
            return None
        try:
            if self._observer is None:
                self._observer = Observer()
                self._observer.start()
            self._observer.schedule(self._handler, directory, recursive=recursive, event_filter=EVENT_FILTER)
        except OSError as exc:
            if exc.errno in LIMIT_ERRNOS:
                return Fallback(directory, f"inotify_limit:{errno.errorcode[exc.errno]}")
            return Fallback(directory, f"watch_failed:{exc.strerror or exc}")
        self._watched.add(directory)
        return None

    def check_alive(self) -> list[Fallback]:
        """If the observer thread died, every watched directory is polled from now on."""
        if self._observer is None or self._observer.is_alive() or not self._watched:
            return []
        lost = [Fallback(d, "observer_died") for d in sorted(self._watched)]
        self._watched.clear()
        self._observer = None
        return lost

    def wait(self, timeout: float) -> bool:
        """Block until a hint arrives or `timeout` seconds pass; True if woken by a hint."""
        return self._event.wait(max(0.0, timeout))

    def drain(self) -> Hints:
        """The hints collected since the last drain."""
        with self._lock:
            if not self._shared:
                self._event.clear()
            hints = Hints(frozenset(self._dirty), self._rescan, tuple(self._moves))
            self._dirty, self._rescan, self._moves = set(), False, []
        return hints

    def stop(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)
            self._observer = None
        self._watched.clear()
