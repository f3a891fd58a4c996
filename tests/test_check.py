"""`metricwatch check`: the cross-references parsing cannot check, with real packs (metricwatch.packs),
rules (metricwatch.rules) and actions (metricwatch.actions); every error names the file and key."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from config_support import EXAMPLE, MINIMAL, write

from metricwatch.check import CheckReport, check_config
from metricwatch.config import config_from_flags, load_config


def check(tmp_path: Path, text: str) -> CheckReport:
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


def test_check_reports_rule_errors_with_the_other_studies_errors(tmp_path: Path) -> None:
    """A bad rule parameter in one study and an unknown pack in another: both reported, in order."""
    report = check(
        tmp_path,
        MINIMAL + "[study.rule]\nmin_population = 0\n"
        "[[study]]\nname = 'b'\nlogs = 'b.log'\npatterns = 'nope'\n",
    )
    path = tmp_path / "sweep.toml"
    assert [e.where for e in report.errors] == [
        f"{path}: study[0].rule.min_population",
        f"{path}: study[1].patterns",
    ]


def test_check_with_real_rules_names_the_rule_key(tmp_path: Path) -> None:
    """metricwatch.rules' own errors land on the config key of the rule name or parameter."""
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
    report = check(tmp_path, MINIMAL + "[study.rule]\nname = 'optuna'\nn_warmup_steps = 2\n")
    assert report.ok, report.errors


def test_check_flags_config_names_flags(tmp_path: Path) -> None:
    cfg = config_from_flags(
        [str(tmp_path / "*.log")],
        patterns="keras3",
        objective="nope",
        action_params=["scope=planet"],
        rule_params=["min_population=0"],
    )
    wheres = sorted(e.where for e in check_config(cfg).errors)
    expected = ["--action-param scope", "--objective", "--rule-param min_population"]
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
