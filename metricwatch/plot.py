"""The replay plot: every job's curve, the median band, and where each stop fell (PNG, SVG or PDF).

matplotlib is an optional dependency (`pip install metricwatch[plot]`); it is imported only when a
plot is drawn, through the object-oriented API (no pyplot, so no global backend state is touched).

What is drawn:
- each job's objective per epoch in its own colour; a stopped job is solid up to its stop epoch, then
  its full log is drawn faint and dashed (what stopping skipped) with a ✕ at the stop;
- the best job (best final value) thicker, with a ★ at its end;
- the band: at each epoch, the median and the 25–75 % range of every job's running average (full
  logs, jobs that reached the epoch, non-finite averages left out);
- a log y axis when the plotted range spans more than two decades. The range follows the band and
  the completed jobs (plus stops close to it); a diverging job's values beyond it are clipped, and a
  stop marker beyond it is pinned to the edge, marked "off scale" (its value is in the legend).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from metricwatch.errors import ConfigError
from metricwatch.types import Direction

if TYPE_CHECKING:
    from metricwatch.replay import JobReplay, ReplayResult

BandRow = tuple[int, float, float, float]  # epoch, q25, median, q75
_FAINT = 0.35


def quantile(sorted_values: Sequence[float], q: float) -> float:
    """Linear interpolation between order statistics (numpy's default)."""
    pos = (len(sorted_values) - 1) * q
    low = math.floor(pos)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (pos - low)


def running_averages(points: Sequence[tuple[int, float]], last: int) -> dict[int, float]:
    """Running average at every epoch 1..last (values reported so far; NaN once a value is non-finite)."""
    by_epoch = dict(points)
    out: dict[int, float] = {}
    total, count = 0.0, 0
    for epoch in range(1, last + 1):
        if epoch in by_epoch:
            total += by_epoch[epoch]
            count += 1
        if count:
            out[epoch] = total / count if math.isfinite(total) else math.nan
    return out


def band(jobs: Sequence[JobReplay]) -> list[BandRow]:
    """Per epoch: 25 %, 50 % and 75 % of the full-log running averages of the jobs that reached it."""
    averages = [running_averages(j.points, j.epochs_full) for j in jobs]
    last = max((j.epochs_full for j in jobs), default=0)
    rows: list[BandRow] = []
    for epoch in range(1, last + 1):
        values = sorted(a[epoch] for a in averages if epoch in a and math.isfinite(a[epoch]))
        if values:
            rows.append((epoch, quantile(values, 0.25), quantile(values, 0.5), quantile(values, 0.75)))
    return rows


def axis_range(result: ReplayResult, rows: list[BandRow]) -> tuple[float, float, bool]:
    """(low, high, log) of the y axis.

    The band and the completed jobs set the range; a stop value near it (within half the range, or a
    factor 3 on a log axis) widens it, one further out is pinned to the edge, so a single diverging
    job cannot flatten every other curve. Log scale when the range spans more than two decades.
    """
    core = [v for r in rows for v in r[1:]] + [v for j in result.jobs if not j.stopped for _, v in j.points]
    core = (
        [v for v in core if math.isfinite(v)]
        or [v for j in result.jobs for _, v in j.points if math.isfinite(v)]
        or [0.0, 1.0]
    )
    lo, hi = min(core), max(core)
    log = lo > 0 and hi / lo > 100
    for job in result.jobs:
        value = job.stop.value if job.stop is not None else None
        if value is None or not math.isfinite(value):
            continue
        margin = (lo / 3, hi * 3) if log else (lo - (hi - lo) / 2, hi + (hi - lo) / 2)
        if margin[0] <= value <= margin[1]:
            lo, hi = min(lo, value), max(hi, value)
    log = lo > 0 and hi / lo > 100
    if log:
        return lo / 1.25, hi * 1.25, True
    pad = (hi - lo) * 0.05 or abs(hi) * 0.05 or 1.0
    return lo - pad, hi + pad, False


def plot_replay(result: ReplayResult, path: str | Path) -> Path:
    """Draw the replay to `path` (.png, .svg or .pdf) and return the path."""
    path = Path(path)
    try:
        from matplotlib.figure import Figure
    except ModuleNotFoundError:
        raise ConfigError(
            "matplotlib is not installed", where="--plot", hint="pip install 'metricwatch[plot]'"
        ) from None
    fig = Figure(figsize=(12, 6.5), layout="constrained")
    ax = fig.add_subplot()
    rows = band(result.jobs)
    low, high, log = axis_range(result, rows)
    _draw_band(ax, rows)
    colours = _colours(len(result.jobs))
    for job, colour in zip(result.jobs, colours, strict=True):
        _draw_job(ax, job, colour, job.job == result.totals.best_job, (low, high))
    ax.set_yscale("log" if log else "linear")
    ax.set_ylim(low, high)
    ax.set_xlim(0.5, max(j.epochs_full for j in result.jobs) + 0.5)
    _decorate(fig, ax, result, log)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=150)
    return path


def _colours(n: int) -> list[Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def _draw_band(ax: Any, rows: list[BandRow]) -> None:
    if not rows:
        return
    epochs = [r[0] for r in rows]
    ax.fill_between(
        epochs, [r[1] for r in rows], [r[3] for r in rows], color="0.55", alpha=0.22, linewidth=0,
        label="25–75 % of running averages", zorder=1,
    )  # fmt: skip
    ax.plot(
        epochs, [r[2] for r in rows], color="0.15", linestyle=(0, (4, 2)), linewidth=1.6,
        label="median of running averages", zorder=2,
    )  # fmt: skip


def _finite(points: Sequence[tuple[int, float]]) -> tuple[list[int], list[float]]:
    """Epochs and values with ±inf as NaN (a gap), which matplotlib draws as a break."""
    return [e for e, _ in points], [v if math.isfinite(v) else math.nan for _, v in points]


def _draw_job(ax: Any, job: JobReplay, colour: Any, best: bool, limits: tuple[float, float]) -> None:
    width = 3.0 if best else 1.6
    if job.stop is None:
        xs, ys = _finite(job.points)
        label = (
            f"{job.job}  ★ best, final {_short(job.final)}"
            if best
            else f"{job.job}  final {_short(job.final)}"
        )
        ax.plot(xs, ys, color=colour, linewidth=width, label=label, zorder=4 if best else 3)
        if best:
            ax.plot(
                xs[-1:], ys[-1:], marker="*", markersize=16, color=colour, markeredgecolor="white", zorder=6
            )
        return
    stop = job.stop.epoch
    run = [p for p in job.points if p[0] <= stop]
    skipped = [p for p in job.points if p[0] >= stop]
    xs, ys = _finite(run)
    value = job.stop.value if job.stop.value is not None else math.nan
    ax.plot(xs, ys, color=colour, linewidth=width, zorder=3)
    sx, sy = _finite(skipped)
    ax.plot(sx, sy, color=colour, linewidth=1.2, linestyle=(0, (3, 2)), alpha=_FAINT, zorder=2)
    _draw_stop(ax, stop, value, colour, limits)
    # Legend proxy (nothing drawn): ✕ on a dashed line says "stopped here, the rest was skipped".
    ax.plot(
        [], [], color=colour, linewidth=1.2, linestyle=(0, (3, 2)), marker="X", markersize=8,
        markeredgecolor="black", markeredgewidth=0.6,
        label=f"{job.job}  stopped at epoch {stop} ({_short(value)})",
    )  # fmt: skip


def _draw_stop(ax: Any, epoch: int, value: float, colour: Any, limits: tuple[float, float]) -> None:
    low, high = limits
    if math.isfinite(value) and low <= value <= high:
        ax.plot([epoch], [value], marker="X", markersize=12, color=colour, markeredgecolor="black",
                markeredgewidth=0.8, zorder=7)  # fmt: skip
        return
    # Off scale (or NaN): pin a ✕ with an arrow to the edge the value lies beyond.
    above = not math.isfinite(value) or value > high
    y = high if above else low
    ax.plot([epoch], [y], marker="X", markersize=12, color=colour, markeredgecolor="black",
            markeredgewidth=0.8, zorder=7, clip_on=False)  # fmt: skip
    ax.annotate(
        "off scale", (epoch, y), xytext=(8, -14 if above else 8), textcoords="offset points",
        fontsize=8, color="0.3",
    )  # fmt: skip


def _decorate(fig: Any, ax: Any, result: ReplayResult, log: bool) -> None:
    t = result.totals
    regret = "n/a" if t.regret is None else _short(t.regret)
    saves = f"saves {t.saved:.0%} of {t.epochs_full} epochs"
    fig.suptitle(
        f"{result.study}: rule {result.rule_spec} {saves}, regret {regret}",
        fontsize=14, fontweight="bold",
    )  # fmt: skip
    best = f"best job {t.best_job} {'survived' if t.best_survived else 'was STOPPED'}"
    ax.set_title(
        f"{t.jobs_stopped} of {t.jobs} jobs stopped · {best} · {t.epochs_run} of {t.epochs_full} epochs run"
        f" · start order {result.order}, {result.parallel} at a time",
        fontsize=10, color="0.25",
    )  # fmt: skip
    arrow = "lower is better" if result.direction is Direction.MINIMIZE else "higher is better"
    ax.set_xlabel("epoch", fontsize=11)
    ax.set_ylabel(f"{result.objective} ({arrow}{', log scale' if log else ''})", fontsize=11)
    ax.grid(True, which="major", color="0.88", linewidth=0.8)
    ax.set_axisbelow(True)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    many = len(result.jobs) > 14
    ax.legend(
        loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8 if many else 9, ncol=2 if many else 1,
        frameon=False, title="dashed faint: what stopping skipped", title_fontsize=8,
    )  # fmt: skip
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _short(value: float) -> str:
    return f"{value:.3g}" if math.isfinite(value) else str(value)
