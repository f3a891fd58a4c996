"""Replay finished logs through extract → rules as if they had run live; report savings and regret.

    result = replay(["t1.log", "t2.log", …], "xgboost", rule_spec="median")
    result.totals.saved, result.totals.regret, [j.stop for j in result.jobs]

Semantics (the README's "metricwatch replay" section says the same):

- **Series.** Each log is extracted with its pack (`extract_file`); the objective's values of the
  log's latest attempt, by 1-based epoch, are the job's full series. A log without any objective value
  is skipped (listed in `skipped`); no value at all in any log is an InputError.
- **Start order.** `name` (default): natural sort of the paths, so trial-2 starts before trial-10;
  `mtime`: file modification time, oldest first (ties by name); `given`: the order of the arguments.
  Linux has no portable file birth time and a stopped job's mtime is when it *stopped*, so name order
  is the default.
- **Simulated time.** Jobs start in start order with at most `parallel` running at once (1: one after
  the other, like a tuning job with MaxParallelTrainingJobs=1). Time advances in ticks; every running
  job advances one epoch per tick. Within a tick jobs are processed in start order, so a job sees the
  values its earlier peers recorded in the same tick. After a job records epoch e the rule is asked
  `decide(history, job, e)`; STOP ends the job at e (state STOPPED); otherwise the job ends COMPLETED
  at its last epoch (a STOP at the last epoch still counts as stopped: the live daemon would have
  stopped it). A slot freed at tick t is filled at tick t + 1. An epoch the log skipped costs its tick
  but is not recorded.
- **Study totals.** `epochs_full` = Σ last epoch of every job; `epochs_run` = Σ epochs each job ran
  before it ended; `saved` = 1 − run/full. `ticks_run`/`ticks_full` are the makespans (wall-clock in
  epoch units) with and without stopping.
- **Best and regret.** A job's *final* value is the last value of its full log (what it would have
  reached had nobody stopped it); non-finite finals rank worst. The best job has the best final value
  (first in start order on ties). The survivors are the COMPLETED jobs. `best_survived` is true when a
  survivor's final value equals the best final value. `regret` = |best survivor's final − best final|:
  0 when the best job survived, None when no survivor has a finite final value.
"""

from __future__ import annotations

import math
import os
import re
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from metricwatch.errors import ConfigError, InputError
from metricwatch.extract import Problem, extract_file
from metricwatch.packs import Pack, load_pack
from metricwatch.rules import Rule, StudyHistory, build_rule
from metricwatch.types import Decision, Direction, JobState, Verdict, json_safe

ORDERS = ("name", "mtime", "given")
Point = tuple[int, float]  # (1-based epoch, value)


@dataclass(frozen=True, slots=True)
class JobSeries:
    """One log's objective values (latest attempt), in start order position `start` (1-based)."""

    job: str
    path: str
    points: tuple[Point, ...]

    @property
    def last_epoch(self) -> int:
        return self.points[-1][0]

    @property
    def final(self) -> float:
        return self.points[-1][1]


@dataclass(frozen=True, slots=True)
class Study:
    """The extracted logs of one study, in start order, ready to replay under any rule."""

    name: str
    pack: str
    objective: str
    direction: Direction
    order: str
    series: tuple[JobSeries, ...]
    skipped: tuple[str, ...] = ()  # "path: why"
    problems: tuple[Problem, ...] = ()


@dataclass(frozen=True, slots=True)
class JobReplay:
    """What happened to one job in the replay."""

    job: str
    path: str
    start: int  # 1-based position in start order
    state: JobState  # COMPLETED or STOPPED
    epochs_run: int
    epochs_full: int
    final: float  # last value of the full log
    start_tick: int
    end_tick: int
    stop: Decision | None  # the decision that stopped it
    decisions: tuple[Decision, ...]  # one per recorded epoch
    points: tuple[Point, ...]  # the full log's series (what stopping skipped, for plots)

    @property
    def stopped(self) -> bool:
        return self.state is JobState.STOPPED


@dataclass(frozen=True, slots=True)
class ReplayTotals:
    jobs: int
    jobs_stopped: int
    epochs_run: int
    epochs_full: int
    saved: float  # fraction of the full sweep's epochs not run, 0..1
    ticks_run: int
    ticks_full: int
    best_job: str | None
    best_final: float | None
    best_survived: bool
    best_surviving_job: str | None
    best_surviving_final: float | None
    regret: float | None


@dataclass(frozen=True, slots=True)
class ReplayResult:
    study: str
    pack: str
    objective: str
    direction: Direction
    rule_spec: str  # as given: "median", "optuna", a JSON spec
    rule: str  # the rule's own name
    params: dict[str, object]
    order: str
    parallel: int
    jobs: tuple[JobReplay, ...]
    totals: ReplayTotals
    skipped: tuple[str, ...] = ()
    problems: tuple[Problem, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (NaN/inf as strings: JSON has neither)."""
        return {
            "study": self.study,
            "pack": self.pack,
            "objective": self.objective,
            "direction": self.direction.value,
            "rule": {"spec": self.rule_spec, "name": self.rule, "params": json_safe(self.params)},
            "order": self.order,
            "parallel": self.parallel,
            "totals": json_safe(asdict(self.totals)),
            "jobs": [_job_dict(j) for j in self.jobs],
            "skipped": list(self.skipped),
            "problems": [str(p) for p in self.problems],
        }


# -- public API ---------------------------------------------------------------------------------------


def replay(
    logs: Sequence[str | Path],
    pack: Pack | str,
    objective: str | None = None,
    direction: Direction | str | None = None,
    rule_spec: str | Mapping[str, Any] = "median",
    *,
    params: Mapping[str, Any] | None = None,
    order: str = "name",
    parallel: int = 1,
    study: str | None = None,
) -> ReplayResult:
    """Replay finished logs under one rule (see the module docstring for the semantics).

    Raises:
        InputError: a log is missing/unreadable, or no log has a value of the objective.
        PatternError: unknown pack.
        ConfigError: unknown objective, no direction, bad order/parallel, bad rule spec or parameter.
    """
    loaded = load_study(logs, pack, objective, direction, order=order, study=study)
    return run_study(loaded, rule_spec, params=params, parallel=parallel)


def load_study(
    logs: Sequence[str | Path],
    pack: Pack | str,
    objective: str | None = None,
    direction: Direction | str | None = None,
    *,
    order: str = "name",
    study: str | None = None,
) -> Study:
    """Extract every log once (replay several rules on the result with `run_study`)."""
    pack = load_pack(pack) if isinstance(pack, str) else pack
    objective = _objective(pack, objective)
    paths = order_logs(logs, order)
    series: list[JobSeries] = []
    skipped: list[str] = []
    problems: list[Problem] = []
    for path, job in zip(paths, job_names(paths), strict=True):
        result = extract_file(path, pack, job)
        problems += result.problems
        points = latest_points(result.observations, objective)
        if points:
            series.append(JobSeries(job, str(path), points))
        else:
            skipped.append(f"{path}: no {objective} values")
    if not series:
        raise InputError(
            f"no {objective} values in any of the {len(paths)} logs",
            where="--objective",
            hint=f"check the pack ({pack.name}) with `metricwatch extract` on one log",
        )
    return Study(
        name=study or study_name(paths),
        pack=pack.name,
        objective=objective,
        direction=_direction(pack, direction),
        order=order,
        series=tuple(series),
        skipped=tuple(skipped),
        problems=tuple(problems),
    )


def run_study(
    study: Study,
    rule_spec: str | Mapping[str, Any] = "median",
    *,
    params: Mapping[str, Any] | None = None,
    parallel: int = 1,
) -> ReplayResult:
    """Replay an extracted study under one rule."""
    if isinstance(parallel, bool) or not isinstance(parallel, int) or parallel < 1:
        raise ConfigError(f"must be an integer ≥ 1, got {parallel!r}", where="--parallel")
    rule = build_rule(rule_spec, direction=study.direction, **dict(params or {}))
    jobs = simulate(study.series, rule, parallel)
    ticks_full = max(j.end_tick for j in simulate(study.series, None, parallel))
    return ReplayResult(
        study=study.name,
        pack=study.pack,
        objective=study.objective,
        direction=study.direction,
        rule_spec=rule_spec if isinstance(rule_spec, str) else repr(dict(rule_spec)),
        rule=rule.name,
        params=rule.params,
        order=study.order,
        parallel=parallel,
        jobs=tuple(jobs),
        totals=totals(jobs, study.direction, ticks_full),
        skipped=study.skipped,
        problems=study.problems,
    )


# -- start order and names ----------------------------------------------------------------------------


def natural_key(text: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key where digit runs compare as numbers: trial-2 < trial-10."""
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"(\d+)", text) if p)


def order_logs(logs: Iterable[str | Path], order: str) -> list[Path]:
    """The logs in start order; InputError for a missing log or one given twice."""
    if order not in ORDERS:
        raise ConfigError(f"unknown order {order!r}", where="--order", hint="name, mtime or given")
    paths = [Path(p) for p in logs]
    if not paths:
        raise InputError("no log files given", where="LOG...", hint="give the finished logs of one study")
    seen: set[Path] = set()
    for path in paths:
        if not path.is_file():
            if path.is_dir():
                raise InputError("is a directory, not a log file", where=str(path), hint="give the log files")
            raise InputError("log file not found", where=str(path), hint="check the path")
        key = path.resolve()
        if key in seen:
            raise InputError("log given twice", where=str(path), hint="give each log once")
        seen.add(key)
    if order == "name":
        return sorted(paths, key=lambda p: natural_key(str(p)))
    if order == "mtime":
        return sorted(paths, key=lambda p: (os.stat(p).st_mtime_ns, natural_key(str(p))))
    return paths


def job_names(paths: Sequence[Path]) -> list[str]:
    """The file stem when stems are unique (trial-01), else the path as given."""
    stems = [p.stem for p in paths]
    return stems if len(set(stems)) == len(stems) else [str(p) for p in paths]


def study_name(paths: Sequence[Path]) -> str:
    """The logs' common folder, as given (sample_logs/xgboost/sweep)."""
    try:
        common = Path(os.path.commonpath([str(p.parent) for p in paths]))
    except ValueError:  # relative and absolute paths mixed
        common = Path(os.path.commonpath([str(p.resolve().parent) for p in paths]))
    return str(common) if str(common) not in ("", ".") else Path.cwd().name


def latest_points(observations: Iterable[Any], metric: str) -> tuple[Point, ...]:
    """(epoch, value) of `metric` in the latest attempt that reported it, by epoch."""
    mine = [o for o in observations if o.metric == metric]
    if not mine:
        return ()
    attempt = max(o.attempt for o in mine)
    by_epoch = {o.epoch: o.value for o in mine if o.attempt == attempt}
    return tuple(sorted(by_epoch.items()))


def _objective(pack: Pack, objective: str | None) -> str:
    names = [d.name for d in pack.definitions]
    if objective is None:
        if pack.objective is None:
            raise ConfigError(
                f"pack {pack.name} suggests no objective", where="--objective",
                hint="name one of its metrics: " + ", ".join(names),
            )  # fmt: skip
        return pack.objective
    if objective not in names:
        raise ConfigError(
            f"{objective!r} is not a metric of pack {pack.name}", where="--objective",
            hint="use one of: " + ", ".join(names),
        )  # fmt: skip
    return objective


def _direction(pack: Pack, direction: Direction | str | None) -> Direction:
    if isinstance(direction, Direction):
        return direction
    if direction is None:
        if pack.direction is None:
            raise ConfigError(
                f"pack {pack.name} suggests no direction", where="--minimize/--maximize",
                hint="say which way the objective improves",
            )  # fmt: skip
        return pack.direction
    try:
        return Direction(direction)
    except ValueError:
        raise ConfigError(
            f"invalid direction {direction!r}", where="--minimize/--maximize", hint="minimize or maximize"
        ) from None


# -- the simulation -----------------------------------------------------------------------------------


@dataclass(slots=True)
class _Run:
    """A running job's mutable progress (private to `simulate`)."""

    start: int
    series: JobSeries
    values: dict[int, float]
    start_tick: int
    epoch: int = 0
    decisions: list[Decision] = field(default_factory=list)
    stop: Decision | None = None


def simulate(series: Sequence[JobSeries], rule: Rule | None, parallel: int) -> list[JobReplay]:
    """Run the jobs in start order, `parallel` at a time, one epoch per tick; `rule=None` never stops."""
    history = StudyHistory()
    waiting = deque(enumerate(series, start=1))
    running: list[_Run] = []
    done: list[JobReplay] = []
    tick = 0
    while waiting or running:
        tick += 1
        while waiting and len(running) < parallel:
            start, job = waiting.popleft()
            history.add_job(job.job)
            running.append(_Run(start, job, dict(job.points), tick))
        for run in list(running):
            if _advance(run, history, rule):
                running.remove(run)
                done.append(_finish(run, history, tick))
    return sorted(done, key=lambda j: j.start)


def _advance(run: _Run, history: StudyHistory, rule: Rule | None) -> bool:
    """One epoch of one job; True when the job ended (stopped, or its last epoch)."""
    run.epoch += 1
    job, epoch = run.series.job, run.epoch
    value = run.values.get(epoch)
    if value is not None:
        history.record(job, epoch, value)
        if rule is not None:
            decision = rule.decide(history, job, epoch)
            run.decisions.append(decision)
            if decision.verdict is Verdict.STOP:
                run.stop = decision
                return True
    return epoch >= run.series.last_epoch


def _finish(run: _Run, history: StudyHistory, tick: int) -> JobReplay:
    state = JobState.STOPPED if run.stop is not None else JobState.COMPLETED
    history.set_state(run.series.job, state)
    return JobReplay(
        job=run.series.job,
        path=run.series.path,
        start=run.start,
        state=state,
        epochs_run=run.epoch,
        epochs_full=run.series.last_epoch,
        final=run.series.final,
        start_tick=run.start_tick,
        end_tick=tick,
        stop=run.stop,
        decisions=tuple(run.decisions),
        points=run.series.points,
    )


# -- totals -------------------------------------------------------------------------------------------


def _best(jobs: Iterable[JobReplay], direction: Direction) -> JobReplay | None:
    best: JobReplay | None = None
    for job in jobs:  # start order: the first of equals wins
        if math.isfinite(job.final) and (best is None or direction.better(job.final, best.final)):
            best = job
    return best


def totals(jobs: Sequence[JobReplay], direction: Direction, ticks_full: int) -> ReplayTotals:
    run = sum(j.epochs_run for j in jobs)
    full = sum(j.epochs_full for j in jobs)
    best = _best(jobs, direction)
    survivor = _best((j for j in jobs if not j.stopped), direction)
    regret = abs(survivor.final - best.final) if best and survivor else None
    return ReplayTotals(
        jobs=len(jobs),
        jobs_stopped=sum(j.stopped for j in jobs),
        epochs_run=run,
        epochs_full=full,
        saved=1 - run / full if full else 0.0,
        ticks_run=max((j.end_tick for j in jobs), default=0),
        ticks_full=ticks_full,
        best_job=best.job if best else None,
        best_final=best.final if best else None,
        best_survived=regret == 0,
        best_surviving_job=survivor.job if survivor else None,
        best_surviving_final=survivor.final if survivor else None,
        regret=regret,
    )


# -- JSON ---------------------------------------------------------------------------------------------


def _decision_dict(d: Decision, members: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "epoch": d.epoch,
        "verdict": d.verdict.value,
        "reason": d.reason,
        "value": json_safe(d.value),
        "threshold": json_safe(d.threshold),
        "population_size": len(d.population),
    }
    if members:
        out["rule"] = d.rule
        out["population"] = list(d.population)
    return out


def _job_dict(j: JobReplay) -> dict[str, Any]:
    return {
        "job": j.job,
        "path": j.path,
        "start": j.start,
        "state": j.state.value,
        "epochs_run": j.epochs_run,
        "epochs_full": j.epochs_full,
        "final": json_safe(j.final),
        "start_tick": j.start_tick,
        "end_tick": j.end_tick,
        "stop": _decision_dict(j.stop, members=True) if j.stop else None,
        "decisions": [_decision_dict(d, members=False) for d in j.decisions],
    }
