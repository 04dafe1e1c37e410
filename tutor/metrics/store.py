"""MetricsStore: the SQLite file every model call, retrieval, vote and knowledge gap goes into.

Owns the connection policy and the failure policy of the metrics database:

- One short-lived connection per operation (no connection is shared between threads, none is
  left open by a finished thread); WAL journal so readers never block the writer, and a busy
  timeout so concurrent writers queue instead of failing.
- Metrics are best effort for learners: a ``record_*`` call that hits a database problem
  (locked, damaged, missing table, disk full) logs it with ``logger.exception`` and returns
  None; it never raises into a chat. ``health()`` describes the problem for the admin tab.
- A file that is not a readable database when the store opens is moved aside to
  ``<name>.corrupt-<timestamp>`` (with its -wal/-shm files) and a fresh one is started: the old
  data is kept for inspection, never deleted.
- Reads (for the admin tab) raise ``MetricsError`` with a readable message instead.
"""
from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import TypeVar

from tutor.errors import TutorError
from tutor.sql import time_window, where_clause
from tutor.wal import hold_open
from tutor.metrics.migrations import MIGRATIONS, migrate
from tutor.metrics.records import (
    CallSummary,
    Feedback,
    Interaction,
    KnowledgeGap,
    ModelCall,
    ResourceSample,
    RetrievalEvent,
    StoredCall,
    StoredGap,
    StoredRetrieval,
    TrainingStep,
)

logger = logging.getLogger(__name__)

MAX_GAP_QUESTION_CHARS = 500  # enough for a teacher to see the question; bounds stored learner text
MAX_COMMENT_CHARS = 500  # same bound for the optional comment on a thumbs vote
DEFAULT_BUSY_TIMEOUT_S = 5.0  # how long a write waits for another writer before giving up

# Tables the current schema must have; health() reports any that is missing.
_TABLES = (
    "_migrations", "model_calls", "feedback", "retrieval_events", "knowledge_gaps", "resource_samples",
    "training_steps", "interactions",
)

_CALL_COLUMNS = (
    "model, adapter, operation, user, started_at, ttft_s, latency_s, prompt_tokens, "
    "completion_tokens, tokens_per_s, success, error_type, quality"
)

_SAMPLE_COLUMNS = (
    "sampled_at, cpu_percent, memory_percent, process_rss_mb, disk_percent, gpu_memory_used_mb, "
    "gpu_memory_total_mb, gpu_utilization_percent, resolution_s"
)
_STEP_COLUMNS = (
    "run_id, run_name, step, epoch, train_loss, val_loss, learning_rate, tokens_per_s, samples_per_s, "
    "peak_memory_mb, recorded_at"
)

T = TypeVar("T")


class MetricsError(TutorError):
    """The metrics database could not be read (the admin tab shows the message)."""


def percentile(sorted_values: list[float], q: float) -> float:
    """The q-quantile (0 <= q <= 1) of ascending values, interpolating linearly between closest
    ranks (numpy's default method): percentile([1, 2, 3, 4], 0.5) == 2.5."""
    if not sorted_values:
        raise ValueError("percentile of no values")
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"q must be in [0, 1], not {q}")
    pos = (len(sorted_values) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


class MetricsStore:
    """Thread-safe store of metrics records in one SQLite file. Construction never raises for a
    database problem: it logs, remembers it for ``health()``, and retries on the next write."""

    def __init__(self, db_path: Path, busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S) -> None:
        self.db_path = Path(db_path)
        self.busy_timeout_s = busy_timeout_s
        self.moved_aside: Path | None = None  # where a damaged file was moved on start, if any
        self._ready = False  # schema known to be migrated; False -> (re)initialise before use
        self._holder: sqlite3.Connection | None = None  # keeps the WAL open (tutor/wal.py)
        self._lock = threading.Lock()  # guards the failure bookkeeping below
        self._write_failures = 0
        self._last_failure: tuple[float, str] | None = None  # (when, description)
        self._last_success_at: float | None = None
        self._open()

    # ------------------------------------------------------------ writes (never raise)

    def record_call(self, call: ModelCall) -> int | None:
        """Store one model call; return its id (for thumbs up/down), or None if it failed."""

        def write(conn: sqlite3.Connection) -> int:
            cur = conn.execute(
                f"INSERT INTO model_calls ({_CALL_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    call.model, call.adapter, call.operation, call.user, call.started_at, call.ttft_s,
                    call.latency_s, call.prompt_tokens, call.completion_tokens, call.tokens_per_s,
                    int(call.success), call.error_type, call.quality,
                ),
            )
            return int(cur.lastrowid)

        return self._write("a model call", write)

    def record_retrieval(self, event: RetrievalEvent) -> int | None:
        """Store one knowledge-base search; return its id, or None if it failed."""

        def write(conn: sqlite3.Connection) -> int:
            cur = conn.execute(
                "INSERT INTO retrieval_events (started_at, user, query_chars, subject, k, latency_s, "
                "best_similarity, covered) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    event.started_at, event.user, event.query_chars, event.subject, event.k,
                    event.latency_s, event.best_similarity, int(event.covered),
                ),
            )
            return int(cur.lastrowid)

        return self._write("a retrieval event", write)

    def record_feedback(self, feedback: Feedback) -> None:
        """Store a thumbs vote; a user's second vote on the same call replaces the first.

        Raises ValueError (a sentence for the learner) when ``feedback.call_id`` is not a
        recorded call. Database problems are logged and swallowed like every ``record_*``.
        """
        comment = None if feedback.comment is None else feedback.comment[:MAX_COMMENT_CHARS]

        def write(conn: sqlite3.Connection) -> None:
            with _immediate(conn):
                known = conn.execute("SELECT 1 FROM model_calls WHERE id = ?", (feedback.call_id,)).fetchone()
                if known is None:
                    raise ValueError(
                        f"Your feedback was not saved: answer #{feedback.call_id} is not in the records."
                    )
                conn.execute(
                    "INSERT INTO feedback (call_id, user, value, comment, voted_at) VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT (call_id, user) DO UPDATE SET "
                    "value = excluded.value, comment = excluded.comment, voted_at = excluded.voted_at",
                    (feedback.call_id, feedback.user, feedback.value, comment, time.time()),
                )

        self._write("feedback", write)

    def record_gap(self, gap: KnowledgeGap) -> int | None:
        """Store a question the knowledge base did not cover (capped at MAX_GAP_QUESTION_CHARS)."""

        def write(conn: sqlite3.Connection) -> int:
            cur = conn.execute(
                "INSERT INTO knowledge_gaps (created_at, user, question, subject, best_similarity) "
                "VALUES (?, ?, ?, ?, ?)",
                (gap.created_at, gap.user, gap.question[:MAX_GAP_QUESTION_CHARS], gap.subject, gap.best_similarity),
            )
            return int(cur.lastrowid)

        return self._write("a knowledge gap", write)

    # ------------------------------------------------------------ reads (raise MetricsError)

    def record_sample(self, sample: ResourceSample) -> int | None:
        """Store one resource reading (the sampler's; best effort like every write)."""

        def write(conn: sqlite3.Connection) -> int:
            cur = conn.execute(
                f"INSERT INTO resource_samples ({_SAMPLE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                _sample_row(sample),
            )
            return int(cur.lastrowid)

        return self._write("a resource sample", write)

    def record_training_step(self, step: TrainingStep) -> int | None:
        """Store one logged training step (the training pipeline's; never raises)."""

        def write(conn: sqlite3.Connection) -> int:
            cur = conn.execute(
                f"INSERT INTO training_steps ({_STEP_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    step.run_id, step.run_name, step.step, step.epoch, step.train_loss, step.val_loss,
                    step.learning_rate, step.tokens_per_s, step.samples_per_s, step.peak_memory_mb,
                    step.recorded_at,
                ),
            )
            return int(cur.lastrowid)

        return self._write("a training step", write)

    def record_interaction(self, event: Interaction) -> int | None:
        """Store one learner action (tabs call this; never raises into the learner's flow)."""

        def write(conn: sqlite3.Connection) -> int:
            cur = conn.execute(
                "INSERT INTO interactions (at, user, action, subject, difficulty, response_time_s, correct) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (event.at, event.user, event.action, event.subject, event.difficulty, event.response_time_s,
                 event.correct),
            )
            return int(cur.lastrowid)

        return self._write("a learner interaction", write)

    def recent_calls(
        self, limit: int = 100, operation: str | None = None, *, since: float | None = None
    ) -> list[StoredCall]:
        """The latest model calls, newest first, each with its latest thumbs vote."""
        where, params = time_window("started_at", since, None)
        if operation is not None:
            where.append("operation = ?")
            params.append(operation)
        sql = (
            f"SELECT id, {_CALL_COLUMNS}, "
            "(SELECT value FROM feedback f WHERE f.call_id = c.id ORDER BY f.voted_at DESC LIMIT 1) "
            f"FROM model_calls c {where_clause(where)} ORDER BY started_at DESC, id DESC LIMIT ?"
        )

        def read(conn: sqlite3.Connection) -> list[StoredCall]:
            rows = conn.execute(sql, (*params, max(0, int(limit)))).fetchall()
            return [_stored_call(r) for r in rows]

        return self._read("recent model calls", read)

    def recent_retrievals(self, limit: int = 100, *, since: float | None = None) -> list[StoredRetrieval]:
        """The latest knowledge-base searches, newest first."""
        where, params = time_window("started_at", since, None)
        sql = (
            "SELECT id, user, query_chars, subject, k, latency_s, best_similarity, covered, started_at "
            f"FROM retrieval_events {where_clause(where)} ORDER BY started_at DESC, id DESC LIMIT ?"
        )

        def read(conn: sqlite3.Connection) -> list[StoredRetrieval]:
            rows = conn.execute(sql, (*params, max(0, int(limit)))).fetchall()
            return [
                StoredRetrieval(
                    id=r[0], user=r[1], query_chars=r[2], subject=r[3], k=r[4], latency_s=r[5],
                    best_similarity=r[6], covered=bool(r[7]), started_at=r[8],
                )
                for r in rows
            ]

        return self._read("recent retrievals", read)

    def knowledge_gaps(self, limit: int = 100, *, since: float | None = None) -> list[StoredGap]:
        """The latest uncovered questions, newest first."""
        where, params = time_window("created_at", since, None)
        sql = (
            "SELECT id, user, question, subject, best_similarity, created_at "
            f"FROM knowledge_gaps {where_clause(where)} ORDER BY created_at DESC, id DESC LIMIT ?"
        )

        def read(conn: sqlite3.Connection) -> list[StoredGap]:
            rows = conn.execute(sql, (*params, max(0, int(limit)))).fetchall()
            return [
                StoredGap(id=r[0], user=r[1], question=r[2], subject=r[3], best_similarity=r[4], created_at=r[5])
                for r in rows
            ]

        return self._read("knowledge gaps", read)

    def call_summary(self, since: float | None = None, until: float | None = None) -> list[CallSummary]:
        """Statistics per (model, adapter, operation) of the calls started in [since, until),
        sorted by model, adapter (base model first), operation. Votes count toward the window
        of the call they are on."""
        where, params = time_window("started_at", since, until)
        calls_sql = (
            "SELECT model, adapter, operation, success, latency_s, ttft_s, tokens_per_s, quality, started_at "
            f"FROM model_calls {where_clause(where)}"
        )
        fb_where, fb_params = time_window("c.started_at", since, until)
        votes_sql = (
            "SELECT c.model, c.adapter, c.operation, SUM(f.value = 1), SUM(f.value = -1) "
            f"FROM feedback f JOIN model_calls c ON c.id = f.call_id {where_clause(fb_where)} "
            "GROUP BY c.model, c.adapter, c.operation"
        )

        def read(conn: sqlite3.Connection) -> list[CallSummary]:
            conn.execute("BEGIN")  # one snapshot for both queries
            try:
                rows = conn.execute(calls_sql, params).fetchall()
                votes = {
                    (r[0], r[1], r[2]): (int(r[3] or 0), int(r[4] or 0)) for r in conn.execute(votes_sql, fb_params)
                }
            finally:
                conn.execute("COMMIT")
            return _summarise(rows, votes)

        return self._read("the call summary", read)

    # ------------------------------------------------------------ health

    def health(self) -> str | None:
        """None when the store works; else sentences describing the problem for an admin."""
        problems: list[str] = []
        if self.moved_aside is not None:
            problems.append(
                f"The metrics database was damaged and was moved aside to {self.moved_aside}; "
                "a fresh one was started."
            )
        probe = self._probe()
        if probe is not None:
            problems.append(probe)
        with self._lock:
            failures, last, last_ok = self._write_failures, self._last_failure, self._last_success_at
        if probe is None and last is not None and (last_ok is None or last[0] >= last_ok):
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(last[0]))
            problems.append(
                f"The last metrics write failed at {when}: {last[1]} "
                f"({failures} failed write(s) since the app started)."
            )
        return " ".join(problems) or None

    def _probe(self) -> str | None:
        try:
            if not self._ready:
                self._initialise()
            with closing(self._connect()) as conn:
                tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
                missing = [t for t in _TABLES if t not in tables]
                if missing:
                    return (
                        f"The metrics database {self.db_path} is missing table(s) {', '.join(missing)}, so "
                        "metrics are not being recorded. Move the file aside and restart to start a fresh one."
                    )
                done = {r[0] for r in conn.execute("SELECT name FROM _migrations")}
                pending = [m.__name__ for m in MIGRATIONS if m.__name__ not in done]
                if pending:
                    return f"The metrics database {self.db_path} has not run migration(s) {', '.join(pending)}."
        except (sqlite3.Error, OSError) as e:
            return f"The metrics database {self.db_path} cannot be used: {_describe(e)}."
        return None

    # ------------------------------------------------------------ for the package's other modules

    def run_write(self, what: str, fn: Callable[[sqlite3.Connection], T]) -> T | None:
        """Run ``fn`` on a fresh connection with the store's write policy (logged, never raises).
        Used by stats/retention/export, which keep their SQL next to their logic."""
        return self._write(what, fn)

    def run_checked(self, what: str, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` (a read, or an admin's delete) raising MetricsError with a readable message."""
        return self._read(what, fn)

    # ------------------------------------------------------------ plumbing

    def _open(self) -> None:
        if not _has_sqlite_header(self.db_path):
            # Checked before SQLite opens it: on close SQLite would delete the -wal/-shm files
            # next to a file it cannot read, and they belong to the evidence.
            try:
                self._recover("the file does not start with the SQLite header")
            except (sqlite3.Error, OSError) as e:
                logger.exception("Could not start a fresh metrics database at %s", self.db_path)
                self._note_failure("opening the database", e)
            return
        try:
            self._initialise()
            return
        except sqlite3.Error as e:
            if not (_is_corrupt(e) and self.db_path.is_file()):
                logger.exception("Could not open the metrics database %s", self.db_path)
                self._note_failure("opening the database", e)
                return
            first_error: sqlite3.Error = e
        except OSError as e:
            logger.exception("Could not open the metrics database %s", self.db_path)
            self._note_failure("opening the database", e)
            return
        try:
            self._recover(str(first_error))
        except (sqlite3.Error, OSError) as e:
            logger.exception("Could not start a fresh metrics database at %s", self.db_path)
            self._note_failure("opening the database", e)

    def _recover(self, why: str) -> None:
        """Move the damaged file aside (never delete it) and start a fresh database."""
        self.moved_aside = self._move_aside()
        logger.warning(
            "The metrics database %s is damaged (%s); moved it aside to %s and started a fresh one",
            self.db_path, why, self.moved_aside,
        )
        self._initialise()

    def _initialise(self) -> None:
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as conn:
            # WAL is a property of the file (persistent): readers no longer block the writer.
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                logger.warning("The metrics database %s runs in %s journal mode, not WAL", self.db_path, mode)
            ran = migrate(conn)
            if ran:
                logger.info("Metrics database %s: ran migrations %s", self.db_path, ", ".join(ran))
        if self._holder is not None:  # re-initialising (e.g. the file was deleted): hold the new file
            self._holder.close()
        self._holder = hold_open(self.db_path, self.busy_timeout_s)
        self._ready = True

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: autocommit; multi-statement writes use an explicit BEGIN IMMEDIATE.
        # timeout= is SQLite's busy timeout: a writer waits this long for the lock.
        conn = sqlite3.connect(self.db_path, timeout=self.busy_timeout_s, isolation_level=None)
        try:
            conn.execute("PRAGMA foreign_keys = ON")
            # NORMAL in WAL mode: durable across app crashes; an OS crash may lose the last few
            # commits, acceptable for metrics and much faster than FULL.
            conn.execute("PRAGMA synchronous = NORMAL")
        except BaseException:
            conn.close()
            raise
        return conn

    def _move_aside(self) -> Path:
        if self._holder is not None:
            self._holder.close()
            self._holder = None
        stamp = time.strftime("%Y%m%d-%H%M%S")
        target = self.db_path.with_name(f"{self.db_path.name}.corrupt-{stamp}")
        n = 1
        while target.exists():
            target = self.db_path.with_name(f"{self.db_path.name}.corrupt-{stamp}-{n}")
            n += 1
        os.replace(self.db_path, target)
        # A stale -wal next to a new database would be replayed into it: move them along.
        for suffix in ("-wal", "-shm", "-journal"):
            side = Path(f"{self.db_path}{suffix}")
            if side.exists():
                os.replace(side, Path(f"{target}{suffix}"))
        return target

    def _write(self, what: str, fn: Callable[[sqlite3.Connection], T]) -> T | None:
        try:
            if not self._ready:
                self._initialise()
            with closing(self._connect()) as conn:
                result = fn(conn)
        except (sqlite3.Error, OSError) as e:
            logger.exception("Could not record %s in the metrics database %s", what, self.db_path)
            self._note_failure(f"recording {what}", e)
            if _needs_reinitialise(e):
                self._ready = False  # e.g. the file was deleted: recreate it on the next write
            return None
        with self._lock:
            self._last_success_at = time.time()
        return result

    def _read(self, what: str, fn: Callable[[sqlite3.Connection], T]) -> T:
        try:
            if not self._ready:
                self._initialise()
            with closing(self._connect()) as conn:
                return fn(conn)
        except (sqlite3.Error, OSError) as e:
            raise MetricsError(f"Could not read {what} from the metrics database: {_describe(e)}.") from e

    def _note_failure(self, what: str, e: BaseException) -> None:
        with self._lock:
            self._write_failures += 1
            self._last_failure = (time.time(), f"{what}: {_describe(e)}")


# ---------------------------------------------------------------- helpers


@contextmanager
def _immediate(conn: sqlite3.Connection) -> Iterator[None]:
    """A write transaction that takes the write lock up front (waiting up to the busy timeout),
    so a read-then-write cannot fail half-way on a snapshot another writer made stale."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _stored_call(r: tuple) -> StoredCall:
    return StoredCall(
        id=r[0], model=r[1], adapter=r[2], operation=r[3], user=r[4], started_at=r[5], ttft_s=r[6],
        latency_s=r[7], prompt_tokens=r[8], completion_tokens=r[9], tokens_per_s=r[10], success=bool(r[11]),
        error_type=r[12], quality=r[13], feedback=r[14],
    )


def _sample_row(s: ResourceSample) -> tuple:
    return (
        s.sampled_at, s.cpu_percent, s.memory_percent, s.process_rss_mb, s.disk_percent, s.gpu_memory_used_mb,
        s.gpu_memory_total_mb, s.gpu_utilization_percent, s.resolution_s,
    )


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _summarise(rows: list[tuple], votes: dict[tuple, tuple[int, int]]) -> list[CallSummary]:
    groups: dict[tuple, list[tuple]] = {}
    for r in rows:
        groups.setdefault((r[0], r[1], r[2]), []).append(r)
    out = []
    for key, group in groups.items():
        ok = [r for r in group if r[3]]
        latencies = sorted(r[4] for r in ok)
        up, down = votes.get(key, (0, 0))
        out.append(
            CallSummary(
                model=key[0],
                adapter=key[1],
                operation=key[2],
                calls=len(group),
                successes=len(ok),
                success_rate=len(ok) / len(group),
                latency_p50_s=percentile(latencies, 0.50) if latencies else None,
                latency_p95_s=percentile(latencies, 0.95) if latencies else None,
                mean_ttft_s=_mean([r[5] for r in ok if r[5] is not None]),
                mean_tokens_per_s=_mean([r[6] for r in ok if r[6] is not None]),
                mean_quality=_mean([r[7] for r in group if r[7] is not None]),
                thumbs_up=up,
                thumbs_down=down,
                first_at=min(r[8] for r in group),
                last_at=max(r[8] for r in group),
            )
        )
    out.sort(key=lambda s: (s.model, s.adapter is not None, s.adapter or "", s.operation))
    return out


_SQLITE_HEADER = b"SQLite format 3\x00"  # the first 16 bytes of every SQLite 3 database file


def _has_sqlite_header(path: Path) -> bool:
    """False only for an existing, non-empty file that is not an SQLite database (an empty or
    missing file is a new database to SQLite)."""
    try:
        with open(path, "rb") as f:
            head = f.read(len(_SQLITE_HEADER))
    except FileNotFoundError:
        return True
    except OSError:
        return True  # unreadable or a folder: let SQLite report it, do not move anything
    return head == b"" or head == _SQLITE_HEADER


def _error_code(e: BaseException) -> int | None:
    code = getattr(e, "sqlite_errorcode", None)
    return None if code is None else code & 0xFF  # primary result code


def _is_corrupt(e: BaseException) -> bool:
    return _error_code(e) in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


def _needs_reinitialise(e: BaseException) -> bool:
    return _error_code(e) == sqlite3.SQLITE_CANTOPEN or "no such table" in str(e)


def _describe(e: BaseException) -> str:
    """A sentence fragment an admin can act on, with SQLite's own words in brackets."""
    code = _error_code(e)
    if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        text = "the database is locked by another writer or process"
    elif code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
        text = "the database file is damaged"
    elif code == sqlite3.SQLITE_READONLY:
        text = "the database file is read-only"
    elif code == sqlite3.SQLITE_FULL:
        text = "the disk is full"
    elif code == sqlite3.SQLITE_CANTOPEN:
        text = "the database file cannot be opened (check the folder exists and is writable)"
    elif "no such table" in str(e):
        text = "a metrics table is missing"
    elif isinstance(e, OSError):
        text = "the file system refused"
    else:
        text = "a database error occurred"
    return f"{text} ({type(e).__name__}: {e})"
