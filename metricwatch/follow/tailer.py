"""One open log file: its descriptor, read position, framer and identity.

A tailer never reopens by path: it holds the descriptor, so after a rename or unlink it keeps reading the
same inode to its end (drain before switching, research §11.2; tail -F's FIXME and Fluent Bit's
Rotate_Wait drop that data). The Follower decides when the path points elsewhere; the tailer only
notices what its own descriptor shows: the file shrank below the read position, or its head changed
(copytruncate, or truncate-and-refill past the old size between two looks).

Reads are bounded (`budget` bytes per call, 256 KiB by default) so one huge or fast file cannot starve
the others (Vector's `max_read_bytes`).
"""

from __future__ import annotations

import os
import stat

from metricwatch.follow.identity import (
    HEAD_BYTES,
    FileKey,
    FileState,
    Signature,
    digest,
    head_signature,
    offset_marker,
    pread_exact,
)
from metricwatch.frame import Framer
from metricwatch.types import Record

DEFAULT_CHUNK_BYTES = 256 * 1024
_OPEN_FLAGS = os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK  # NONBLOCK: a FIFO must not hang us


class NotRegularFile(OSError):
    """The path names a FIFO, device, socket or directory: nothing to tail."""


def open_log(path: str, *, nofollow: bool = True) -> tuple[int, os.stat_result]:
    """Open `path` read-only; with `nofollow`, refuse if its last component is a symlink (ELOOP).

    The fstat of the descriptor, not a stat of the path, is the identity: the path can change under us.
    """
    fd = os.open(path, _OPEN_FLAGS | (os.O_NOFOLLOW if nofollow else 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotRegularFile(f"not a regular file: {path}")
    except BaseException:
        os.close(fd)
        raise
    return fd, st


class Tailer:
    """Reads one file from an offset, framing its bytes into Records.

    Args:
        fd, st: an open descriptor (from `open_log`) and its fstat.
        path: the name it was found under (updated by the Follower on rename).
        offset, line_no: where to start (0, or a checkpoint's committed offset and line count).
        max_record_bytes: the framer's cap on one record.
    """

    def __init__(
        self,
        fd: int,
        st: os.stat_result,
        path: str,
        *,
        offset: int = 0,
        line_no: int = 0,
        max_record_bytes: int = 1 << 20,
    ) -> None:
        self.fd = fd
        self.path = path
        self.key = FileKey(st.st_dev, st.st_ino)
        self.max_record_bytes = max_record_bytes
        self.framer = Framer(max_record_bytes=max_record_bytes, offset=offset, line_no=line_no)
        self.pos = offset  # next byte to read; ≥ framer.committed (a partial line sits between)
        self.head = head_signature(fd, st.st_size)
        self._seen = (st.st_size, st.st_mtime_ns)
        self.size = st.st_size
        self.retired_since: float | None = None  # set when the path no longer names this file
        self.last_change = 0.0
        self.emitted = offset  # the committed offset last reported in a Batch

    @property
    def closed(self) -> bool:
        return self.fd < 0

    @property
    def behind(self) -> bool:
        """Known unread bytes remain (the last read hit its budget)."""
        return self.pos < self.size

    def refresh(self) -> tuple[bool, str]:
        """fstat the descriptor: (changed since last look, truncation reason or "")."""
        st = os.fstat(self.fd)
        self.size = st.st_size
        seen = (st.st_size, st.st_mtime_ns)
        if seen == self._seen:
            return False, ""
        self._seen = seen
        if st.st_size < self.pos:
            return True, "size_shrank"
        if not self._refresh_head(st.st_size):
            return True, "head_changed"
        return True, ""

    def _refresh_head(self, size: int) -> bool:
        """Re-check the head signature and grow it toward 1 KiB; False when the head changed."""
        data = pread_exact(self.fd, min(size, HEAD_BYTES), 0)
        if len(data) < self.head.length or digest(data[: self.head.length]) != self.head.digest:
            return False
        if len(data) > self.head.length:
            self.head = Signature(len(data), digest(data))
        return True

    def restart(self) -> None:
        """The file was truncated: read it again from 0 (call `finish` first for the held partial).

        Bytes appended after our last read and before the truncation are gone (the copytruncate race).
        """
        self.framer = Framer(max_record_bytes=self.max_record_bytes, offset=0, line_no=0)
        self.pos = 0
        self.head = head_signature(self.fd, self.size)

    def needs_look(self, st: os.stat_result) -> bool:
        """From a stat of the path (same inode): has anything changed since we last looked?"""
        return (st.st_size, st.st_mtime_ns) != self._seen or self.behind

    def read(self, budget: int = DEFAULT_CHUNK_BYTES) -> list[Record]:
        """Read at most `budget` bytes from the read position and frame them."""
        data = os.pread(self.fd, budget, self.pos)
        if not data:
            return []
        self.pos += len(data)
        self.size = max(self.size, self.pos)
        return self.framer.feed(data)

    def finish(self) -> list[Record]:
        """End of this file's life (drained after rotation/deletion): emit the held partial line."""
        return self.framer.flush()

    def state(self) -> FileState:
        """A checkpoint of what has been delivered: resume re-reads the partial line after it."""
        committed = self.framer.committed
        marker = offset_marker(self.fd, committed) if not self.closed else ""
        return FileState(
            path=self.path,
            dev=self.key.dev,
            ino=self.key.ino,
            head=self.head,
            committed=committed,
            line_no=self.framer.line_no,
            marker=marker,
        )

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
