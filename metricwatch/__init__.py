"""metricwatch: SageMaker-style early stopping for training jobs you cannot modify."""

from metricwatch.errors import ConfigError, MetricwatchError, PatternError
from metricwatch.types import Decision, Direction, JobState, Observation, Record, Verdict

__all__ = [
    "ConfigError",
    "Decision",
    "Direction",
    "JobState",
    "MetricwatchError",
    "Observation",
    "PatternError",
    "Record",
    "Verdict",
]
__version__ = "0.1.0"
