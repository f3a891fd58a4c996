"""Slurm mapping, parsing and end classification without a scheduler (these run everywhere).

The squeue text below was captured from Slurm 22.05.8 (`squeue -h --array --states=all -o
'%A|%F|%K|%T|%r'`) in this repo's scripts/slurm-up cluster. The sacct text follows sacct's documented
`-P` format; sacct itself cannot run here (no slurmdbd), which the report states.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from metricwatch.actions._slurm import SlurmAction
from metricwatch.errors import ActionError, ConfigError
from metricwatch.jobs import JobTarget
from metricwatch.slurm import (
    SlurmClient,
    SlurmJobRef,
    SlurmStatus,
    classify_end,
    compile_log_pattern,
    expand_tasks,
    map_state,
    parse_sacct,
    parse_squeue,
    ref_from_environ,
    ref_from_path,
    ref_from_pid,
)
from metricwatch.types import Decision, JobState, Verdict

SQUEUE_22_05 = """\
5|5|0|PENDING|JobHeldUser
4|1|2|CANCELLED|None
3|1|1|FAILED|JobLaunchFailure
6|5|1|RUNNING|None
9|9|N/A|COMPLETED|None
garbage line without fields
"""


@pytest.mark.parametrize(
    ("path", "ref"),
    [
        ("/logs/slurm-1234_7.out", SlurmJobRef("1234", 7)),
        ("slurm-1234.out", SlurmJobRef("1234")),
        ("/logs/train.log", None),
        ("/logs/slurm-1234_7.out.bak", None),
    ],
)
def test_default_sbatch_names_map_to_jobs(path: str, ref: SlurmJobRef | None) -> None:
    assert ref_from_path(path) == ref


def test_user_pattern_may_take_the_job_from_a_directory() -> None:
    pattern = compile_log_pattern(r"/sweep-(?P<array_job>\d+)/task(?P<task>\d+)/")
    assert ref_from_path("/scratch/sweep-88/task3/train.log", pattern) == SlurmJobRef("88", 3)
    assert ref_from_path("/scratch/slurm-1_2.out", pattern) is None  # no fallback to defaults


@pytest.mark.parametrize("text", [r"slurm-(\d+)\.out", r"(?P<task>\d+)", r"slurm-(?P<job>\d+"])
def test_user_pattern_without_job_groups_is_a_config_error(text: str) -> None:
    with pytest.raises(ConfigError) as err:
        compile_log_pattern(text, where="study.slurm.log_pattern")
    assert err.value.where == "study.slurm.log_pattern"


def test_environment_prefers_the_array_task_over_the_job_id() -> None:
    env = {"SLURM_JOB_ID": "40", "SLURM_ARRAY_JOB_ID": "37", "SLURM_ARRAY_TASK_ID": "3"}
    assert ref_from_environ(env) == SlurmJobRef("37", 3)
    assert ref_from_environ({"SLURM_JOB_ID": "40"}) == SlurmJobRef("40")
    assert ref_from_environ({"PATH": "/bin"}) is None


def test_local_process_environment_names_its_job() -> None:
    env = {**os.environ, "SLURM_JOB_ID": "77", "SLURM_ARRAY_JOB_ID": "70", "SLURM_ARRAY_TASK_ID": "2"}
    code = "import time; print('up', flush=True); time.sleep(30)"
    child = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE)
    try:
        assert child.stdout is not None and child.stdout.readline()  # exec'd: environ is its own
        assert ref_from_pid(child.pid) == SlurmJobRef("70", 2)
    finally:
        child.kill()
        child.wait()
        child.stdout.close()
    assert ref_from_pid(child.pid) is None  # gone


def test_squeue_output_parses_per_task_and_skips_garbage() -> None:
    found = {s.ref: s for s in parse_squeue(SQUEUE_22_05)}
    assert found[SlurmJobRef("5", 0)].state is JobState.PENDING
    assert found[SlurmJobRef("1", 2)].state is JobState.CANCELLED
    assert found[SlurmJobRef("1", 1)].reason == "JobLaunchFailure"
    assert found[SlurmJobRef("5", 1)].slurm_job_id == "6"
    assert found[SlurmJobRef("9")].state is JobState.COMPLETED
    assert len(found) == 5


def test_sacct_output_parses_cancelled_by_and_task_ranges() -> None:
    text = "12_3|CANCELLED by 1000|None\n12_[4-5]|PENDING|Priority\n13|TIMEOUT|None\n"
    found = {s.ref: s for s in parse_sacct(text)}
    assert found[SlurmJobRef("12", 3)].state is JobState.CANCELLED
    assert found[SlurmJobRef("12", 5)].state is JobState.PENDING
    assert found[SlurmJobRef("13")].state is JobState.FAILED


@pytest.mark.parametrize(
    ("text", "tasks"),
    [("N/A", [None]), ("3", [3]), ("0-3", [0, 1, 2, 3]), ("[4-5%2]", [4, 5]), ("1,4-5", [1, 4, 5])],
)
def test_task_fields_expand(text: str, tasks: list[int | None]) -> None:
    assert expand_tasks(text) == tasks


@pytest.mark.parametrize(
    ("raw", "state"),
    [
        ("PENDING", JobState.PENDING),
        ("RUNNING", JobState.RUNNING),
        ("COMPLETING", JobState.RUNNING),
        ("COMPLETED", JobState.COMPLETED),
        ("CANCELLED by 0", JobState.CANCELLED),
        ("FAILED", JobState.FAILED),
        ("TIMEOUT", JobState.FAILED),
        ("OUT_OF_MEMORY", JobState.FAILED),
        ("NODE_FAIL", JobState.FAILED),
        ("SOMETHING_NEW", None),
    ],
)
def test_slurm_states_map_to_metricwatch_states(raw: str, state: JobState | None) -> None:
    assert map_state(raw) is state


def test_unknown_state_is_never_taken_for_an_end() -> None:
    (status,) = parse_squeue("8|8|N/A|SOMETHING_NEW|None\n")
    assert not status.ended


def _status(state: JobState, raw: str, source: str = "squeue") -> SlurmStatus:
    return SlurmStatus(SlurmJobRef("1", 0), state, raw, source=source)


@pytest.mark.parametrize(
    ("status", "ours", "expected"),
    [
        (_status(JobState.RUNNING, "RUNNING"), False, None),
        (_status(JobState.FAILED, "FAILED"), True, (JobState.STOPPED, "stopped_by_metricwatch")),
        (_status(JobState.COMPLETED, "COMPLETED"), True, (JobState.STOPPED, "stopped_by_metricwatch")),
        (
            _status(JobState.CANCELLED, "CANCELLED"),
            False,
            (JobState.CANCELLED, "cancelled_by_someone_else"),
        ),
        (_status(JobState.COMPLETED, "COMPLETED"), False, (JobState.COMPLETED, "completed")),
        (_status(JobState.FAILED, "TIMEOUT"), False, (JobState.FAILED, "failed")),
        (_status(JobState.COMPLETED, "", "absent"), False, (JobState.COMPLETED, "left_queue")),
    ],
)
def test_classify_end_tells_our_stops_from_others(
    status: SlurmStatus, ours: bool, expected: tuple[JobState, str] | None
) -> None:
    end = classify_end(status, stopped_by_us=ours)
    assert (end.state, end.reason) == expected if end else expected is None


def test_missing_slurm_commands_fail_before_the_loop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ActionError) as err:
        SlurmClient().check()
    assert "scancel" in str(err.value) and err.value.hint


def test_action_config_errors_name_the_key() -> None:
    with pytest.raises(ActionError) as err:
        SlurmAction.from_spec({"grace": "soon"}, where="study.action", dry_run=True)
    assert err.value.where == "study.action.grace"
    with pytest.raises(ActionError):
        SlurmAction.from_spec({"scancel_all": True}, where="study.action", dry_run=True)
    with pytest.raises(ConfigError):
        SlurmAction.from_spec({"log_pattern": "(x)"}, where="study.action", dry_run=True)


def test_action_on_a_log_with_no_slurm_job_reports_failure(tmp_path: Path) -> None:
    job = JobTarget("train", tmp_path / "train.log")
    decision = Decision(job="train", epoch=2, verdict=Verdict.STOP, rule="median")
    outcome = SlurmAction(dry_run=True).stop(job, decision)
    assert not outcome.ok and "no Slurm job id" in outcome.detail
