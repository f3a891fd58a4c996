"""CommandAction running real programs: one argument per template item, never a shell."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest
from actions_support import DECISION

from metricwatch.actions import CommandAction, build_action
from metricwatch.errors import ActionError
from metricwatch.jobs import JobTarget

PRINT_ARGV = "import sys, json; print(json.dumps(sys.argv[1:]))"
NASTY = "a b; touch pwned $(touch pwned2) `touch pwned3` {job} '\"*"


def _job(tmp_path: Path, job: str = "trial1") -> JobTarget:
    return JobTarget(job=job, log_path=tmp_path / "run 1" / "train.log", study="s")


def test_placeholders_from_data_stay_one_literal_argument(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    action = CommandAction(argv=[sys.executable, "-c", PRINT_ARGV, "{job_id}", "--log={log_path}", "x"])
    out = action.stop(_job(tmp_path, job=NASTY), DECISION)
    assert out.ok and out.exit_code == 0
    assert json.loads(out.output) == [NASTY, f"--log={tmp_path / 'run 1' / 'train.log'}", "x"]
    assert not list(tmp_path.glob("pwned*"))


def test_decision_placeholders(tmp_path: Path) -> None:
    action = CommandAction(argv=[sys.executable, "-c", PRINT_ARGV, "{rule}@{epoch}", "{value}>{threshold}"])
    assert json.loads(action.stop(_job(tmp_path), DECISION).output) == ["median@4", "0.92>0.61"]


def test_nonzero_exit_and_stderr_tail_are_recorded(tmp_path: Path) -> None:
    script = "import sys; sys.stderr.write('scancel: error: Invalid job id\\n'); sys.exit(1)"
    out = CommandAction(argv=[sys.executable, "-c", script]).stop(_job(tmp_path), DECISION)
    assert not out.ok and out.exit_code == 1 and "Invalid job id" in out.detail


def test_timeout_kills_the_command(tmp_path: Path) -> None:
    start = time.monotonic()
    out = CommandAction(argv=["sleep", "30"], timeout=0.3).stop(_job(tmp_path), DECISION)
    assert not out.ok and out.exit_code is None and "timed out" in out.detail
    assert time.monotonic() - start < 5


def test_a_successful_command_is_not_run_twice(tmp_path: Path) -> None:
    counter = tmp_path / "count"
    script = "import sys; open(sys.argv[1], 'a').write('x')"
    action = CommandAction(argv=[sys.executable, "-c", script, str(counter)])
    first, second = action.stop(_job(tmp_path), DECISION), action.stop(_job(tmp_path), DECISION)
    assert first.ok and second.ok and "already ran" in second.detail
    assert counter.read_text() == "x"


def test_dry_run_runs_nothing(tmp_path: Path) -> None:
    counter = tmp_path / "count"
    action = CommandAction(argv=["touch", str(counter)], dry_run=True)
    out = action.stop(_job(tmp_path), DECISION)
    assert out.dry_run and "would run" in out.detail and not counter.exists()


def test_missing_executable_fails_at_build_time_with_a_hint() -> None:
    with pytest.raises(ActionError) as err:
        build_action({"type": "command", "argv": ["scancel-not-installed", "{job_id}"]})
    assert err.value.where == "action.argv" and "PATH" in err.value.hint


@pytest.mark.parametrize(
    ("argv", "where"),
    [
        ("scancel {job_id}", "action.argv"),  # a shell string is refused, not split
        ([], "action.argv"),
        (["{job_id}"], "action.argv[0]"),  # the program itself is never templated
        (["echo", "{jobid}"], "action.argv[1]"),
        (["echo", "{job_id.__class__}"], "action.argv[1]"),
    ],
)
def test_bad_argv_templates_fail_at_build_time(argv: object, where: str) -> None:
    with pytest.raises(ActionError) as err:
        build_action({"type": "command", "argv": argv})
    assert err.value.where == where


def test_timeout_must_be_positive() -> None:
    with pytest.raises(ActionError) as err:
        build_action({"type": "command", "argv": ["echo"], "timeout": 0})
    assert err.value.where == "action.timeout"
