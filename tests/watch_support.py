"""Shared by the `metricwatch watch` end-to-end tests (tests/test_watch_e2e.py, tests/slurm/): the
expected stops, by hand, and the daemon's command line."""

from __future__ import annotations

import statistics
import sys
from pathlib import Path


def reference_stops(curves: list[list[float]], min_population: int = 3) -> dict[int, int]:
    """SageMaker's median rule by hand: trial c stops at the first epoch e where its value is above the
    median of the running averages (epochs 1..e) of the earlier trials that reached e.

    Ground truth from outside metricwatch's rule engine: ten lines written from SageMaker's words.
    """
    stops: dict[int, int] = {}
    for c, curve in enumerate(curves):
        for e in range(1, len(curve) + 1):
            reached = [j for j in range(c) if stops.get(j, len(curves[j])) >= e]
            if len(reached) < min_population:
                continue
            if curve[e - 1] > statistics.median(sum(curves[j][:e]) / e for j in reached):
                stops[c] = e
                break
    return stops


def watch_argv(logs: str, db: Path, *extra: str) -> list[str]:
    """`metricwatch watch LOGS` as a user runs it: plain pack, val_loss minimised, JSON events on stderr,
    a 0.5 s safety poll and a 5 s grace before SIGKILL; `extra` adds or overrides flags."""
    return [
        sys.executable,
        "-m",
        "metricwatch",
        "watch",
        logs,
        "--patterns",
        "plain",
        "--objective",
        "val_loss",
        "--minimize",
        "--state-db",
        str(db),
        "--poll-interval",
        "0.5",
        "--log-format",
        "json",
        "--action-param",
        "grace=5",
        *extra,
    ]
