"""Monitor: the admin's one object over the metrics store — statistics, live resources, health,
training curves, learner analytics, clears and export. The UI tab and the REST API both call it.

Built by build_tutor (the composition root) as ``tutor.monitor``; the sampler thread starts only
when the app calls ``start()``, so tests and CLI commands never run a background thread.
"""
from __future__ import annotations

import logging
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from tutor.config import MonitoringConfig
from tutor.metrics import learners as learner_analytics
from tutor.metrics.alerts import Health, evaluate
from tutor.metrics.export import Export, export
from tutor.metrics.records import ResourceSample, StoredGap, TrainingStep
from tutor.metrics.retention import RECORD_TABLES, Cleared, clear_model, clear_older_than
from tutor.metrics.sampler import ResourceSampler
from tutor.metrics.stats import Statistics
from tutor.metrics.store import MetricsError, MetricsStore

logger = logging.getLogger(__name__)

HEALTH_WINDOW_S = 900.0  # response-time alerts look at the last 15 minutes


@dataclass(frozen=True)
class TrainingRun:
    run_id: str
    run_name: str
    steps: tuple[TrainingStep, ...]

    @property
    def best_val_loss(self) -> float | None:
        vals = [s.val_loss for s in self.steps if s.val_loss is not None]
        return min(vals) if vals else None


class Monitor:
    def __init__(self, store: MetricsStore, cfg: MonitoringConfig, data_dir: Path) -> None:
        self.store = store
        self.cfg = cfg
        self.stats = Statistics(store, cfg.min_calls_to_recommend)
        self.sampler = ResourceSampler(store, cfg.sample_interval_s, data_dir, raw_hours=cfg.raw_hours,
                                       downsample_s=cfg.downsample_s, retention_days=cfg.retention_days,
                                       also_hourly=self.expire_records)

    def start(self) -> None:
        """Start the sampler, and load the statistics cache in the background: the first load
        reads every recorded call (seconds at 1M calls), so the admin's first view should not."""
        self.sampler.start()
        threading.Thread(target=self._warm_statistics, name="stats-warm-up", daemon=True).start()

    def _warm_statistics(self) -> None:
        try:
            self.stats.statistics()
        except MetricsError:
            logger.warning("statistics cache not warmed: the metrics database cannot be read")

    def stop(self) -> None:
        self.sampler.stop()

    # ------------------------------------------------------------ live view

    def resources(self, since: float | None = None, limit: int = 5000) -> list[ResourceSample]:
        """Samples since ``since`` (default: the last hour), oldest first."""
        since = time.time() - 3600 if since is None else since

        def read(conn: sqlite3.Connection) -> list[ResourceSample]:
            rows = conn.execute(
                "SELECT sampled_at, cpu_percent, memory_percent, process_rss_mb, disk_percent, gpu_memory_used_mb, "
                "gpu_memory_total_mb, gpu_utilization_percent, resolution_s FROM resource_samples "
                "WHERE sampled_at >= ? ORDER BY sampled_at DESC LIMIT ?", (since, limit)).fetchall()
            return [ResourceSample(*r) for r in reversed(rows)]

        return self.store.run_checked("resource samples", read)

    def health(self) -> Health:
        problem = self.store.health()
        latest = self.sampler.latest
        if latest is None:
            try:
                recent = self.resources(time.time() - 3 * max(self.cfg.sample_interval_s, 5.0))
                latest = recent[-1] if recent else None
            except MetricsError:
                latest = None
        p95 = None
        try:
            rows = self.stats.statistics(time.time() - HEALTH_WINDOW_S, by_operation=False)
            p95s = [r.latency_p95_s for r in rows if r.latency_p95_s is not None]
            p95 = max(p95s) if p95s else None
        except MetricsError as e:
            problem = problem or str(e)
        return evaluate(latest, p95, self.cfg, problem)

    # ------------------------------------------------------------ training and learners

    def training_runs(self, limit_runs: int = 20) -> list[TrainingRun]:
        def read(conn: sqlite3.Connection) -> list[TrainingRun]:
            ids = [r[0] for r in conn.execute(
                "SELECT run_id FROM training_steps GROUP BY run_id ORDER BY MAX(recorded_at) DESC LIMIT ?",
                (limit_runs,))]
            runs = []
            for rid in ids:
                rows = conn.execute(
                    "SELECT run_id, run_name, step, epoch, train_loss, val_loss, learning_rate, tokens_per_s, "
                    "samples_per_s, peak_memory_mb, recorded_at FROM training_steps WHERE run_id = ? "
                    "ORDER BY step, recorded_at", (rid,)).fetchall()
                steps = tuple(TrainingStep(*r) for r in rows)
                runs.append(TrainingRun(rid, steps[0].run_name if steps else rid, steps))
            return runs

        return self.store.run_checked("training runs", read)

    def engagement(self, since: float | None = None):
        return learner_analytics.engagement(self.store, since)

    def popular_subjects(self, since: float | None = None):
        return learner_analytics.popular_subjects(self.store, since)

    def knowledge_gaps(self, limit: int = 100, since: float | None = None) -> list[StoredGap]:
        return self.store.knowledge_gaps(limit, since=since)

    # ------------------------------------------------------------ admin actions

    def clear_model(self, model: str, adapter: str | None = None) -> Cleared:
        try:
            return clear_model(self.store, model, adapter)
        finally:
            self.stats.table.invalidate()

    def expire_records(self, now: float | None = None) -> Cleared | None:
        """Retention of the recorded calls, searches, gaps and interactions (monitoring.records_retention_days;
        run hourly by the sampler). None when retention is off."""
        days = self.cfg.records_retention_days
        if days <= 0:
            return None
        cleared = clear_older_than(self.store, days, now=now, tables=RECORD_TABLES)
        if cleared.rows.get("model_calls"):
            self.stats.table.invalidate()
        if cleared.total:
            logger.info("retention: deleted %s", cleared.rows)
        return cleared

    def clear_older_than(self, days: float) -> Cleared:
        try:
            return clear_older_than(self.store, days)
        finally:
            self.stats.table.invalidate()

    def export(self, since: float | None = None, until: float | None = None,
               tables: tuple[str, ...] | None = None) -> Export:
        return export(self.store, since, until, tables)
