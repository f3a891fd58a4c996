"""File identity: which file is this, and is it still the file we were reading?

Identity is (st_dev, st_ino) plus a signature of the head bytes (research: log-tailing-anchors.md §0.2,
§11.2). Device and inode alone are not enough: a deleted log's inode is reused by the next file
(elastic/beats#1341), so a checkpoint could resume a different file at a stale offset. A content hash
alone is not enough either: two logs that start with the same banner collide (vectordotdev/vector#5833).

- The **head signature** hashes the first `len` bytes, up to 1 KiB. It grows as the file does (as Alloy
  recomputes at 64…1024 B), so a file is identifiable from its first byte, unlike Filebeat's fixed
  1 KiB fingerprint that ignores small files (elastic/beats#44749).
- The **offset marker** hashes up to 32 bytes just before the committed offset (Fluent Bit ≥ 5.0.3).
  It catches a file truncated and refilled past the old offset with the same head while we were stopped.

While a tailer holds a file open its inode cannot be reused, so (dev, ino) is a unique key among open
files; the signatures matter across restarts and for truncation-and-refill.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

HEAD_BYTES = 1024
MARKER_BYTES = 32


@dataclass(frozen=True, slots=True, order=True)
class FileKey:
    """(st_dev, st_ino) of an open file: unique among the files a Follower holds open."""

    dev: int
    ino: int

    def __str__(self) -> str:
        return f"{self.dev}:{self.ino}"


@dataclass(frozen=True, slots=True)
class Signature:
    """Hash of the first `length` bytes of a file (`length` ≤ HEAD_BYTES)."""

    length: int
    digest: str


def digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=8).hexdigest()


def pread_exact(fd: int, length: int, offset: int) -> bytes:
    """Read up to `length` bytes at `offset`; fewer only at end of file."""
    chunks: list[bytes] = []
    while length > 0:
        data = os.pread(fd, length, offset)
        if not data:
            break
        chunks.append(data)
        length -= len(data)
        offset += len(data)
    return b"".join(chunks)


def head_signature(fd: int, size: int) -> Signature:
    """The signature of the first min(size, 1 KiB) bytes of the open file `fd`."""
    data = pread_exact(fd, min(size, HEAD_BYTES), 0)
    return Signature(len(data), digest(data))


def head_matches(fd: int, sig: Signature) -> bool:
    """True when the file's first `sig.length` bytes still hash to `sig.digest`."""
    data = pread_exact(fd, sig.length, 0)
    return len(data) == sig.length and digest(data) == sig.digest


def offset_marker(fd: int, offset: int) -> str:
    """Hash of up to MARKER_BYTES bytes just before `offset` ("" at offset 0)."""
    start = max(0, offset - MARKER_BYTES)
    return digest(pread_exact(fd, offset - start, start)) if offset else ""


@dataclass(frozen=True, slots=True)
class FileState:
    """Everything needed to resume one file after a restart; JSON-serialisable via `to_dict`.

    `committed` is the offset just past the last complete record delivered, `line_no` the records
    framed before it. A resume re-reads any partial line after `committed`.
    """

    path: str
    dev: int
    ino: int
    head: Signature
    committed: int
    line_no: int
    marker: str

    @property
    def key(self) -> FileKey:
        return FileKey(self.dev, self.ino)

    def to_dict(self) -> dict[str, object]:
        return {
            "path": self.path,
            "dev": self.dev,
            "ino": self.ino,
            "head_len": self.head.length,
            "head_hash": self.head.digest,
            "committed": self.committed,
            "line_no": self.line_no,
            "marker": self.marker,
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> FileState:
        """Inverse of `to_dict`; raises KeyError/TypeError/ValueError on a malformed entry."""
        return cls(
            path=str(data["path"]),
            dev=_int(data["dev"]),
            ino=_int(data["ino"]),
            head=Signature(_int(data["head_len"]), str(data["head_hash"])),
            committed=_int(data["committed"]),
            line_no=_int(data["line_no"]),
            marker=str(data.get("marker", "")),
        )


def _int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"expected a non-negative integer, got {value!r}")
    return value


def resume_mismatch(fd: int, st: os.stat_result, state: FileState) -> str:
    """Why the open file cannot resume from `state` ("" when it can).

    The reasons are short stable codes, reported in the `restarted_from_zero` event.
    """
    if (st.st_dev, st.st_ino) != (state.dev, state.ino):
        return "inode_changed"
    if st.st_size < state.committed:
        return "shorter_than_checkpoint"
    if not head_matches(fd, state.head):
        return "head_changed"
    if state.marker and offset_marker(fd, state.committed) != state.marker:
        return "bytes_before_offset_changed"
    return ""
