"""Configuration: a TOML file of studies (or the same from CLI flags) → frozen config values.

The values here describe what the user asked for; they are not the runtime objects (rules, actions,
followers), which the daemon builds from them (style.md §7 item 12). Parsing rejects unknown keys and
checks types and shapes; every problem names the file and the dotted key, e.g.
`sweep.toml: study[0].completion.idle_timeout: ...`, and all problems are reported together.
Cross-references that need other modules (the pattern pack defines the objective, rule parameters,
the action's executable) are checked by `metricwatch.check.check_config`, also collecting every problem.

Paths in a file (log globs, a pattern file, the state database) are relative to the file's directory,
so a config kept beside a sweep works from anywhere; from flags they are relative to the current
directory. An example with every key: examples/metricwatch.toml.
"""

from __future__ import annotations

import math
import os
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import regex

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 needs the backport
    import tomli as tomllib

from metricwatch.errors import ConfigError
from metricwatch.types import Direction

ACTION_TYPES = ("stop-file", "signal", "command", "slurm")
LOG_FORMATS = ("console", "json")
DEFAULT_IDLE_TIMEOUT = 3600.0  # a job silent for an hour is complete (long validations stay running)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_PATH_SUFFIXES = (".toml", ".json", ".yaml", ".yml")
_TOP_KEYS = {"daemon", "study"}
_DAEMON_KEYS = {"state_db", "poll_interval", "rescan_interval", "log_format", "polling"}
_STUDY_KEYS = {
    "name",
    "logs",
    "patterns",
    "objective",
    "direction",
    "job_id",
    "dry_run",
    "rule",
    "action",
    "completion",
}
_COMPLETION_KEYS = {"idle_timeout", "end_pattern"}


def default_state_db() -> Path:
    """$XDG_STATE_HOME/metricwatch/state.db, i.e. ~/.local/state/metricwatch/state.db by default."""
    base = os.environ.get("XDG_STATE_HOME") or "~/.local/state"
    return Path(base).expanduser() / "metricwatch" / "state.db"


@dataclass(frozen=True, slots=True)
class RuleConfig:
    """A rule or preset by name; every other key of [study.rule] is a parameter, checked by the rule."""

    name: str = "median"
    params: dict[str, object] = field(default_factory=dict)

    def spec(self) -> dict[str, object]:
        """The mapping form `build_rule` takes: {"name": ..., **params}."""
        return {"name": self.name, **self.params}


@dataclass(frozen=True, slots=True)
class ActionConfig:
    """How losers are stopped; every other key of [study.action] is a parameter, checked by the action.

    Parameters named `grace`, `timeout` or ending in `_seconds`/`_timeout` are durations and arrive here
    as seconds (float), whether written as 120 or "2m".
    """

    type: str = "signal"
    params: dict[str, object] = field(default_factory=dict)

    def spec(self) -> dict[str, object]:
        """The mapping form `actions.build_action` takes: {"type": ..., **params}."""
        return {"type": self.type, **self.params}


@dataclass(frozen=True, slots=True)
class CompletionConfig:
    """When a job counts as complete besides its process exiting."""

    idle_timeout: float | None = DEFAULT_IDLE_TIMEOUT  # seconds without new output; None: never
    end_pattern: str | None = None  # a regex; a matching record completes the job


@dataclass(frozen=True, slots=True)
class StudyConfig:
    """One study. `objective`/`direction` None means: use the pattern pack's suggestion."""

    name: str
    logs: tuple[str, ...]
    patterns: str  # a pack name, or an absolute path to a pack / definitions file
    objective: str | None = None
    direction: Direction | None = None
    job_id: str | None = None  # a regex with a named group `job`, searched in the log path
    dry_run: bool = False
    rule: RuleConfig = field(default_factory=RuleConfig)
    action: ActionConfig = field(default_factory=ActionConfig)
    completion: CompletionConfig = field(default_factory=CompletionConfig)
    index: int = 0  # position in the file, for messages


@dataclass(frozen=True, slots=True)
class DaemonConfig:
    state_db: Path = field(default_factory=default_state_db)
    poll_interval: float = 1.0  # the safety poll (research: log-tailing-anchors.md §11.1)
    rescan_interval: float = 30.0  # full re-glob for files events missed
    log_format: str = "console"
    polling: bool = False  # force polling instead of inotify (network file systems)


@dataclass(frozen=True, slots=True)
class Config:
    """Everything `metricwatch watch` needs. `source` is the file as the user named it, or
    "command line" for a config built from flags (then messages name flags instead of keys)."""

    source: str
    studies: tuple[StudyConfig, ...]
    daemon: DaemonConfig = field(default_factory=DaemonConfig)
    from_flags: bool = False

    def study(self, name: str) -> StudyConfig:
        for study in self.studies:
            if study.name == name:
                return study
        names = ", ".join(s.name for s in self.studies)
        raise ConfigError(f"no study named {name!r}", where=self.source, hint=f"studies: {names}")

    def where(self, key: str, study: int | None = None) -> str:
        """`file: study[i].key`, or `command line: --flag` for a config built from flags."""
        return _where(self.source, self.from_flags, key if study is None else f"study[{study}].{key}")


class ConfigErrors(ConfigError):
    """Several problems at once; `errors` holds each, already naming its file and key."""

    def __init__(self, source: str, errors: Iterable[ConfigError]) -> None:
        self.errors = tuple(errors)
        lines = "\n".join(f"  {e}" for e in self.errors)
        super().__init__(f"{len(self.errors)} problems:\n{lines}", where=source)


# ---------------------------------------------------------------------------------------- durations

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|h|d)\s*")
_DURATION = re.compile(rf"(?:{_DURATION_PART.pattern})+")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: object, *, where: str, positive: bool = False) -> float:
    """Seconds from a number of seconds or a string such as "90s", "30m", "2h", "1h30m", "250ms".

    Raises:
        ConfigError: naming `where`, for anything else (negative, bool, NaN, unknown unit).
    """
    seconds = _duration_seconds(value)
    if seconds is None or not math.isfinite(seconds) or seconds < 0 or (positive and seconds == 0):
        need = "a positive" if positive else "a"
        raise ConfigError(
            f"must be {need} duration, got {value!r}",
            where=where,
            hint='write a number of seconds or a string like "90s", "30m", "2h", "1h30m"',
        )
    return seconds


def _duration_seconds(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    try:
        return float(text)
    except ValueError:
        pass
    if not _DURATION.fullmatch(text):
        return None
    return sum(float(n) * _UNIT_SECONDS[unit] for n, unit in _DURATION_PART.findall(text))


def _is_duration_key(key: str) -> bool:
    return key in ("grace", "timeout") or key.endswith(("_seconds", "_timeout"))


# ------------------------------------------------------------------------------------------ loading


def load_config(path: str | Path, *, collect: list[ConfigError] | None = None) -> Config:
    """Read and parse a TOML config file.

    With `collect`, invalid keys are appended to it instead of raised, and the config is built from
    what is valid (defaults elsewhere): `metricwatch check` then also runs the pack, rule and action
    checks, so one invalid key never hides the file's other problems.

    Raises:
        ConfigError: the file cannot be read or is not TOML; ConfigErrors: one or more keys are invalid.
    """
    source = str(path)
    try:
        text = Path(path).expanduser().read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(
            f"cannot read the config: {reason}", where=source, hint="check the path given to metricwatch"
        ) from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"not valid TOML: {exc}",
            where=source,
            hint="regexes are easiest in single-quoted 'literal strings'",
        ) from exc
    base = Path(path).expanduser().resolve().parent
    return _Parser(source, base, from_flags=False).config(data, collect)


def config_from_flags(
    logs: Iterable[str],
    *,
    patterns: str,
    objective: str | None = None,
    direction: str | None = None,
    rule: str = "median",
    rule_params: Iterable[str] = (),
    action: str = "signal",
    action_params: Iterable[str] = (),
    dry_run: bool = False,
    job_id: str | None = None,
    idle_timeout: str | None = None,
    end_pattern: str | None = None,
    study: str = "default",
    daemon: Mapping[str, object] | None = None,
    collect: list[ConfigError] | None = None,
) -> Config:
    """The same Config for one study from `metricwatch watch GLOB... --patterns ... --objective ...`.

    `rule_params`/`action_params` are `KEY=VALUE` strings; VALUE is read as a TOML value when it is one
    (`3`, `0.5`, `true`, `["scancel", "{job_id}"]`) and as a plain string otherwise. `daemon` holds the
    [daemon] keys given as flags (state_db, poll_interval, log_format, polling).
    """
    parser = _Parser("command line", Path.cwd(), from_flags=True)
    table: dict[str, Any] = {"name": study, "logs": list(logs), "patterns": patterns, "dry_run": dry_run}
    optional = {"objective": objective, "direction": direction, "job_id": job_id}
    table.update({k: v for k, v in optional.items() if v is not None})
    table["rule"] = {"name": rule, **parser.key_values(rule_params, "rule")}
    table["action"] = {"type": action, **parser.key_values(action_params, "action")}
    completion = {"idle_timeout": idle_timeout, "end_pattern": end_pattern}
    table["completion"] = {k: v for k, v in completion.items() if v is not None}
    data: dict[str, Any] = {"study": [table]}
    if daemon:
        data["daemon"] = {k: v for k, v in daemon.items() if v is not None}
    return parser.config(data, collect)


# Flags that correspond to config keys, for messages about a config built from flags.
_FLAGS = {
    "name": "--study",
    "logs": "LOG",
    "patterns": "--patterns",
    "objective": "--objective",
    "direction": "--minimize/--maximize",
    "job_id": "--job-id",
    "dry_run": "--dry-run",
    "rule.name": "--rule",
    "action.type": "--action",
    "completion.idle_timeout": "--idle-timeout",
    "completion.end_pattern": "--end-pattern",
    "daemon.state_db": "--state-db",
    "daemon.poll_interval": "--poll-interval",
    "daemon.log_format": "--log-format",
    "daemon.polling": "--polling",
    "rule": "--rule",
    "action": "--action",
    "completion": "--idle-timeout/--end-pattern",
}


def _where(source: str, from_flags: bool, key: str) -> str:
    if not from_flags or not key:
        return f"{source}: {key}" if key else source
    short = re.sub(r"^study\[\d+\]\.", "", key)
    short = re.sub(r"\[\d+\]$", "", short)
    if short in _FLAGS:
        return f"{source}: {_FLAGS[short]}"
    head, _, param = short.partition(".")
    if head in ("rule", "action") and param:
        return f"{source}: --{head}-param {param}"
    return f"{source}: {short}"


class _Parser:
    """Turns the TOML data into Config, collecting every problem instead of stopping at the first."""

    def __init__(self, source: str, base: Path, *, from_flags: bool) -> None:
        self.source = source
        self.base = base
        self.from_flags = from_flags
        self.errors: list[ConfigError] = []

    def error(self, key: str, message: str, hint: str = "") -> None:
        self.errors.append(ConfigError(message, where=_where(self.source, self.from_flags, key), hint=hint))

    def config(self, data: dict[str, Any], collect: list[ConfigError] | None = None) -> Config:
        self.unknown_keys(data, _TOP_KEYS, "")
        daemon = self.daemon(self.table(data, "daemon", "daemon"))
        studies = self.studies(data.get("study"))
        if self.errors and collect is not None:
            collect.extend(self.errors)
        elif self.errors:
            raise self.errors[0] if len(self.errors) == 1 else ConfigErrors(self.source, self.errors)
        return Config(self.source, studies, daemon, self.from_flags)

    # -- generic checks ----------------------------------------------------------------------------

    def unknown_keys(self, table: Mapping[str, Any], known: set[str], key: str) -> None:
        for name in sorted(set(table) - known):
            where = f"{key}.{name}" if key else name
            self.error(where, "unknown key", hint=f"valid keys here: {', '.join(sorted(known))}")

    def table(self, data: Mapping[str, Any], name: str, key: str) -> dict[str, Any]:
        value = data.get(name, {})
        if not isinstance(value, dict):
            self.error(key, f"must be a table, got {value!r}", hint=f"write [{key}] with its keys")
            return {}
        return value

    def string(self, table: Mapping[str, Any], name: str, key: str, *, required: bool = False) -> str | None:
        value = table.get(name)
        if value is None:
            if required:
                self.error(key, "is required", hint=f'add {name} = "..."')
            return None
        if not isinstance(value, str) or not value.strip():
            self.error(key, f"must be a non-empty string, got {value!r}")
            return None
        return value

    def boolean(self, table: Mapping[str, Any], name: str, key: str, default: bool) -> bool:
        value = table.get(name, default)
        if not isinstance(value, bool):
            self.error(key, f"must be true or false, got {value!r}")
            return default
        return value

    def duration(
        self, table: Mapping[str, Any], name: str, key: str, default: float | None, *, positive: bool = False
    ) -> float | None:
        if name not in table:
            return default
        try:
            return parse_duration(
                table[name], where=_where(self.source, self.from_flags, key), positive=positive
            )
        except ConfigError as exc:
            self.errors.append(exc)
            return default

    def path(self, text: str) -> Path:
        path = Path(text).expanduser()
        return path if path.is_absolute() else self.base / path

    def key_values(self, items: Iterable[str], head: str) -> dict[str, object]:
        out: dict[str, object] = {}
        for item in items:
            name, sep, text = item.partition("=")
            if not sep or not name.strip():
                self.errors.append(
                    ConfigError(
                        f"expected KEY=VALUE, got {item!r}",
                        where=f"{self.source}: --{head}-param",
                        hint="e.g. --rule-param min_population=5",
                    )
                )
                continue
            out[name.strip()] = _toml_value(text.strip())
        return out

    # -- sections ----------------------------------------------------------------------------------

    def daemon(self, table: dict[str, Any]) -> DaemonConfig:
        self.unknown_keys(table, _DAEMON_KEYS, "daemon")
        state_db = self.string(table, "state_db", "daemon.state_db")
        log_format = table.get("log_format", "console")
        if log_format not in LOG_FORMATS:
            self.error("daemon.log_format", f"must be one of {', '.join(LOG_FORMATS)}, got {log_format!r}")
            log_format = "console"
        defaults = DaemonConfig()
        return DaemonConfig(
            state_db=self.path(state_db) if state_db else defaults.state_db,
            poll_interval=self.duration(
                table, "poll_interval", "daemon.poll_interval", defaults.poll_interval, positive=True
            )
            or 1.0,
            rescan_interval=self.duration(
                table, "rescan_interval", "daemon.rescan_interval", defaults.rescan_interval, positive=True
            )
            or 30.0,
            log_format=log_format,
            polling=self.boolean(table, "polling", "daemon.polling", False),
        )

    def studies(self, value: object) -> tuple[StudyConfig, ...]:
        if value is None:
            self.error("study", "no study is configured", hint="add a [[study]] table")
            return ()
        if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
            self.error("study", "must be an array of tables", hint="write each study as [[study]]")
            return ()
        studies = [self.study(table, i) for i, table in enumerate(value)]
        seen: set[str] = set()
        for s in studies:
            if s.name in seen:
                self.error(
                    f"study[{s.index}].name",
                    f"duplicate study name {s.name!r}",
                    hint="give each study its own name",
                )
            seen.add(s.name)
        return tuple(studies)

    def study(self, table: dict[str, Any], i: int) -> StudyConfig:
        key = f"study[{i}]"
        self.unknown_keys(table, _STUDY_KEYS, key)
        name = self.string(table, "name", f"{key}.name", required=not self.from_flags) or f"study{i}"
        if not _NAME.fullmatch(name):
            self.error(
                f"{key}.name",
                f"{name!r} is not a valid study name",
                hint="use up to 64 letters, digits, '.', '_' or '-'",
            )
        patterns = self.string(table, "patterns", f"{key}.patterns", required=True) or ""
        return StudyConfig(
            name=name,
            logs=self.logs(table.get("logs"), f"{key}.logs"),
            patterns=self.patterns(patterns),
            objective=self.string(table, "objective", f"{key}.objective"),
            direction=self.direction(table.get("direction"), f"{key}.direction"),
            job_id=self.job_id(table.get("job_id"), f"{key}.job_id"),
            dry_run=self.boolean(table, "dry_run", f"{key}.dry_run", False),
            rule=self.rule(self.table(table, "rule", f"{key}.rule"), f"{key}.rule"),
            action=self.action(self.table(table, "action", f"{key}.action"), f"{key}.action"),
            completion=self.completion(
                self.table(table, "completion", f"{key}.completion"), f"{key}.completion"
            ),
            index=i,
        )

    def logs(self, value: object, key: str) -> tuple[str, ...]:
        globs = [value] if isinstance(value, str) else value
        if not isinstance(globs, list) or not globs:
            self.error(
                key,
                f"must be a glob or a list of globs, got {value!r}",
                hint='e.g. logs = ["runs/*/train.log"]',
            )
            return ()
        out = []
        for n, pattern in enumerate(globs):
            if not isinstance(pattern, str) or not pattern.strip():
                self.error(f"{key}[{n}]", f"must be a non-empty string, got {pattern!r}")
                continue
            out.append(str(self.path(pattern)))
        return tuple(out)

    def patterns(self, text: str) -> str:
        # A path (has a "/" or a definitions-file suffix) is made absolute; a bare name is a pack name.
        if "/" in text or text.lower().endswith(_PATH_SUFFIXES):
            return str(self.path(text))
        return text

    def direction(self, value: object, key: str) -> Direction | None:
        if value is None:
            return None
        try:
            return Direction(value)
        except ValueError:
            self.error(key, f'must be "minimize" or "maximize", got {value!r}')
            return None

    def job_id(self, value: object, key: str) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str) or not value:
            self.error(key, f"must be a regex string, got {value!r}")
            return None
        compiled = self.regex(value, key)
        if compiled is not None and "job" not in compiled.groupindex:
            self.error(key, "has no named group (?P<job>...)", hint="e.g. job_id = 'runs/(?P<job>[^/]+)/'")
        return value

    def regex(self, text: str, key: str) -> regex.Pattern[str] | None:
        try:
            return regex.compile(text)
        except regex.error as exc:
            self.error(
                key,
                f"invalid regex {text!r}: {exc}",
                hint="write regexes in single-quoted TOML literal strings",
            )
            return None

    def rule(self, table: dict[str, Any], key: str) -> RuleConfig:
        name = self.string(table, "name", f"{key}.name") or "median"
        params = {k: v for k, v in table.items() if k != "name"}
        return RuleConfig(name, params)

    def action(self, table: dict[str, Any], key: str) -> ActionConfig:
        kind = table.get("type", "signal")
        if kind not in ACTION_TYPES:
            self.error(f"{key}.type", f"unknown action {kind!r}", hint=f"one of: {', '.join(ACTION_TYPES)}")
            kind = "signal"
        params: dict[str, object] = {}
        for name, value in table.items():
            if name == "type":
                continue
            if _is_duration_key(name):
                value = self.duration(table, name, f"{key}.{name}", None)
            params[name] = value
        return ActionConfig(kind, params)

    def completion(self, table: dict[str, Any], key: str) -> CompletionConfig:
        self.unknown_keys(table, _COMPLETION_KEYS, key)
        idle: float | None = DEFAULT_IDLE_TIMEOUT
        if table.get("idle_timeout") is False:  # explicitly never complete by idleness
            idle = None
        else:
            idle = self.duration(
                table, "idle_timeout", f"{key}.idle_timeout", DEFAULT_IDLE_TIMEOUT, positive=True
            )
        end = self.string(table, "end_pattern", f"{key}.end_pattern")
        if end is not None:
            self.regex(end, f"{key}.end_pattern")
        return CompletionConfig(idle, end)


def _toml_value(text: str) -> object:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text
