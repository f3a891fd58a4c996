"""The catalogue of observable events: one function per event, one structlog event with a stable name.

Modules below the CLI never log domain events ad hoc; they call these, so the names and fields that
operators grep for (and that tests assert with `structlog.testing.capture_logs`) live in one place.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

from metricwatch.types import Decision

log = structlog.get_logger("metricwatch")


def configure(
    log_format: str = "console", level: str = "info", stream: Any = None, *, quiet_decisions: bool = False
) -> None:
    """Route structlog to `stream` (stderr): JSON lines for machines, a readable console otherwise.

    `quiet_decisions` drops the per-epoch "continue"/"not yet" decisions from the output (the state
    store still has them): the demo shows only what changed.
    """
    renderer: Any
    if log_format == "json":
        renderer = structlog.processors.JSONRenderer(sort_keys=False)
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[
            *([_drop_routine_decisions] if quiet_decisions else []),
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(stream or sys.stderr),
        cache_logger_on_first_use=False,
    )


def _drop_routine_decisions(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
    if event.get("event") == "decision" and event.get("verdict") != "stop":
        raise structlog.DropEvent
    return event


def decision_fields(d: Decision) -> dict[str, Any]:
    """The explanation of a decision, flat, as it goes to the log and the state store."""
    return {
        "job": d.job,
        "epoch": d.epoch,
        "verdict": d.verdict.value,
        "value": d.value,
        "threshold": d.threshold,
        "population_size": len(d.population),
        "population": list(d.population),
        "rule": d.rule,
        "params": d.params,
        "reason": d.reason,
    }


def decision_made(study: str, d: Decision) -> None:
    log.info("decision", study=study, **decision_fields(d))


def job_stopped(study: str, job: str, action: str, ok: bool, detail: str, dry_run: bool) -> None:
    level = log.warning if not ok else log.info
    level(
        "job_stopped" if ok else "action_failed",
        study=study,
        job=job,
        action=action,
        ok=ok,
        detail=detail,
        dry_run=dry_run,
    )


def action_dry_run(action: str, job: str, would: str) -> None:
    """A dry-run action: what it would have done to `job`, had it been live."""
    log.info("action_dry_run", action=action, job=job, would=would)


def job_state(study: str, job: str, state: str, reason: str) -> None:
    log.info("job_state", study=study, job=job, state=state, reason=reason)


def file_event(kind: str, path: str, **fields: Any) -> None:
    """Follower lifecycle: added, rotated, truncated, deleted, skipped, fallback_to_polling."""
    log.info(f"file_{kind}", path=path, **fields)


def extract_problem(study: str, job: str, line_no: int, metric: str, message: str) -> None:
    log.warning("extract_problem", study=study, job=job, line_no=line_no, metric=metric, message=message)


def buffered_output(study: str, job: str, pid: int, hint: str) -> None:
    log.warning("output_looks_block_buffered", study=study, job=job, pid=pid, hint=hint)


def daemon(event: str, **fields: Any) -> None:
    log.info(event, **fields)
