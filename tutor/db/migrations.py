"""The append-only schema migration runner (after simonw/llm's ``migrations.py``) of every database
of the app (metrics, learner records, interview history). Each store keeps its own ordered list
(``tutor/metrics/migrations.py``, ``tutor/learners/migrations.py``, ``tutor/features/interview_store.py``);
this module runs it and records each migration by name in the ``_migrations`` table.

Rules that keep old databases upgradable:
- only ever append a new migration at the end; never edit, rename, reorder or delete one that has
  shipped (an existing database has already run it and will not run it again);
- a migration uses ``conn.execute`` per statement, never ``executescript`` (which commits the
  surrounding transaction and would record a half-applied migration).
"""
from __future__ import annotations

import sqlite3
import time
from typing import Callable, Sequence

Migration = Callable[[sqlite3.Connection], None]


class Migrations(list):
    """An ordered list of migrations; ``@migrations.migration`` appends one (its ``__name__`` is
    the name recorded in the database)."""

    def migration(self, fn: Migration) -> Migration:
        if any(m.__name__ == fn.__name__ for m in self):
            raise ValueError(f"duplicate migration name {fn.__name__!r}")
        self.append(fn)
        return fn


def applied(conn: sqlite3.Connection) -> list[str]:
    """Names of the migrations already run on this database, oldest first."""
    _ensure_table(conn)
    return [row[0] for row in conn.execute("SELECT name FROM _migrations ORDER BY applied_at, rowid")]


def run(conn: sqlite3.Connection, migrations: Sequence[Migration]) -> list[str]:
    """Run every migration not yet recorded; return their names.

    ``conn`` must be in autocommit mode (``isolation_level=None``): each migration gets its own
    ``BEGIN IMMEDIATE`` so two processes starting at once cannot both run it (the second one
    waits on the write lock, then sees the migration recorded and skips it).
    """
    if conn.isolation_level is not None:
        raise ValueError("migrate() needs a connection opened with isolation_level=None")
    _ensure_table(conn)
    ran: list[str] = []
    for fn in migrations:
        name = fn.__name__
        conn.execute("BEGIN IMMEDIATE")
        try:
            if conn.execute("SELECT 1 FROM _migrations WHERE name = ?", (name,)).fetchone() is None:
                fn(conn)
                conn.execute("INSERT INTO _migrations (name, applied_at) VALUES (?, ?)", (name, time.time()))
                ran.append(name)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    return ran


def _ensure_table(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL)")
