"""SignalAction against real processes and real signals."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest
from actions_support import DECISION, ref, target, wait_for

from metricwatch.actions import Escalation, SignalAction, build_action
from metricwatch.errors import ActionError
from metricwatch.jobs import ProcessRef, live_process

OTHER_USER = "mwtest"


def finish(action: SignalAction, timeout: float = 5.0) -> list:
    """Drive the non-blocking escalation the way the daemon loop does, until nothing is pending."""
    outcomes = []
    deadline = time.monotonic() + timeout
    while action.pending:
        assert time.monotonic() < deadline, "escalation did not finish"
        outcomes += action.poll_escalations()
        time.sleep(0.02)
    return outcomes


def test_sigterm_reaches_a_trapping_child_which_exits_cleanly(spawn) -> None:
    """The job's handler runs (it can save a checkpoint) and no SIGKILL follows."""
    proc, marker = spawn("trap")
    action = SignalAction(grace=5)
    out = action.stop(target(ref(proc.pid)), DECISION)
    assert out.ok and out.signalled == ((proc.pid, "SIGTERM"),) and out.pending
    assert proc.wait(timeout=5) == 0
    assert marker.with_suffix(".term").read_text() == "term"
    later = finish(action)
    assert [o.signalled for o in later] == [()]
    assert "exited within the grace period" in later[0].detail


def test_child_ignoring_sigterm_is_sigkilled_after_grace_not_before(spawn) -> None:
    proc, _ = spawn("ignore")
    action = SignalAction(grace=0.3)
    start = time.monotonic()
    action.stop(target(ref(proc.pid)), DECISION)
    assert action.poll_escalations() == []  # inside the grace period: nothing happens yet
    assert proc.poll() is None
    outcomes = finish(action)
    assert time.monotonic() - start >= 0.3
    assert proc.wait(timeout=5) == -signal.SIGKILL
    assert outcomes[-1].signalled == ((proc.pid, "SIGKILL"),)


def test_whole_tree_is_signalled(spawn) -> None:
    """A wrapper does not forward SIGTERM; its child (a grandchild of ours) is signalled directly."""
    proc, marker = spawn("trap", tree="trap")
    kid = psutil.Process(proc.pid).children()[0]
    out = SignalAction(grace=5, scope="tree").stop(target(ref(proc.pid)), DECISION)
    assert {pid for pid, _ in out.signalled} == {proc.pid, kid.pid}
    wait_for(lambda: Path(str(marker) + ".term").exists())  # the grandchild's handler ran
    assert marker.with_suffix(".term").exists()


def test_orphaned_grandchild_ignoring_sigterm_is_killed_at_escalation(spawn) -> None:
    """Like DataLoader workers outliving their parent (pytorch#1085): found again by start time."""
    proc, _ = spawn("default", tree="ignore")
    kid = ref(psutil.Process(proc.pid).children()[0].pid)
    action = SignalAction(grace=0.3, scope="tree")
    action.stop(target(ref(proc.pid)), DECISION)
    assert proc.wait(timeout=5) == -signal.SIGTERM
    assert live_process(kid) is not None  # reparented, no longer in any tree we could walk
    outcomes = finish(action)
    assert (kid.pid, "SIGKILL") in outcomes[-1].signalled
    wait_for(lambda: live_process(kid) is None)


def test_group_scope_reaches_a_group_member_outside_the_tree(spawn) -> None:
    # preexec_fn rather than Popen(process_group=...), which needs Python 3.11.
    leader, _ = spawn("trap", preexec_fn=os.setpgrp)
    member, _ = spawn("trap", preexec_fn=lambda: os.setpgid(0, leader.pid))
    tree_only = SignalAction(scope="tree", kill_signal=None, signal="SIGUSR2", dry_run=True)
    assert "[" + str(leader.pid) + "]" in tree_only.stop(target(ref(leader.pid)), DECISION).detail
    out = SignalAction(grace=5).stop(target(ref(leader.pid)), DECISION)
    assert {pid for pid, _ in out.signalled} == {leader.pid, member.pid}
    assert leader.wait(timeout=5) == 0 and member.wait(timeout=5) == 0


def test_reused_pid_is_not_signalled(spawn) -> None:
    """A ProcessRef whose start time differs from the live process with that PID names a dead job."""
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        real = ref(sleeper.pid)
        stale = ProcessRef(real.pid, real.create_time - 60.0, real.uid, ("python", "train.py"))
        action = SignalAction(grace=0)
        out = action.stop(target(stale), DECISION)
        assert out.signalled == () and not action.pending
        assert "PID reused" in dict(out.skipped)[sleeper.pid]
        action.adopt(Escalation("trial1", (stale,), (), deadline=0.0))  # and at escalation time
        finish(action)
        time.sleep(0.1)
        assert sleeper.poll() is None
    finally:
        sleeper.kill()
        sleeper.wait()


def _other_user() -> pwd.struct_passwd:
    if os.getuid() != 0:
        pytest.skip("needs root to start a process as another user")
    try:
        return pwd.getpwnam(OTHER_USER)
    except KeyError:
        if shutil.which("useradd") is None:
            pytest.skip("useradd is not available")
        subprocess.run(["useradd", "--system", "--no-create-home", OTHER_USER], check=True)
        return pwd.getpwnam(OTHER_USER)


def test_another_users_process_is_not_signalled_by_default() -> None:
    user = _other_user()
    sleeper = subprocess.Popen(["sleep", "30"], user=user.pw_uid, group=user.pw_gid, extra_groups=[])
    try:
        wait_for(lambda: psutil.Process(sleeper.pid).uids().real == user.pw_uid)
        out = SignalAction(grace=0).stop(target(ref(sleeper.pid)), DECISION)
        assert not out.ok and out.signalled == ()
        assert "another user" in dict(out.skipped)[sleeper.pid]
        time.sleep(0.1)
        assert sleeper.poll() is None
        allowed = SignalAction(grace=5, allow_other_users=True).stop(target(ref(sleeper.pid)), DECISION)
        assert allowed.signalled == ((sleeper.pid, "SIGTERM"),)
        assert sleeper.wait(timeout=5) == -signal.SIGTERM
    finally:
        sleeper.kill()
        sleeper.wait()


@pytest.fixture
def usr1_received():
    """Catch SIGUSR1 in this (the 'daemon') process so a bug shows as a failure, not a dead test run."""
    got: list[int] = []
    previous = signal.signal(signal.SIGUSR1, lambda signum, frame: got.append(signum))
    yield got
    signal.signal(signal.SIGUSR1, previous)


def test_the_daemon_itself_is_never_signalled(usr1_received) -> None:
    me = ref(os.getpid())
    out = SignalAction(signal="USR1", grace=0).stop(target(me), DECISION)
    assert out.signalled == () and not out.ok
    assert "protected" in dict(out.skipped)[os.getpid()]
    time.sleep(0.05)
    assert usr1_received == []


def test_a_process_group_containing_the_daemon_is_never_signalled(spawn, usr1_received) -> None:
    """Job and a bystander share our group: the job's tree is signalled, the group is not."""
    job, _ = spawn("trap")  # inherits the test process's group, as `python train.py &` would
    bystander, _ = spawn("trap")
    assert os.getpgid(job.pid) == os.getpgrp() == os.getpgid(bystander.pid)
    out = SignalAction(grace=5).stop(target(ref(job.pid), pgid=os.getpgrp()), DECISION)
    assert out.signalled == ((job.pid, "SIGTERM"),)
    assert "tree only" in out.detail
    assert job.wait(timeout=5) == 0
    time.sleep(0.1)
    assert bystander.poll() is None and usr1_received == []


def test_pid_1_is_never_signalled() -> None:
    init = ProcessRef.of(1)
    assert init is not None
    # dry-run: the selection is computed exactly as for real, but a bug here cannot hit the machine's init
    out = SignalAction(grace=0, dry_run=True).stop(target(init), DECISION)
    assert "would send SIGTERM to []" in out.detail
    assert "protected" in dict(out.skipped)[1]


def test_second_stop_is_a_no_op_while_escalation_is_pending(spawn) -> None:
    proc, _ = spawn("ignore")
    action = SignalAction(grace=5)
    first = action.stop(target(ref(proc.pid)), DECISION)
    second = action.stop(target(ref(proc.pid)), DECISION)
    assert first.signalled and second.signalled == () and second.ok and second.pending


def test_dry_run_signals_nothing(spawn) -> None:
    proc, marker = spawn("trap")
    out = SignalAction(dry_run=True).stop(target(ref(proc.pid)), DECISION)
    assert out.dry_run and out.ok and out.signalled == () and "would send SIGTERM" in out.detail
    time.sleep(0.1)
    assert proc.poll() is None and not marker.with_suffix(".term").exists()


def test_job_without_processes_is_reported_not_raised() -> None:
    out = SignalAction().stop(target(), DECISION)
    assert not out.ok and "no processes" in out.detail


def test_outcome_timestamp_comes_from_the_clock() -> None:
    out = SignalAction(clock=lambda: 1234.5).stop(target(), DECISION)
    assert out.timestamp == 1234.5


@pytest.mark.parametrize(
    ("spec", "where"),
    [
        ({"type": "signal", "signal": "SIGNOPE"}, "action.signal"),
        ({"type": "signal", "grace": -1}, "action.grace"),
        ({"type": "signal", "kill_signal": "SIGWHAT"}, "action.kill_signal"),
        ({"type": "signal", "scope": "universe"}, "action.scope"),
        ({"type": "signal", "graec": 3}, "action"),
        ({"type": "sginal"}, "action.type"),
    ],
)
def test_bad_signal_specs_name_the_key(spec: dict, where: str) -> None:
    with pytest.raises(ActionError) as err:
        build_action(spec)
    assert err.value.where == where


def test_spec_defaults_follow_sagemaker() -> None:
    action = build_action({"type": "signal"})
    assert isinstance(action, SignalAction)
    assert (action.signal, action.kill_signal, action.grace) == (signal.SIGTERM, signal.SIGKILL, 120.0)
    assert build_action({"type": "signal", "signal": "INT", "dry_run": True}).dry_run
    no_kill = build_action({"type": "signal", "kill_signal": "none"})
    assert isinstance(no_kill, SignalAction) and no_kill.kill_signal is None
