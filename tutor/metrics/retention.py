"""Deleting metrics: an admin's clear of one model or of old data, and the automatic retention
that keeps resource samples bounded (raw for `raw_hours`, then per-bucket means, then gone).

Every delete here also invalidates the statistics cache through the callback the caller passes,
so the admin tab never shows rows that no longer exist.
"""
from __future__ import annotations

import logging
import math
import sqlite3
import time
from dataclasses import dataclass

from tutor.metrics.store import MetricsStore

logger = logging.getLogger(__name__)

# Tables cleared by "clear data older than N days", with their time column. Training steps are
# kept: runs are few, small, and the loss curves are worth keeping. Votes go with their calls
# (ON DELETE CASCADE).
_AGED_TABLES = {
    "model_calls": "started_at",
    "retrieval_events": "started_at",
    "knowledge_gaps": "created_at",
    "resource_samples": "sampled_at",
    "interactions": "at",
}
# What the hourly records retention expires (resource samples have their own, shorter retention).
RECORD_TABLES = frozenset(_AGED_TABLES) - {"resource_samples"}


@dataclass(frozen=True)
class Cleared:
    rows: dict[str, int]  # table -> rows deleted

    @property
    def total(self) -> int:
        return sum(self.rows.values())


def clear_model(store: MetricsStore, model: str, adapter: str | None = None) -> Cleared:
    """Delete every recorded call of ``model`` (only those of ``adapter`` when given; "" = base)."""

    def run(conn: sqlite3.Connection) -> Cleared:
        if adapter is None:
            cur = conn.execute("DELETE FROM model_calls WHERE model = ?", (model,))
        else:
            cur = conn.execute("DELETE FROM model_calls WHERE model = ? AND adapter IS ?", (model, adapter or None))
        return Cleared({"model_calls": cur.rowcount})

    return store.run_checked(f"clearing the calls of {model}", run)


def clear_older_than(store: MetricsStore, days: float, now: float | None = None,
                     tables: frozenset[str] | None = None) -> Cleared:
    """Delete rows older than ``days`` from every aged table (only ``tables`` when given)."""
    if not days > 0:
        raise ValueError("days must be > 0")
    aged = {t: c for t, c in _AGED_TABLES.items() if tables is None or t in tables}
    cutoff = (time.time() if now is None else now) - days * 86400

    def run(conn: sqlite3.Connection) -> Cleared:
        rows = {}
        conn.execute("BEGIN IMMEDIATE")
        try:
            for table, col in aged.items():
                rows[table] = conn.execute(f"DELETE FROM {table} WHERE {col} < ?", (cutoff,)).rowcount
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return Cleared(rows)

    return store.run_checked(f"clearing data older than {days:g} days", run)


def downsample_samples(store: MetricsStore, raw_hours: float, bucket_s: float, retention_days: float,
                       now: float | None = None) -> Cleared:
    """Average raw samples older than ``raw_hours`` into ``bucket_s`` buckets and delete samples
    older than ``retention_days``. Bounded size: at most raw_hours*3600/interval raw rows plus
    retention_days*86400/bucket_s averaged rows, however long the app runs."""
    now = time.time() if now is None else now
    # Align the cutoff to a bucket edge so no bucket is half raw, half averaged.
    cutoff = math.floor((now - raw_hours * 3600) / bucket_s) * bucket_s
    expire = now - retention_days * 86400

    def run(conn: sqlite3.Connection) -> Cleared:
        conn.execute("BEGIN IMMEDIATE")
        try:
            expired = conn.execute("DELETE FROM resource_samples WHERE sampled_at < ?", (expire,)).rowcount
            conn.execute(
                "INSERT INTO resource_samples (sampled_at, cpu_percent, memory_percent, process_rss_mb, "
                "disk_percent, gpu_memory_used_mb, gpu_memory_total_mb, gpu_utilization_percent, resolution_s) "
                "SELECT CAST(sampled_at / ? AS INTEGER) * ?, AVG(cpu_percent), AVG(memory_percent), "
                "AVG(process_rss_mb), AVG(disk_percent), AVG(gpu_memory_used_mb), AVG(gpu_memory_total_mb), "
                "AVG(gpu_utilization_percent), ? FROM resource_samples "
                "WHERE resolution_s = 0 AND sampled_at < ? GROUP BY CAST(sampled_at / ? AS INTEGER)",
                (bucket_s, bucket_s, bucket_s, cutoff, bucket_s),
            )
            raw = conn.execute("DELETE FROM resource_samples WHERE resolution_s = 0 AND sampled_at < ?",
                               (cutoff,)).rowcount
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return Cleared({"expired": expired, "raw_averaged": raw})

    return store.run_checked("downsampling resource samples", run)
