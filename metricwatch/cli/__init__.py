"""The command line: a thin click layer over the Python API.

Each command lives in its own module here and is registered below. This package is the only place that
turns exceptions into messages and exit codes:

    0  success (for `replay`/`extract`: the command ran; see its output)
    1  unexpected internal error (a bug: run again with --debug and report the traceback)
    2  bad usage, configuration, pattern or input (the message names the file and entry)
    3  the daemon or an action cannot start (permissions, missing scheduler command)
"""

from __future__ import annotations

import importlib
import sys

import click

from metricwatch.errors import MetricwatchError

# (module, attribute) of each sub-command; a module that does not exist yet is skipped so the CLI stays
# usable while commands are added.
COMMANDS = [
    ("metricwatch.cli.extract", "extract"),
    ("metricwatch.cli.patterns", "patterns"),
    ("metricwatch.cli.replay", "replay"),
    ("metricwatch.cli.watch", "watch"),
    ("metricwatch.cli.watch", "check"),
    ("metricwatch.cli.watch", "status"),
    ("metricwatch.cli.run", "run"),
    ("metricwatch.cli.demo", "demo"),
]


class _Group(click.Group):
    """Maps MetricwatchError to one stderr line and its exit code; --debug shows the traceback."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except MetricwatchError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo(f"metricwatch: error: {exc}", err=True)
            sys.exit(exc.exit_code)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="metricwatch")
@click.option("--debug", is_flag=True, help="Show tracebacks instead of one-line errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Early stopping for training jobs you cannot modify: follow their logs, apply the median rule,
    stop the losers."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


for _module, _name in COMMANDS:
    try:
        _mod = importlib.import_module(_module)
    except ModuleNotFoundError as _exc:
        if _exc.name != _module:
            raise
        continue
    _cmd = getattr(_mod, _name, None)
    if _cmd is not None:
        cli.add_command(_cmd)


def main() -> None:
    cli(auto_envvar_prefix="METRICWATCH")
