"""`metricwatch watch`, `check` and `status`: run the daemon, validate a config, show what it knows."""

from __future__ import annotations

import glob
import json
import math
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from metricwatch import events
from metricwatch.check import CheckReport, check_config
from metricwatch.config import (
    Config,
    ConfigErrors,
    config_from_flags,
    default_state_db,
    load_config,
)
from metricwatch.errors import ConfigError
from metricwatch.state import JobOverview, StateStore


def _is_config(arg: str) -> bool:
    # A .toml name without glob characters is a config even when it does not exist, so a typo says
    # "cannot read the config" rather than "--patterns is required".
    return arg.endswith(".toml") and not glob.has_magic(arg)


def build_config(
    args: tuple[str, ...], *, collect: list[ConfigError] | None = None, **flags: object
) -> Config:
    """One TOML config (`watch sweep.toml`), or one study from globs and flags (`watch 'runs/*.log' ...`).

    With `collect`, invalid keys are gathered there instead of raised (see `config.load_config`).
    """
    daemon = {k: flags.pop(k) for k in ("state_db", "poll_interval", "log_format", "polling")}
    daemon = {k: str(v) if isinstance(v, Path) else v for k, v in daemon.items() if v not in (None, False)}
    if len(args) == 1 and _is_config(args[0]):
        return load_config(args[0], collect=collect)
    if not args:
        raise ConfigError(
            "give a config file or at least one log glob",
            where="command line",
            hint="e.g. metricwatch watch 'runs/*/train.log' --patterns keras3",
        )
    if not flags.get("patterns"):
        raise ConfigError(
            "--patterns is required with log globs",
            where="command line",
            hint="a pack name (metricwatch patterns list) or a definitions file",
        )
    return config_from_flags(args, daemon=daemon, collect=collect, **flags)  # type: ignore[arg-type]


def study_options(f):  # type: ignore[no-untyped-def]
    """The flags that describe one study on the command line (shared by watch and check)."""
    options = [
        click.option("--patterns", help="Pattern pack name or definitions file (SageMaker JSON, TOML)."),
        click.option("--objective", help="Metric to decide on (default: the pack's suggestion)."),
        click.option("--minimize", "direction", flag_value="minimize", help="Lower is better."),
        click.option("--maximize", "direction", flag_value="maximize", help="Higher is better."),
        click.option("--rule", default="median", show_default=True, help="Rule or preset name."),
        click.option(
            "--rule-param",
            "rule_params",
            multiple=True,
            metavar="KEY=VALUE",
            help="Rule parameter, e.g. min_population=3 (repeatable).",
        ),
        click.option(
            "--action",
            default="signal",
            show_default=True,
            help="How losers are stopped: signal, stop-file, command, slurm.",
        ),
        click.option(
            "--action-param",
            "action_params",
            multiple=True,
            metavar="KEY=VALUE",
            help='Action parameter, e.g. grace=30 or argv=\'["scancel", "{job_id}"]\'.',
        ),
        click.option("--dry-run", is_flag=True, help="Decide and log, but stop nothing."),
        click.option("--job-id", help="Regex with a named group 'job' that names the job in a log path."),
        click.option("--idle-timeout", help="A job with no process and no output this long is complete."),
        click.option("--end-pattern", help="A regex; a matching line completes the job."),
        click.option("--study", default="default", show_default=True, help="Study name (flags mode)."),
        click.option(
            "--state-db",
            type=click.Path(dir_okay=False, path_type=Path),
            help=f"SQLite state file [default: {default_state_db()}].",
        ),
        click.option("--poll-interval", type=float, help="Safety poll seconds (default 1)."),
        click.option("--polling", is_flag=True, help="Poll instead of inotify (network file systems)."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


@click.command()
@click.argument("logs_or_config", nargs=-1, metavar="CONFIG.toml | LOG_GLOB...")
@study_options
@click.option(
    "--log-format",
    type=click.Choice(["console", "json"]),
    default=None,
    help="Event log format on stderr (json: one JSON object per line).",
)
def watch(logs_or_config: tuple[str, ...], **flags: object) -> None:
    """Follow training logs and stop the jobs the rule says are losing.

    \b
    From a config:  metricwatch watch sweep.toml
    From flags:     metricwatch watch 'runs/*/train.log' --patterns keras3 \\
                        --objective val_loss --minimize --action signal

    Runs until SIGTERM or Ctrl-C. Every decision and action is a structured event on stderr and a row
    in the state database (see `metricwatch status`).
    """
    from metricwatch.daemon import Daemon

    log_format = flags.get("log_format")
    config = build_config(logs_or_config, **flags)
    report = check_config(config)
    if not report.ok:
        _print_report(report)
        raise click.exceptions.Exit(2)
    events.configure(str(log_format or config.daemon.log_format))
    for warning in report.warnings:
        events.log.warning("config_warning", message=warning)
    daemon = Daemon(config)
    with _stop_on_signals(on_stop=daemon.wake) as stop:
        daemon.run(stop)


@click.command()
@click.argument("logs_or_config", nargs=-1, metavar="CONFIG.toml | LOG_GLOB...")
@study_options
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def check(logs_or_config: tuple[str, ...], as_json: bool, **flags: object) -> None:
    """Validate a config (globs, patterns, objective, rule parameters, action) without running it.

    Exit code 0 when it would start, 2 when not; every problem is listed with its file and key.
    """
    invalid: list[ConfigError] = []
    try:
        config = build_config(logs_or_config, log_format=None, collect=invalid, **flags)
        report = check_config(config)
        report = CheckReport((*invalid, *report.errors), report.warnings)
    except ConfigErrors as exc:  # parsing failed: report each problem, like the checks below
        config, report = None, CheckReport(exc.errors)
    except ConfigError as exc:
        config, report = None, CheckReport((exc,))
    if as_json:
        click.echo(json.dumps(_report_json(report), indent=2))
    else:
        _print_report(report)
    if not report.ok:
        raise click.exceptions.Exit(2)
    if config is not None and not as_json:
        n = len(config.studies)
        click.echo(f"{config.source}: OK ({n} stud{'y' if n == 1 else 'ies'})")


@click.command()
@click.argument("config", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--state-db",
    type=click.Path(dir_okay=False, path_type=Path),
    help="State database to read (default: the config's, else the default location).",
)
@click.option("--study", "only", help="Show only this study.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
def status(config: Path | None, state_db: Path | None, only: str | None, as_json: bool) -> None:
    """Show every study's jobs: state, last epoch, objective, current threshold and decision."""
    if state_db is None:
        state_db = load_config(config).daemon.state_db if config else default_state_db()
    store = StateStore(state_db, readonly=True)
    try:
        known = store.studies()
        if only is not None and only not in known:
            raise ConfigError(
                f"no study named {only!r} in this state database",
                where=str(state_db),
                hint=f"studies: {', '.join(known) or 'none yet'}",
            )
        studies = [s for s in known if only in (None, s)]
        overview = {s: store.jobs_overview(s) for s in studies}
        objectives = {s: store.objective(s) for s in studies}
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps({s: [_row_json(r) for r in rows] for s, rows in overview.items()}, indent=2))
        return
    if not overview:
        click.echo(f"{state_db}: no study has been watched yet")
    for study, rows in overview.items():
        metric, direction = objectives[study]
        goal = f" ({metric}, {direction})" if metric else ""
        click.echo(f"study {study}{goal}: {len(rows)} job(s)")
        click.echo(_table(rows))


# ------------------------------------------------------------------------------------------ helpers
@contextmanager
def _stop_on_signals(on_stop: Callable[[], None] = lambda: None) -> Iterator[threading.Event]:
    """SIGTERM/SIGINT ask the loop to finish its step and exit; handlers are restored afterwards.

    A second signal leaves at once with the shell's 128 + signal number (130 for Ctrl-C), not click's
    "Aborted!" exit 1, which this CLI reserves for bugs. Leaving mid-step is safe: offsets are committed
    with the observations they cover (state.py), as after a SIGKILL.
    """
    stop = threading.Event()
    previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}

    def handler(signum: int, _frame: object) -> None:
        if stop.is_set():  # a second Ctrl-C: leave now
            raise SystemExit(128 + signum)
        stop.set()
        on_stop()  # end the loop's current wait instead of finishing it

    for s in previous:
        signal.signal(s, handler)
    try:
        yield stop
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def _print_report(report: CheckReport) -> None:
    for error in report.errors:
        click.echo(f"error: {error}", err=True)
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)


def _report_json(report: CheckReport) -> dict[str, object]:
    # Errors keep `where` apart so an editor or CI annotation can point at the file and key.
    errors = [{"where": e.where, "message": e.message, "hint": e.hint} for e in report.errors]
    return {"ok": report.ok, "errors": errors, "warnings": list(report.warnings)}


def _num(x: float | None) -> str:
    if x is None:
        return "-"
    return str(x) if not math.isfinite(x) else f"{x:.6g}"


def _row_json(r: JobOverview) -> dict[str, object]:
    d = r.decision.decision if r.decision else None
    return {
        "job": r.job,
        "state": r.state.value,
        "state_reason": r.state_reason,
        "attempt": r.attempt,
        "log": r.log_path,
        "last_epoch": r.last_epoch,
        "objective_epoch": r.objective_epoch,
        "objective": r.objective_value,
        "decision": None
        if d is None
        else {
            "epoch": d.epoch,
            "verdict": d.verdict.value,
            "value": d.value,
            "threshold": d.threshold,
            "population": list(d.population),
            "rule": d.rule,
            "params": d.params,
            "reason": d.reason,
        },
        "stopped": None
        if r.stop is None
        else {"epoch": r.stop.epoch, "ok": r.stop.ok, "detail": r.stop.detail},
    }


def _table(rows: list[JobOverview]) -> str:
    head = ("JOB", "STATE", "EPOCH", "OBJECTIVE", "THRESHOLD", "DECISION", "WHY")
    lines = [head]
    for r in rows:
        d = r.decision.decision if r.decision else None
        why = r.state_reason
        if d is not None:
            why = f"{d.reason} (rule {d.rule}, n={len(d.population)}) at epoch {d.epoch}"
        lines.append(
            (
                r.job,
                r.state.value,
                str(r.last_epoch or "-"),
                _num(r.objective_value),
                _num(d.threshold if d else None),
                d.verdict.value if d else "-",
                why,
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(head) - 1)]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(line[:-1], widths, strict=True)) + "  " + line[-1]
        for line in lines
    )
