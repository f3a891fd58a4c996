"""The small values passed between pipeline stages: follow → frame → extract → decide → act.

Every value is frozen: a stage never changes what it was given, so any value can be logged, stored and
replayed verbatim.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field


class Direction(enum.Enum):
    """Which way the objective improves."""

    MINIMIZE = "minimize"
    MAXIMIZE = "maximize"

    def worse(self, a: float, b: float) -> bool:
        """True when `a` is strictly worse than `b` (ties are never worse: every anchor is strict)."""
        return a > b if self is Direction.MINIMIZE else a < b

    def better(self, a: float, b: float) -> bool:
        return self.worse(b, a)


class JobState(enum.Enum):
    PENDING = "pending"  # known (e.g. queued in Slurm) but has written nothing yet
    RUNNING = "running"
    COMPLETED = "completed"
    STOPPED = "stopped"  # stopped by metricwatch
    CANCELLED = "cancelled"  # ended by someone else (a person, the scheduler)
    FAILED = "failed"


class Verdict(enum.Enum):
    CONTINUE = "continue"  # the rule judged and the job is not worse
    STOP = "stop"  # the rule judged and the job is worse
    NOT_YET = "not_yet"  # the rule cannot judge yet (warm-up, too few peers, …); the job continues


def json_safe(value: object) -> object:
    """`value` ready for `json.dumps`: non-finite floats as strings (JSON has no NaN or Infinity),
    enums as their values, sets as sorted lists, anything else unknown as its text."""
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, enum.Enum):
        return json_safe(value.value)
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (frozenset, set)):
        return sorted((json_safe(v) for v in value), key=str)
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if value is None or isinstance(value, (bool, int, str)):
        return value
    return str(value)


@dataclass(frozen=True, slots=True)
class Record:
    """One framed line of a log: text after control-sequence clean-up, and where its bytes were.

    `offset` is the byte offset of the record's first byte in the file, `end` the offset just past its
    terminator. A checkpoint at `end` resumes right after this record.
    """

    text: str
    offset: int
    end: int
    line_no: int  # 1-based count of records framed from this file
    truncated: bool = False  # the record exceeded the cap and only its tail was kept


@dataclass(frozen=True, slots=True)
class Observation:
    """One value of one metric at one epoch of one job, as read from a record.

    Epochs are 1-based everywhere inside metricwatch (pattern packs declare their framework's base).
    `attempt` starts at 1 and increases when the epoch counter goes backwards (a job restarted into the
    same log); history of earlier attempts is kept, decisions use the latest attempt.
    """

    job: str
    metric: str
    epoch: int
    value: float
    attempt: int = 1
    line_no: int = 0
    offset: int = 0
    raw: str = ""  # the captured text, for explanations ("nan", "1e-05")


@dataclass(frozen=True, slots=True)
class Decision:
    """What a rule concluded about one job at one epoch, with everything needed to explain it."""

    job: str
    epoch: int
    verdict: Verdict
    rule: str  # "median", "percentile", …
    params: dict[str, object] = field(default_factory=dict)
    value: float | None = None  # the current job's statistic that was compared
    threshold: float | None = None  # what it was compared against
    population: tuple[str, ...] = ()  # the jobs the threshold came from
    reason: str = ""  # a short code: "worse_than_median", "warmup", "too_few_peers", …

    @property
    def stop(self) -> bool:
        return self.verdict is Verdict.STOP
