"""Benchmark the cost of polling (what a shared filesystem costs): CPU per 1,000 followed files.

    .venv/bin/python bench/bench_polling.py [--seconds 10] [--files 1000,4000]

On NFS/Lustre inotify sees no writes made on other nodes, so the follower polls: one `stat` per file
every `poll_interval` (default 1 s) and a glob rescan every `rescan_interval` (the daemon's default
30 s; 5 s shown too, for shared log directories where new tasks' logs should be found sooner). The
baseline, in the same run, is inotify mode on the same files. Two loads:

- idle: N logs, nobody writes (a sweep between epochs, or finished tasks still matched by the glob);
- sweep: N logs, 1% of them get one `epoch … val_loss=…` line per second from a writer subprocess
  (its CPU is not counted).

CPU is the benchmark process's own CPU time (all threads, watchdog's included) while it loops
`Follower.poll(1.0)` as the daemon does, as a percentage of one core; "ms/s per 1k" is the same
figure as milliseconds of CPU per second of wall time per 1,000 files.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

from metricwatch.follow import Follower

WRITER = """
import os, sys, time
paths = sys.argv[1:]
fds = [os.open(p, os.O_WRONLY | os.O_APPEND) for p in paths]
epoch = 0
while True:
    epoch += 1
    for fd in fds:
        os.write(fd, f"epoch {epoch} val_loss={1 / epoch:.4f}\\n".encode())
    time.sleep(1.0)
"""


def _make_logs(directory: str, count: int) -> list[str]:
    paths = [os.path.join(directory, f"slurm-1000_{i}.out") for i in range(count)]
    for p in paths:
        with open(p, "w") as fh:
            fh.write("epoch 0 val_loss=9\n")
    return paths


def measure(count: int, mode: str, load: str, seconds: float, rescan: float) -> float:
    """Percent of one core the Follower uses over `seconds`."""
    with tempfile.TemporaryDirectory() as d:
        paths = _make_logs(d, count)
        writer = None
        if load == "sweep":
            writer = subprocess.Popen([sys.executable, "-c", WRITER, *paths[: max(1, count // 100)]])
        try:
            with Follower([os.path.join(d, "*.out")], mode=mode, rescan_interval=rescan) as f:
                while f.poll(0.0):
                    pass  # the initial backlog is not the steady-state cost
                f.poll(1.0)
                cpu0, wall0 = time.process_time(), time.monotonic()
                while time.monotonic() - wall0 < seconds:
                    f.poll(1.0)
                cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
        finally:
            if writer is not None:
                writer.kill()
                writer.wait()
    return 100.0 * cpu / wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0, help="measurement time per row")
    ap.add_argument("--files", default="1000,4000", help="comma-separated file counts")
    args = ap.parse_args()
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, poll_interval=1.0 s, {args.seconds:g} s/row"
    )
    print(f"{'files':>6} {'load':>6} {'mode':>8} {'rescan':>7} {'CPU %':>7} {'ms/s per 1k':>12}")
    rows = [("inotify", 30.0), ("poll", 30.0), ("poll", 5.0)]
    for count in (int(x) for x in args.files.split(",")):
        for load in ("idle", "sweep"):
            for mode, rescan in rows:
                pct = measure(count, mode, load, args.seconds, rescan)
                per_k = pct * 10.0 / (count / 1000)  # % of a core → ms per s, per 1,000 files
                print(f"{count:>6} {load:>6} {mode:>8} {rescan:>6g}s {pct:>7.2f} {per_k:>12.2f}", flush=True)


if __name__ == "__main__":
    main()
