"""`metricwatch demo`: the main job on a built-in default, for a first look."""

from __future__ import annotations

import json
import tempfile
from dataclasses import asdict
from pathlib import Path

import click


@click.command()
@click.option("--epochs", type=click.IntRange(min=1), default=12, show_default=True, help="Epochs per trial.")
@click.option(
    "--epoch-seconds",
    type=click.FloatRange(min=0),
    default=0.3,
    show_default=True,
    help="Seconds each epoch takes.",
)
@click.option(
    "--keep",
    type=click.Path(file_okay=False, path_type=Path),
    help="Run in this directory and keep the logs and state.db (default: a temporary one).",
)
@click.option(
    "--events/--no-events",
    default=True,
    show_default=True,
    help="Show the daemon's structured events (decisions, stops) on stderr as they happen.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
def demo(epochs: int, epoch_seconds: float, keep: Path | None, events: bool, as_json: bool) -> None:
    """Run a small real sweep of legacy training scripts and stop the losers.

    Eight unmodified scripts (`python train.py --lr X > trial-N.log 2>&1`) start one after another;
    the daemon follows their logs with the `plain` pattern pack and the default median rule
    (SageMaker's), and sends SIGTERM to each trial whose val_loss is worse than the median of the
    earlier trials' running averages. Takes about 10 seconds.
    """
    from metricwatch import events as ev
    from metricwatch.demo import DEFAULT_RATES, run_demo, summary

    ev.configure("console", level="info" if events else "error", quiet_decisions=True)
    with tempfile.TemporaryDirectory(prefix="metricwatch-demo-") as tmp:
        workdir = keep or Path(tmp)
        if not as_json:
            click.echo(
                f"metricwatch demo: {len(DEFAULT_RATES)} trials in {workdir}, "
                "rule: median (sagemaker), action: SIGTERM"
            )
        results = run_demo(workdir, epochs=epochs, epoch_seconds=epoch_seconds)
    if as_json:
        click.echo(json.dumps([asdict(r) for r in results], indent=2))
    else:
        click.echo(summary(results, epochs))
