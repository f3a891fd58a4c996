"""Benchmark the follow stage: write→record latency and idle CPU, inotify vs polling (the baseline).

    .venv/bin/python bench/bench_follow.py [--samples 100] [--idle-seconds 10]

Latency: a writer *subprocess* appends `lat <unix time>` lines to randomly chosen logs, one every
`--spacing` seconds; the Follower (default settings: 1 s safety poll) returns the record and we take
now − stamp. Files followed: 1, 100, 1,000, each in "inotify" and "poll" mode in the same run.
Idle CPU: process CPU time (all threads, watchdog's included) of a Follower looping `poll(1.0)` over
1,000 idle logs for `--idle-seconds`, in both modes. The poll-mode figure is the polling cost per
1,000 files at the default interval (what NFS users pay).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

from metricwatch.follow import Batch, Follower

WRITER = """
import os, random, sys, time
paths, n, spacing = sys.argv[3:], int(sys.argv[1]), float(sys.argv[2])
fds = [os.open(p, os.O_WRONLY | os.O_APPEND) for p in paths]
time.sleep(0.5)
for _ in range(n):
    os.write(random.choice(fds), f"lat {time.time():.6f}\\n".encode())
    time.sleep(spacing)
"""


def _make_logs(directory: str, count: int) -> list[str]:
    paths = [os.path.join(directory, f"job{i:04d}.log") for i in range(count)]
    for p in paths:
        with open(p, "w") as fh:
            fh.write("start\n")
    return paths


def latency(count: int, mode: str, samples: int, spacing: float) -> list[float]:
    with tempfile.TemporaryDirectory() as d:
        paths = _make_logs(d, count)
        with Follower([os.path.join(d, "*.log")], mode=mode) as f:
            while f.poll(0.0):
                pass  # initial backlog
            writer = subprocess.Popen([sys.executable, "-c", WRITER, str(samples), str(spacing), *paths])
            out: list[float] = []
            deadline = time.time() + 30 + samples * spacing
            while len(out) < samples and time.time() < deadline:
                for item in f.poll(1.0):
                    if isinstance(item, Batch):
                        now = time.time()
                        out += [now - float(r.text.split()[1]) for r in item.records]
            writer.wait()
        return out


def idle_cpu(count: int, mode: str, seconds: float) -> float:
    """Percent of one core used by an idle Follower over `seconds`."""
    with tempfile.TemporaryDirectory() as d:
        _make_logs(d, count)
        with Follower([os.path.join(d, "*.log")], mode=mode) as f:
            while f.poll(0.0):
                pass
            f.poll(1.0)
            cpu0, wall0 = time.process_time(), time.monotonic()
            while time.monotonic() - wall0 < seconds:
                f.poll(1.0)
            cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    return 100.0 * cpu / wall


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=100)
    ap.add_argument("--spacing", type=float, default=0.02)
    ap.add_argument("--idle-seconds", type=float, default=10.0)
    args = ap.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, default poll_interval=1.0 s")
    print("\nwrite → record latency (ms)")
    print(f"{'files':>6} {'mode':>8} {'n':>5} {'p50':>8} {'p99':>8} {'max':>8}")
    for count in (1, 100, 1000):
        for mode in ("inotify", "poll"):
            lat = [x * 1000 for x in latency(count, mode, args.samples, args.spacing)]
            print(
                f"{count:>6} {mode:>8} {len(lat):>5} {statistics.median(lat):>8.1f} "
                f"{_pct(lat, 0.99):>8.1f} {max(lat):>8.1f}"
            )
    print(f"\nidle CPU, 1,000 idle logs, {args.idle_seconds:.0f} s (% of one core)")
    for mode in ("inotify", "poll"):
        print(f"{mode:>8}: {idle_cpu(1000, mode, args.idle_seconds):.3f} %")


if __name__ == "__main__":
    main()
