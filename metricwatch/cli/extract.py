"""`metricwatch extract LOG... --patterns NAME|FILE`: the per-epoch table of what the logs say."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import click

from metricwatch.extract import FileResult, Problem, extract_file
from metricwatch.frame import DEFAULT_MAX_RECORD_BYTES
from metricwatch.packs import Pack, load_pack, packs_dir
from metricwatch.types import json_safe

MAX_PROBLEMS_SHOWN = 20

Row = tuple[str, int, int]  # job, attempt, epoch


@click.command("extract")
@click.argument("logs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--patterns",
    "-p",
    "patterns",
    required=True,
    metavar="NAME|FILE",
    help="A pattern pack name (see `patterns list`) or a SageMaker MetricDefinitions file.",
)
@click.option("--json", "fmt", flag_value="json", help="One JSON object per (job, attempt, epoch).")
@click.option("--csv", "fmt", flag_value="csv", help="CSV with a header row.")
@click.option("--metric", "-m", "metrics", multiple=True, help="Only this metric (repeatable).")
@click.option(
    "--max-record-bytes",
    default=DEFAULT_MAX_RECORD_BYTES,
    show_default=True,
    help="Cap per record; longer records keep their tail.",
)
def extract(
    logs: tuple[Path, ...],
    patterns: str,
    fmt: str | None,
    metrics: tuple[str, ...],
    max_record_bytes: int,
) -> None:
    """Print each log's settled per-epoch metric values.

    Rows are (job, attempt, epoch); the job is the log's path. Values are shown as printed in the
    log. Values that could not be read are reported on stderr, never guessed.
    """
    pack = load_pack(patterns)
    _warn_traps(pack)
    results = [extract_file(log, pack, max_record_bytes=max_record_bytes) for log in logs]
    names = _columns(pack, results, metrics)
    rows = _rows(results, set(names))
    if fmt == "json":
        for (job, attempt, epoch), values in rows.items():
            obj = {"job": job, "attempt": attempt, "epoch": epoch}
            obj.update({n: json_safe(values[n][0]) for n in names if n in values})
            click.echo(json.dumps(obj))
    elif fmt == "csv":
        click.echo(_csv(rows, names), nl=False)
    else:
        click.echo(_table(rows, names))
    for result in results:
        _report_problems(result.problems)


def _warn_traps(pack: Pack) -> None:
    if Path(pack.source_path).parent != packs_dir():
        for warning in pack.warnings:
            click.echo(f"metricwatch: warning: {warning}", err=True)


def _columns(pack: Pack, results: list[FileResult], wanted: tuple[str, ...]) -> list[str]:
    known = [d.name for d in pack.definitions]
    for name in wanted:
        if name not in known:
            raise click.BadParameter(f"{name!r} is not a metric of {pack.name}", param_hint="--metric")
    seen = {o.metric for r in results for o in r.observations}
    return [n for n in known if (n in wanted if wanted else n in seen)]


def _rows(results: list[FileResult], names: set[str]) -> dict[Row, dict[str, tuple[float, str]]]:
    rows: dict[Row, dict[str, tuple[float, str]]] = {}
    for result in results:
        for o in result.observations:
            if o.metric in names:
                rows.setdefault((o.job, o.attempt, o.epoch), {})[o.metric] = (o.value, o.raw)
    return dict(sorted(rows.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2])))


def _csv(rows: dict[Row, dict[str, tuple[float, str]]], names: list[str]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["job", "attempt", "epoch", *names])
    for (job, attempt, epoch), values in rows.items():
        writer.writerow([job, attempt, epoch, *(values[n][1] if n in values else "" for n in names)])
    return buffer.getvalue()


def _table(rows: dict[Row, dict[str, tuple[float, str]]], names: list[str]) -> str:
    header = ["job", "attempt", "epoch", *names]
    body = [
        [job, str(attempt), str(epoch), *(values[n][1] if n in values else "-" for n in names)]
        for (job, attempt, epoch), values in rows.items()
    ]
    if not body:
        return "(no metric values found)"
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in [header, *body]]
    return "\n".join(lines)


def _report_problems(problems: list[Problem]) -> None:
    for problem in problems[:MAX_PROBLEMS_SHOWN]:
        click.echo(f"metricwatch: warning: {problem}", err=True)
    if len(problems) > MAX_PROBLEMS_SHOWN:
        click.echo(f"metricwatch: warning: ... {len(problems) - MAX_PROBLEMS_SHOWN} more problems", err=True)
