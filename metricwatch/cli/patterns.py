"""`metricwatch patterns list|show|test`: browse packs and debug a regex against a real log."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import click

from metricwatch.definitions import (
    MAX_REGEX,
    CompiledDefinition,
    compile_definition,
    expand,
    parse_number,
)
from metricwatch.errors import PatternError
from metricwatch.extract import Extractor, FileResult, iter_records
from metricwatch.packs import Pack, load_pack, pack_names


@click.group("patterns")
def patterns() -> None:
    """Pattern packs: list them, show one, test one against a log."""


@patterns.command("list")
def list_command() -> None:
    """Name, suggested objective and description of every shipped pack."""
    for name in pack_names():
        try:
            pack = load_pack(name)
        except PatternError as exc:
            click.echo(f"{name:<24} (broken: {exc})")
            continue
        objective = _objective(pack)
        click.echo(f"{pack.name:<24} {objective:<34} {pack.description}")


def _objective(pack: Pack) -> str:
    if pack.objective is None:
        return "-"
    return f"{pack.objective} ({pack.direction.value})" if pack.direction else pack.objective


@patterns.command("show")
@click.argument("pack_name", metavar="NAME|FILE")
@click.option("--json", "as_json", is_flag=True, help="SageMaker MetricDefinitions JSON to paste.")
def show(pack_name: str, as_json: bool) -> None:
    """Expanded definitions, epoch source and suggested objective of a pack."""
    pack = load_pack(pack_name)
    if as_json:
        defs = [{"Name": d.name, "Regex": sagemaker_regex(d.regex)} for d in pack.definitions]
        click.echo(json.dumps(defs, indent=2))
        for d in defs:
            if len(d["Regex"]) > MAX_REGEX:
                click.echo(
                    f"metricwatch: warning: {d['Name']}: expanded regex is longer than"
                    f" {MAX_REGEX} characters; SageMaker will reject it",
                    err=True,
                )
        return
    click.echo(f"name:        {pack.name}\ndescription: {pack.description}")
    click.echo(f"source:      {pack.source_path}\nobjective:   {_objective(pack)}")
    spec = pack.epoch
    click.echo(
        f"epoch:       source={spec.source} base={spec.base}" + (f" regex={spec.regex}" if spec.regex else "")
    )
    click.echo(f"metrics ({len(pack.definitions)}):")
    for d in pack.definitions:
        click.echo(f"  {d.name}\n    {expand(d.regex)}")
    for warning in pack.warnings:
        click.echo(f"warning: {warning}", err=True)


def sagemaker_regex(pattern: str) -> str:
    """A pack regex as SageMaker needs it: {NUM} expanded, TAB written as CloudWatch's `#011`."""
    return expand(pattern).replace("\t", "#011").replace("\\t", "#011")


@patterns.command("test")
@click.argument("pack_name", metavar="NAME|FILE")
@click.argument("log", type=click.Path(path_type=Path))
@click.option("--limit", default=50, show_default=True, help="Matching lines to print (0: none).")
def test(pack_name: str, log: Path, limit: int) -> None:
    """Show which lines of LOG matched which definition, what was captured, and what never matched."""
    pack = load_pack(pack_name)
    compiled = [compile_definition(d) for d in pack.definitions]
    extractor = Extractor(pack, str(log))
    stats = FileResult(str(log), str(log))
    matched: Counter[str] = Counter()
    bad: Counter[str] = Counter()
    shown = 0
    for record in iter_records(log, stats=stats):
        stats.records += 1
        extractor.feed(record)  # epoch tracking and timeout/epoch problems
        for c in compiled:
            raw = _safe_capture(c, record.text)
            if raw is None:
                continue
            matched[c.name] += 1
            ok = parse_number(raw) is not None
            bad[c.name] += not ok
            if shown < limit:
                note = "" if ok else "   <- NOT A NUMBER"
                click.echo(
                    f"line {record.line_no} (epoch {extractor.epoch or '-'}): {c.name} = {raw!r}{note}"
                )
                shown += 1
    _summary(pack, stats, matched, bad, shown)


def _safe_capture(c: CompiledDefinition, text: str) -> str | None:
    try:
        return c.capture(text)
    except TimeoutError:
        return None


def _summary(pack: Pack, stats: FileResult, matched: Counter[str], bad: Counter[str], shown: int) -> None:
    total = sum(matched.values())
    if shown < total:
        click.echo(f"... {total - shown} more matches (raise --limit)")
    click.echo(f"\n{stats.records} records, {stats.bytes_read} bytes; {total} matches")
    for d in pack.definitions:
        n = matched[d.name]
        extra = f", {bad[d.name]} not numbers" if bad[d.name] else ""
        click.echo(f"  {d.name:<40} {n:>7} matched{extra}")
    never = [d.name for d in pack.definitions if not matched[d.name]]
    if never:
        click.echo(f"never matched ({len(never)}): {', '.join(never)}")
    for problem in stats.problems:
        click.echo(f"warning: {problem}", err=True)
