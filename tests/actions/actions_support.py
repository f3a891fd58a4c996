"""Helpers for the action tests (a uniquely named module: `conftest` names collide across test folders)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from metricwatch.jobs import JobTarget, ProcessRef
from metricwatch.types import Decision, Verdict

# A child that traps SIGTERM (writes <marker>.term, exits 0), or ignores it with "ignore".
TRAP = """
import pathlib, signal, sys, time
marker = pathlib.Path(sys.argv[1])
def on_term(signum, frame):
    marker.with_suffix(".term").write_text("term")
    sys.exit(0)
signal.signal(signal.SIGTERM, signal.SIG_IGN if sys.argv[2] == "ignore" else on_term)
marker.write_text("ready")
while True:
    time.sleep(0.05)
"""

# A parent that starts a TRAP grandchild, then behaves as TRAP itself (argv: marker, mode, child mode).
PARENT = """
import pathlib, signal, subprocess, sys, time
marker = pathlib.Path(sys.argv[1])
kid = pathlib.Path(str(marker) + ".kid")
subprocess.Popen([sys.executable, "-c", sys.argv[4], str(kid), sys.argv[3]])
while not kid.exists():
    time.sleep(0.01)
def on_term(signum, frame):
    marker.with_suffix(".term").write_text("term")
    sys.exit(0)
if sys.argv[2] == "trap":
    signal.signal(signal.SIGTERM, on_term)
marker.write_text("ready")
while True:
    time.sleep(0.05)
"""


def wait_for(cond: Callable[[], object], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def ref(pid: int) -> ProcessRef:
    found = ProcessRef.of(pid)
    assert found is not None
    return found


def target(*refs: ProcessRef, pgid: int | None = None, log: Path = Path("/nonexistent/x.log")) -> JobTarget:
    return JobTarget(job="trial1", log_path=log, study="s", processes=refs, pgid=pgid)


DECISION = Decision(
    job="trial1",
    epoch=4,
    verdict=Verdict.STOP,
    rule="median",
    params={"min_peers": 3, "warmup": 2},
    value=0.92,
    threshold=0.61,
    population=("trial2", "trial3", "trial4"),
    reason="worse_than_median",
)
