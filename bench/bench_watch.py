"""End-to-end latency and idle cost of `metricwatch watch` (issue 4).

    .venv/bin/python bench/bench_watch.py [--samples 40] [--sizes 1,100,1000]

Latency: from the moment a job writes the line that completes an epoch to the moment that job's
SIGTERM handler runs (both read CLOCK_MONOTONIC, which is shared by all processes), with 1, 100 and
1,000 logs followed. The rule is `threshold max=0`, so every epoch line is a STOP: the benchmark
measures follow → frame → extract → decide → act, not the median. The baseline in the same run is the
same daemon in `--polling` mode (what network file systems get).

Idle CPU: the daemon's own user+system time over 20 s while following 1,000 logs nobody writes to.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

JOB = r"""
import os, signal, sys, time
got = []
signal.signal(signal.SIGTERM, lambda *_: got.append(time.monotonic()))
log = open(sys.argv[1], "ab", buffering=0)
time.sleep(float(sys.argv[2]))  # let the daemon see the new file and its writer
t0 = time.monotonic()
log.write(b"epoch 1 val_loss=5.0\n")
deadline = t0 + 10
while not got and time.monotonic() < deadline:
    time.sleep(0.0005)
print((got[0] - t0) if got else "timeout", flush=True)
"""


def start_daemon(logs: Path, db: Path, polling: bool) -> subprocess.Popen[bytes]:
    argv = [
        sys.executable,
        "-m",
        "metricwatch",
        "watch",
        str(logs / "*.log"),
        "--patterns",
        "plain",
        "--objective",
        "val_loss",
        "--minimize",
        "--rule",
        "threshold",
        "--rule-param",
        "max=0",
        "--action",
        "signal",
        "--action-param",
        "grace=30",
        "--state-db",
        str(db),
        "--poll-interval",
        "1",
        "--log-format",
        "json",
    ]
    if polling:
        argv.append("--polling")
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def make_idle_logs(logs: Path, count: int) -> None:
    """Logs of jobs that stopped writing an hour ago (half with one epoch, half with none)."""
    an_hour_ago = time.time() - 3600
    for i in range(count):
        path = logs / f"idle-{i:04d}.log"
        path.write_text("epoch 1 val_loss=0.1\n" if i % 2 else "warming up\n")
        os.utime(path, (an_hour_ago, an_hour_ago))


def latency(size: int, samples: int, polling: bool) -> list[float]:
    with tempfile.TemporaryDirectory(prefix="mw-bench-") as tmp:
        logs = Path(tmp) / "logs"
        logs.mkdir()
        make_idle_logs(logs, size - 1)
        for k in range(samples):  # followed from the start, as a sweep's logs are
            (logs / f"job-{k:03d}.log").write_text("starting\n")
        daemon = start_daemon(logs, Path(tmp) / "state.db", polling)
        time.sleep(3 + size / 500)
        out: list[float] = []
        try:
            for k in range(samples):
                job = subprocess.run(
                    [sys.executable, "-c", JOB, str(logs / f"job-{k:03d}.log"), "0.2"],
                    capture_output=True,
                    text=True,
                    timeout=30,
                )
                text = job.stdout.strip()
                if text and text != "timeout":
                    out.append(float(text))
        finally:
            daemon.terminate()
            daemon.wait(20)
        return out


def idle_cpu(size: int, seconds: float, polling: bool) -> float:
    with tempfile.TemporaryDirectory(prefix="mw-bench-") as tmp:
        logs = Path(tmp) / "logs"
        logs.mkdir()
        make_idle_logs(logs, size)
        daemon = start_daemon(logs, Path(tmp) / "state.db", polling)
        try:
            time.sleep(5 + size / 200)  # start-up: every file read once
            t0, c0 = time.monotonic(), _cpu(daemon.pid)
            time.sleep(seconds)
            t1, c1 = time.monotonic(), _cpu(daemon.pid)
        finally:
            daemon.terminate()
            daemon.wait(20)
        return 100 * (c1 - c0) / (t1 - t0)


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", type=int, default=40)
    parser.add_argument("--sizes", default="1,100,1000")
    parser.add_argument("--idle-seconds", type=float, default=20)
    args = parser.parse_args()
    print("| logs followed | mode | samples | p50 ms | p99 ms | p99 / inotify p99 |")
    print("|---|---|---|---|---|---|")
    for size in (int(s) for s in args.sizes.split(",")):
        fast = latency(size, args.samples, polling=False)
        slow = latency(size, max(10, args.samples // 4), polling=True)
        for mode, xs in (("inotify", fast), ("polling (baseline)", slow)):
            if not xs:
                print(f"| {size} | {mode} | 0 | - | - | - |")
                continue
            ratio = pct(xs, 0.99) / pct(fast, 0.99) if fast else float("nan")
            print(
                f"| {size} | {mode} | {len(xs)} | {1000 * statistics.median(xs):.1f} | "
                f"{1000 * pct(xs, 0.99):.1f} | {ratio:.1f}x |"
            )
    print()
    print("| idle logs | mode | daemon CPU (% of one core) |")
    print("|---|---|---|")
    for polling in (False, True):
        mode = "polling" if polling else "inotify"
        print(f"| 1000 | {mode} | {idle_cpu(1000, args.idle_seconds, polling):.2f} |")


if __name__ == "__main__":
    main()
