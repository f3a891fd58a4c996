"""Rotation under a live writer subprocess, with real renames, real copytruncate and real watchdog.

The writer prints `seq N t=<unix time>` lines, so a missing line can be placed in time and checked
against the documented copytruncate race window.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from metricwatch.follow import Batch, EventKind, Follower

from .conftest import drain, events, kinds, texts, wait_for

# logging.handlers.WatchedFileHandler reopens the path when its inode changes: the usual partner of
# rename rotation (logrotate `create`). It may still write one line to the old file after the rename.
RENAME_WRITER = """
import logging, logging.handlers, sys, time
h = logging.handlers.WatchedFileHandler(sys.argv[1])
log = logging.getLogger("w"); log.addHandler(h); log.setLevel(logging.INFO)
for i in range(int(sys.argv[2])):
    log.info("seq %d t=%.6f", i, time.time())
    if i % 20 == 0: time.sleep(0.002)
"""
# copytruncate partners with writers that keep their descriptor, in append mode.
APPEND_WRITER = """
import sys, time
with open(sys.argv[1], "a", buffering=1) as fh:
    for i in range(int(sys.argv[2])):
        fh.write(f"seq {i} t={time.time():.6f}\\n")
        if i % 20 == 0: time.sleep(0.002)
"""


def _seqs(lines: list[str]) -> list[int]:
    return [int(t.split()[1]) for t in lines]


def _writer(script: str, log: Path, n: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", script, str(log), str(n)])


@pytest.mark.parametrize("mode", ["inotify", "poll"])
def test_rename_rotation_loses_and_repeats_nothing(tmp_path: Path, mode: str) -> None:
    """Rotate every ~8 KB while the writer runs; the old file is drained before being dropped.

    Only files the follower has already opened are rotated, so both modes must deliver everything.
    In poll mode that is the documented limit: a file created *and* renamed out of the glob between
    two polls is never seen. With inotify such a file is found through the move event and read too:
    see test_files_renamed_before_the_follower_opens_them_are_read_with_inotify.
    """
    log = tmp_path / "train.log"
    log.touch()
    n = 4000
    with Follower([str(log)], mode=mode, poll_interval=0.05, rotate_wait=0.3) as f:
        got = drain(f)
        writer = _writer(RENAME_WRITER, log, n)
        rotations = 0
        while writer.poll() is None:
            got += f.poll(0.01)
            seen = {i.key.ino for i in got if isinstance(i, Batch)}
            st = log.stat() if log.exists() else None
            if st and st.st_size > 8000 and st.st_ino in seen:
                os.rename(log, tmp_path / f"train.log.{rotations}")
                rotations += 1
        got += drain(f, rounds=40, timeout=0.02)  # past rotate_wait: old files closed
    assert writer.returncode == 0
    seqs = _seqs(texts(got))
    assert rotations >= 3
    assert len(seqs) == len(set(seqs)), "a line was delivered twice"
    assert sorted(seqs) == list(range(n)), "a line was lost"
    assert kinds(got).count(EventKind.ROTATED) == rotations


def test_copytruncate_loses_only_the_race_window(tmp_path: Path) -> None:
    """Nothing is duplicated; every lost line was written between our last read and the truncate."""
    log = tmp_path / "train.log"
    log.touch()
    n = 6000
    windows: list[tuple[float, float]] = []  # (last read before rotation, truncate done)
    with Follower([str(log)], mode="inotify", poll_interval=0.05) as f:
        got = drain(f)
        writer = _writer(APPEND_WRITER, log, n)
        rotations = 0
        while writer.poll() is None:
            got += f.poll(0.01)
            if log.stat().st_size > 12000:
                got += f.poll(0)
                start = time.time()
                shutil.copy(log, tmp_path / f"train.log.{rotations}")
                os.truncate(log, 0)
                windows.append((start, time.time()))
                rotations += 1
        got += drain(f, rounds=10, timeout=0.02)
    assert writer.returncode == 0 and rotations >= 3
    lines = texts(got)
    seqs = _seqs(lines)
    assert len(seqs) == len(set(seqs)), "a line was delivered twice"
    assert seqs == sorted(seqs), "lines out of order"
    assert seqs[-1] == n - 1
    written_at = {}
    for path in [log, *tmp_path.glob("train.log.*")]:
        for line in path.read_text().splitlines():
            seq, stamp = line.split()[1], line.split()[2]
            written_at[int(seq)] = float(stamp[2:])
    lost = sorted(set(range(n)) - set(seqs))
    slack = 0.005  # the writer stamps a line just before writing it
    for seq in lost:
        stamp = written_at.get(seq)
        if stamp is None:
            continue  # in neither copy nor file: written between copy and truncate, by definition
        assert any(lo - slack <= stamp <= hi + slack for lo, hi in windows), (seq, stamp)
    assert len(lost) < n * 0.05


def test_watchdog_wakes_the_follower_long_before_the_safety_poll(tmp_path: Path) -> None:
    """With inotify, a write is seen within well under a second although the safety poll is 30 s."""
    log = tmp_path / "a.log"
    log.write_text("epoch 1\n")
    with Follower([str(tmp_path / "*.log")], mode="inotify", poll_interval=30) as f:
        assert not f.polling_only
        wait_for(f, lambda items: "epoch 1" in texts(items))
        time.sleep(0.2)
        start = time.monotonic()
        with log.open("a") as fh:
            fh.write("epoch 2\n")
        wait_for(f, lambda items: "epoch 2" in texts(items), timeout=1.0)
        assert time.monotonic() - start < 1.0


def test_watchdog_sees_a_new_log_appear(tmp_path: Path) -> None:
    with Follower([str(tmp_path / "*.log")], mode="inotify", poll_interval=30, rescan_interval=60) as f:
        f.poll(0)
        (tmp_path / "new.log").write_text("epoch 1\n")
        items = wait_for(f, lambda items: "epoch 1" in texts(items), timeout=2.0)
        assert EventKind.ADDED in kinds(items)


def _rotate_at_once(log: Path, writer: subprocess.Popen[bytes], f: Follower, size: int) -> tuple[list, int]:
    """Rename `log` away as soon as it holds `size` bytes, polling the follower after every 4th rename
    only: the files in between are created and renamed while the follower cannot have opened them."""
    got: list = []
    rotations = 0
    while writer.poll() is None:
        st = log.stat() if log.exists() else None
        if st and st.st_size >= size:
            os.rename(log, log.with_name(f"train.log.{rotations}"))
            rotations += 1
            if rotations % 4:
                continue
        got += f.poll(0.002)
    return got, rotations


def test_files_renamed_before_the_follower_opens_them_are_read_with_inotify(tmp_path: Path) -> None:
    """Create, write a few lines, rename away at once, repeat: every line arrives exactly once.

    Three of every four files are renamed out of the glob before the follower could open them; the
    move event names where they went and they are read there, as rotated files.
    """
    log = tmp_path / "train.log"
    n = 3000
    with Follower([str(log)], mode="inotify", poll_interval=0.05, rotate_wait=0.3) as f:
        got = drain(f)
        writer = _writer(RENAME_WRITER, log, n)
        more, rotations = _rotate_at_once(log, writer, f, size=400)
        got += more
        got += wait_for(f, lambda items: len(texts(got + items)) >= n, timeout=10)
        got += drain(f, rounds=40, timeout=0.02)  # past rotate_wait: old files closed
    assert writer.returncode == 0
    seqs = _seqs(texts(got))
    assert rotations >= 8
    assert len(seqs) == len(set(seqs)), "a line was delivered twice"
    assert sorted(seqs) == list(range(n)), "a line was lost"
    rotated = [e for e in events(got) if e.kind is EventKind.ROTATED]
    assert len(rotated) == rotations  # each renamed file once, whether opened before or after
    assert any(e.reason.startswith("renamed_before_open:") for e in rotated)
    assert {e.path for e in events(got)} == {str(log)}  # reported under the name the job writes to
    assert kinds(got).count(EventKind.CLOSED) == rotations


def test_a_file_renamed_twice_before_it_is_opened_is_read_once(tmp_path: Path) -> None:
    """logrotate numbering: train.log → train.log.1 → train.log.2 before the follower looks."""
    log = tmp_path / "train.log"
    with Follower([str(log)], mode="inotify", poll_interval=30, rotate_wait=0.2) as f:
        drain(f)
        log.write_text("old 1\nold 2\n")
        os.rename(log, tmp_path / "train.log.1")
        os.rename(tmp_path / "train.log.1", tmp_path / "train.log.2")
        log.write_text("new 1\n")
        got = wait_for(f, lambda items: kinds(items).count(EventKind.CLOSED) == 1, timeout=5)
        got += drain(f, rounds=10, timeout=0.02)
    assert sorted(texts(got)) == ["new 1", "old 1", "old 2"]
    rotated = [e for e in events(got) if e.kind is EventKind.ROTATED]
    assert [e.reason for e in rotated] == [f"renamed_before_open:{tmp_path / 'train.log.2'}"]


def test_a_symlink_renamed_before_it_is_opened_still_may_not_leave_the_tree(tmp_path: Path) -> None:
    secret = tmp_path / "outside" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text("password=hunter2\n")
    runs = tmp_path / "runs"
    runs.mkdir()
    with Follower([str(runs / "*.log")], mode="inotify", poll_interval=30) as f:
        drain(f)
        (runs / "a.log").symlink_to(secret)
        os.rename(runs / "a.log", runs / "a.log.1")
        got = wait_for(f, lambda items: EventKind.SKIPPED in kinds(items), timeout=5)
        got += drain(f, rounds=10, timeout=0.02)
    assert texts(got) == []
    assert [(e.kind, e.reason) for e in events(got)] == [(EventKind.SKIPPED, "symlink_outside_tree")]
