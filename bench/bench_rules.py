"""Decisions per second of the median rule against study size, with a naive baseline in the same run.

    .venv/bin/python bench/bench_rules.py            # full grid, about 1–2 minutes
    .venv/bin/python bench/bench_rules.py --quick    # small grid, a few seconds

For each (jobs, epochs): N previous jobs report every epoch; a new job is judged at random epochs.
"incremental" is metricwatch's MedianRule over a StudyHistory (steady state: each epoch's index already
queried once; the one-off index build is reported separately). "naive" recomputes every previous job's
running average and sorts them for each decision (pure Python, the sums in C). Both must agree.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable

from metricwatch.rules import MedianRule, StudyHistory
from metricwatch.types import Verdict

GRID_JOBS = (10, 100, 1000, 10000)
GRID_EPOCHS = (10, 100, 1000)


def make_curves(n_jobs: int, n_epochs: int, seed: int) -> list[list[float]]:
    """Noisy decaying loss curves: one per job, a different level each."""
    rng = random.Random(seed)
    base = [1.0 / (e + 1) for e in range(n_epochs)]
    curves = []
    for _ in range(n_jobs + 1):
        level, noise = rng.uniform(0.5, 2.0), rng.random
        curves.append([level * b + 0.05 * noise() for b in base])
    return curves


def naive_threshold(curves: list[list[float]], current: int, epoch: int) -> float:
    """Recompute everything: each previous job's running average at `epoch`, sorted, median."""
    avgs = sorted(sum(c[:epoch]) / epoch for c in curves[:current])
    n, mid = len(avgs), len(avgs) // 2
    return avgs[mid] if n % 2 else (avgs[mid - 1] + avgs[mid]) / 2


def rate(fn: Callable[[int], object], epochs: list[int], budget: float) -> float:
    """Decisions per second, calling fn over `epochs` until `budget` seconds have passed."""
    done, start = 0, time.perf_counter()
    while True:
        fn(epochs[done % len(epochs)])
        done += 1
        elapsed = time.perf_counter() - start
        if elapsed >= budget and done >= 3:
            return done / elapsed


def bench_one(n_jobs: int, n_epochs: int, budget: float) -> dict[str, float]:
    curves = make_curves(n_jobs, n_epochs, seed=n_jobs * 7919 + n_epochs)
    current = f"job{n_jobs}"
    t0 = time.perf_counter()
    history = StudyHistory()
    for j, curve in enumerate(curves):
        history.record_series(f"job{j}", curve)
    t_build = time.perf_counter() - t0

    rule = MedianRule(direction="minimize")
    rng = random.Random(1)
    epochs = [rng.randint(1, n_epochs) for _ in range(512)]
    t0 = time.perf_counter()
    for e in range(1, n_epochs + 1):  # first query of each epoch builds/merges its sorted index
        rule.decide(history, current, e)
    t_index = time.perf_counter() - t0

    for e in epochs[:5]:  # the two implementations agree
        d = rule.decide(history, current, e)
        expected = naive_threshold(curves, n_jobs, e)
        assert d.threshold is not None and abs(d.threshold - expected) <= 1e-9 * abs(expected)
        assert len(d.population) == n_jobs
        assert (d.verdict is Verdict.STOP) == (curves[n_jobs][e - 1] > expected)

    fast = rate(lambda e: rule.decide(history, current, e), epochs, budget)
    slow = rate(lambda e: naive_threshold(curves, n_jobs, e), epochs, budget)
    return {"build": t_build, "index": t_index, "fast": fast, "slow": slow}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small grid (smoke test)")
    parser.add_argument("--budget", type=float, default=0.4, help="seconds timed per cell")
    args = parser.parse_args(argv)
    grid_jobs = (10, 100, 1000) if args.quick else GRID_JOBS
    grid_epochs = (10, 100) if args.quick else GRID_EPOCHS

    header = (
        f"{'jobs':>6} {'epochs':>6} | {'build s':>8} {'index s':>8} | "
        f"{'incremental/s':>13} {'µs/decision':>11} | {'naive/s':>9} {'speed-up':>9}"
    )
    print(header)
    print("-" * len(header))
    for n_jobs in grid_jobs:
        for n_epochs in grid_epochs:
            r = bench_one(n_jobs, n_epochs, args.budget)
            print(
                f"{n_jobs:>6} {n_epochs:>6} | {r['build']:>8.2f} {r['index']:>8.2f} | "
                f"{r['fast']:>13,.0f} {1e6 / r['fast']:>11.1f} | {r['slow']:>9,.0f} "
                f"{r['fast'] / r['slow']:>8,.1f}x",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
