"""What a Follower returns: Batches of Records, and lifecycle events, in the order they happened.

Events are values, not log lines: the daemon turns each into its structlog event (metricwatch/events.py)
and tests compare them directly. The order matters: a TRUNCATED event sits between the last Batch of
the old content and the first Batch of the new, so the extractor can start a new attempt there.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from metricwatch.follow.identity import FileKey, FileState
from metricwatch.types import Record


class EventKind(enum.Enum):
    """Lifecycle of a followed file. The values are the stable structlog event names."""

    ADDED = "file_added"  # a new file under the globs; read from 0
    RESUMED = "file_resumed"  # matched a checkpoint; read from its committed offset
    RESTARTED_FROM_ZERO = "file_restarted_from_zero"  # a checkpoint existed but did not match (reason)
    ROTATED = "file_rotated"  # the path names another file now; the old one is drained
    RENAMED = "file_renamed"  # a file we hold appeared under another followed path
    TRUNCATED = "file_truncated"  # size below the read position or head changed; read from 0
    DELETED = "file_deleted"  # the path is gone; the old file is drained
    CLOSED = "file_closed"  # a rotated/deleted file was drained and closed
    SKIPPED = "file_skipped"  # symlink outside the tree, not a regular file, unreadable, duplicate
    ERROR = "file_read_error"  # reading failed; the file is dropped (found again at the next rescan)
    POLLING = "follow_polling"  # a directory is polled instead of watched (reason)


@dataclass(frozen=True, slots=True)
class FileEvent:
    """Something happened to a followed file or directory; `reason` is a short stable code."""

    kind: EventKind
    path: str
    key: FileKey | None = None
    reason: str = ""
    offset: int = 0  # where reading (re)starts, for ADDED / RESUMED / RESTARTED_FROM_ZERO


@dataclass(frozen=True, slots=True)
class Batch:
    """Records newly framed from one file, and the resume state just past the last of them.

    Store `state` in the same transaction as whatever the records produced: then a crash neither
    loses nor repeats a record (the partial line after `state.committed` is re-read on resume).
    """

    key: FileKey
    path: str
    records: tuple[Record, ...]
    state: FileState

    @property
    def committed(self) -> int:
        """Offset just past the last complete record delivered from this file."""
        return self.state.committed


Item = Batch | FileEvent
