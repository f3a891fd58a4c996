"""Config files and flags → frozen config values; every error names the file and the dotted key."""

from __future__ import annotations

from pathlib import Path

import pytest
from config_support import EXAMPLE, MINIMAL, write

from metricwatch.config import (
    DEFAULT_IDLE_TIMEOUT,
    ActionConfig,
    CompletionConfig,
    ConfigErrors,
    RuleConfig,
    config_from_flags,
    load_config,
    parse_duration,
)
from metricwatch.errors import ConfigError
from metricwatch.types import Direction


def problems(exc: ConfigError) -> list[str]:
    """The `where` of each problem an error carries, one or many."""
    return [e.where for e in exc.errors] if isinstance(exc, ConfigErrors) else [exc.where]


def test_example_config_loads_with_durations_paths_and_enums() -> None:
    """The shipped example parses into the values its comments describe."""
    cfg = load_config(EXAMPLE)
    first, second = cfg.studies
    assert first.name == "resnet-sweep"
    assert first.logs == (str(EXAMPLE.parent / "runs/*/train.log"),)
    assert (first.patterns, first.objective, first.direction) == ("keras3", "val_loss", Direction.MINIMIZE)
    assert first.rule == RuleConfig("median", {"min_population": 3})
    assert first.action == ActionConfig("signal", {"signal": "SIGTERM", "grace": 120.0, "scope": "group"})
    assert first.completion == CompletionConfig(3600.0, "^Training finished")
    assert second.dry_run is True and second.index == 1
    assert second.action.params == {"argv": ["scancel", "--signal=TERM", "{job_id}"], "timeout": 60.0}
    assert cfg.daemon.state_db == Path("~/.local/state/metricwatch/state.db").expanduser()
    assert (cfg.daemon.poll_interval, cfg.daemon.rescan_interval) == (1.0, 30.0)


def test_minimal_study_gets_documented_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    cfg = load_config(write(tmp_path, MINIMAL))
    [study] = cfg.studies
    assert study.logs == (str(tmp_path / "runs/*.log"),)
    assert (study.objective, study.direction, study.job_id, study.dry_run) == (None, None, None, False)
    assert study.rule == RuleConfig("median", {})
    assert study.action == ActionConfig("signal", {})
    assert study.completion == CompletionConfig(DEFAULT_IDLE_TIMEOUT, None)
    assert cfg.daemon.state_db == tmp_path / "xdg" / "metricwatch" / "state.db"
    assert cfg.study("sweep") is study


def test_one_bad_key_is_one_error_naming_file_and_dotted_key(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "[study.completion]\nidle_timeout = 0\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert not isinstance(err.value, ConfigErrors)
    assert str(err.value).startswith(
        f"{path}: study[0].completion.idle_timeout: must be a positive duration, got 0"
    )
    assert "30m" in err.value.hint


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    """A file with many mistakes lists all of them, each at its own key, in one error."""
    path = write(
        tmp_path,
        """
colour = "blue"
[daemon]
log_format = "xml"
poll_interval = "soon"
[[study]]
name = "ok"
logs = ["a/*.log"]
patterns = "keras3"
[[study]]
name = "has space"
logs = []
direction = "down"
dry_run = "yes"
job_id = 'runs/([^/]+)/'
typo = 1
[study.action]
type = "email"
grace = "two minutes"
[study.completion]
end_pattern = '(unclosed'
idle = "1h"
[[study]]
name = "ok"
logs = "b.log"
patterns = "keras3"
""",
    )
    with pytest.raises(ConfigErrors) as err:
        load_config(path)
    wheres = problems(err.value)
    expected = [
        "colour",
        "daemon.poll_interval",
        "daemon.log_format",
        "study[1].typo",
        "study[1].name",
        "study[1].patterns",
        "study[1].logs",
        "study[1].direction",
        "study[1].job_id",
        "study[1].dry_run",
        "study[1].action.type",
        "study[1].action.grace",
        "study[1].completion.idle",
        "study[1].completion.end_pattern",
        "study[2].name",
    ]
    assert sorted(wheres) == sorted(f"{path}: {key}" for key in expected)
    assert str(err.value).startswith(f"{path}: {len(expected)} problems:\n")


@pytest.mark.parametrize(
    ("text", "where", "fragment"),
    [
        (
            "[[study]]\nname = 'a'\nlogs = 'x'\npatterns = 'p'\n[study.rule]\nname = 3\n",
            "study[0].rule.name",
            "non-empty string",
        ),
        ("[[study]]\nname = 'a'\nlogs = ['x', 3]\npatterns = 'p'\n", "study[0].logs[1]", "string"),
        ("[[study]]\nname = 'a'\nlogs = 'x'\n", "study[0].patterns", "is required"),
        ("[daemon]\n", "study", "no study"),
        ("study = 3\n", "study", "array of tables"),
        ("daemon = 3\n[[study]]\nname = 'a'\nlogs = 'x'\npatterns = 'p'\n", "daemon", "table"),
    ],
)
def test_shape_errors_name_the_key(tmp_path: Path, text: str, where: str, fragment: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert err.value.where == f"{path}: {where}"
    assert fragment in err.value.message


def test_job_id_needs_a_named_job_group(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "job_id = 'runs/([^/]+)/'\n")
    with pytest.raises(ConfigError, match=r"named group \(\?P<job>") as err:
        load_config(path)
    assert err.value.where == f"{path}: study[0].job_id"


def test_invalid_toml_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "[[study]]\nname = = 'a'\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert err.value.where == str(path)
    assert "not valid TOML" in err.value.message and "line 2" in err.value.message


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path / "nope.toml")
    assert err.value.where == str(tmp_path / "nope.toml")
    assert "No such file" in err.value.message


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (90, 90.0),
        (1.5, 1.5),
        ("90", 90.0),
        ("90s", 90.0),
        ("30m", 1800.0),
        ("2h", 7200.0),
        ("1h30m", 5400.0),
        ("1d", 86400.0),
        ("250ms", 0.25),
        ("1.5h", 5400.0),
        (" 2m 30s ", 150.0),
    ],
)
def test_durations(value: object, seconds: float) -> None:
    assert parse_duration(value, where="k") == seconds


@pytest.mark.parametrize("value", ["3 weeks", "", "-5", "-5s", "nan", "inf", True, "1h30x", "h", [1], None])
def test_bad_durations_are_rejected_with_the_key_and_examples(value: object) -> None:
    with pytest.raises(ConfigError) as err:
        parse_duration(value, where="f.toml: study[0].completion.idle_timeout")
    assert err.value.where == "f.toml: study[0].completion.idle_timeout"
    assert '"30m"' in err.value.hint


def test_idle_timeout_false_disables_it(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, MINIMAL + "[study.completion]\nidle_timeout = false\n"))
    assert cfg.studies[0].completion.idle_timeout is None


def test_pattern_file_is_relative_to_the_config_file(tmp_path: Path) -> None:
    text = MINIMAL.replace('"keras3"', '"defs/metrics.json"')
    cfg = load_config(write(tmp_path, text))
    assert cfg.studies[0].patterns == str(tmp_path / "defs/metrics.json")


def test_flags_build_the_same_config_as_the_file(tmp_path: Path) -> None:
    """`watch GLOB --patterns ... --rule-param ...` equals the equivalent [[study]] table."""
    glob = str(tmp_path / "runs/*/train.log")
    path = write(
        tmp_path,
        f"""
[[study]]
name = "default"
logs = ["{glob}"]
patterns = "keras3"
objective = "val_loss"
direction = "maximize"
job_id = 'runs/(?P<job>[^/]+)/'
dry_run = true
[study.rule]
name = "optuna"
n_warmup_steps = 2
percentile = 25.0
strict = true
[study.action]
type = "command"
argv = ["scancel", "{{job_id}}"]
timeout = "90s"
[study.completion]
idle_timeout = "30m"
""",
    )
    from_flags = config_from_flags(
        [glob],
        patterns="keras3",
        objective="val_loss",
        direction="maximize",
        rule="optuna",
        rule_params=["n_warmup_steps=2", "percentile=25.0", "strict=true"],
        action="command",
        action_params=['argv=["scancel", "{job_id}"]', "timeout=90s"],
        dry_run=True,
        job_id="runs/(?P<job>[^/]+)/",
        idle_timeout="30m",
    )
    assert from_flags.studies == load_config(path).studies
    assert from_flags.from_flags and from_flags.source == "command line"


def test_flag_values_that_are_not_toml_stay_strings() -> None:
    cfg = config_from_flags(["x.log"], patterns="keras3", action_params=["signal=SIGINT"])
    assert cfg.studies[0].action.params == {"signal": "SIGINT"}
    assert cfg.studies[0].logs == (str(Path.cwd() / "x.log"),)


def test_flag_errors_name_the_flags() -> None:
    with pytest.raises(ConfigErrors) as err:
        config_from_flags(
            [],
            patterns="keras3",
            direction="up",
            action="email",
            rule_params=["min_population"],
            idle_timeout="soon",
        )
    assert sorted(problems(err.value)) == sorted(
        f"command line: {flag}"
        for flag in ["LOG", "--minimize/--maximize", "--action", "--rule-param", "--idle-timeout"]
    )


def test_unknown_study_name_lists_the_studies() -> None:
    cfg = load_config(EXAMPLE)
    with pytest.raises(ConfigError, match="no study named 'x'") as err:
        cfg.study("x")
    assert "resnet-sweep, bert-slurm" in err.value.hint
