"""One database layer under every store (metrics, learner records, interview history).

Owns what the three SQLite stores used to each do their own way: opening a file (WAL, busy
timeout, the idle connection that keeps the WAL open), the append-only migration runner (each
migration runs once and is recorded), and the error policy (``database.py`` says which store
raises and which carries on). The stores keep their SQL and their schema lists.

Why a thin DB-API layer (the standard ``sqlite3``) and not SQLAlchemy Core or sqlite-utils:
- Cost is not what decides it. Measured on the 2-core dev machine (noisy; 2,000 single-row
  inserts in WAL mode, p50/p95): sqlite3 with a fresh connection per operation 0.11/0.19 ms;
  SQLAlchemy 2.1.9 Core with a pooled engine and ``text()`` 0.10/0.16 ms, with ``Table.insert()``
  constructs 0.24/0.37 ms. All are far under the bench target "metrics recording added to a
  model call p95 <= 1 ms" (bench/metrics.py). Importing SQLAlchemy adds ~0.3 s to start-up.
- What decides it: the stores and the statistics are written as SQLite SQL on DB-API cursors
  (``np.fromiter`` straight over a cursor in ``tutor/metrics/stats.py``, ``lastrowid``,
  ``rowcount``, ``sqlite_errorcode`` for the recovery rules); SQLAlchemy would wrap every error
  (``.orig``), change the row types, and still has no migration runner without Alembic.
  sqlite-utils is SQLite-only, so it would not help a second engine either.
- The seam for a second engine is ``Database``: connections, transactions, the file's pragmas,
  error classification (``errors.py``) and the migration runner live only here. A second engine
  (for example PostgreSQL through SQLAlchemy Core) would be a second ``Database`` with the same
  ``transaction / session / read / write`` methods; the stores' SQL would then need its
  SQLite-only parts (``INSERT OR IGNORE``, ``?`` parameters) ported, one store at a time.
"""
from tutor.db.database import DEFAULT_BUSY_TIMEOUT_S, Database
from tutor.db.errors import DB_FAILURES, DatabaseError, FailureLog, describe
from tutor.db.migrations import Migration, Migrations, applied, run
from tutor.db.sql import time_window, where_clause

__all__ = [
    "DB_FAILURES", "DEFAULT_BUSY_TIMEOUT_S", "Database", "DatabaseError", "FailureLog", "Migration", "Migrations",
    "applied", "describe", "run", "time_window", "where_clause",
]
