"""StopFileAction on real files: atomic JSON reason, never through a symlink."""

from __future__ import annotations

import json
import math
import os
from dataclasses import replace
from pathlib import Path

import pytest
from actions_support import DECISION
from structlog.testing import capture_logs

from metricwatch.actions import StopFileAction, build_action
from metricwatch.errors import ActionError
from metricwatch.jobs import JobTarget


def _job(tmp_path: Path, job: str = "trial1", log: str = "runs/trial1/train.log") -> JobTarget:
    path = tmp_path / log
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("epoch 1\n")
    return JobTarget(job=job, log_path=path, study="s")


def _strict_json(path: Path) -> dict:
    def no_constants(name: str) -> object:
        raise AssertionError(f"non-standard JSON constant {name}")

    return json.loads(path.read_text(), parse_constant=no_constants)


def test_writes_job_stop_in_the_log_directory_with_the_reason(tmp_path: Path) -> None:
    job = _job(tmp_path)
    out = StopFileAction(clock=lambda: 1700000000.0).stop(job, DECISION)
    path = job.log_dir / "trial1.stop"
    assert out.ok and str(path) in out.detail
    reason = _strict_json(path)
    assert reason["rule"] == "median" and reason["epoch"] == 4
    assert (reason["value"], reason["threshold"], reason["population_size"]) == (0.92, 0.61, 3)
    assert reason["params"] == {"min_peers": 3, "warmup": 2}
    assert reason["time"] == 1700000000.0 and reason["reason"] == "worse_than_median"
    assert sorted(os.listdir(job.log_dir)) == ["train.log", "trial1.stop"]  # no temp file left over


def test_job_ids_with_slashes_stay_one_file_name(tmp_path: Path) -> None:
    job = _job(tmp_path, job="trial3/train", log="runs/trial3/train.log")
    StopFileAction().stop(job, DECISION)
    assert (job.log_dir / "trial3_train.stop").is_file()


def test_templated_path_with_log_stem(tmp_path: Path) -> None:
    job = _job(tmp_path)
    out = StopFileAction(path_template="{log_dir}/STOP-{log_stem}").stop(job, DECISION)
    assert out.ok and (job.log_dir / "STOP-train").is_file()


def test_non_finite_values_are_written_as_strings(tmp_path: Path) -> None:
    job = _job(tmp_path)
    StopFileAction().stop(job, replace(DECISION, value=math.nan, threshold=math.inf))
    reason = _strict_json(job.log_dir / "trial1.stop")
    assert (reason["value"], reason["threshold"]) == ("nan", "inf")


def test_os_replace_replaces_a_symlink_itself_not_its_target(tmp_path: Path) -> None:
    """The property the atomic write relies on (rename(2) does not follow the destination)."""
    victim = tmp_path / "victim"
    victim.write_text("precious")
    link = tmp_path / "link"
    link.symlink_to(victim)
    (tmp_path / "new").write_text("new")
    os.replace(tmp_path / "new", link)
    assert not link.is_symlink() and link.read_text() == "new" and victim.read_text() == "precious"


def test_refuses_when_the_stop_path_is_a_symlink(tmp_path: Path) -> None:
    job = _job(tmp_path)
    victim = tmp_path / "elsewhere.txt"
    victim.write_text("precious")
    (job.log_dir / "trial1.stop").symlink_to(victim)
    out = StopFileAction().stop(job, DECISION)
    assert not out.ok and "symlink" in out.detail
    assert victim.read_text() == "precious"
    assert (job.log_dir / "trial1.stop").is_symlink()
    assert sorted(os.listdir(job.log_dir)) == ["train.log", "trial1.stop"]


def test_refuses_a_dangling_symlink_too(tmp_path: Path) -> None:
    job = _job(tmp_path)
    (job.log_dir / "trial1.stop").symlink_to(tmp_path / "would-be-created")
    assert not StopFileAction().stop(job, DECISION).ok
    assert not (tmp_path / "would-be-created").exists()


def test_refuses_a_symlinked_directory_unless_allowed(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    job = _job(tmp_path)
    template = str(tmp_path / "linkdir" / "{job}.stop")
    (tmp_path / "linkdir").symlink_to(real)
    out = StopFileAction(path_template=template).stop(job, DECISION)
    assert not out.ok and "directory is a symlink" in out.detail and os.listdir(real) == []
    allowed = StopFileAction(path_template=template, allow_symlink_dir=True).stop(job, DECISION)
    assert allowed.ok and os.listdir(real) == ["trial1.stop"]


def test_stopping_twice_replaces_the_file_harmlessly(tmp_path: Path) -> None:
    job = _job(tmp_path)
    action = StopFileAction()
    assert "wrote" in action.stop(job, DECISION).detail
    second = action.stop(job, DECISION)
    assert second.ok and "replaced" in second.detail
    assert _strict_json(job.log_dir / "trial1.stop")["epoch"] == 4


def test_missing_directory_is_an_error_outcome_not_an_exception(tmp_path: Path) -> None:
    job = _job(tmp_path)
    out = StopFileAction(path_template="{log_dir}/nope/{job}.stop").stop(job, DECISION)
    assert not out.ok and "cannot write" in out.detail


def test_dry_run_writes_nothing_and_logs_what_it_would_do(tmp_path: Path) -> None:
    job = _job(tmp_path)
    with capture_logs() as logs:
        out = StopFileAction(dry_run=True).stop(job, DECISION)
    assert out.ok and out.dry_run and "would write" in out.detail
    assert os.listdir(job.log_dir) == ["train.log"]
    dry = [e for e in logs if e["event"] == "action_dry_run"]
    assert len(dry) == 1 and (dry[0]["action"], dry[0]["job"]) == ("stop-file", "trial1")
    assert str(job.log_dir / "trial1.stop") in dry[0]["would"]


@pytest.mark.parametrize(
    "template", ["{log_dir}/{nope}.stop", "{log_dir}/{job.__class__}", "{job!r}", "{log_dir}/{}", "{oops"]
)
def test_bad_templates_fail_at_build_time(template: str) -> None:
    with pytest.raises(ActionError) as err:
        build_action({"type": "stop-file", "path": template})
    assert err.value.where == "action.path"


def test_built_from_spec(tmp_path: Path) -> None:
    action = build_action({"type": "stop-file", "path": "{log_stem}.halt"}, dry_run=False)
    job = _job(tmp_path)
    assert action.stop(job, DECISION).ok and (job.log_dir / "train.halt").is_file()
