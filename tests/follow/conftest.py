"""Helpers for the follow tests: drain a Follower and split its output into records and events."""

from __future__ import annotations

import time

import pytest

from metricwatch.follow import Batch, EventKind, FileEvent, Follower, Item


def texts(items: list[Item]) -> list[str]:
    return [r.text for i in items if isinstance(i, Batch) for r in i.records]


def events(items: list[Item]) -> list[FileEvent]:
    """File lifecycle events (the once-per-directory polling notice left out)."""
    return [i for i in items if isinstance(i, FileEvent) and i.kind is not EventKind.POLLING]


def kinds(items: list[Item]) -> list[EventKind]:
    return [e.kind for e in events(items)]


def drain(follower: Follower, rounds: int = 3, timeout: float = 0.0) -> list[Item]:
    """Poll until `rounds` consecutive polls return nothing."""
    out: list[Item] = []
    quiet = 0
    while quiet < rounds:
        got = follower.poll(timeout)
        out += got
        quiet = 0 if got else quiet + 1
    return out


def wait_for(follower: Follower, pred, timeout: float = 5.0) -> list[Item]:
    """Poll (with wake-ups) until pred(all items so far) holds."""
    out: list[Item] = []
    deadline = time.monotonic() + timeout
    while not pred(out):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out; got {out!r}")
        out += follower.poll(0.05)
    return out
