"""File identity: head signatures, offset markers and the resume decision, on real files."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from metricwatch.errors import InputError
from metricwatch.follow import FileState, Follower
from metricwatch.follow.identity import head_signature, offset_marker, resume_mismatch


def _state(path: Path, committed: int) -> FileState:
    fd = os.open(path, os.O_RDONLY)
    try:
        st = os.fstat(fd)
        return FileState(
            str(path),
            st.st_dev,
            st.st_ino,
            head_signature(fd, st.st_size),
            committed,
            0,
            offset_marker(fd, committed),
        )
    finally:
        os.close(fd)


def _mismatch(path: Path, state: FileState) -> str:
    fd = os.open(path, os.O_RDONLY)
    try:
        return resume_mismatch(fd, os.fstat(fd), state)
    finally:
        os.close(fd)


def test_head_signature_is_blake2b_of_first_kib(tmp_path: Path) -> None:
    """The head signature covers exactly the first min(size, 1024) bytes."""
    log = tmp_path / "a.log"
    data = bytes(range(256)) * 8  # 2 KiB
    log.write_bytes(data)
    fd = os.open(log, os.O_RDONLY)
    sig = head_signature(fd, len(data))
    os.close(fd)
    assert sig.length == 1024
    assert sig.digest == hashlib.blake2b(data[:1024], digest_size=8).hexdigest()


def test_unchanged_file_resumes(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.write_bytes(b"epoch 1\nepoch 2\n")
    state = _state(log, 8)
    with log.open("ab") as fh:
        fh.write(b"epoch 3\n")
    assert _mismatch(log, state) == ""


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        # truncated while stopped, shorter than the checkpoint
        (lambda p: p.write_bytes(b"e"), "shorter_than_checkpoint"),
        # truncated and refilled past the old size with different head bytes
        (lambda p: p.write_bytes(b"other run 1\nother run 2\n"), "head_changed"),
        # same header line, different bytes before the offset (a restarted job writing `>`)
        (lambda p: p.write_bytes(b"epoch 1\nepoch 9\nepoch 9\n"), "bytes_before_offset_changed"),
    ],
)
def test_rewritten_file_does_not_resume(tmp_path: Path, change, reason: str) -> None:
    """Same inode, different content: the checkpoint must not be trusted."""
    log = tmp_path / "a.log"
    log.write_bytes(b"epoch 1\nepoch 2\n")
    full = _state(log, 16)
    # a head signature taken when only the first line existed (it grows with the file)
    fd = os.open(log, os.O_RDONLY)
    state = FileState(full.path, full.dev, full.ino, head_signature(fd, 8), 16, 2, full.marker)
    os.close(fd)
    change(log)
    assert _mismatch(log, state) == reason


def test_reused_inode_is_a_new_file(tmp_path: Path) -> None:
    """A checkpoint naming another inode is not resumed."""
    log = tmp_path / "a.log"
    log.write_bytes(b"epoch 1\n")
    state = _state(log, 8)
    log.unlink()
    (tmp_path / "pad").write_bytes(b"x")  # take the inode if the fs hands it out again
    log.write_bytes(b"epoch 1\n")
    reason = _mismatch(log, state)
    assert reason in {"inode_changed", ""}  # "" only if the fs reused the inode and the bytes match
    if os.stat(log).st_ino != state.ino:
        assert reason == "inode_changed"


def test_state_round_trips_through_dict(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.write_bytes(b"epoch 1\n")
    state = _state(log, 8)
    assert FileState.from_dict(state.to_dict()) == state


def test_malformed_checkpoint_names_the_entry(tmp_path: Path) -> None:
    """A bad checkpoint entry is a startup error that says which entry and what to do."""
    with pytest.raises(InputError) as info:
        Follower([str(tmp_path / "*.log")], checkpoints={"1:2": {"path": "x", "dev": -1}})
    assert info.value.where == "checkpoint 1:2"
    assert "delete this entry" in info.value.hint
