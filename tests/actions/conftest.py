"""Real processes for the action tests: children that report readiness through marker files."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from actions_support import PARENT, TRAP, wait_for


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[..., tuple[subprocess.Popen[bytes], Path]]]:
    """Start a real Python child running TRAP (or PARENT); wait until it is ready; clean up after."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(mode: str = "trap", *, tree: str | None = None, **popen: object):
        marker = tmp_path / f"p{len(procs)}.marker"
        if tree is None:
            argv = [sys.executable, "-c", TRAP, str(marker), mode]
        else:
            argv = [sys.executable, "-c", PARENT, str(marker), mode, tree, TRAP]
        proc = subprocess.Popen(argv, **popen)  # type: ignore[call-overload]
        procs.append(proc)
        wait_for(marker.exists)
        return proc, marker

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
