"""One followed file: partial lines, truncation, bounded reads, deletion, resume (poll mode, real files)."""

from __future__ import annotations

import os
from pathlib import Path

from metricwatch.follow import Batch, EventKind, Follower

from .conftest import drain, events, kinds, texts


def _follower(tmp_path: Path, **kw) -> Follower:
    kw.setdefault("mode", "poll")
    kw.setdefault("poll_interval", 0.0)
    kw.setdefault("rotate_wait", 0.0)
    return Follower([str(tmp_path / "*.log")], **kw)


def test_partial_line_waits_for_its_terminator(tmp_path: Path) -> None:
    """A line flushed in two writes is one record, delivered once complete."""
    log = tmp_path / "a.log"
    log.write_bytes(b"epoch 1 loss=0.5\nepoch 2 val_lo")
    with _follower(tmp_path) as f:
        assert texts(drain(f)) == ["epoch 1 loss=0.5"]
        with log.open("ab") as fh:
            fh.write(b"ss=0.4\n")
        assert texts(drain(f)) == ["epoch 2 val_loss=0.4"]


def test_batch_state_commits_only_complete_records(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.write_bytes(b"one\ntwo\nthr")
    with _follower(tmp_path) as f:
        batches = [i for i in drain(f) if isinstance(i, Batch)]
    assert batches[-1].committed == 8  # just past "two\n"
    assert batches[-1].state.line_no == 2


def test_truncation_restarts_from_zero(tmp_path: Path) -> None:
    """Truncate then write less than before: size < offset → read the new content from 0."""
    log = tmp_path / "a.log"
    log.write_bytes(b"old 1\nold 2\n")
    with _follower(tmp_path) as f:
        drain(f)
        log.write_bytes(b"new 1\n")  # "w" truncates
        items = drain(f)
    assert texts(items) == ["new 1"]
    assert EventKind.TRUNCATED in kinds(items)


def test_truncate_and_refill_past_offset_is_detected_by_head(tmp_path: Path) -> None:
    """Refilled beyond the old size before we looked again: the changed head gives it away."""
    log = tmp_path / "a.log"
    log.write_bytes(b"run A 1\n")
    with _follower(tmp_path) as f:
        drain(f)
        log.write_bytes(b"run B 1\nrun B 2\nrun B 3\n")
        items = drain(f)
    assert texts(items) == ["run B 1", "run B 2", "run B 3"]
    trunc = [i for i in items if getattr(i, "kind", None) is EventKind.TRUNCATED]
    assert trunc[0].reason == "head_changed"


def test_partial_line_is_flushed_when_the_file_is_truncated(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.write_bytes(b"done\nhalf")
    with _follower(tmp_path) as f:
        drain(f)
        os.truncate(log, 0)
        assert texts(drain(f)) == ["half"]


def test_deleted_file_is_drained_then_closed(tmp_path: Path) -> None:
    """Bytes written just before deletion are still delivered, then the descriptor is closed."""
    log = tmp_path / "a.log"
    log.write_bytes(b"one\n")
    with _follower(tmp_path) as f:
        drain(f)
        with log.open("ab") as fh:
            fh.write(b"two\nlast words")
        log.unlink()
        items = drain(f)
    assert texts(items) == ["two", "last words"]
    assert kinds(items) == [EventKind.DELETED, EventKind.CLOSED]


def test_reads_are_bounded_per_file(tmp_path: Path) -> None:
    """A 1 MiB backlog does not delay a small file: each poll reads at most chunk_bytes per file."""
    (tmp_path / "big.log").write_bytes(b"x" * 99 + b"\n" * 1 + (b"y" * 99 + b"\n") * 10_000)
    (tmp_path / "small.log").write_bytes(b"val_loss=0.1\n")
    with _follower(tmp_path, chunk_bytes=64 * 1024) as f:
        first = f.poll(0)
        assert "val_loss=0.1" in texts(first)
        assert len(texts(first)) < 700  # ≈ 64 KiB of 100-byte lines, not the whole 1 MiB
        rest = drain(f)
    assert len(texts(first)) + len(texts(rest)) == 10_002


def test_resume_from_checkpoint_rereads_the_partial_line(tmp_path: Path) -> None:
    """Stop with a partial line pending, restart: no record lost or repeated."""
    log = tmp_path / "a.log"
    log.write_bytes(b"epoch 1\nepoch 2 val_")
    with _follower(tmp_path) as f:
        assert texts(drain(f)) == ["epoch 1"]
        saved = f.checkpoint()
    with log.open("ab") as fh:
        fh.write(b"loss=0.3\nepoch 3\n")
    with _follower(tmp_path, checkpoints=saved) as f:
        items = drain(f)
    assert texts(items) == ["epoch 2 val_loss=0.3", "epoch 3"]
    batch = next(i for i in items if isinstance(i, Batch))
    assert [r.line_no for r in batch.records] == [2, 3]
    assert kinds(items)[0] is EventKind.RESUMED


def test_checkpoint_of_rewritten_file_restarts_from_zero_and_says_why(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.write_bytes(b"epoch 1\nepoch 2\n")
    with _follower(tmp_path) as f:
        drain(f)
        saved = f.checkpoint()
    with log.open("r+b") as fh:  # same inode, rewritten while we were stopped
        fh.write(b"EPOCH 1\nepoch 2\nepoch 3\n")
    with _follower(tmp_path, checkpoints=saved) as f:
        items = drain(f)
    assert texts(items) == ["EPOCH 1", "epoch 2", "epoch 3"]
    event = events(items)[0]
    assert event.kind is EventKind.RESTARTED_FROM_ZERO and event.reason == "head_changed"


def test_file_renamed_while_stopped_resumes_under_its_new_name(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.write_bytes(b"epoch 1\n")
    with _follower(tmp_path) as f:
        drain(f)
        saved = f.checkpoint()
    os.rename(log, tmp_path / "b.log")
    with (tmp_path / "b.log").open("ab") as fh:
        fh.write(b"epoch 2\n")
    with _follower(tmp_path, checkpoints=saved) as f:
        items = drain(f)
    assert texts(items) == ["epoch 2"]
    event = events(items)[0]
    assert event.kind is EventKind.RESUMED and event.reason.startswith("renamed_from:")
