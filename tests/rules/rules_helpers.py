"""Helpers for the rule tests: build a StudyHistory from a compact table."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from metricwatch.rules import StudyHistory
from metricwatch.types import JobState


def make_history(
    jobs: Mapping[str, Sequence[float] | Mapping[int, float]],
    states: Mapping[str, JobState] | None = None,
) -> StudyHistory:
    """Jobs in the mapping's order; a list is epochs 1..n, a dict maps epoch → value."""
    history = StudyHistory()
    for job, values in jobs.items():
        history.add_job(job)
        items = values.items() if isinstance(values, Mapping) else enumerate(values, start=1)
        for epoch, value in items:
            history.record(job, epoch, float(value))
    for job, state in (states or {}).items():
        history.set_state(job, state)
    return history
