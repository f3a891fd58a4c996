"""Job ids from paths, and a job's processes found through /proc, pidfiles and start times."""

from __future__ import annotations

import os
import pwd
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from metricwatch.errors import ConfigError, InputError
from metricwatch.jobs import (
    JobNamer,
    ProcessRef,
    alive,
    all_exited,
    find_job_processes,
    find_writers,
    glob_root,
    live_process,
    read_pidfile,
    state_from_exit,
)
from metricwatch.types import JobState

SLEEPER = "import time, pathlib, sys; pathlib.Path(sys.argv[1]).write_text('ready'); time.sleep(30)"


@pytest.mark.parametrize(
    ("pattern", "root"),
    [("runs/*/train.log", "runs"), ("logs/a.log", "logs"), ("*.log", "."), ("/abs/x/**/*.out", "/abs/x")],
)
def test_glob_root_is_the_fixed_prefix(pattern: str, root: str) -> None:
    assert glob_root(pattern) == Path(root)


@pytest.mark.parametrize(
    ("path", "job"),
    [
        ("runs/trial3/train.log", "trial3/train"),
        ("runs/lr-0.1.log", "lr-0.1"),  # only the last suffix goes
        ("runs/a/b/out", "a/b/out"),
    ],
)
def test_default_job_id_is_the_path_under_the_root_without_suffix(path: str, job: str) -> None:
    assert JobNamer(Path("runs")).job_id(Path(path)) == job


def test_job_id_outside_the_root_falls_back_to_the_file_name() -> None:
    assert JobNamer(Path("runs")).job_id(Path("/elsewhere/x.log")) == "x"


def test_slurm_style_job_pattern() -> None:
    namer = JobNamer(Path("."), pattern=r"slurm-(?P<job>\d+_\d+)\.out")
    assert namer.job_id(Path("out/slurm-1234_7.out")) == "1234_7"
    with pytest.raises(InputError) as err:
        namer.job_id(Path("out/other.out"))
    assert err.value.where == "out/other.out"


@pytest.mark.parametrize("pattern", [r"slurm-(\d+)\.out", r"slurm-(?P<job>\d+"])
def test_bad_job_patterns_are_config_errors(pattern: str) -> None:
    with pytest.raises(ConfigError) as err:
        JobNamer(Path("."), pattern=pattern)
    assert err.value.where == "job_pattern" and "(?P<job>" in err.value.hint


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        proc.kill()
        proc.wait()


def _wait(path: Path) -> None:
    deadline = time.monotonic() + 5
    while not path.exists():
        assert time.monotonic() < deadline
        time.sleep(0.02)


def _start(procs: list, argv: list[str], ready: Path, **kw: object) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(argv, **kw)  # type: ignore[call-overload]
    procs.append(proc)
    _wait(ready)
    return proc


def test_shell_redirect_writer_is_found(tmp_path: Path, procs: list) -> None:
    """`sh -c 'exec python train.py > log 2>&1'`: the training process is the log's writer."""
    log, ready = tmp_path / "train.log", tmp_path / "ready"
    py = shlex.join([sys.executable, "-c", SLEEPER, str(ready)])
    proc = _start(procs, ["sh", "-c", f"exec {py} > {shlex.quote(str(log))} 2>&1"], ready)
    writers = find_writers([log])[log]
    assert [w.pid for w in writers] == [proc.pid]
    assert writers[0].create_time == psutil.Process(proc.pid).create_time()


@pytest.mark.parametrize(("mode", "is_writer"), [("rb", False), ("r+b", True), ("ab", True)])
def test_only_write_modes_count(tmp_path: Path, procs: list, mode: str, is_writer: bool) -> None:
    log, ready = tmp_path / "train.log", tmp_path / "ready"
    log.write_text("")
    script = f"import sys, time; f = open(sys.argv[1], {mode!r}); open(sys.argv[2], 'w'); time.sleep(30)"
    proc = _start(procs, [sys.executable, "-c", script, str(log), str(ready)], ready)
    assert (proc.pid in [w.pid for w in find_writers([log])[log]]) is is_writer


def test_writers_of_other_users_are_ignored(tmp_path: Path, procs: list) -> None:
    if os.getuid() != 0:
        pytest.skip("needs root")
    try:
        user = pwd.getpwnam("mwtest")
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "mwtest"], check=True)
        user = pwd.getpwnam("mwtest")
    log = tmp_path / "train.log"
    with open(log, "ab") as out:  # inherited fd: the other user needs no access to our tmp dir
        proc = subprocess.Popen(
            ["sleep", "30"], stdout=out, user=user.pw_uid, group=user.pw_gid, extra_groups=[]
        )
    procs.append(proc)
    deadline = time.monotonic() + 5
    while not find_writers([log], all_users=True)[log]:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert [w.pid for w in find_writers([log], all_users=True)[log]] == [proc.pid]
    assert find_writers([log])[log] == ()


def test_pidfile_names_a_live_process(tmp_path: Path, procs: list) -> None:
    ready = tmp_path / "ready"
    proc = _start(procs, [sys.executable, "-c", SLEEPER, str(ready)], ready)
    pidfile = tmp_path / "job.pid"
    pidfile.write_text(f"{proc.pid}\n")
    found = read_pidfile(pidfile)
    assert found is not None and found.pid == proc.pid


def test_pidfile_older_than_its_process_means_the_pid_was_reused(tmp_path: Path, procs: list) -> None:
    ready = tmp_path / "ready"
    proc = _start(procs, [sys.executable, "-c", SLEEPER, str(ready)], ready)
    pidfile = tmp_path / "job.pid"
    pidfile.write_text(f"{proc.pid}\n")
    an_hour_ago = time.time() - 3600
    os.utime(pidfile, (an_hour_ago, an_hour_ago))
    assert read_pidfile(pidfile) is None


@pytest.mark.parametrize("content", ["", "not a pid", "1"])
def test_bad_pidfiles_name_nothing(tmp_path: Path, content: str) -> None:
    pidfile = tmp_path / "job.pid"
    pidfile.write_text(content)
    assert read_pidfile(pidfile) is None
    assert read_pidfile(tmp_path / "missing.pid") is None


def test_start_time_guards_against_pid_reuse(procs: list) -> None:
    sleeper = subprocess.Popen(["sleep", "30"])
    procs.append(sleeper)
    real = ProcessRef.of(sleeper.pid)
    assert real is not None and live_process(real) is not None
    reused = ProcessRef(real.pid, real.create_time - 60, real.uid, ())
    assert live_process(reused) is None and alive([real, reused]) == (real,)


def test_exited_and_zombie_processes_are_gone() -> None:
    proc = subprocess.Popen(["true"])
    ref = ProcessRef(proc.pid, psutil.Process(proc.pid).create_time(), os.getuid())
    deadline = time.monotonic() + 5
    while psutil.Process(proc.pid).status() != psutil.STATUS_ZOMBIE:  # exited, not yet reaped
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert all_exited([ref])
    proc.wait()
    assert all_exited([ref]) and ProcessRef.of(proc.pid) is None


def test_find_job_processes_merges_pidfile_and_writers(tmp_path: Path, procs: list) -> None:
    log, ready, ready2 = tmp_path / "train.log", tmp_path / "ready", tmp_path / "ready2"
    with open(log, "ab") as out:
        writer = _start(procs, [sys.executable, "-c", SLEEPER, str(ready)], ready, stdout=out)
    other = _start(procs, [sys.executable, "-c", SLEEPER, str(ready2)], ready2)
    pidfile = tmp_path / "job.pid"
    pidfile.write_text(str(other.pid))
    found, pgid = find_job_processes(log, pidfile=pidfile, state_dir=tmp_path / "state")
    assert sorted(r.pid for r in found) == sorted([writer.pid, other.pid]) and pgid is None


@pytest.mark.parametrize(
    ("code", "state"),
    [
        (0, JobState.COMPLETED),
        (1, JobState.FAILED),
        (143, JobState.CANCELLED),
        (137, JobState.CANCELLED),
        (130, JobState.CANCELLED),
        (139, JobState.FAILED),
    ],  # 139 = SIGSEGV: a crash, not a cancel
)
def test_exit_status_hints_the_final_state(code: int, state: JobState) -> None:
    assert state_from_exit(code) is state
