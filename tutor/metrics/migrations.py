"""Append-only schema migrations of the metrics database (after simonw/llm's ``migrations.py``).

This module owns the metrics schema. ``MIGRATIONS`` is an ordered list of functions; each one
runs once per database, inside its own transaction, and is recorded by its function name in
the ``_migrations`` table. Rules that keep old databases upgradable:

- only ever append a new ``@migration`` at the end; never edit, rename, reorder or delete one
  that has shipped (an existing database has already run it and will not run it again);
- a migration uses ``conn.execute`` per statement, never ``executescript`` (which commits the
  surrounding transaction and would record a half-applied migration).
"""
from __future__ import annotations

import sqlite3
from typing import Sequence

from tutor.db.migrations import Migration, Migrations, applied, run  # noqa: F401 - applied re-exported

MIGRATIONS = Migrations()  # the metrics database's migrations, oldest first
migration = MIGRATIONS.migration


def migrate(conn: sqlite3.Connection, migrations: Sequence[Migration] | None = None) -> list[str]:
    """Run the metrics migrations (default: all) not yet recorded; see tutor/db/migrations.py."""
    return run(conn, MIGRATIONS if migrations is None else migrations)


# ---------------------------------------------------------------- the migrations, oldest first
# Columns are chosen for the admin statistics built on top (per model / adapter / operation,
# over a time window): every event table has a unix-seconds timestamp with an index on it.


@migration
def m001_model_calls(conn: sqlite3.Connection) -> None:
    # One row per model call. No prompt or answer text, ever: only sizes and timings.
    # adapter NULL = the base model. ttft_s / tokens_per_s NULL = not measured (failed call,
    # or an answer of one token). error_type is an exception class name, never its message.
    conn.execute(
        """
        CREATE TABLE model_calls (
            id INTEGER PRIMARY KEY,
            started_at REAL NOT NULL,
            model TEXT NOT NULL,
            adapter TEXT,
            operation TEXT NOT NULL,
            user TEXT NOT NULL,
            ttft_s REAL,
            latency_s REAL NOT NULL,
            prompt_tokens INTEGER NOT NULL DEFAULT 0,
            completion_tokens INTEGER NOT NULL DEFAULT 0,
            tokens_per_s REAL,
            success INTEGER NOT NULL CHECK (success IN (0, 1)),
            error_type TEXT,
            quality REAL
        )
        """
    )
    conn.execute("CREATE INDEX ix_model_calls_started_at ON model_calls (started_at)")
    # (model, operation) first for per-model statistics; started_at last so a time window
    # within one model/operation is an index range scan too.
    conn.execute("CREATE INDEX ix_model_calls_model_operation ON model_calls (model, operation, started_at)")


@migration
def m002_feedback(conn: sqlite3.Connection) -> None:
    # Thumbs up/down on a model call; one vote per (call, user), a second vote replaces it.
    conn.execute(
        """
        CREATE TABLE feedback (
            call_id INTEGER NOT NULL REFERENCES model_calls (id) ON DELETE CASCADE,
            user TEXT NOT NULL,
            value INTEGER NOT NULL CHECK (value IN (-1, 1)),
            comment TEXT,
            voted_at REAL NOT NULL,
            PRIMARY KEY (call_id, user)
        )
        """
    )
    conn.execute("CREATE INDEX ix_feedback_voted_at ON feedback (voted_at)")


@migration
def m003_retrieval_events(conn: sqlite3.Connection) -> None:
    # One row per knowledge-base search: the query's length, never its text.
    conn.execute(
        """
        CREATE TABLE retrieval_events (
            id INTEGER PRIMARY KEY,
            started_at REAL NOT NULL,
            user TEXT NOT NULL,
            query_chars INTEGER NOT NULL,
            subject TEXT,
            k INTEGER NOT NULL,
            latency_s REAL NOT NULL,
            best_similarity REAL,
            covered INTEGER NOT NULL CHECK (covered IN (0, 1))
        )
        """
    )
    conn.execute("CREATE INDEX ix_retrieval_events_started_at ON retrieval_events (started_at)")


@migration
def m004_knowledge_gaps(conn: sqlite3.Connection) -> None:
    # Questions the knowledge base did not cover. The only table holding learner text, because
    # a teacher needs to read it; the store caps it (MAX_GAP_QUESTION_CHARS).
    conn.execute(
        """
        CREATE TABLE knowledge_gaps (
            id INTEGER PRIMARY KEY,
            created_at REAL NOT NULL,
            user TEXT NOT NULL,
            question TEXT NOT NULL,
            subject TEXT,
            best_similarity REAL
        )
        """
    )
    conn.execute("CREATE INDEX ix_knowledge_gaps_created_at ON knowledge_gaps (created_at)")


@migration
def m005_resource_samples(conn: sqlite3.Connection) -> None:
    # Machine readings from the sampler. resolution_s 0 = raw; older rows are replaced by
    # per-bucket means (retention.py), so the table stays bounded however long the app runs.
    conn.execute(
        """
        CREATE TABLE resource_samples (
            id INTEGER PRIMARY KEY,
            sampled_at REAL NOT NULL,
            cpu_percent REAL NOT NULL,
            memory_percent REAL NOT NULL,
            process_rss_mb REAL NOT NULL,
            disk_percent REAL NOT NULL,
            gpu_memory_used_mb REAL,
            gpu_memory_total_mb REAL,
            gpu_utilization_percent REAL,
            resolution_s REAL NOT NULL DEFAULT 0
        )
        """
    )
    conn.execute("CREATE INDEX ix_resource_samples_sampled_at ON resource_samples (sampled_at)")


@migration
def m006_training_steps(conn: sqlite3.Connection) -> None:
    conn.execute(
        """
        CREATE TABLE training_steps (
            id INTEGER PRIMARY KEY,
            run_id TEXT NOT NULL,
            run_name TEXT NOT NULL,
            step INTEGER NOT NULL,
            epoch REAL NOT NULL,
            train_loss REAL,
            val_loss REAL,
            learning_rate REAL,
            tokens_per_s REAL,
            samples_per_s REAL,
            peak_memory_mb REAL,
            recorded_at REAL NOT NULL
        )
        """
    )
    conn.execute("CREATE INDEX ix_training_steps_run ON training_steps (run_id, step)")
    conn.execute("CREATE INDEX ix_training_steps_recorded_at ON training_steps (recorded_at)")


@migration
def m007_interactions(conn: sqlite3.Connection) -> None:
    # Learner actions across tabs for engagement analytics; no learner text.
    conn.execute(
        """
        CREATE TABLE interactions (
            id INTEGER PRIMARY KEY,
            at REAL NOT NULL,
            user TEXT NOT NULL,
            action TEXT NOT NULL,
            subject TEXT,
            difficulty TEXT,
            response_time_s REAL,
            correct REAL
        )
        """
    )
    conn.execute("CREATE INDEX ix_interactions_at ON interactions (at)")
    conn.execute("CREATE INDEX ix_interactions_user_at ON interactions (user, at)")

