"""`metricwatch replay LOG...`: finished logs through the rules as if live; savings, regret, plot.

The semantics (start order, simulated time, totals, regret) are in `metricwatch.replay`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from metricwatch.errors import ConfigError
from metricwatch.packs import load_pack
from metricwatch.replay import ORDERS, JobReplay, ReplayResult, Study, load_study, run_study

MAX_PROBLEMS_SHOWN = 20


@click.command("replay")
@click.argument("logs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--patterns", "-p", required=True, metavar="NAME|FILE", help="Pattern pack name or file.")
@click.option("--objective", metavar="NAME", help="The metric to judge (default: the pack's suggestion).")
@click.option("--minimize", "direction", flag_value="minimize", help="Lower is better.")
@click.option("--maximize", "direction", flag_value="maximize", help="Higher is better.")
@click.option(
    "--rule", default="median", show_default=True, metavar="SPEC",
    help="A rule (median, percentile, threshold, patience), a preset (sagemaker, optuna, ray, katib, "
    "vizier, nni) or a JSON spec.",
)  # fmt: skip
@click.option(
    "--param", "params", multiple=True, metavar="KEY=VALUE",
    help="A rule parameter (repeatable); VALUE is read as JSON when it parses (5, 0.5, true, [..]).",
)  # fmt: skip
@click.option(
    "--order", type=click.Choice(ORDERS), default="name", show_default=True,
    help="Start order: natural sort of the paths, file modification time, or as given.",
)  # fmt: skip
@click.option(
    "--parallel", type=click.IntRange(min=1), default=1, show_default=True,
    help="Jobs running at once (1: one after the other).",
)  # fmt: skip
@click.option("--study", "study_name", metavar="NAME", help="Study name for titles (default: the folder).")
@click.option("--json", "as_json", is_flag=True, help="Print the whole result as JSON.")
@click.option(
    "--compare", metavar="A,B,...",
    help="Replay under several rules/presets and print their totals side by side.",
)  # fmt: skip
@click.option(
    "--plot", type=click.Path(path_type=Path), metavar="FILE.png|FILE.svg",
    help="Draw the curves, the median band and the stops (needs matplotlib).",
)  # fmt: skip
@click.pass_context
def replay(
    ctx: click.Context,
    logs: tuple[Path, ...],
    patterns: str,
    objective: str | None,
    direction: str | None,
    rule: str,
    params: tuple[str, ...],
    order: str,
    parallel: int,
    study_name: str | None,
    as_json: bool,
    compare: str | None,
    plot: Path | None,
) -> None:
    """Replay finished logs as if they had run live under a stopping rule.

    Prints each job's fate (stopped at which epoch and why, or completed) and the study's totals:
    epochs run against the full sweep, compute saved, whether the best job survived, and the regret
    of the best surviving job.
    """
    if plot is not None and plot.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise ConfigError(f"unsupported plot format {plot.suffix!r}", where="--plot", hint="use .png or .svg")
    pack = load_pack(patterns)
    study = load_study(logs, pack, objective, direction, order=order, study=study_name)
    rule_params = parse_params(params)
    results = _results(ctx, study, rule, rule_params, compare, parallel)
    if as_json:
        payload: Any = (
            results[0].to_dict() if compare is None else {"compare": [r.to_dict() for r in results]}
        )
        click.echo(json.dumps(payload, indent=2))
    elif compare is None:
        click.echo(render(results[0]))
    else:
        click.echo(render_compare(results))
    if plot is not None:
        from metricwatch.plot import plot_replay

        plot_replay(results[0], plot)
        if not as_json:
            click.echo(f"plot written to {plot}")
    _warn(study)


def _results(
    ctx: click.Context,
    study: Study,
    rule: str,
    params: dict[str, Any],
    compare: str | None,
    parallel: int,
) -> list[ReplayResult]:
    """One result, or (with --compare) one per listed rule; an explicit --rule/--param comes first."""
    if compare is None:
        return [run_study(study, rule, params=params, parallel=parallel)]
    specs = [s.strip() for s in compare.split(",") if s.strip()]
    if not specs:
        raise ConfigError("no rules listed", where="--compare", hint="e.g. --compare sagemaker,optuna,ray")
    explicit = any(
        ctx.get_parameter_source(name) is not ParameterSource.DEFAULT for name in ("rule", "params")
    )
    out = [run_study(study, rule, params=params, parallel=parallel)] if explicit else []
    for spec in specs:
        try:
            out.append(run_study(study, spec, parallel=parallel))
        except ConfigError as exc:
            exc.where = f"--compare {spec}: {exc.where}" if exc.where else f"--compare {spec}"
            raise
    return out


def parse_params(items: tuple[str, ...]) -> dict[str, Any]:
    """`key=value` pairs; a value that parses as JSON is taken as such, else as a string."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(
                f"expected KEY=VALUE, got {item!r}", where="--param", hint="e.g. min_population=5"
            )
        try:
            value: Any = json.loads(text)
        except json.JSONDecodeError:
            value = text
        out[key.strip()] = value
    return out


# -- text output --------------------------------------------------------------------------------------


def fmt(value: float | None) -> str:
    """Compact number: 4 significant digits, exponent form for very small/large values."""
    if value is None:
        return "-"
    if not math.isfinite(value):
        return str(value)
    return f"{value:.4g}"


def _table(rows: list[list[str]], right: set[int]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(
            c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ).rstrip()
        for r in rows
    )


def fmt_pair(a: float | None, b: float | None) -> tuple[str, str]:
    """Both numbers with enough digits that different values never print the same (0.54845 > 0.5484)."""
    for digits in range(4, 12):
        left, right = f"{a:.{digits}g}" if a is not None else "-", f"{b:.{digits}g}" if b is not None else "-"
        if left != right or a == b:
            return left, right
    return fmt(a), fmt(b)


def _job_row(job: JobReplay) -> list[str]:
    row = [job.job, str(job.start), f"{job.epochs_run}/{job.epochs_full}", job.state.value]
    stop = job.stop
    if stop is None:
        return [*row, "-", "-", "-", "-", fmt(job.final)]
    value, threshold = fmt_pair(stop.value, stop.threshold)
    peers = str(len(stop.population))
    return [*row, str(stop.epoch), value, threshold, peers, fmt(job.final), f"{stop.reason} ({stop.rule})"]


def _param(value: object) -> str:
    return "|".join(str(v) for v in value) if isinstance(value, (list, tuple)) else str(value)


def header(result: ReplayResult) -> str:
    params = ", ".join(f"{k}={_param(v)}" for k, v in result.params.items() if k != "direction")
    return (
        f"replay of {result.totals.jobs} logs in {result.study}: pack {result.pack}, objective "
        f"{result.objective} ({result.direction.value}), order {result.order}, parallel {result.parallel}\n"
        f"rule {result.rule_spec} = {result.rule}({params})"
    )


def summary(result: ReplayResult) -> str:
    t = result.totals
    lines = [
        f"epochs run      {t.epochs_run} of {t.epochs_full} ({t.saved:.1%} compute saved)",
        f"wall time       {t.ticks_run} of {t.ticks_full} epoch ticks at parallel {result.parallel}",
        f"jobs stopped    {t.jobs_stopped} of {t.jobs}",
        f"best job        {t.best_job or '-'} (final {fmt(t.best_final)}): "
        + ("survived" if t.best_survived else "STOPPED"),
        f"best survivor   {t.best_surviving_job or '-'} (final {fmt(t.best_surviving_final)}), "
        f"regret {fmt(t.regret)}",
    ]
    return "\n".join(lines)


def render(result: ReplayResult) -> str:
    heads = ["job", "start", "epochs", "outcome", "at", "value", "threshold", "peers", "final", "why"]
    rows = [heads, *(_job_row(j) for j in result.jobs)]
    rows = [r + [""] * (len(heads) - len(r)) for r in rows]
    return f"{header(result)}\n\n{_table(rows, {1, 2, 4, 5, 6, 7, 8})}\n\n{summary(result)}"


def render_compare(results: list[ReplayResult]) -> str:
    first = results[0]
    labels = ["rule", "epochs run", "saved", "jobs stopped", "best survived", "regret", "wall ticks"]
    columns = [
        [
            r.rule_spec,
            f"{r.totals.epochs_run}/{r.totals.epochs_full}",
            f"{r.totals.saved:.1%}",
            f"{r.totals.jobs_stopped}/{r.totals.jobs}",
            "yes" if r.totals.best_survived else "no",
            fmt(r.totals.regret),
            f"{r.totals.ticks_run}/{r.totals.ticks_full}",
        ]
        for r in results
    ]
    rows = [[label, *(c[i] for c in columns)] for i, label in enumerate(labels)]
    head = (
        f"replay of {first.totals.jobs} logs in {first.study}: pack {first.pack}, objective "
        f"{first.objective} ({first.direction.value}), order {first.order}, parallel {first.parallel}; "
        f"best job {first.totals.best_job} (final {fmt(first.totals.best_final)})"
    )
    return f"{head}\n\n{_table(rows, set(range(1, len(results) + 1)))}"


def _warn(study: Study) -> None:
    for skipped in study.skipped:
        click.echo(f"metricwatch: warning: skipped {skipped}", err=True)
    for problem in study.problems[:MAX_PROBLEMS_SHOWN]:
        click.echo(f"metricwatch: warning: {problem}", err=True)
    if len(study.problems) > MAX_PROBLEMS_SHOWN:
        more = len(study.problems) - MAX_PROBLEMS_SHOWN
        click.echo(f"metricwatch: warning: ... {more} more problems", err=True)
