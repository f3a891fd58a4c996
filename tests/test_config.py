"""Config files and flags → frozen config values; every error names the file and the dotted key."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from metricwatch import config as config_mod
from metricwatch.config import (
    DEFAULT_IDLE_TIMEOUT,
    ActionConfig,
    CompletionConfig,
    ConfigErrors,
    RuleConfig,
    check_config,
    config_from_flags,
    load_config,
    parse_duration,
)
from metricwatch.errors import ConfigError
from metricwatch.types import Direction

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "metricwatch.toml"

MINIMAL = """
[[study]]
name = "sweep"
logs = "runs/*.log"
patterns = "keras3"
"""


def write(tmp_path: Path, text: str, name: str = "sweep.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


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


# -- check_config: real packs (metricwatch.packs) and real actions (metricwatch.actions) -----------


def check(tmp_path: Path, text: str) -> config_mod.CheckReport:
    return check_config(load_config(write(tmp_path, text)))


def test_check_accepts_a_good_config_and_warns_about_empty_globs(tmp_path: Path) -> None:
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "a.log").touch()
    report = check(
        tmp_path,
        MINIMAL + "[[study]]\nname = 'b'\nlogs = 'later/*.log'\n"
        "patterns = 'keras3'\n[study.action]\ntype = 'stop-file'\n",
    )
    assert report.ok, report.errors
    assert f"{tmp_path / 'sweep.toml'}: study[1].logs[0]: " in "\n".join(report.warnings)


def test_check_collects_every_cross_reference_error(tmp_path: Path) -> None:
    """Unknown pack, objective not in the pack, no direction, bad action key and a missing
    executable: all reported, each at its key, in one run."""
    defs = tmp_path / "defs.json"
    defs.write_text(json.dumps([{"Name": "val_loss", "Regex": "val_loss: ([0-9.]+)"}]))
    report = check(
        tmp_path,
        """
[[study]]
name = "a"
logs = "a/*.log"
patterns = "no-such-pack"
[[study]]
name = "b"
logs = "b/*.log"
patterns = "keras3"
objective = "val_acc"
[study.action]
type = "signal"
scope = "planet"
[[study]]
name = "c"
logs = "c/*.log"
patterns = "defs.json"
[study.action]
type = "command"
argv = ["metricwatch-no-such-program", "{job_id}"]
""",
    )
    path = tmp_path / "sweep.toml"
    assert sorted(e.where for e in report.errors) == sorted(
        f"{path}: {key}"
        for key in [
            "study[0].patterns",
            "study[1].objective",
            "study[1].action.scope",
            "study[2].objective",
            "study[2].direction",
            "study[2].action.argv",
        ]
    )
    by_key = {e.where.split(": ")[1]: e for e in report.errors}
    assert "unknown pattern pack 'no-such-pack'" in by_key["study[0].patterns"].message
    assert "val_loss" in by_key["study[1].objective"].hint  # says what the pack does define
    assert "metricwatch-no-such-program" in by_key["study[2].action.argv"].message


def test_check_reports_rule_errors_with_the_other_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rule builder's ValueError becomes an error at study[i].rule, beside the other studies'.

    metricwatch.rules is being written in parallel: a stand-in builder with the expected signature
    shows the collection; the real one is exercised by the test below once it exists.
    """

    def build_rule(spec: dict[str, object], *, where: str) -> object:
        if spec.get("min_population", 1) < 1:
            raise ValueError(f"min_population must be ≥ 1, got {spec['min_population']}")
        return object()

    monkeypatch.setattr(config_mod, "_rule_builder", lambda: build_rule)
    report = check(
        tmp_path,
        MINIMAL + "[study.rule]\nmin_population = 0\n"
        "[[study]]\nname = 'b'\nlogs = 'b.log'\npatterns = 'nope'\n",
    )
    path = tmp_path / "sweep.toml"
    assert str(report.errors[0]) == (
        f"{path}: study[0].rule: min_population must be ≥ 1, got 0 (check [rule] in the study)"
    )
    assert [e.where for e in report.errors] == [f"{path}: study[0].rule", f"{path}: study[1].patterns"]


def test_check_with_real_rules_names_the_rule_key(tmp_path: Path) -> None:
    """metricwatch.rules' own errors land on the config key of the rule name or parameter."""
    if config_mod._rule_builder() is None:
        pytest.skip("metricwatch.rules.build_rule is not available yet")
    report = check(
        tmp_path,
        MINIMAL
        + "[study.rule]\nmin_population = 0\n"
        + "[[study]]\nname = 'b'\nlogs = 'b.log'\npatterns = 'keras3'\n"
        + "[study.rule]\nname = 'no-such-rule'\n",
    )
    path = tmp_path / "sweep.toml"
    assert [e.where for e in report.errors] == [
        f"{path}: study[0].rule.min_population",
        f"{path}: study[1].rule.name",
    ]
    assert "≥ 1, got min_population=0" in report.errors[0].message
    assert "sagemaker" in report.errors[1].hint  # lists the valid names


def test_check_with_real_rules_accepts_a_preset_with_parameters(tmp_path: Path) -> None:
    if config_mod._rule_builder() is None:
        pytest.skip("metricwatch.rules.build_rule is not available yet")
    report = check(tmp_path, MINIMAL + "[study.rule]\nname = 'optuna'\nn_warmup_steps = 2\n")
    assert report.ok, report.errors


def test_check_says_what_it_could_not_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(config_mod, "_rule_builder", lambda: None)
    report = check(tmp_path, MINIMAL)
    assert f"{tmp_path / 'sweep.toml'}: study[0].rule: not checked" in "\n".join(report.warnings)


def test_check_flags_config_names_flags(tmp_path: Path) -> None:
    cfg = config_from_flags(
        [str(tmp_path / "*.log")],
        patterns="keras3",
        objective="nope",
        action_params=["scope=planet"],
        rule_params=["min_population=0"],
    )
    wheres = sorted(e.where for e in check_config(cfg).errors)
    expected = ["--action-param scope", "--objective"]
    if config_mod._rule_builder() is not None:
        expected.append("--rule-param min_population")
    assert wheres == sorted(f"command line: {flag}" for flag in expected)


def test_check_warns_when_a_file_is_in_two_studies(tmp_path: Path) -> None:
    (tmp_path / "x.log").touch()
    report = check(
        tmp_path,
        "\n".join(f"[[study]]\nname = '{n}'\nlogs = '*.log'\npatterns = 'keras3'" for n in ("a", "b")),
    )
    assert any("x.log is also in study 'a'" in w for w in report.warnings)


def test_check_reports_a_state_db_under_a_file(tmp_path: Path) -> None:
    (tmp_path / "afile").touch()
    report = check(tmp_path, "[daemon]\nstate_db = 'afile/state.db'\n" + MINIMAL)
    assert [e.where for e in report.errors] == [f"{tmp_path / 'sweep.toml'}: daemon.state_db"]
    assert "not a directory" in report.errors[0].message


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_check_reports_an_unwritable_state_db(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    report = check(tmp_path, f"[daemon]\nstate_db = '{locked}/sub/state.db'\n" + MINIMAL)
    assert [e.where for e in report.errors] == [f"{tmp_path / 'sweep.toml'}: daemon.state_db"]


def test_shipped_example_passes_check() -> None:
    """The commented example stays valid as packs, rules and actions evolve (globs may be empty)."""
    report = check_config(load_config(EXAMPLE))
    assert report.ok, [str(e) for e in report.errors]
