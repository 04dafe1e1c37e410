"""tutor/db: migrations run once and are recorded, transactions, and the error policy per store
(learner data raises a sentence; metrics log, show in health() and carry on)."""
from __future__ import annotations

import logging
import sqlite3
import threading
from contextlib import closing
from pathlib import Path

import pytest

from tutor.db import Database, DatabaseError, Migrations, applied
from tutor.features.interview_store import InterviewStore, InterviewStoreError
from tutor.learners import LearnerStore, LearnerStoreError
from tutor.metrics import MetricsStore, ModelCall


class ExampleError(DatabaseError):
    pass


def _counting_migrations(calls: list[str]) -> Migrations:
    migrations = Migrations()

    @migrations.migration
    def e001_notes(conn: sqlite3.Connection) -> None:
        calls.append("e001_notes")
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL)")

    return migrations


def _db(path: Path, migrations: Migrations, **kw) -> Database:
    return Database(path, migrations, error=ExampleError, label="the example database", **kw)


def _call() -> ModelCall:
    return ModelCall("m", None, "ask", "ada", 1.0, 0.1, 1.0, 10, 5, 20.0, True)


def _lock(path: Path) -> sqlite3.Connection:
    """Another process's connection holding the write lock (and in rollback mode, every reader out)."""
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    return other


# ---------------------------------------------------------------- migrations


def test_each_migration_runs_once_and_is_recorded(tmp_path):
    calls: list[str] = []
    migrations = _counting_migrations(calls)
    path = tmp_path / "sub" / "e.sqlite3"  # the folder is created on first use
    assert _db(path, migrations).open() == ["e001_notes"]
    assert _db(path, migrations).open() == []  # a second store on the same file runs nothing
    with _db(path, migrations).transaction(write=True) as conn:
        conn.execute("INSERT INTO notes (text) VALUES ('kept')")

    @migrations.migration
    def e002_tags(conn: sqlite3.Connection) -> None:  # appended later: only it runs on the old file
        calls.append("e002_tags")
        conn.execute("ALTER TABLE notes ADD COLUMN tag TEXT")

    assert _db(path, migrations).open() == ["e002_tags"]
    assert calls == ["e001_notes", "e002_tags"]
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        assert applied(conn) == ["e001_notes", "e002_tags"]
        assert conn.execute("SELECT text, tag FROM notes").fetchall() == [("kept", None)]
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_many_threads_opening_at_once_migrate_once(tmp_path):
    calls: list[str] = []
    migrations = _counting_migrations(calls)
    path = tmp_path / "e.sqlite3"
    dbs = [_db(path, migrations) for _ in range(4)]  # two stores per thread pair, like two processes
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def use(db: Database) -> None:
        barrier.wait()
        try:
            with db.transaction(write=True) as conn:
                conn.execute("INSERT INTO notes (text) VALUES ('x')")
        except BaseException as e:  # noqa: BLE001 - collected and asserted below
            errors.append(e)

    threads = [threading.Thread(target=use, args=(dbs[i % 4],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and calls == ["e001_notes"]
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("SELECT COUNT(*) FROM notes").fetchone()[0] == 8


def test_existing_databases_of_every_store_run_no_migration_again(tmp_path):
    """Files made before tutor/db (same _migrations table, same names) are opened as they are."""
    for make, name in ((LearnerStore, "learners"), (InterviewStore, "interviews"), (MetricsStore, "metrics")):
        path = tmp_path / f"{name}.sqlite3"
        first = make(path).db
        first.open()
        with closing(sqlite3.connect(path, isolation_level=None)) as conn:
            before = conn.execute("SELECT name, applied_at FROM _migrations ORDER BY rowid").fetchall()
        assert [n for n, _ in before] == [m.__name__ for m in first.migrations]
        assert make(path).db.open() == []
        with closing(sqlite3.connect(path, isolation_level=None)) as conn:
            assert conn.execute("SELECT name, applied_at FROM _migrations ORDER BY rowid").fetchall() == before


def test_a_write_that_raises_is_rolled_back(tmp_path):
    db = _db(tmp_path / "e.sqlite3", _counting_migrations([]))
    with pytest.raises(ValueError):
        with db.transaction(write=True) as conn:
            conn.execute("INSERT INTO notes (text) VALUES ('half')")
            raise ValueError("the caller's own check failed")
    with db.transaction() as conn:
        assert conn.execute("SELECT COUNT(*) FROM notes").fetchone()[0] == 0


# ---------------------------------------------------------------- error policy: learner data raises


def test_learner_store_raises_a_sentence_on_a_locked_database(tmp_path):
    path = tmp_path / "learners.sqlite3"
    store = LearnerStore(path, busy_timeout_s=0.05)
    store.plans("ada")
    with closing(_lock(path)):
        with pytest.raises(LearnerStoreError, match="learner records .*locked") as caught:
            store.create_quiz("ada", "Python", "", "beginner", "mcq")
    assert isinstance(caught.value.__cause__, sqlite3.OperationalError)
    assert "Traceback" not in str(caught.value)
    store.create_quiz("ada", "Python", "", "beginner", "mcq")  # works again once the lock is gone


def test_learner_store_raises_on_a_damaged_file_and_leaves_it_in_place(tmp_path):
    path = tmp_path / "learners.sqlite3"
    garbage = b"not a database " * 300
    path.write_bytes(garbage)
    with pytest.raises(LearnerStoreError, match="damaged"):
        LearnerStore(path).plans("ada")
    assert path.read_bytes() == garbage  # learner data is never moved aside or replaced
    assert not [p for p in tmp_path.iterdir() if ".corrupt-" in p.name]


def test_interview_store_raises_a_sentence_on_a_locked_database(tmp_path):
    path = tmp_path / "interviews.sqlite3"
    store = InterviewStore(path)
    store.db.busy_timeout_s = 0.05
    store.sessions("ada")
    with closing(_lock(path)):
        with pytest.raises(InterviewStoreError, match="interview history .*locked"):
            store.start_session("ada", "All topics", None, None, 3)


# ---------------------------------------------------------------- error policy: metrics carry on


def test_metrics_store_logs_and_carries_on_when_locked(tmp_path, caplog):
    path = tmp_path / "metrics.sqlite3"
    store = MetricsStore(path, busy_timeout_s=0.05)
    with closing(_lock(path)):
        with caplog.at_level(logging.ERROR):
            assert store.record_call(_call()) is None  # no exception into the learner's chat
        assert [r.exc_info is not None for r in caplog.records if r.levelno == logging.ERROR] == [True]
        assert "locked" in (store.health() or "")
    assert store.record_call(_call()) is not None
    assert store.health() is None


def test_metrics_store_on_a_damaged_file_moves_it_aside_and_records(tmp_path):
    path = tmp_path / "metrics.sqlite3"
    path.write_bytes(b"not a database " * 300)
    store = MetricsStore(path)
    assert store.moved_aside is not None and store.moved_aside.is_file()
    assert store.record_call(_call()) is not None
    assert "moved aside" in (store.health() or "")
