"""`metricwatch demo`: a small real sweep of unmodified legacy-style scripts, watched and pruned.

Nothing here is simulated: each trial is `python train.py --lr X > trial-N.log 2>&1`, a real process
writing a real log; the daemon is the same `Daemon` that `metricwatch watch` runs, found the processes
through /proc and stopped the losers with SIGTERM.
"""

from __future__ import annotations

import math
import os
import shlex
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from metricwatch.config import config_from_flags
from metricwatch.daemon import Daemon
from metricwatch.state import StateStore
from metricwatch.types import JobState

# Learning rates of the sweep, in launch order: a few sensible ones first (they form the median),
# then a mix of good and clearly bad ones (too small learns slowly, too large diverges).
DEFAULT_RATES = (0.05, 0.1, 0.07, 0.0005, 0.08, 0.002, 0.45, 0.12)


@dataclass(frozen=True, slots=True)
class TrialResult:
    job: str
    lr: float
    epochs_run: int
    exit_code: int
    stopped_epoch: int | None
    value: float | None
    threshold: float | None
    population: int
    final_val_loss: float | None


def train_script() -> Path:
    return Path(str(resources.files("metricwatch._demo") / "train.py"))


def run_demo(
    workdir: Path,
    *,
    rates: tuple[float, ...] = DEFAULT_RATES,
    epochs: int = 12,
    epoch_seconds: float = 0.3,
    stagger: float | None = None,
    log_format: str = "console",
) -> list[TrialResult]:
    """Run the sweep in `workdir` with a live daemon; return what happened to each trial."""
    logs = workdir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    state_db = workdir / "state.db"
    config = config_from_flags(
        [str(logs / "*.log")],
        patterns="plain",
        objective="val_loss",
        direction="minimize",
        rule="median",
        action="signal",
        action_params=["grace=10"],
        idle_timeout="30s",
        study="demo",
        daemon={"state_db": str(state_db), "poll_interval": 0.5, "log_format": log_format},
    )
    stop = threading.Event()
    ready = threading.Event()
    errors: list[BaseException] = []
    thread = threading.Thread(target=_run_daemon, args=(config, stop, ready, errors), daemon=True)
    thread.start()
    ready.wait(10)
    procs = _launch_sweep(
        logs, rates, epochs, epoch_seconds, stagger if stagger is not None else epoch_seconds * 1.5
    )
    codes = [p.wait() for p in procs]
    _wait_for_final_states(state_db, len(rates), thread)
    stop.set()
    thread.join(15)
    if errors:
        raise errors[0]
    return _results(state_db, logs, rates, codes)


def _run_daemon(
    config: object, stop: threading.Event, ready: threading.Event, errors: list[BaseException]
) -> None:
    try:
        daemon = Daemon(config)  # type: ignore[arg-type]  # built on this thread: SQLite is per-thread
        ready.set()
        daemon.run(stop)
    except BaseException as exc:  # surfaced by run_demo on the main thread
        errors.append(exc)
        ready.set()


def _launch_sweep(
    logs: Path, rates: tuple[float, ...], epochs: int, epoch_seconds: float, stagger: float
) -> list[subprocess.Popen[bytes]]:
    """Start each trial the legacy way, `exec python train.py ... > trial-N.log 2>&1` in a shell.

    The shell opens the log, not this process: the daemon runs in this process and finds a job's
    processes by who holds its log open for writing, so a log held here even for the instant of a
    fork would make the daemon take itself for the trial's writer and never see the trial end.
    """
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    procs = []
    for n, lr in enumerate(rates, start=1):
        argv = [sys.executable, str(train_script()), "--lr", str(lr), "--epochs", str(epochs)]
        argv += ["--epoch-seconds", str(epoch_seconds)]
        log = shlex.quote(str(logs / f"trial-{n}.log"))
        procs.append(subprocess.Popen(["sh", "-c", f"exec {shlex.join(argv)} > {log} 2>&1"], env=env))
        time.sleep(stagger)
    return procs


def _wait_for_final_states(
    state_db: Path, count: int, daemon: threading.Thread, timeout: float = 10.0
) -> None:
    """The daemon records an exit at its next housekeeping (about a second later, more on a busy
    machine): wait until every trial has a final state instead of guessing a sleep, but not forever."""
    deadline = time.monotonic() + timeout
    while daemon.is_alive() and time.monotonic() < deadline:
        with StateStore(state_db, readonly=True) as store:
            states = [j.state for j in store.jobs("demo")]
        if len(states) == count and JobState.RUNNING not in states and JobState.PENDING not in states:
            return
        time.sleep(0.2)


def _results(state_db: Path, logs: Path, rates: tuple[float, ...], codes: list[int]) -> list[TrialResult]:
    store = StateStore(state_db, readonly=True)
    try:
        stops = {c.job: c for c in store.stop_claims("demo")}
        decisions = {}
        for stored in store.decisions("demo"):
            if stored.decision.stop:
                decisions[stored.decision.job] = stored.decision
        history = {h.job.job: h.latest() for h in store.load_history("demo")}
    finally:
        store.close()
    out = []
    for n, (lr, code) in enumerate(zip(rates, codes, strict=True), start=1):
        job = f"trial-{n}"
        obs = [o for o in history.get(job, ()) if o.metric == "val_loss"]
        d = decisions.get(job) if job in stops else None
        out.append(
            TrialResult(
                job,
                lr,
                max((o.epoch for o in obs), default=0),
                code,
                d.epoch if d else None,
                d.value if d else None,
                d.threshold if d else None,
                len(d.population) if d else 0,
                obs[-1].value if obs else None,
            )
        )
    return out


def summary(results: list[TrialResult], epochs: int) -> str:
    """The table the demo prints, and the compute it saved."""
    lines = [f"{'JOB':9} {'LR':>7} {'EPOCHS':>6}  OUTCOME"]
    for r in results:
        if r.stopped_epoch is not None:
            outcome = (
                f"stopped by SIGTERM at epoch {r.stopped_epoch}: val_loss {_fmt(r.value)} worse "
                f"than median {_fmt(r.threshold)} of {r.population} earlier trials"
            )
        else:
            outcome = f"completed (exit {r.exit_code}), final val_loss {_fmt(r.final_val_loss)}"
        lines.append(f"{r.job:9} {r.lr:>7g} {r.epochs_run:>6}  {outcome}")
    run = sum(r.epochs_run for r in results)
    full = epochs * len(results)
    lines.append(f"\nepochs run {run} of {full}: saved {100 * (1 - run / full):.0f}% of the sweep's compute")
    survivors = [r for r in results if r.stopped_epoch is None and r.final_val_loss is not None]
    if survivors:
        best = min(survivors, key=lambda r: r.final_val_loss if r.final_val_loss is not None else math.inf)
        lines.append(
            f"best surviving trial: {best.job} (lr={best.lr:g}, val_loss {_fmt(best.final_val_loss)})"
        )
    return "\n".join(lines)


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.4g}"
