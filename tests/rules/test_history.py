"""StudyHistory: start order, latest attempt, states, and the statistics rules read."""

from __future__ import annotations

import math

import pytest

from metricwatch.rules import StudyHistory
from metricwatch.types import Direction, JobState


def test_history_keeps_start_order_and_states() -> None:
    h = StudyHistory()
    h.add_job("b")
    h.record("a", 1, 1.0)  # unknown job: added after every known one
    h.add_job("z", order=-1.0, state=JobState.PENDING)
    assert h.jobs == ("z", "b", "a")
    assert [h.rank(j) for j in h.jobs] == [0, 1, 2]
    assert (h.state("z"), h.count(JobState.RUNNING), h.count(JobState.PENDING)) == (
        JobState.PENDING, 2, 1
    )  # fmt: skip
    with pytest.raises(ValueError, match="already"):
        h.add_job("b")


def test_history_first_value_per_epoch_wins_and_epochs_must_be_positive() -> None:
    h = StudyHistory()
    assert h.record("a", 1, 1.0)
    assert not h.record("a", 1, 2.0)
    assert h.record("a", 3, 3.0)
    assert not h.record("a", 2, 9.0)  # backwards without reset_job: ignored
    assert h.values("a") == ((1, 1.0), (3, 3.0))
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="epoch must be an int"):
            h.record("a", bad, 1.0)  # type: ignore[arg-type]


def test_history_statistics() -> None:
    h = StudyHistory()
    h.record_series("a", [4.0, math.nan, 2.0, 6.0])
    assert h.running_average("a", 1) == 4.0
    assert math.isnan(h.running_average("a", 4))  # a NaN inside the window
    assert h.running_average("a", 4, start=3) == 4.0
    assert h.best("a", 4, Direction.MINIMIZE) == 2.0
    assert h.best("a", 2, Direction.MAXIMIZE) == 4.0
    assert h.value_at("a", 5) is None and h.last_epoch("a") == 4


def test_history_reset_job_starts_a_new_attempt() -> None:
    h = StudyHistory()
    h.record_series("a", [1.0, 2.0, 3.0])
    h.reset_job("a")
    assert h.values("a") == () and h.last_epoch("a") == 0
    assert h.record("a", 1, 7.0)


def test_history_completed_when_added() -> None:
    h = StudyHistory()
    h.add_job("a")
    h.set_state("a", JobState.COMPLETED)
    h.add_job("b")
    h.set_state("b", JobState.COMPLETED)
    assert h.completed_when_added("b") == ("a",)
    assert h.completed_when_added("a") == ()
