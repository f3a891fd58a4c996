"""The state store: one SQLite file (WAL) holding what the daemon must not forget across a crash.

What is stored, per study: followed files (identity and the committed offset), jobs (start order, state,
processes), settled observations, decisions, actions, and the one-per-job stop claim.

Guarantees (issue 4, part 3; research: log-tailing-anchors.md §11.3):

- **No observation lost or counted twice.** `commit_batch` stores a batch's observations and advances the
  file's committed offset in ONE transaction. After a SIGKILL the daemon resumes from the committed offset;
  records after it are re-read, and an observation that was already stored (same study, job, attempt,
  metric, epoch) is ignored, so delivery is at-least-once with de-duplication by key.
- **A job is stopped at most once.** `claim_stop` inserts into `stops` (PRIMARY KEY study, job) in its own
  transaction *before* the action runs; only the caller whose insert succeeded may act. A crash between
  the claim and the outcome leaves an unfinished claim (`unfinished_stops`) and never a second stop.

Durability: WAL with `synchronous=NORMAL`. A committed transaction survives the death of the process
(SIGKILL, OOM kill) because it is in the WAL file, which the OS keeps. A power loss or kernel crash may
roll back the last few commits; the database stays consistent and offsets roll back with their
observations, so the daemon simply re-reads. The one external effect that must not repeat, a stop, is
claimed with `synchronous=FULL` (claims are rare, so the extra fsync costs nothing).

Concurrency: `metricwatch status` reads while the daemon writes (WAL readers never block the writer).
Writes take the lock up front (`BEGIN IMMEDIATE`) and wait up to `busy_timeout` for another writer.

SQLite has no NaN (it stores NaN as NULL), so metric values are stored as REAL with NaN written as the
text 'nan'; None stays NULL. `_enc`/`_dec` do the mapping.
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from metricwatch.errors import ConfigError
from metricwatch.types import Decision, Direction, JobState, Observation, Verdict

BUSY_TIMEOUT_MS = 10_000


def _run_script(conn: sqlite3.Connection, script: str) -> None:
    # Not conn.executescript(): it COMMITs first, which would take the migration out of its transaction.
    # Statements are split on ";", so the scripts keep semicolons out of comments and strings.
    for statement in script.split(";"):
        if statement.strip():
            conn.execute(statement)


def _schema_v1(conn: sqlite3.Connection) -> None:
    _run_script(
        conn,
        """
        CREATE TABLE studies (
            study TEXT PRIMARY KEY,
            objective TEXT NOT NULL DEFAULT '',
            direction TEXT NOT NULL DEFAULT 'minimize',
            created REAL NOT NULL
        );
        CREATE TABLE jobs (
            study TEXT NOT NULL REFERENCES studies(study),
            job TEXT NOT NULL,
            start_order INTEGER NOT NULL,
            state TEXT NOT NULL,
            state_reason TEXT NOT NULL DEFAULT '',
            first_seen REAL NOT NULL,
            last_seen REAL NOT NULL,
            log_path TEXT NOT NULL DEFAULT '',
            attempt INTEGER NOT NULL DEFAULT 1,
            process_refs TEXT NOT NULL DEFAULT '[]',
            PRIMARY KEY (study, job),
            UNIQUE (study, start_order)
        );
        -- One row per file identity. The follower decides identity (dev, ino + head signature). A reused
        -- inode is the follower's to detect, and it then overwrites the row with offset 0.
        CREATE TABLE files (
            study TEXT NOT NULL REFERENCES studies(study),
            dev INTEGER NOT NULL,
            ino INTEGER NOT NULL,
            path TEXT NOT NULL,
            head BLOB NOT NULL,
            marker BLOB NOT NULL,
            committed_offset INTEGER NOT NULL,
            line_no INTEGER NOT NULL,
            job TEXT NOT NULL,
            resume TEXT NOT NULL DEFAULT '',
            updated REAL NOT NULL,
            PRIMARY KEY (study, dev, ino)
        );
        CREATE TABLE observations (
            study TEXT NOT NULL,
            job TEXT NOT NULL,
            attempt INTEGER NOT NULL,
            metric TEXT NOT NULL,
            epoch INTEGER NOT NULL,
            value REAL,
            raw TEXT NOT NULL,
            line_no INTEGER NOT NULL,
            offset INTEGER NOT NULL,
            UNIQUE (study, job, attempt, metric, epoch),
            FOREIGN KEY (study, job) REFERENCES jobs(study, job)
        );
        CREATE TABLE decisions (
            study TEXT NOT NULL,
            job TEXT NOT NULL,
            attempt INTEGER NOT NULL,
            epoch INTEGER NOT NULL,
            verdict TEXT NOT NULL,
            rule TEXT NOT NULL,
            params TEXT NOT NULL,
            value REAL,
            threshold REAL,
            population TEXT NOT NULL,
            reason TEXT NOT NULL,
            time REAL NOT NULL,
            UNIQUE (study, job, attempt, epoch, rule),
            FOREIGN KEY (study, job) REFERENCES jobs(study, job)
        );
        CREATE TABLE actions (
            study TEXT NOT NULL,
            job TEXT NOT NULL,
            action TEXT NOT NULL,
            ok INTEGER NOT NULL,
            detail TEXT NOT NULL,
            time REAL NOT NULL
        );
        CREATE INDEX actions_job ON actions (study, job);
        CREATE TABLE stops (
            study TEXT NOT NULL,
            job TEXT NOT NULL,
            epoch INTEGER,
            reason TEXT NOT NULL,
            claimed_at REAL NOT NULL,
            finished_at REAL,
            ok INTEGER,
            detail TEXT,
            PRIMARY KEY (study, job)
        );
        """,
    )


# MIGRATIONS[n] upgrades a database at user_version n to n + 1; append, never edit, to change the schema.
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_schema_v1]
SCHEMA_VERSION = len(MIGRATIONS)


@dataclass(frozen=True, slots=True)
class FileState:
    """One followed file at its last checkpoint.

    `offset`/`line_no` are the Framer's `committed` and `line_no`. `resume` is opaque text (JSON) owned by
    the daemon: whatever the extractor held unsettled at that offset (pending epoch values, current epoch,
    attempt), so restarting at `offset` loses nothing read before it.
    """

    path: str
    dev: int
    ino: int
    offset: int
    line_no: int = 0
    job: str = ""
    head: bytes = b""  # head signature: the file's first bytes or a digest of them (follower's choice)
    marker: bytes = b""  # optional digest of the bytes just before `offset` (truncation check)
    resume: str = ""


@dataclass(frozen=True, slots=True)
class JobRow:
    job: str
    start_order: int
    state: JobState
    state_reason: str
    first_seen: float
    last_seen: float
    log_path: str
    attempt: int
    process_refs: tuple[dict[str, object], ...] = ()


@dataclass(frozen=True, slots=True)
class JobHistory:
    """A job and every stored observation of it, all attempts, in arrival order."""

    job: JobRow
    observations: tuple[Observation, ...]

    def latest(self) -> tuple[Observation, ...]:
        """The observations of the latest attempt: what the rules decide on."""
        return tuple(o for o in self.observations if o.attempt == self.job.attempt)


@dataclass(frozen=True, slots=True)
class StoredDecision:
    decision: Decision
    attempt: int
    time: float


@dataclass(frozen=True, slots=True)
class StopClaim:
    job: str
    epoch: int | None
    reason: str
    claimed_at: float
    finished_at: float | None = None  # None: claimed, outcome not recorded (running or interrupted)
    ok: bool | None = None
    detail: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ActionRow:
    job: str
    action: str
    ok: bool
    detail: dict[str, object]
    time: float


@dataclass(frozen=True, slots=True)
class JobOverview:
    """One line of `metricwatch status`."""

    job: str
    state: JobState
    state_reason: str
    attempt: int
    log_path: str
    last_epoch: int | None  # latest epoch with any metric, latest attempt
    objective_epoch: int | None  # latest epoch with the objective
    objective_value: float | None
    decision: StoredDecision | None
    stop: StopClaim | None


def _enc(x: float | None) -> float | str | None:
    return "nan" if x is not None and math.isnan(x) else x


def _dec(v: float | str | None) -> float | None:
    return None if v is None else float(v)


class StateStore:
    """The daemon's SQLite state. One instance per process (and thread); cheap to open.

    Args:
        path: the database file; its directory is created. Opened read-only with `readonly=True`
            (`metricwatch status`), which requires the file to exist.
        clock: wall-clock seconds for timestamps (injected so tests are deterministic).
    """

    def __init__(
        self, path: str | Path, *, readonly: bool = False, clock: Callable[[], float] = time.time
    ) -> None:
        self.path = Path(path).expanduser()
        self._clock = clock
        try:
            self._conn = self._connect(readonly)
            if not readonly:
                self._migrate()
            else:
                self._check_readable()
        except sqlite3.Error as exc:
            raise ConfigError(
                f"cannot open the state database: {exc}",
                where=str(self.path),
                hint="check the path and permissions, or move a damaged file aside",
            ) from exc

    def _connect(self, readonly: bool) -> sqlite3.Connection:
        if readonly:
            if not self.path.is_file():
                raise ConfigError(
                    "no state database here",
                    where=str(self.path),
                    hint="start `metricwatch watch` first, or check daemon.state_db",
                )
            conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path)
        # isolation_level=None: we issue BEGIN IMMEDIATE ourselves, so a write waits for the lock at the
        # start (honouring busy_timeout) instead of failing on a read→write upgrade mid-transaction.
        conn.isolation_level = None
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if not readonly:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
        return conn

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- schema ------------------------------------------------------------------------------------

    def _user_version(self) -> int:
        return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    def _check_version(self, version: int) -> None:
        if version > SCHEMA_VERSION:
            raise ConfigError(
                f"state database has schema version {version}, this metricwatch knows up to {SCHEMA_VERSION}",
                where=str(self.path),
                hint="upgrade metricwatch, or point daemon.state_db at a new file",
            )

    def _check_readable(self) -> None:
        version = self._user_version()
        if version == 0:
            raise ConfigError(
                "not a metricwatch state database (no schema)",
                where=str(self.path),
                hint="check daemon.state_db; the daemon creates the file when it starts",
            )
        self._check_version(version)

    def _migrate(self) -> None:
        # Under the write lock, so two processes opening a new file do not both create the schema.
        with self._write():
            version = self._user_version()
            self._check_version(version)
            for step in MIGRATIONS[version:]:
                step(self._conn)
            if version != SCHEMA_VERSION:
                self._conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    # -- writes ------------------------------------------------------------------------------------

    def ensure_study(
        self, study: str, objective: str = "", direction: Direction = Direction.MINIMIZE
    ) -> None:
        """Create the study or update its objective and direction (a config may change them)."""
        with self._write() as c:
            c.execute(
                "INSERT INTO studies (study, objective, direction, created) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (study) DO UPDATE SET objective = excluded.objective,"
                " direction = excluded.direction",
                (study, objective, direction.value, self._clock()),
            )

    def register_job(
        self, study: str, job: str, *, log_path: str = "", state: JobState = JobState.RUNNING
    ) -> None:
        """Make the job known (next in start order) if it is not; an existing job is left as it is."""
        with self._write() as c:
            self._ensure_job(c, study, job, log_path, state, self._clock())

    def _ensure_job(
        self,
        c: sqlite3.Connection,
        study: str,
        job: str,
        log_path: str,
        state: JobState,
        now: float,
    ) -> None:
        c.execute("INSERT OR IGNORE INTO studies (study, created) VALUES (?, ?)", (study, now))
        c.execute(
            "INSERT OR IGNORE INTO jobs (study, job, start_order, state, first_seen, last_seen,"
            " log_path) VALUES (?, ?, (SELECT COALESCE(MAX(start_order), 0) + 1 FROM jobs"
            " WHERE study = ?), ?, ?, ?, ?)",
            (study, job, study, state.value, now, now, log_path),
        )

    def commit_batch(
        self,
        study: str,
        file_state: FileState,
        observations: Sequence[Observation] = (),
        decisions: Sequence[Decision] = (),
    ) -> list[Observation]:
        """Store observations (and decisions) and advance the file's checkpoint, atomically.

        Observations already stored under the same (job, attempt, metric, epoch) are ignored: they were
        re-read after a restart. Decisions are stored under the job's latest attempt, once per (job,
        attempt, epoch, rule). Jobs seen for the first time are registered as running, in order.

        Returns:
            The observations that were new (the daemon feeds only these to the rules).
        """
        now = self._clock()
        new: list[Observation] = []
        with self._write() as c:
            jobs = dict.fromkeys(o.job for o in observations)
            if file_state.job:
                jobs[file_state.job] = None
            for job in jobs:
                self._ensure_job(c, study, job, file_state.path, JobState.RUNNING, now)
            for o in observations:
                cur = c.execute(
                    "INSERT OR IGNORE INTO observations (study, job, attempt, metric, epoch, value,"
                    " raw, line_no, offset) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (study, o.job, o.attempt, o.metric, o.epoch, _enc(o.value), o.raw, o.line_no, o.offset),
                )
                if cur.rowcount:
                    new.append(o)
            self._touch_jobs(c, study, new, now)
            for d in decisions:
                self._insert_decision(c, study, d, now)
            self._save_file(c, study, file_state, now)
        return new

    def _touch_jobs(self, c: sqlite3.Connection, study: str, new: Sequence[Observation], now: float) -> None:
        attempts: dict[str, int] = {}
        for o in new:
            attempts[o.job] = max(attempts.get(o.job, 1), o.attempt)
        for job, attempt in attempts.items():
            c.execute(
                "UPDATE jobs SET last_seen = ?, attempt = MAX(attempt, ?) WHERE study = ? AND job = ?",
                (now, attempt, study, job),
            )

    def _save_file(self, c: sqlite3.Connection, study: str, f: FileState, now: float) -> None:
        c.execute(
            "INSERT INTO files (study, dev, ino, path, head, marker, committed_offset, line_no, job,"
            " resume, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (study, dev, ino) DO UPDATE SET path = excluded.path,"
            " head = excluded.head, marker = excluded.marker,"
            " committed_offset = excluded.committed_offset, line_no = excluded.line_no,"
            " job = excluded.job, resume = excluded.resume, updated = excluded.updated",
            (study, f.dev, f.ino, f.path, f.head, f.marker, f.offset, f.line_no, f.job, f.resume, now),
        )

    def forget_file(self, study: str, dev: int, ino: int) -> None:
        """Drop a file's checkpoint (the file was deleted and fully drained)."""
        with self._write() as c:
            c.execute("DELETE FROM files WHERE study = ? AND dev = ? AND ino = ?", (study, dev, ino))

    def _insert_decision(self, c: sqlite3.Connection, study: str, d: Decision, now: float) -> None:
        self._ensure_job(c, study, d.job, "", JobState.RUNNING, now)
        c.execute(
            "INSERT OR IGNORE INTO decisions (study, job, attempt, epoch, verdict, rule, params,"
            " value, threshold, population, reason, time) VALUES (?, ?,"
            " (SELECT attempt FROM jobs WHERE study = ? AND job = ?), ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                study,
                d.job,
                study,
                d.job,
                d.epoch,
                d.verdict.value,
                d.rule,
                json.dumps(d.params, sort_keys=True, default=str),
                _enc(d.value),
                _enc(d.threshold),
                json.dumps(list(d.population)),
                d.reason,
                now,
            ),
        )

    def record_decision(self, study: str, decision: Decision) -> None:
        with self._write() as c:
            self._insert_decision(c, study, decision, self._clock())

    def set_job_state(self, study: str, job: str, state: JobState, reason: str = "") -> None:
        """Set a job's state and the reason for it ("process_exited", "idle_timeout", "end_pattern")."""
        now = self._clock()
        with self._write() as c:
            self._ensure_job(c, study, job, "", state, now)
            c.execute(
                "UPDATE jobs SET state = ?, state_reason = ?, last_seen = MAX(last_seen, ?)"
                " WHERE study = ? AND job = ?",
                (state.value, reason, now, study, job),
            )

    def set_job_processes(self, study: str, job: str, refs: Sequence[dict[str, object]]) -> None:
        """Store how to find the job's processes (e.g. {"pid", "start_time", "source"}), as JSON."""
        with self._write() as c:
            self._ensure_job(c, study, job, "", JobState.RUNNING, self._clock())
            c.execute(
                "UPDATE jobs SET process_refs = ? WHERE study = ? AND job = ?",
                (json.dumps(list(refs), sort_keys=True), study, job),
            )

    def claim_stop(self, study: str, job: str, *, epoch: int | None = None, reason: str = "") -> bool:
        """Claim the right to stop `job`. True exactly once per (study, job), across processes and
        restarts; call BEFORE acting, then `finish_stop` with the outcome."""
        self._conn.execute("PRAGMA synchronous = FULL")  # see module docstring: a claim must persist
        try:
            with self._write() as c:
                cur = c.execute(
                    "INSERT OR IGNORE INTO stops (study, job, epoch, reason, claimed_at)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (study, job, epoch, reason, self._clock()),
                )
                return cur.rowcount == 1
        finally:
            self._conn.execute("PRAGMA synchronous = NORMAL")

    def finish_stop(self, study: str, job: str, *, ok: bool, detail: dict[str, object] | None = None) -> None:
        """Record the outcome of a claimed stop."""
        with self._write() as c:
            c.execute(
                "UPDATE stops SET finished_at = ?, ok = ?, detail = ? WHERE study = ? AND job = ?",
                (self._clock(), int(ok), json.dumps(detail or {}, default=str), study, job),
            )

    def record_action(
        self, study: str, job: str, action: str, *, ok: bool, detail: dict[str, object] | None = None
    ) -> None:
        """Append one action taken (or attempted) on a job: "sigterm", "sigkill", "stop-file", …"""
        with self._write() as c:
            c.execute(
                "INSERT INTO actions (study, job, action, ok, detail, time) VALUES (?, ?, ?, ?, ?, ?)",
                (study, job, action, int(ok), json.dumps(detail or {}, default=str), self._clock()),
            )

    # -- reads -------------------------------------------------------------------------------------

    def studies(self) -> list[str]:
        return [r[0] for r in self._conn.execute("SELECT study FROM studies ORDER BY study")]

    def load_file_states(self, study: str) -> list[FileState]:
        rows = self._conn.execute(
            "SELECT path, dev, ino, committed_offset, line_no, job, head, marker, resume FROM files"
            " WHERE study = ? ORDER BY path, dev, ino",
            (study,),
        )
        return [FileState(r[0], r[1], r[2], r[3], r[4], r[5], bytes(r[6]), bytes(r[7]), r[8]) for r in rows]

    def jobs(self, study: str) -> list[JobRow]:
        """The study's jobs in start order."""
        rows = self._conn.execute(
            "SELECT job, start_order, state, state_reason, first_seen, last_seen, log_path, attempt,"
            " process_refs FROM jobs WHERE study = ? ORDER BY start_order",
            (study,),
        )
        return [
            JobRow(r[0], r[1], JobState(r[2]), r[3], r[4], r[5], r[6], r[7], tuple(json.loads(r[8])))
            for r in rows
        ]

    def load_history(self, study: str) -> list[JobHistory]:
        """Jobs in start order with all their observations in arrival order: enough to rebuild the
        rule engine's history after a restart."""
        by_job: dict[str, list[Observation]] = {}
        rows = self._conn.execute(
            "SELECT job, metric, epoch, value, attempt, line_no, offset, raw FROM observations"
            " WHERE study = ? ORDER BY rowid",
            (study,),
        )
        for r in rows:
            obs = Observation(r[0], r[1], r[2], float(r[3]), r[4], r[5], r[6], r[7])
            by_job.setdefault(r[0], []).append(obs)
        return [JobHistory(j, tuple(by_job.get(j.job, ()))) for j in self.jobs(study)]

    def decisions(self, study: str, job: str | None = None) -> list[StoredDecision]:
        """Stored decisions in the order they were made."""
        sql = (
            "SELECT job, epoch, verdict, rule, params, value, threshold, population, reason,"
            " attempt, time FROM decisions WHERE study = ?"
        )
        args: tuple[str, ...] = (study,)
        if job is not None:
            sql, args = sql + " AND job = ?", (study, job)
        return [_decision_row(r) for r in self._conn.execute(sql + " ORDER BY rowid", args)]

    def stop_claims(self, study: str) -> list[StopClaim]:
        rows = self._conn.execute(
            "SELECT job, epoch, reason, claimed_at, finished_at, ok, detail FROM stops"
            " WHERE study = ? ORDER BY claimed_at, job",
            (study,),
        )
        return [_stop_row(r) for r in rows]

    def unfinished_stops(self, study: str) -> list[StopClaim]:
        """Claims with no recorded outcome: after a restart, the daemon must check these jobs (the
        action may or may not have run) and must not claim them again."""
        return [s for s in self.stop_claims(study) if s.finished_at is None]

    def pending_stops(self, study: str) -> list[StoredDecision]:
        """STOP decisions of jobs that were never claimed (the daemon died between deciding and
        claiming) and are still running: the daemon acts on these after a restart."""
        rows = self._conn.execute(
            "SELECT d.job, d.epoch, d.verdict, d.rule, d.params, d.value, d.threshold, d.population,"
            " d.reason, d.attempt, d.time FROM decisions d JOIN jobs j USING (study, job)"
            " WHERE d.rowid IN (SELECT MIN(rowid) FROM decisions WHERE study = ? AND verdict = ?"
            " GROUP BY job) AND j.state = ? AND NOT EXISTS"
            " (SELECT 1 FROM stops s WHERE s.study = d.study AND s.job = d.job) ORDER BY d.rowid",
            (study, Verdict.STOP.value, JobState.RUNNING.value),
        )
        return [_decision_row(r) for r in rows]

    def actions(self, study: str, job: str | None = None) -> list[ActionRow]:
        sql = "SELECT job, action, ok, detail, time FROM actions WHERE study = ?"
        args: tuple[str, ...] = (study,)
        if job is not None:
            sql, args = sql + " AND job = ?", (study, job)
        rows = self._conn.execute(sql + " ORDER BY rowid", args)
        return [ActionRow(r[0], r[1], bool(r[2]), json.loads(r[3]), r[4]) for r in rows]

    def objective(self, study: str) -> tuple[str, str]:
        """The study's objective metric and direction as last configured ("" when unknown)."""
        row = self._conn.execute(
            "SELECT objective, direction FROM studies WHERE study = ?", (study,)
        ).fetchone()
        return (row[0] or "", row[1] or "") if row else ("", "")

    def jobs_overview(self, study: str, objective: str | None = None) -> list[JobOverview]:
        """What `metricwatch status` shows per job, in start order. `objective` defaults to the
        study's stored objective."""
        if objective is None:
            objective = self.objective(study)[0]
        stops = {s.job: s for s in self.stop_claims(study)}
        return [self._overview(study, j, objective, stops.get(j.job)) for j in self.jobs(study)]

    def _overview(self, study: str, j: JobRow, objective: str, stop: StopClaim | None) -> JobOverview:
        c = self._conn
        last_epoch = c.execute(
            "SELECT MAX(epoch) FROM observations WHERE study = ? AND job = ? AND attempt = ?",
            (study, j.job, j.attempt),
        ).fetchone()[0]
        obj = c.execute(
            "SELECT epoch, value FROM observations WHERE study = ? AND job = ? AND attempt = ?"
            " AND metric = ? ORDER BY epoch DESC LIMIT 1",
            (study, j.job, j.attempt, objective),
        ).fetchone()
        drow = c.execute(
            "SELECT job, epoch, verdict, rule, params, value, threshold, population, reason,"
            " attempt, time FROM decisions WHERE study = ? AND job = ? ORDER BY rowid DESC LIMIT 1",
            (study, j.job),
        ).fetchone()
        return JobOverview(
            job=j.job,
            state=j.state,
            state_reason=j.state_reason,
            attempt=j.attempt,
            log_path=j.log_path,
            last_epoch=last_epoch,
            objective_epoch=obj[0] if obj else None,
            objective_value=_dec(obj[1]) if obj else None,
            decision=_decision_row(drow) if drow else None,
            stop=stop,
        )


# Rows come back as plain tuples of SQLite values; these two turn them into the frozen values.
def _decision_row(r: Any) -> StoredDecision:
    d = Decision(
        job=r[0],
        epoch=r[1],
        verdict=Verdict(r[2]),
        rule=r[3],
        params=json.loads(r[4]),
        value=_dec(r[5]),
        threshold=_dec(r[6]),
        population=tuple(json.loads(r[7])),
        reason=r[8],
    )
    return StoredDecision(d, r[9], r[10])


def _stop_row(r: Any) -> StopClaim:
    return StopClaim(
        job=r[0],
        epoch=r[1],
        reason=r[2],
        claimed_at=r[3],
        finished_at=r[4],
        ok=None if r[5] is None else bool(r[5]),
        detail=json.loads(r[6]) if r[6] else {},
    )
