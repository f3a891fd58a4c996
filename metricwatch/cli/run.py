"""`metricwatch run --study NAME [--log PATH] [--state-dir DIR] -- CMD...` (see metricwatch.launch)."""

from __future__ import annotations

from pathlib import Path

import click

from metricwatch.launch import run_command


@click.command(
    "run",
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
)
@click.option("--study", required=True, help="The study this job belongs to.")
@click.option(
    "--log",
    "log_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Log file to append the job's output to [default: STATE_DIR/logs/STUDY/<time>-<pid>.log].",
)
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="METRICWATCH_STATE_DIR",
    help="Where launched jobs are registered for the daemon [default: ~/.local/state/metricwatch].",
)
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@click.pass_context
def run(
    ctx: click.Context, study: str, log_path: Path | None, state_dir: Path | None, command: tuple[str, ...]
) -> None:
    """Run COMMAND (no shell) as a job of STUDY: tee its output into the log, register it so
    `metricwatch watch` can stop it, forward SIGTERM/SIGINT to it, and exit with its exit code."""
    ctx.exit(run_command(command, study=study, log_path=log_path, state_dir=state_dir))
