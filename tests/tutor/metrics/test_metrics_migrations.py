"""Append-only migrations: each runs once, is recorded, and an old database upgrades."""
from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from tutor.metrics import MIGRATIONS, Feedback, MetricsStore, migrate
from tutor.metrics.migrations import applied

from .conftest import make_call

# The shipped migrations, in order. New ones are appended; these names never change, because
# existing databases have recorded them.
SHIPPED = ["m001_model_calls", "m002_feedback", "m003_retrieval_events", "m004_knowledge_gaps"]


def _connect(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


def _schema(conn: sqlite3.Connection) -> list[tuple]:
    return conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()


def test_shipped_migrations_are_a_prefix_in_order():
    names = [m.__name__ for m in MIGRATIONS]
    assert names[: len(SHIPPED)] == SHIPPED
    assert len(set(names)) == len(names)


def test_migrate_twice_is_a_no_op(tmp_path):
    with closing(_connect(tmp_path / "m.db")) as conn:
        assert migrate(conn) == [m.__name__ for m in MIGRATIONS]
        schema = _schema(conn)
        assert migrate(conn) == []
        assert _schema(conn) == schema
        assert applied(conn) == [m.__name__ for m in MIGRATIONS]
        assert conn.execute("SELECT count(*) FROM _migrations").fetchone()[0] == len(MIGRATIONS)


def test_store_opened_twice_runs_nothing_again(db_path):
    MetricsStore(db_path).record_call(make_call())
    MetricsStore(db_path)
    with closing(_connect(db_path)) as conn:
        assert conn.execute("SELECT count(*) FROM _migrations").fetchone()[0] == len(MIGRATIONS)
        assert conn.execute("SELECT count(*) FROM model_calls").fetchone()[0] == 1


def test_database_from_migration_1_upgrades_and_keeps_its_rows(db_path):
    db_path.parent.mkdir(parents=True)
    with closing(_connect(db_path)) as conn:
        assert migrate(conn, MIGRATIONS[:1]) == ["m001_model_calls"]
        conn.execute(
            "INSERT INTO model_calls (started_at, model, adapter, operation, user, latency_s, success) "
            "VALUES (1.0, 'old-model', NULL, 'ask', 'ada', 2.0, 1)"
        )
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert "feedback" not in tables

    store = MetricsStore(db_path)
    assert store.health() is None
    [old] = store.recent_calls()
    assert (old.model, old.latency_s, old.success, old.feedback) == ("old-model", 2.0, True, None)
    store.record_feedback(Feedback(call_id=old.id, user="ada", value=1))
    assert store.recent_calls()[0].feedback == 1
    with closing(_connect(db_path)) as conn:
        assert applied(conn) == [m.__name__ for m in MIGRATIONS]


def test_a_failing_migration_is_rolled_back_and_not_recorded(tmp_path):
    def m001_ok(conn):
        conn.execute("CREATE TABLE a (x)")

    def m002_broken(conn):
        conn.execute("CREATE TABLE b (x)")
        conn.execute("THIS IS NOT SQL")

    with closing(_connect(tmp_path / "m.db")) as conn:
        with pytest.raises(sqlite3.OperationalError):
            migrate(conn, [m001_ok, m002_broken])
        assert applied(conn) == ["m001_ok"]
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert "a" in tables and "b" not in tables


def test_migrate_refuses_a_connection_with_implicit_transactions(tmp_path):
    with closing(sqlite3.connect(tmp_path / "m.db")) as conn:
        with pytest.raises(ValueError, match="isolation_level=None"):
            migrate(conn)


def test_tables_have_time_and_model_operation_indexes(store, db_path):
    with closing(_connect(db_path)) as conn:
        def index_columns(table):
            out = []
            for _, name, *_ in conn.execute(f"PRAGMA index_list({table})"):
                out.append([r[2] for r in conn.execute(f"PRAGMA index_info({name})")])
            return out

        calls = index_columns("model_calls")
        assert ["started_at"] in calls
        assert any(cols[:2] == ["model", "operation"] for cols in calls)
        assert ["started_at"] in index_columns("retrieval_events")
        assert ["created_at"] in index_columns("knowledge_gaps")
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
