"""Append-only schema migrations of the learner database (the pattern of tutor/metrics/migrations.py).

Owns the learner schema: quizzes and their items, answers, study plans, spaced-repetition cards.
Rules: only append a new ``@migration`` at the end; never edit, rename, reorder or delete one that
has shipped; one ``conn.execute`` per statement (``executescript`` would commit mid-migration).
"""
from __future__ import annotations

import sqlite3
from typing import Sequence

from tutor.db.migrations import Migration, Migrations, applied, run  # noqa: F401 - applied re-exported

MIGRATIONS = Migrations()  # the learner database's migrations, oldest first
migration = MIGRATIONS.migration


def migrate(conn: sqlite3.Connection, migrations: Sequence[Migration] | None = None) -> list[str]:
    """Run the learner migrations (default: all) not yet recorded; see tutor/db/migrations.py."""
    return run(conn, MIGRATIONS if migrations is None else migrations)


# ---------------------------------------------------------------- the migrations, oldest first
# Every event table has a unix-seconds timestamp with an index: the admin analytics (issue 7)
# aggregate over time windows across all learners.


@migration
def m001_quizzes(conn: sqlite3.Connection) -> None:
    conn.execute(
        """
        CREATE TABLE quizzes (
            id TEXT PRIMARY KEY,            -- uuid4 hex, made by the app
            learner TEXT NOT NULL,
            subject TEXT NOT NULL,
            topic TEXT NOT NULL,            -- what the learner asked for ('' = whole subject / review)
            difficulty TEXT NOT NULL,       -- beginner | intermediate | advanced
            kind TEXT NOT NULL,             -- mcq | true_false | short_answer
            created_at REAL NOT NULL,
            finished_at REAL                -- NULL while open; answers after it are ignored
        )
        """
    )
    conn.execute("CREATE INDEX quizzes_learner ON quizzes (learner, created_at)")
    conn.execute(
        """
        CREATE TABLE quiz_items (
            quiz_id TEXT NOT NULL REFERENCES quizzes (id),
            item_id TEXT NOT NULL,          -- content hash of question + answer: same item, same id
            position INTEGER NOT NULL,
            question TEXT NOT NULL,
            chunk_id TEXT NOT NULL,         -- the knowledge-base chunk the item was built from
            subject TEXT NOT NULL,
            topic TEXT NOT NULL,            -- the chunk's document title
            difficulty TEXT NOT NULL,
            payload TEXT NOT NULL,          -- the whole QuizItem as JSON (options, answer, explanation)
            PRIMARY KEY (quiz_id, item_id)
        )
        """
    )
    conn.execute("CREATE INDEX quiz_items_item ON quiz_items (item_id)")


@migration
def m002_answers(conn: sqlite3.Connection) -> None:
    # UNIQUE (quiz_id, item_id): a double submit is an INSERT OR IGNORE that changes nothing.
    conn.execute(
        """
        CREATE TABLE answers (
            id INTEGER PRIMARY KEY,
            quiz_id TEXT NOT NULL REFERENCES quizzes (id),
            item_id TEXT NOT NULL,
            learner TEXT NOT NULL,
            subject TEXT NOT NULL,
            topic TEXT NOT NULL,
            difficulty TEXT NOT NULL,
            chunk_id TEXT NOT NULL,
            given TEXT NOT NULL,
            correct INTEGER NOT NULL,       -- 0 / 1
            score REAL NOT NULL,            -- 0..1 (short answers: the similarity used)
            response_s REAL,                -- item shown -> answer submitted; NULL if unknown
            answered_at REAL NOT NULL,
            UNIQUE (quiz_id, item_id)
        )
        """
    )
    conn.execute("CREATE INDEX answers_learner ON answers (learner, answered_at)")
    conn.execute("CREATE INDEX answers_time ON answers (answered_at)")


@migration
def m003_plans(conn: sqlite3.Connection) -> None:
    conn.execute(
        """
        CREATE TABLE plans (
            id TEXT PRIMARY KEY,
            learner TEXT NOT NULL,
            title TEXT NOT NULL,
            subject TEXT NOT NULL,
            created_at REAL NOT NULL,
            plan TEXT NOT NULL              -- the StudyPlan as JSON
        )
        """
    )
    conn.execute("CREATE INDEX plans_learner ON plans (learner, created_at)")


@migration
def m004_review_cards(conn: sqlite3.Connection) -> None:
    conn.execute(
        """
        CREATE TABLE review_cards (
            learner TEXT NOT NULL,
            item_id TEXT NOT NULL,
            subject TEXT NOT NULL,
            topic TEXT NOT NULL,
            chunk_id TEXT NOT NULL,
            question TEXT NOT NULL,
            payload TEXT NOT NULL,          -- the QuizItem, so a review can ask it again
            card TEXT NOT NULL,             -- fsrs.Card.to_json()
            due REAL NOT NULL,
            reviews INTEGER NOT NULL DEFAULT 0,
            updated_at REAL NOT NULL,
            PRIMARY KEY (learner, item_id)
        )
        """
    )
    conn.execute("CREATE INDEX review_cards_due ON review_cards (learner, due)")
