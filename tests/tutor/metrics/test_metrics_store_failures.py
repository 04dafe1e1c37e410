"""A damaged, locked or broken metrics database never takes a learner's chat down."""
from __future__ import annotations

import logging
import re
import sqlite3
import time
from contextlib import closing

import pytest

from tutor.metrics import Feedback, KnowledgeGap, MetricsError, MetricsStore, RetrievalEvent, migrate
from tutor.metrics.migrations import MIGRATIONS
from tutor.metrics.stats import Statistics

from .conftest import make_call

LOGGER = "tutor.metrics.store"


def _gap() -> KnowledgeGap:
    return KnowledgeGap(user="ada", question="q?", subject=None, best_similarity=0.1, created_at=1.0)


def _event() -> RetrievalEvent:
    return RetrievalEvent(user="ada", query_chars=3, subject=None, k=3, latency_s=0.1, best_similarity=0.2,
                          covered=False, started_at=1.0)


def _corrupt_files(db_path):
    return sorted(p.name for p in db_path.parent.iterdir() if ".corrupt-" in p.name)


# ---------------------------------------------------------------- damaged file on start


def test_garbage_file_is_moved_aside_and_a_fresh_store_starts(db_path, caplog):
    db_path.parent.mkdir(parents=True)
    garbage = b"this is not a database at all " * 200
    db_path.write_bytes(garbage)
    stale_wal = b"stale wal bytes"
    (db_path.parent / f"{db_path.name}-wal").write_bytes(stale_wal)

    with caplog.at_level(logging.WARNING, logger=LOGGER):
        store = MetricsStore(db_path)

    [moved, moved_wal] = _corrupt_files(db_path)
    assert re.fullmatch(rf"{re.escape(db_path.name)}\.corrupt-\d{{8}}-\d{{6}}", moved)
    assert moved_wal == f"{moved}-wal"
    assert (db_path.parent / moved).read_bytes() == garbage  # kept for inspection, byte for byte
    assert (db_path.parent / moved_wal).read_bytes() == stale_wal
    assert store.moved_aside == db_path.parent / moved
    assert any(r.levelno == logging.WARNING and "moved it aside" in r.getMessage() for r in caplog.records)

    call_id = store.record_call(make_call())
    assert call_id is not None and [c.id for c in store.recent_calls()] == [call_id]
    health = store.health()
    assert health is not None and "moved aside" in health and moved in health


def test_damaged_pages_are_moved_aside_too(db_path):
    MetricsStore(db_path).record_call(make_call())
    raw = bytearray(db_path.read_bytes())
    raw[100:4096] = b"\xff" * (4096 - 100)  # page 1 after the header: the schema b-tree
    db_path.write_bytes(bytes(raw))
    store = MetricsStore(db_path)
    assert store.moved_aside is not None and store.moved_aside.read_bytes() == bytes(raw)
    assert store.record_call(make_call()) is not None


def test_two_damaged_starts_in_one_second_keep_both_files(db_path):
    db_path.parent.mkdir(parents=True)
    for content in (b"first garbage " * 100, b"second garbage " * 100):
        db_path.write_bytes(content)
        MetricsStore(db_path)
    # The first start's fresh database may still be open (its WAL files move along with it).
    moved = [m for m in _corrupt_files(db_path) if not m.endswith(("-wal", "-shm"))]
    assert len(moved) == 2
    assert {(db_path.parent / m).read_bytes()[:6] for m in moved} == {b"first ", b"second"}


# ---------------------------------------------------------------- problems while running


def test_dropped_table_write_failures_are_logged_not_raised(store, db_path, caplog):
    call_id = store.record_call(make_call())
    with closing(sqlite3.connect(db_path)) as conn:
        conn.execute("DROP TABLE feedback")
        conn.execute("DROP TABLE model_calls")
        conn.execute("DROP TABLE knowledge_gaps")
        conn.execute("DROP TABLE retrieval_events")
        conn.commit()

    with caplog.at_level(logging.ERROR, logger=LOGGER):
        assert store.record_call(make_call()) is None
        assert store.record_retrieval(_event()) is None
        assert store.record_gap(_gap()) is None
        assert store.record_feedback(Feedback(call_id, "ada", 1)) is None  # no ValueError either
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 4 and all(r.exc_info for r in errors)

    health = store.health()
    assert health is not None and "missing table" in health and "model_calls" in health
    with pytest.raises(MetricsError, match="missing"):
        store.recent_calls()


def test_locked_database_fails_fast_then_recovers(db_path, caplog):
    store = MetricsStore(db_path, busy_timeout_s=0.05)
    with closing(sqlite3.connect(db_path, isolation_level=None)) as other:
        other.execute("BEGIN IMMEDIATE")  # another writer holds the lock
        t0 = time.perf_counter()
        with caplog.at_level(logging.ERROR, logger=LOGGER):
            assert store.record_call(make_call()) is None
        assert time.perf_counter() - t0 < 2.0
        health = store.health()
        assert health is not None and "locked" in health and "1 failed write" in health
        assert store.recent_calls() == []  # WAL: reads go on while another process writes
        other.execute("ROLLBACK")
    assert store.record_call(make_call()) is not None
    assert store.health() is None
    assert store.moved_aside is None


def test_locked_at_start_does_not_raise_and_migrates_later(db_path):
    db_path.parent.mkdir(parents=True)
    with closing(sqlite3.connect(db_path, isolation_level=None)) as other:
        migrate(other, MIGRATIONS[:1])  # an old database, rollback-journal mode
        other.execute("BEGIN EXCLUSIVE")  # nobody else may even read it
        store = MetricsStore(db_path, busy_timeout_s=0.05)
        assert store.moved_aside is None and db_path.is_file()  # locked is not damaged
        assert "locked" in (store.health() or "")
        assert store.record_gap(_gap()) is None
        with pytest.raises(MetricsError, match="locked"):
            store.knowledge_gaps()
        other.execute("ROLLBACK")
    assert store.record_gap(_gap()) is not None  # migrations ran on this first write
    assert store.health() is None
    assert _corrupt_files(db_path) == []


def test_deleted_file_is_recreated_on_the_next_write(store, db_path):
    store.record_call(make_call())
    db_path.unlink()
    for suffix in ("-wal", "-shm"):
        (db_path.parent / f"{db_path.name}{suffix}").unlink(missing_ok=True)
    assert store.record_call(make_call()) is None  # lands in an empty file: logged
    assert store.record_call(make_call()) is not None
    assert len(store.recent_calls()) == 1


def test_unusable_folder_does_not_raise(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the data folder should be")
    store = MetricsStore(blocker / "metrics.sqlite3")
    assert store.record_call(make_call()) is None
    assert store.health() is not None
    with pytest.raises(MetricsError):
        Statistics(store).statistics()
