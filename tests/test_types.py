"""metricwatch.types: the shared values, and the one place that makes them JSON-safe."""

from __future__ import annotations

import json
import math

from metricwatch.types import Direction, JobState, json_safe


def test_json_safe_gives_strict_json_for_every_explanation_value() -> None:
    value = {
        "value": math.nan,
        "threshold": -math.inf,
        "direction": Direction.MINIMIZE,
        "states": frozenset({JobState.STOPPED, JobState.COMPLETED}),
        "population": ("a", "b"),
        1: [0.5, None, True],
    }
    text = json.dumps(json_safe(value), allow_nan=False)  # raises on NaN/Infinity left behind
    assert json.loads(text) == {
        "value": "nan",
        "threshold": "-inf",
        "direction": "minimize",
        "states": ["completed", "stopped"],
        "population": ["a", "b"],
        "1": [0.5, None, True],
    }
