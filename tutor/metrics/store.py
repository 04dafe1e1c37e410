"""MetricsStore: the SQLite file every model call, retrieval, vote and knowledge gap goes into.

Owns the metrics SQL and the metrics failure policy, on the database layer of ``tutor/db``
(connections, WAL, busy timeout, migrations):

- Metrics are best effort for learners: a ``record_*`` call that hits a database problem
  (locked, damaged, missing table, disk full) logs it with ``logger.exception`` and returns
  None; it never raises into a chat. ``health()`` describes the problem for the admin tab.
- A file that is not a readable database when the store opens is moved aside to
  ``<name>.corrupt-<timestamp>`` (with its -wal/-shm files) and a fresh one is started: the old
  data is kept for inspection, never deleted.
- Reads (for the admin tab) raise ``MetricsError`` with a readable message instead.
- Statistics over the calls are ``tutor/metrics/stats.py``'s (numpy), not this module's.
"""
from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from tutor.db import DB_FAILURES, DEFAULT_BUSY_TIMEOUT_S, Database, DatabaseError, time_window, where_clause
from tutor.metrics.migrations import MIGRATIONS
from tutor.metrics.records import (
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


class MetricsError(DatabaseError):
    """The metrics database could not be read (the admin tab shows the message)."""


class MetricsStore:
    """Thread-safe store of metrics records in one SQLite file. Construction never raises for a
    database problem: it logs, remembers it for ``health()``, and retries on the next write."""

    def __init__(self, db_path: Path, busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S) -> None:
        self.db = Database(db_path, MIGRATIONS, error=MetricsError, label="the metrics database",
                           best_effort_writes=True, busy_timeout_s=busy_timeout_s)
        self.db_path = self.db.path
        self.moved_aside: Path | None = None  # where a damaged file was moved on start, if any
        try:
            self.moved_aside = self.db.open_or_move_aside()
        except DB_FAILURES as e:
            logger.exception("Could not open the metrics database %s", self.db_path)
            self.db.failures.failed("opening the database", e)

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

        return self.db.write("a model call", write)

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

        return self.db.write("a retrieval event", write)

    def record_feedback(self, feedback: Feedback) -> None:
        """Store a thumbs vote; a user's second vote on the same call replaces the first.

        Raises ValueError (a sentence for the learner) when ``feedback.call_id`` is not a
        recorded call. Database problems are logged and swallowed like every ``record_*``.
        """
        comment = None if feedback.comment is None else feedback.comment[:MAX_COMMENT_CHARS]

        def write(conn: sqlite3.Connection) -> None:  # one write transaction: the check and the vote
            known = conn.execute("SELECT 1 FROM model_calls WHERE id = ?", (feedback.call_id,)).fetchone()
            if known is None:
                raise ValueError(f"Your feedback was not saved: answer #{feedback.call_id} is not in the records.")
            conn.execute(
                "INSERT INTO feedback (call_id, user, value, comment, voted_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (call_id, user) DO UPDATE SET "
                "value = excluded.value, comment = excluded.comment, voted_at = excluded.voted_at",
                (feedback.call_id, feedback.user, feedback.value, comment, time.time()),
            )

        self.db.write("feedback", write)

    def record_gap(self, gap: KnowledgeGap) -> int | None:
        """Store a question the knowledge base did not cover (capped at MAX_GAP_QUESTION_CHARS)."""

        def write(conn: sqlite3.Connection) -> int:
            cur = conn.execute(
                "INSERT INTO knowledge_gaps (created_at, user, question, subject, best_similarity) "
                "VALUES (?, ?, ?, ?, ?)",
                (gap.created_at, gap.user, gap.question[:MAX_GAP_QUESTION_CHARS], gap.subject, gap.best_similarity),
            )
            return int(cur.lastrowid)

        return self.db.write("a knowledge gap", write)

    def record_sample(self, sample: ResourceSample) -> int | None:
        """Store one resource reading (the sampler's; best effort like every write)."""

        def write(conn: sqlite3.Connection) -> int:
            cur = conn.execute(
                f"INSERT INTO resource_samples ({_SAMPLE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                _sample_row(sample),
            )
            return int(cur.lastrowid)

        return self.db.write("a resource sample", write)

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

        return self.db.write("a training step", write)

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

        return self.db.write("a learner interaction", write)

    # ------------------------------------------------------------ reads (raise MetricsError)

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

        return self.db.read("recent model calls", read)

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

        return self.db.read("recent retrievals", read)

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

        return self.db.read("knowledge gaps", read)

    # ------------------------------------------------------------ health

    def health(self) -> str | None:
        """None when the store works; else sentences describing the problem for an admin."""
        problems: list[str] = []
        if self.moved_aside is not None:
            problems.append(
                f"The metrics database was damaged and was moved aside to {self.moved_aside}; "
                "a fresh one was started."
            )
        probe = self.db.problem(_TABLES)
        if probe is not None:
            problems.append(probe)
        failure = None if probe is not None else self.db.failures.problem(self.db.label)
        if failure is not None:
            problems.append(failure)
        return " ".join(problems) or None

    # ------------------------------------------------------------ for the package's other modules

    def run_checked(self, what: str, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` (a read, or an admin's delete) on an autocommit connection, raising
        MetricsError with a readable message. Used by stats/retention/export/monitor, which keep
        their SQL next to their logic."""
        return self.db.read(what, fn)


# ---------------------------------------------------------------- helpers


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
