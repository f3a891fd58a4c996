"""build_rule: a rule from a name, a dict, or a JSON string; bad specs raise ConfigError."""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Mapping
from typing import Any

from metricwatch.errors import ConfigError
from metricwatch.rules._base import Rule
from metricwatch.rules._compose import AllRule, AnyRule
from metricwatch.rules._median import MedianRule
from metricwatch.rules._optuna import OptunaRule
from metricwatch.rules._patience import PatienceRule
from metricwatch.rules._percentile import PercentileRule
from metricwatch.rules._presets import PRESETS
from metricwatch.rules._threshold import ThresholdRule
from metricwatch.types import Direction

RULES: dict[str, type[Rule]] = {
    "median": MedianRule,
    "percentile": PercentileRule,
    "threshold": ThresholdRule,
    "patience": PatienceRule,
}

_FORWARDING_PRESETS: dict[str, type[Rule]] = {"sagemaker": MedianRule, "optuna": OptunaRule}

Spec = str | Mapping[str, Any]


def build_rule(spec: Spec, *, direction: Direction | str | None = None, **params: Any) -> Rule:
    """Build a rule from a spec.

    Forms: a name (`"median"`, or a preset such as `"optuna"`) with keyword parameters; a dict
    `{"rule": "median", "min_population": 5}`; a combination `{"any": [spec, …]}` / `{"all": [...]}`;
    patience around another rule `{"rule": "patience", "patience": 3, "wrapped": spec}`; or any of
    these as a JSON string. `direction` applies to every rule inside unless a dict sets its own.

    Raises:
        ConfigError: unknown rule or parameter, or a parameter out of range (the message names it
            and its valid range).
    """
    if isinstance(spec, str) and spec.lstrip().startswith("{"):
        try:
            spec = json.loads(spec)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"rule spec is not valid JSON: {exc}", where="rule spec") from None
    if isinstance(spec, str):
        return _build_named(spec, direction, params)
    if not isinstance(spec, Mapping):
        raise ConfigError(
            f"a rule spec must be a name or a table, got {spec!r}", where="rule spec",
            hint='e.g. "median" or {"rule": "median", "min_population": 5}',
        )  # fmt: skip
    return _build_mapping(spec, direction, params)


def _build_mapping(spec: Mapping[str, Any], direction: Any, extra: dict[str, Any]) -> Rule:
    for key, combine in (("any", AnyRule), ("all", AllRule)):
        if key in spec:
            if set(spec) != {key} or not isinstance(spec[key], list) or not spec[key]:
                raise ConfigError(
                    f'"{key}" must be the only key and hold a non-empty list of rule specs',
                    where=f"rule spec {key}",
                )
            return combine([build_rule(s, direction=direction) for s in spec[key]])
    if "rule" not in spec:
        raise ConfigError(
            f"rule spec {dict(spec)!r} has no \"rule\" key", where="rule spec",
            hint='name the rule: {"rule": "median", ...}, or combine with {"any": [...]}',
        )  # fmt: skip
    params = {k: v for k, v in spec.items() if k != "rule"} | extra
    direction = params.pop("direction", direction)
    if "wrapped" in params and params["wrapped"] is not None:
        params["wrapped"] = build_rule(params["wrapped"], direction=direction)
    return _build_named(str(spec["rule"]), direction, params)


def _build_named(name: str, direction: Any, params: dict[str, Any]) -> Rule:
    factory: Callable[..., Rule] | None = RULES.get(name) or PRESETS.get(name)
    if factory is None:
        known = ", ".join(sorted(RULES) + sorted(PRESETS))
        raise ConfigError(f"unknown rule {name!r}", where="rule spec", hint=f"use one of {known}")
    _check_names(name, factory, params)
    if direction is None and name != "threshold":
        raise ConfigError(
            "direction is required", where=f"rule {name}: direction",
            hint='pass direction="minimize" or "maximize"',
        )  # fmt: skip
    if direction is not None:
        params = {**params, "direction": direction}
    return factory(**params)


def _check_names(name: str, factory: Callable[..., Rule], params: Mapping[str, Any]) -> None:
    # Presets that forward **params to a rule class are checked against that class.
    signature = inspect.signature(_FORWARDING_PRESETS.get(name, factory))
    valid = [p for p in signature.parameters if p != "direction"]
    for key in params:
        if key not in signature.parameters or key == "direction":
            raise ConfigError(
                f"unknown parameter {key!r} for rule {name}", where=f"rule {name}: {key}",
                hint="valid parameters: " + ", ".join(valid),
            )  # fmt: skip
