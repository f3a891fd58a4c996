"""Shared by every train_*.py: write the ground-truth sidecar from the framework's own API values.

The truth file is {"pack": NAME, "metrics": {metric: [value at epoch 1, epoch 2, ...]}} where the
metric names are the pack's definition Names. Values come from the framework's API (evals_result(),
History.history, ...), never from the log text, so the extraction test compares two independent paths.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path


def _clean(v: float) -> float | str:
    v = float(v)
    # JSON has no NaN/inf literals that every reader accepts; keep them as strings.
    return repr(v) if (math.isnan(v) or math.isinf(v)) else v


def write_truth(path: str, pack: str, metrics: dict[str, list[float]], **extra: object) -> None:
    data = {"pack": pack, "metrics": {k: [_clean(x) for x in v] for k, v in metrics.items()}}
    data.update(extra)
    Path(path).write_text(json.dumps(data, indent=1) + "\n")
    print(f"[truth written: {len(metrics)} metrics]", file=sys.stderr)
