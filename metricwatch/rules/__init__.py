"""Pure stopping rules over an incremental StudyHistory (no files, processes, clocks or logging).

    history = StudyHistory()
    history.record("job-1", 1, 0.93)          # after each settled epoch value
    rule = build_rule("median", direction="minimize")   # or a preset: "optuna", "ray", …
    decision = rule.decide(history, "job-1", 1)         # metricwatch.types.Decision

`RULES` maps rule names to classes and `PRESETS` maps anchor names (sagemaker, vizier, katib, ray,
optuna, nni) to factories; `build_rule` accepts either, plus dict/JSON specs and any/all combinations.
"""

from metricwatch.rules._base import Rule
from metricwatch.rules._build import RULES, build_rule
from metricwatch.rules._compose import AllRule, AnyRule
from metricwatch.rules._history import StudyHistory
from metricwatch.rules._katib import KatibRule
from metricwatch.rules._median import MedianRule
from metricwatch.rules._optuna import OptunaRule
from metricwatch.rules._patience import PatienceRule
from metricwatch.rules._percentile import DEFAULT_STATES, PercentileRule
from metricwatch.rules._presets import PRESETS
from metricwatch.rules._threshold import ThresholdRule

__all__ = [
    "DEFAULT_STATES",
    "PRESETS",
    "RULES",
    "AllRule",
    "AnyRule",
    "KatibRule",
    "MedianRule",
    "OptunaRule",
    "PatienceRule",
    "PercentileRule",
    "Rule",
    "StudyHistory",
    "ThresholdRule",
    "build_rule",
]
