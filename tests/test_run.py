"""`metricwatch run`: a real launcher process running a real child, real signals, real files."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from metricwatch.actions import SignalAction
from metricwatch.jobs import JobTarget, find_job_processes, find_writers, live_process, read_launch_record
from metricwatch.types import Decision, Verdict

DECISION = Decision(job="j", epoch=2, verdict=Verdict.STOP, rule="median")

# Waits for SIGTERM after printing "ready"; on SIGTERM prints "got TERM" and exits 7.
TRAPPING = """
import signal, sys, time
def on_term(signum, frame):
    print("got TERM")
    sys.exit(7)
signal.signal(signal.SIGTERM, on_term)
print("ready")
while True:
    time.sleep(0.05)
"""
WAITING = "import time; print('ready'); time.sleep(30)"


def launch(tmp_path: Path, *child: str, log: Path | None = None) -> subprocess.Popen[bytes]:
    log = log or tmp_path / "runs" / "train.log"
    argv = [sys.executable, "-m", "metricwatch", "run", "--study", "s", "--log", str(log)]
    argv += ["--state-dir", str(tmp_path / "state"), "--", *child]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_for_text(path: Path, text: bytes, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not (path.exists() and text in path.read_bytes()):
        assert time.monotonic() < deadline, f"{text!r} never appeared in {path}"
        time.sleep(0.02)


def test_output_is_teed_byte_for_byte_and_the_exit_code_kept(tmp_path: Path) -> None:
    script = (
        "import os, sys; sys.stdout.write('epoch 1\\n 10%\\r 50%\\r100%\\r\\n'); sys.stdout.flush();"
        "sys.stderr.write('warn\\n'); sys.stdout.write('no newline'); sys.exit(3)"
    )
    log = tmp_path / "runs" / "train.log"
    log.parent.mkdir()
    log.write_bytes(b"earlier attempt\n")
    proc = launch(tmp_path, sys.executable, "-c", script)
    out, _ = proc.communicate(timeout=30)
    expected = b"epoch 1\n 10%\r 50%\r100%\r\nwarn\nno newline"
    assert proc.returncode == 3
    assert out == expected
    assert log.read_bytes() == b"earlier attempt\n" + expected  # appended, never truncated


def test_child_runs_unbuffered_so_epochs_reach_the_log_while_it_runs(tmp_path: Path) -> None:
    script = "import os, time; print('env', os.environ.get('PYTHONUNBUFFERED')); time.sleep(30)"
    proc = launch(tmp_path, sys.executable, "-c", script)
    try:
        wait_for_text(tmp_path / "runs" / "train.log", b"env 1\n", timeout=10)  # child still sleeping
    finally:
        proc.kill()
        proc.communicate()


def test_child_killed_by_a_signal_gives_128_plus_signal(tmp_path: Path) -> None:
    proc = launch(tmp_path, sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)")
    proc.communicate(timeout=30)
    assert proc.returncode == 128 + signal.SIGKILL


def test_registry_names_the_child_in_its_own_session_then_marks_the_exit(tmp_path: Path) -> None:
    log = tmp_path / "runs" / "train.log"
    proc = launch(tmp_path, sys.executable, "-c", TRAPPING)
    try:
        wait_for_text(log, b"ready")
        record = read_launch_record(tmp_path / "state", log)
        assert record is not None and record.study == "s" and record.ended_at is None
        child = psutil.Process(record.child.pid)
        assert child.ppid() == proc.pid == record.launcher.pid
        assert child.create_time() == record.child.create_time
        assert os.getsid(child.pid) == child.pid == record.pgid  # its own session and group
        # The launcher writes the log; the daemon must signal the child, not the launcher.
        assert proc.pid in [w.pid for w in find_writers([log])[log]]
        refs, pgid = find_job_processes(log, state_dir=tmp_path / "state")
        assert [r.pid for r in refs] == [child.pid] and pgid == child.pid
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    ended = read_launch_record(tmp_path / "state", log)
    assert ended is not None and ended.exit_code == 7 and ended.ended_at is not None
    assert find_job_processes(log, state_dir=tmp_path / "state") == ((), None)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signals_to_the_launcher_are_forwarded_to_the_child(tmp_path: Path, sig: signal.Signals) -> None:
    script = TRAPPING.replace("signal.signal(signal.SIGTERM", f"signal.signal({int(sig)}")
    log = tmp_path / "runs" / "train.log"
    proc = launch(tmp_path, sys.executable, "-c", script)
    wait_for_text(log, b"ready")
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=30)
    assert b"got TERM" in out and proc.returncode == 7


def test_daemon_stops_a_launched_job_through_the_registry(tmp_path: Path) -> None:
    """What `watch` does: find the job's processes from its log, SIGTERM them; the launcher follows."""
    log = tmp_path / "runs" / "train.log"
    proc = launch(tmp_path, sys.executable, "-c", WAITING)
    wait_for_text(log, b"ready")
    refs, pgid = find_job_processes(log, state_dir=tmp_path / "state")
    action = SignalAction(grace=5)
    out = action.stop(JobTarget(job="train", log_path=log, processes=refs, pgid=pgid), DECISION)
    assert [pid for pid, _ in out.signalled] == [refs[0].pid]
    proc.communicate(timeout=30)
    assert proc.returncode == 128 + signal.SIGTERM
    assert live_process(refs[0]) is None


def test_missing_program_is_a_clear_error(tmp_path: Path) -> None:
    proc = launch(tmp_path, "no-such-program-xyz")
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert b"cannot run 'no-such-program-xyz'" in err


def test_invalid_study_name_is_a_usage_error(tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "metricwatch", "run", "--study", "a/b", "--", "true"]
    proc = subprocess.run(argv, capture_output=True, cwd=tmp_path, timeout=30)
    assert proc.returncode == 2 and b"--study" in proc.stderr
