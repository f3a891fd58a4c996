"""Pattern packs: metric definitions plus how to find the epoch, per framework (patterns/*.toml).

A name (`keras3`) loads `patterns/<name>.toml`, shipped as the package `metricwatch.packs`. A path
loads a TOML pack, or any SageMaker definitions file (JSON/YAML/TOML), which then counts epochs:
the n-th emission of a metric is its epoch n.

Epoch numbers are normalised to 1-based: `base` is the framework's first epoch number (0 for
XGBoost `[0]`, 1 for LightGBM `[1]` and Keras `Epoch 1/10`). A fractional epoch such as the Hugging
Face Trainer's `'epoch': 0.5` counts epochs completed so far, so the value belongs to epoch
`ceil(value)` (0.5 and 1.0 → epoch 1, 1.25 → epoch 2); declare `base = 1` for it.

When an epoch's value is final (`settle`): with `match` (the default for `line` sources, where a
framework prints each metric once per epoch: XGBoost, LightGBM, plain scripts) a value settles the
moment its line is read, so the rule acts on the line that completes the epoch. With `next` (the
default for `header` sources, and needed where a metric is reprinted within an epoch: Keras progress
frames, the Lightning TQDM bar, HF Trainer step logs) the last value seen in the epoch settles when a
later epoch begins or the log ends.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from metricwatch.definitions import (
    MetricDefinition,
    check_regex,
    find_traps,
    load_definitions,
    read_text,
    tomllib,
    validate,
)
from metricwatch.errors import PatternError
from metricwatch.types import Direction

EPOCH_SOURCES = ("line", "header", "count")
_PACK_KEYS = {"name", "description", "objective", "direction", "epoch", "metrics"}
_EPOCH_KEYS = {"source", "regex", "base", "settle"}
SETTLE_POLICIES = ("match", "next")
_DATA_PACKAGE = "metricwatch.patterns"
_DEFINITION_SUFFIXES = (".toml", ".json", ".yaml", ".yml")


@dataclass(frozen=True, slots=True)
class EpochSpec:
    """Where a record's epoch comes from: the same line, a preceding header, or emission counts."""

    source: str = "count"
    regex: str | None = None
    base: int = 1
    settle: str = ""  # "match": final when read; "next": the epoch's last value; "": the source's default

    @property
    def settle_policy(self) -> str:
        return self.settle or ("next" if self.source == "header" else "match")


@dataclass(frozen=True, slots=True)
class Pack:
    name: str
    description: str
    definitions: tuple[MetricDefinition, ...]
    epoch: EpochSpec
    objective: str | None = None
    direction: Direction | None = None
    source_path: str = ""
    warnings: tuple[str, ...] = ()  # trap warnings from definitions.find_traps

    def definition(self, name: str) -> MetricDefinition | None:
        return next((d for d in self.definitions if d.name == name), None)


def packs_dir() -> Path:
    """Where the shipped packs live: the installed data package, else the source tree's patterns/.

    The data package cannot be called `metricwatch.packs`: this module has that name and a package of
    the same name would shadow it, so pyproject maps patterns/ to `metricwatch.patterns`. It has no
    `__init__.py` (patterns/ holds only packs), so it is a namespace package: its directory comes from
    `__path__`; `importlib.resources.files` would give a MultiplexedPath that is not a file path.
    """
    try:
        module = importlib.import_module(_DATA_PACKAGE)
        for folder in module.__path__:
            if Path(folder).is_dir():
                return Path(folder)
    except ModuleNotFoundError:
        pass
    return Path(__file__).resolve().parent.parent / "patterns"


def pack_names() -> list[str]:
    folder = packs_dir()
    return sorted(p.stem for p in folder.glob("*.toml")) if folder.is_dir() else []


def list_packs() -> list[Pack]:
    """Every shipped pack that loads (see pack_names + load_pack to report broken ones)."""
    out = []
    for name in pack_names():
        try:
            out.append(load_pack(name))
        except PatternError:
            continue
    return out


def load_pack(name_or_path: str | Path) -> Pack:
    """A pack by name (`keras3`) or path (a TOML pack or any SageMaker definitions file)."""
    text = str(name_or_path)
    path = Path(text)
    if isinstance(name_or_path, Path) or "/" in text or path.suffix.lower() in _DEFINITION_SUFFIXES:
        return _load_path(path)
    candidate = packs_dir() / f"{text}.toml"
    if not candidate.is_file():
        if path.exists():
            return _load_path(path)
        known = ", ".join(pack_names()) or "none installed"
        raise PatternError(
            f"unknown pattern pack {text!r}",
            where="--patterns",
            hint=f"known packs: {known}; or give a path to a definitions file",
        )
    return _load_path(candidate)


def _load_path(path: Path) -> Pack:
    if path.suffix.lower() == ".toml":
        text = read_text(path, "pattern pack")
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise PatternError(f"invalid TOML: {exc}", where=str(path)) from exc
        if isinstance(data.get("metrics"), list) and "name" in data:
            return _pack_from_toml(data, path)
    definitions = tuple(load_definitions(path))
    return Pack(
        name=path.stem,
        description=f"metric definitions from {path.name}",
        definitions=definitions,
        epoch=EpochSpec("count"),
        source_path=str(path),
        warnings=_warnings(definitions),
    )


def _pack_from_toml(data: dict[str, Any], path: Path) -> Pack:
    where = str(path)
    unknown = sorted(set(data) - _PACK_KEYS)
    if unknown:
        raise PatternError(
            f"unknown key {unknown[0]!r}",
            where=where,
            hint=f"allowed keys: {', '.join(sorted(_PACK_KEYS))}",
        )
    name = _string(data, "name", where, required=True)
    definitions = tuple(validate(data["metrics"], f"{where}: metrics"))
    objective = _string(data, "objective", where)
    if objective is not None and objective not in {d.name for d in definitions}:
        raise PatternError(
            f"objective {objective!r} is not one of the metrics",
            where=f"{where}: objective",
            hint="use the Name of one [[metrics]] entry",
        )
    return Pack(
        name=name or path.stem,
        description=_string(data, "description", where) or "",
        definitions=definitions,
        epoch=_epoch(data.get("epoch"), f"{where}: epoch"),
        objective=objective,
        direction=_direction(data.get("direction"), f"{where}: direction"),
        source_path=where,
        warnings=_warnings(definitions),
    )


def _string(data: dict[str, Any], key: str, where: str, required: bool = False) -> str | None:
    value = data.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise PatternError(f"{key!r} must be a non-empty string", where=f"{where}: {key}")
    return value


def _direction(value: Any, where: str) -> Direction | None:
    if value is None:
        return None
    try:
        return Direction(value)
    except ValueError:
        raise PatternError(
            f"invalid direction {value!r}", where=where, hint='use "minimize" or "maximize"'
        ) from None


def _epoch(table: Any, where: str) -> EpochSpec:
    if table is None:
        return EpochSpec("count")
    if not isinstance(table, dict):
        raise PatternError("must be a table: [epoch]", where=where)
    unknown = sorted(set(table) - _EPOCH_KEYS)
    if unknown:
        raise PatternError(f"unknown key {unknown[0]!r}", where=where, hint="use source, regex, base, settle")
    source = table.get("source", "count")
    if source not in EPOCH_SOURCES:
        raise PatternError(
            f"invalid source {source!r}", where=f"{where}.source", hint="line, header or count"
        )
    base = table.get("base", 1)
    if base not in (0, 1) or isinstance(base, bool):
        raise PatternError(f"base must be 0 or 1, got {base!r}", where=f"{where}.base")
    pattern = table.get("regex")
    if source != "count":
        if not isinstance(pattern, str) or not pattern:
            raise PatternError(
                f"source {source!r} needs a regex", where=f"{where}.regex", hint=r"e.g. '^\[(\d+)\]'"
            )
        check_regex(pattern, f"{where}.regex")
    settle = table.get("settle", "")
    if settle and settle not in SETTLE_POLICIES:
        raise PatternError(f"invalid settle {settle!r}", where=f"{where}.settle", hint="match or next")
    return EpochSpec(source, pattern if source != "count" else None, base, settle)


def _warnings(definitions: tuple[MetricDefinition, ...]) -> tuple[str, ...]:
    return tuple(w for d in definitions for w in find_traps(d))
