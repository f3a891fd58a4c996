"""The state store on real SQLite files, with real processes killed by SIGKILL."""

from __future__ import annotations

import json
import math
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from metricwatch import state as state_mod
from metricwatch.errors import ConfigError
from metricwatch.state import FileState, StateStore
from metricwatch.types import Decision, Direction, JobState, Observation, Verdict


def obs(
    job: str, epoch: int, value: float, *, metric: str = "val_loss", attempt: int = 1, offset: int = 0
) -> Observation:
    return Observation(job, metric, epoch, value, attempt, line_no=epoch, offset=offset, raw=repr(value))


def fstate(path: str, offset: int, *, job: str = "", ino: int = 1) -> FileState:
    return FileState(path, dev=1, ino=ino, offset=offset, line_no=offset // 10, job=job, head=b"E")


@pytest.fixture(name="store")
def fixture_store(tmp_path: Path) -> StateStore:
    s = StateStore(tmp_path / "state" / "metricwatch.db")
    yield s
    s.close()


def test_database_uses_wal_and_current_schema_version(tmp_path: Path) -> None:
    """A new file is created in WAL mode with user_version = the schema version."""
    StateStore(tmp_path / "s.db").close()
    conn = sqlite3.connect(tmp_path / "s.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == state_mod.SCHEMA_VERSION


def test_commit_batch_stores_observations_and_offset_together(store: StateStore) -> None:
    """What commit_batch stored is exactly what load_file_states and load_history return."""
    batch = [obs("a", 1, 0.9, offset=0), obs("a", 2, 0.7, offset=10)]
    new = store.commit_batch("s", fstate("runs/a.log", 20, job="a"), batch)
    assert new == batch
    assert store.load_file_states("s") == [fstate("runs/a.log", 20, job="a")]
    [hist] = store.load_history("s")
    assert hist.job.job == "a"
    assert hist.job.state is JobState.RUNNING
    assert hist.observations == tuple(batch)


def test_replayed_observations_are_ignored_and_not_returned(store: StateStore) -> None:
    """After a restart the same observation read again is not stored twice nor reported new."""
    store.commit_batch("s", fstate("a.log", 10), [obs("a", 1, 0.9)])
    new = store.commit_batch("s", fstate("a.log", 20), [obs("a", 1, 0.9), obs("a", 2, 0.8)])
    assert new == [obs("a", 2, 0.8)]
    [hist] = store.load_history("s")
    assert [o.epoch for o in hist.observations] == [1, 2]


def test_nan_and_infinities_round_trip(store: StateStore) -> None:
    """SQLite turns NaN into NULL on its own; a diverged job's NaN loss must come back as NaN."""
    store.commit_batch(
        "s", fstate("a.log", 10), [obs("a", 1, math.nan), obs("a", 2, math.inf), obs("a", 3, -math.inf)]
    )
    values = [o.value for o in store.load_history("s")[0].observations]
    assert math.isnan(values[0])
    assert values[1:] == [math.inf, -math.inf]


def test_history_lists_jobs_in_start_order_with_latest_attempt(store: StateStore) -> None:
    """Jobs come back in the order first seen; a restarted job's latest attempt is what rules see."""
    store.commit_batch("s", fstate("b.log", 10, job="b", ino=2), [obs("b", 1, 0.5)])
    store.commit_batch("s", fstate("a.log", 10, job="a", ino=1), [obs("a", 1, 0.6)])
    store.commit_batch(
        "s", fstate("b.log", 30, job="b", ino=2), [obs("b", 2, 0.4), obs("b", 1, 0.55, attempt=2)]
    )
    hist = store.load_history("s")
    assert [h.job.job for h in hist] == ["b", "a"]
    assert [h.job.start_order for h in hist] == [1, 2]
    assert hist[0].job.attempt == 2
    assert hist[0].latest() == (obs("b", 1, 0.55, attempt=2),)
    assert len(hist[0].observations) == 3


def test_studies_are_kept_apart(store: StateStore) -> None:
    store.commit_batch("s1", fstate("a.log", 10), [obs("a", 1, 0.9)])
    store.commit_batch("s2", fstate("a.log", 99), [obs("a", 1, 0.1)])
    assert store.load_file_states("s1")[0].offset == 10
    assert store.load_history("s1")[0].observations[0].value == 0.9
    assert store.studies() == ["s1", "s2"]


def test_decisions_are_stored_once_per_job_epoch_and_rule(store: StateStore) -> None:
    """A decision re-made after a restart is not stored twice; NaN/None values survive."""
    d = Decision(
        "a",
        3,
        Verdict.STOP,
        "median",
        {"min_population": 3},
        value=0.9,
        threshold=0.7,
        population=("b", "c", "d"),
        reason="worse_than_median",
    )
    store.commit_batch("s", fstate("a.log", 10), [obs("a", 3, 0.9)], decisions=[d])
    store.commit_batch("s", fstate("a.log", 10), [obs("a", 3, 0.9)], decisions=[d])
    nan_d = Decision("a", 4, Verdict.NOT_YET, "median", value=math.nan, reason="nan")
    store.record_decision("s", nan_d)
    stored = store.decisions("s")
    assert [s.decision for s in stored[:1]] == [d]
    assert len(stored) == 2
    assert math.isnan(stored[1].decision.value or 0.0) and stored[1].decision.threshold is None


def test_claim_stop_is_true_once_across_connections(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    with StateStore(db) as one, StateStore(db) as two:
        assert one.claim_stop("s", "a", epoch=3, reason="worse_than_median") is True
        assert two.claim_stop("s", "a") is False
        assert one.claim_stop("s", "a") is False
        assert two.claim_stop("s", "b") is True
    with StateStore(db) as reopened:  # and across a restart
        assert reopened.claim_stop("s", "a") is False


CLAIMER = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from metricwatch.state import StateStore
    db, go = sys.argv[1], Path(sys.argv[2])
    store = StateStore(db)
    while not go.exists():
        time.sleep(0.001)
    print(json.dumps([j for j in map(str, range(150)) if store.claim_stop("s", j)]))
    """
)


def test_claim_stop_is_true_once_across_racing_processes(tmp_path: Path) -> None:
    """Two processes claim the same 150 jobs at the same moment: each job is claimed exactly once."""
    db, go = tmp_path / "s.db", tmp_path / "go"
    StateStore(db).close()
    procs = [
        subprocess.Popen([sys.executable, "-c", CLAIMER, str(db), str(go)], stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    time.sleep(0.3)
    go.touch()
    claimed = [json.loads(p.communicate(timeout=30)[0]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert not set(claimed[0]) & set(claimed[1])
    assert sorted(claimed[0] + claimed[1], key=int) == [str(i) for i in range(150)]


def test_stop_outcome_and_pending_and_unfinished_stops(store: StateStore) -> None:
    """After a crash the daemon can tell: decided but never claimed, claimed but no outcome."""
    stop = Decision("a", 2, Verdict.STOP, "median", value=1.0, threshold=0.5)
    store.commit_batch("s", fstate("a.log", 10), [obs("a", 2, 1.0)], decisions=[stop])
    store.commit_batch(
        "s",
        fstate("b.log", 10, ino=2),
        [obs("b", 2, 1.0)],
        decisions=[Decision("b", 2, Verdict.STOP, "median")],
    )
    store.commit_batch(
        "s",
        fstate("c.log", 10, ino=3),
        [obs("c", 2, 1.0)],
        decisions=[Decision("c", 2, Verdict.STOP, "median")],
    )
    assert [p.decision.job for p in store.pending_stops("s")] == ["a", "b", "c"]
    assert store.claim_stop("s", "a", epoch=2)
    assert store.claim_stop("s", "b", epoch=2)
    store.finish_stop("s", "b", ok=True, detail={"signal": "SIGTERM"})
    store.set_job_state("s", "c", JobState.COMPLETED, "process_exited")
    # c completed on its own before it was stopped: nothing is pending for it any more
    assert store.pending_stops("s") == []
    assert [u.job for u in store.unfinished_stops("s")] == ["a"]
    b = next(c for c in store.stop_claims("s") if c.job == "b")
    assert b.ok is True and b.detail == {"signal": "SIGTERM"} and b.epoch == 2


def test_actions_and_process_refs_are_recorded(store: StateStore) -> None:
    store.set_job_processes("s", "a", [{"pid": 123, "start_time": 17.5, "source": "proc"}])
    store.record_action("s", "a", "sigterm", ok=True, detail={"pids": [123]})
    store.record_action("s", "a", "sigkill", ok=False, detail={"error": "EPERM"})
    assert [(a.action, a.ok, a.detail) for a in store.actions("s", "a")] == [
        ("sigterm", True, {"pids": [123]}),
        ("sigkill", False, {"error": "EPERM"}),
    ]
    assert store.jobs("s")[0].process_refs == ({"pid": 123, "start_time": 17.5, "source": "proc"},)


def test_jobs_overview_shows_state_last_epoch_objective_and_decision(tmp_path: Path) -> None:
    """The status line of a job: its last epoch, the objective at its last epoch, latest decision."""
    db = tmp_path / "s.db"
    with StateStore(db, clock=lambda: 1000.0) as store:
        store.ensure_study("s", "val_loss", Direction.MINIMIZE)
        store.commit_batch(
            "s",
            fstate("a.log", 50, job="a"),
            [obs("a", 1, 0.9), obs("a", 2, 0.8), obs("a", 3, 0.99, metric="acc")],
            decisions=[
                Decision(
                    "a",
                    2,
                    Verdict.STOP,
                    "median",
                    value=0.8,
                    threshold=0.6,
                    population=("b", "c"),
                    reason="worse_than_median",
                )
            ],
        )
        store.claim_stop("s", "a", epoch=2)
        store.set_job_state("s", "a", JobState.STOPPED, "median")
        store.commit_batch("s", fstate("b.log", 0, job="b", ino=2), [])
    with StateStore(db, readonly=True) as reader:
        a, b = reader.jobs_overview("s")
    assert (a.job, a.state, a.last_epoch, a.objective_epoch, a.objective_value) == (
        "a",
        JobState.STOPPED,
        3,
        2,
        0.8,
    )
    assert a.decision is not None and a.decision.decision.threshold == 0.6
    assert a.stop is not None and a.stop.claimed_at == 1000.0
    assert (b.job, b.last_epoch, b.objective_value, b.decision) == ("b", None, None, None)


def test_reader_is_not_blocked_by_a_writer_and_sees_only_commits(tmp_path: Path) -> None:
    """`metricwatch status` reads while the daemon is inside a write transaction."""
    db = tmp_path / "s.db"
    writer = StateStore(db)
    writer.commit_batch("s", fstate("a.log", 10), [obs("a", 1, 0.9)])
    raw = sqlite3.connect(db, isolation_level=None)
    raw.execute("BEGIN IMMEDIATE")
    raw.execute("UPDATE files SET committed_offset = 999")
    start = time.monotonic()
    with StateStore(db, readonly=True) as reader:
        assert reader.load_file_states("s")[0].offset == 10
    assert time.monotonic() - start < 1.0
    raw.execute("COMMIT")
    writer.close()


def test_readonly_open_of_missing_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        StateStore(tmp_path / "nope.db", readonly=True)
    assert str(tmp_path / "nope.db") in str(err.value) and "metricwatch watch" in err.value.hint


def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(ConfigError) as err:
        StateStore(bad)
    assert err.value.where == str(bad)


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    StateStore(db).close()
    sqlite3.connect(db).execute(f"PRAGMA user_version = {state_mod.SCHEMA_VERSION + 1}")
    with pytest.raises(ConfigError, match="schema version"):
        StateStore(db)


def test_migration_hook_runs_new_steps_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An existing database is upgraded by the steps appended to MIGRATIONS, and only by those."""
    db = tmp_path / "s.db"
    with StateStore(db) as s:
        s.commit_batch("s", fstate("a.log", 10), [obs("a", 1, 0.9)])
    calls: list[int] = []

    def add_column(conn: sqlite3.Connection) -> None:
        calls.append(1)
        conn.execute("ALTER TABLE jobs ADD COLUMN note TEXT NOT NULL DEFAULT ''")

    monkeypatch.setattr(state_mod, "MIGRATIONS", [*state_mod.MIGRATIONS, add_column])
    monkeypatch.setattr(state_mod, "SCHEMA_VERSION", len(state_mod.MIGRATIONS))
    StateStore(db).close()
    with StateStore(db) as s:
        assert len(s.load_history("s")[0].observations) == 1
    assert calls == [1]
    assert sqlite3.connect(db).execute("PRAGMA user_version").fetchone()[0] == 2


# A writer that behaves like the daemon: record i spans bytes [10 i, 10 i + 10) and yields one
# observation; after each batch the offset is advanced with the batch. On start it resumes at the
# committed offset and, like an extractor re-emitting after a restart, re-sends the previous batch.
WRITER = textwrap.dedent(
    """
    import random, sys
    from metricwatch.state import FileState, StateStore
    from metricwatch.types import Observation
    db, total = sys.argv[1], int(sys.argv[2])
    store = StateStore(db)
    states = store.load_file_states("s")
    start = states[0].offset // 10 if states else 0

    def ob(i):
        return Observation(f"j{i % 4}", "loss", i // 4 + 1, i * 0.5, 1, i + 1, i * 10, str(i))

    print("ready", flush=True)
    i = start
    while i < total:
        n = min(random.randint(1, 6), total - i)
        replay = [ob(k) for k in range(max(0, i - 3), i)]
        batch = replay + [ob(k) for k in range(i, i + n)]
        i += n
        store.commit_batch("s", FileState("a.log", 1, 1, i * 10, i, "j0"), batch)
    print("done", flush=True)
    """
)


def check_consistent(db: Path, total: int) -> int:
    """Every observation of a record before the committed offset is present exactly once, none after."""
    conn = sqlite3.connect(db)
    row = conn.execute("SELECT committed_offset FROM files").fetchone()
    committed = row[0] if row else 0
    offsets = [r[0] for r in conn.execute("SELECT offset FROM observations ORDER BY offset")]
    assert offsets == list(range(0, committed, 10))
    keys = conn.execute("SELECT COUNT(DISTINCT job || ':' || epoch) FROM observations").fetchone()
    assert keys[0] == len(offsets)
    conn.close()
    return committed


@pytest.mark.slow
def test_sigkill_at_random_points_never_loses_or_duplicates(tmp_path: Path) -> None:
    """SIGKILL a real writer process mid-loop many times; after each kill the database is consistent,
    and resuming from the checkpoint eventually stores every observation exactly once."""
    db, total, rng = tmp_path / "s.db", 100_000, random.Random(4)
    committed_after_kills = []
    for _ in range(12):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(db), str(total)], stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        time.sleep(rng.uniform(0.0, 0.1))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        committed_after_kills.append(check_consistent(db, total))
    # the kills landed mid-run: each run made progress and the last one had not finished
    assert committed_after_kills == sorted(committed_after_kills)
    assert 0 < committed_after_kills[-1] < total * 10
    out = subprocess.run(
        [sys.executable, "-c", WRITER, str(db), str(total)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert out.splitlines()[-1] == "done"
    assert check_consistent(db, total) == total * 10
