"""Presets: each anchor's median-style rule, reproduced with its own defaults (research note §8).

Every preset takes `direction` and the anchor's own parameter names, in the anchor's units
(epochs = reports = Ray's training_iteration; Optuna steps = epoch − 1).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from metricwatch.rules._base import Rule, bad, check_int, check_number
from metricwatch.rules._katib import KatibRule
from metricwatch.rules._median import MedianRule
from metricwatch.rules._optuna import OptunaRule
from metricwatch.types import Direction, JobState

_COMPLETED = frozenset({JobState.COMPLETED})


def sagemaker(*, direction: Direction | str, **params: Any) -> Rule:
    """SageMaker AUTO (the default): `MedianRule` with its defaults; any MedianRule parameter may be set."""
    return MedianRule(direction=direction, **params)


def vizier(*, direction: Direction | str, min_population: int = 1) -> Rule:
    """Vizier/Vertex AI: best so far against the median of all completed jobs' running averages."""
    return MedianRule(
        direction=direction, statistic="best", population="all", states=_COMPLETED,
        min_population=min_population,
    )  # fmt: skip


def nni(*, direction: Direction | str, start_step: int = 0) -> Rule:
    """NNI Medianstop: like Vizier, but the lenient middle element for even counts; start_step 0–9999."""
    start = check_int("nni", "start_step", start_step, 0)
    if start > 9999:
        raise bad("nni", "start_step", start_step, "an integer in [0, 9999]")
    return MedianRule(
        direction=direction, statistic="best", population="all", states=_COMPLETED,
        min_population=1, warmup_epochs=max(0, start - 1), interpolation="lenient",
    )  # fmt: skip


def ray(
    *,
    direction: Direction | str,
    grace_period: float = 60.0,
    min_samples_required: int = 3,
    hard_stop: bool = True,
) -> Rule:
    """Ray Tune MedianStoppingRule with time_attr = epoch (training_iteration).

    No decision while epoch < grace_period; peers are all other jobs whose last epoch ≥ e, in any state;
    each peer's mean over epochs grace_period..e; the job's best over all its results. One deliberate
    difference: a peer whose window mean is NaN (a NaN value, or no report in the window) is left out
    instead of making the median NaN and stopping everyone (ray-project/ray#24809).
    """
    grace = check_number("ray", "grace_period", grace_period, 0.0)
    if hard_stop is not True:
        raise bad(
            "ray", "hard_stop", hard_stop,
            "true (metricwatch cannot pause an unmodified job; a paused trial has no equivalent)",
        )  # fmt: skip
    first = max(1, math.ceil(grace))
    return MedianRule(
        direction=direction, statistic="best", population="all", states=frozenset(JobState),
        min_population=check_int("ray", "min_samples_required", min_samples_required, 1),
        window_start=first, warmup_epochs=math.ceil(grace) - 1 if grace > 0 else 0,
    )  # fmt: skip


def katib(*, direction: Direction | str, min_trials_required: int = 3, start_step: int = 4) -> Rule:
    """Katib medianstop: see `KatibRule`."""
    return KatibRule(direction=direction, min_trials_required=min_trials_required, start_step=start_step)


def optuna(*, direction: Direction | str, **params: Any) -> Rule:
    """Optuna MedianPruner (percentile=50) or PercentilePruner: see `OptunaRule`."""
    return OptunaRule(direction=direction, **params)


PRESETS: dict[str, Callable[..., Rule]] = {
    "sagemaker": sagemaker,
    "vizier": vizier,
    "katib": katib,
    "ray": ray,
    "optuna": optuna,
    "nni": nni,
}
