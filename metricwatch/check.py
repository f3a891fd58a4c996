"""`metricwatch check`: what parsing a config cannot check, every problem collected.

Parsing (`metricwatch.config`) checks keys, types and shapes. This module checks the cross-references
that need other modules: the pattern pack loads and defines the objective, the rule accepts its
parameters, the action can be built (its executable exists), the globs match, the state directory is
writable, no log is in two studies. Every study is checked completely; one problem never hides another.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from metricwatch.actions import build_action
from metricwatch.config import Config, StudyConfig
from metricwatch.errors import ConfigError, MetricwatchError
from metricwatch.packs import load_pack
from metricwatch.rules import build_rule
from metricwatch.types import Direction

_Where = Callable[[str], str]  # config key → "file: study[i].key"


@dataclass(frozen=True, slots=True)
class CheckReport:
    """What `metricwatch check` prints: every error (the daemon would refuse to start) and warning."""

    errors: tuple[ConfigError, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.errors


def check_config(config: Config) -> CheckReport:
    """Check what parsing cannot: the pack loads and defines the objective, the rule accepts its
    parameters, the action can be built (its executable exists), the globs and the state directory.

    Every study is checked completely; one problem never hides another.
    """
    errors: list[ConfigError] = []
    warnings: list[str] = []
    claimed: dict[str, str] = {}
    for study in config.studies:
        _check_study(config, study, errors, warnings)
        _check_overlap(config, study, claimed, warnings)
    _check_state_db(config, errors)
    return CheckReport(tuple(errors), tuple(warnings))


def _check_study(config: Config, study: StudyConfig, errors: list[ConfigError], warnings: list[str]) -> None:
    def where(key: str) -> str:
        return config.where(key, study.index)

    for n, pattern in enumerate(study.logs):
        if not _glob(pattern):
            warnings.append(f"{where(f'logs[{n}]')}: {pattern!r} matches no file yet")
    direction = _check_patterns(study, where, errors, warnings)
    for kind, builder in (("rule", _build_rule), ("action", _build_action)):
        # Without a direction (already reported, or the pack failed) the rule's parameters are still
        # checked: their valid ranges do not depend on it, and one error must not hide another.
        problem = _build(kind, builder, study, config, direction=direction or Direction.MINIMIZE)
        if problem is not None:
            errors.append(problem)


def _check_patterns(
    study: StudyConfig, where: _Where, errors: list[ConfigError], warnings: list[str]
) -> Direction | None:
    """Load the pack; the objective (given or suggested) must be one of its metrics."""
    try:
        pack = load_pack(study.patterns)
    except Exception as exc:  # any failure to load is the user's pattern problem to see here
        errors.append(_wrap(exc, where("patterns"), "check the pack name or file"))
        return study.direction
    warnings.extend(f"{where('patterns')}: {w}" for w in pack.warnings)
    names = [d.name for d in pack.definitions]
    objective = study.objective or pack.objective
    if objective is None:
        errors.append(
            ConfigError(
                f"not set, and pack {pack.name!r} suggests none",
                where=where("objective"),
                hint=f"one of: {', '.join(names)}",
            )
        )
    elif objective not in names:
        errors.append(
            ConfigError(
                f"pack {pack.name!r} has no metric {objective!r}",
                where=where("objective"),
                hint=f"one of: {', '.join(names)}",
            )
        )
    direction = study.direction or pack.direction
    if direction is None:
        errors.append(
            ConfigError(
                f"not set, and pack {pack.name!r} suggests none",
                where=where("direction"),
                hint='"minimize" or "maximize"',
            )
        )
    return direction


def _build_rule(spec: Mapping[str, object], *, where: str, dry_run: bool, direction: Direction) -> None:
    """`rules.build_rule(name, direction=..., **params)`, its errors moved to config keys."""
    params = dict(spec)
    name = params.pop("name")
    try:
        build_rule(name, direction=direction, **params)
    except MetricwatchError as exc:
        raise ConfigError(exc.message, where=_rule_key(where, exc.where), hint=exc.hint) from exc


def _rule_key(where: str, inner: str) -> str:
    """rules name a parameter as `rule median: min_population` and the name as `rule spec`."""
    param = re.fullmatch(r"rule [^:]*: (\w+)", inner)
    if param:
        return f"{where}.{param.group(1)}"
    return f"{where}.name" if inner == "rule spec" else where


def _build_action(spec: Mapping[str, object], *, where: str, dry_run: bool, direction: Direction) -> None:
    build_action(spec, where=where, dry_run=dry_run)


def _build(
    kind: str, builder: Callable[..., None], study: StudyConfig, config: Config, direction: Direction
) -> ConfigError | None:
    """Build the study's rule or action once, as the daemon will; the reason it cannot be, if any.

    The builder extends the `where` it is given with its own key (`....action.scope`). From flags it
    gets the bare dotted key, which is then translated to the flag (`--action-param scope`).
    """
    key = f"study[{study.index}].{kind}"
    given = key if config.from_flags else config.where(key)
    spec = study.rule.spec() if kind == "rule" else study.action.spec()
    try:
        builder(spec, where=given, dry_run=study.dry_run, direction=direction)
    except Exception as exc:  # a builder reports bad parameters in its own way; show them all
        error = _wrap(exc, given, f"check [{kind}] in the study")
        if config.from_flags:
            error = ConfigError(error.message, where=config.where(error.where), hint=error.hint)
        return error
    return None


def _wrap(exc: Exception, where: str, hint: str) -> ConfigError:
    """A ConfigError at the config key `where`, keeping the inner error's more precise location.

    Builders given `where` extend it (`study[0].action.scope`): that location is kept. A pack error
    names the pack file and entry: kept in the message. A flag name (`--patterns`) is dropped: in a
    file the key says it better.
    """
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    inner = str(getattr(exc, "where", "") or "")
    hint = getattr(exc, "hint", "") or hint
    if inner.startswith(where):
        return ConfigError(message, where=inner, hint=hint)
    if inner and not inner.startswith("--"):
        message = f"{inner}: {message}"
    return ConfigError(message, where=where, hint=hint)


def _check_overlap(config: Config, study: StudyConfig, claimed: dict[str, str], warnings: list[str]) -> None:
    """A file under two studies would be judged (and maybe stopped) by both."""
    for pattern in study.logs:
        for path in _glob(pattern):
            other = claimed.setdefault(path, study.name)
            if other != study.name:
                warnings.append(f"{config.where('logs', study.index)}: {path} is also in study {other!r}")


def _check_state_db(config: Config, errors: list[ConfigError]) -> None:
    db = config.daemon.state_db
    folder = db.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent  # the daemon creates missing folders: the first existing one decides
    problem = ""
    if not folder.is_dir():
        problem = f"{folder} is not a directory"
    elif not os.access(folder, os.W_OK | os.X_OK):
        problem = f"{folder} is not writable"
    if problem:
        errors.append(
            ConfigError(
                f"cannot create or write {db}: {problem}",
                where=config.where("daemon.state_db"),
                hint="choose a writable path for state_db",
            )
        )


def _glob(pattern: str) -> list[str]:
    return sorted(glob.glob(pattern, recursive=True))
