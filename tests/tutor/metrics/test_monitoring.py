"""Sampler, retention, export, alerts and learner analytics on a real SQLite file."""
import csv
import io
import json
import time
import zipfile
from pathlib import Path

import pytest

from tutor.config import MonitoringConfig
from tutor.metrics import Interaction, KnowledgeGap, MetricsStore, ModelCall, ResourceSample, TrainingStep
from tutor.metrics.alerts import evaluate
from tutor.metrics.export import export
from tutor.metrics.learners import engagement, engagement_score, popular_subjects
from tutor.metrics.monitor import Monitor
from tutor.metrics.retention import clear_older_than, downsample_samples
from tutor.metrics.sampler import ResourceSampler, read_sample

NOW = 1_800_000_000.0


@pytest.fixture
def store(tmp_path):
    return MetricsStore(tmp_path / "m.sqlite3")


def sample(t, cpu=10.0, **kw):
    return ResourceSample(sampled_at=t, cpu_percent=cpu, memory_percent=20.0, process_rss_mb=100.0,
                          disk_percent=30.0, **kw)


def count(store, table):
    return store.run_checked("count", lambda c: c.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


def test_read_sample_reads_this_machine(tmp_path):
    s = read_sample(tmp_path)
    assert 0 <= s.cpu_percent <= 100 and 0 < s.memory_percent < 100
    assert s.process_rss_mb > 10 and 0 < s.disk_percent <= 100


def test_sampler_thread_records_and_stops(store, tmp_path):
    sampler = ResourceSampler(store, 0.05, tmp_path)
    sampler.start()
    deadline = time.time() + 10
    while sampler.samples_taken < 3 and time.time() < deadline:
        time.sleep(0.05)
    sampler.stop()
    assert sampler.samples_taken >= 3 and sampler.latest is not None
    assert count(store, "resource_samples") == sampler.samples_taken


def test_downsampling_keeps_the_table_bounded(store):
    # Two days of 5 s samples, as the sampler would write them.
    rows = [sample(NOW - 2 * 86400 + i * 5, cpu=float(i % 100)) for i in range(2 * 86400 // 5)]
    store.run_checked("seed", lambda c: c.executemany(
        "INSERT INTO resource_samples (sampled_at, cpu_percent, memory_percent, process_rss_mb, disk_percent, "
        "resolution_s) VALUES (?, ?, ?, ?, ?, 0)",
        [(r.sampled_at, r.cpu_percent, r.memory_percent, r.process_rss_mb, r.disk_percent) for r in rows]))
    out = downsample_samples(store, raw_hours=24, bucket_s=300, retention_days=1.5, now=NOW)
    assert out.rows["expired"] > 0 and out.rows["raw_averaged"] > 0
    total = count(store, "resource_samples")
    # <= one day raw (17280) + half a day of 5-minute means (144), instead of 34560 rows.
    assert total <= 17280 + 145
    avg = store.run_checked("avg", lambda c: c.execute(
        "SELECT AVG(cpu_percent) FROM resource_samples WHERE resolution_s = 300").fetchone()[0])
    assert 40 < avg < 60  # means of 0..99 cycles, not raw values
    assert downsample_samples(store, 24, 300, 1.5, now=NOW).rows["raw_averaged"] == 0  # idempotent


def test_clear_older_than_spares_training_runs(store):
    store.record_call(ModelCall("m", None, "ask", "u", NOW - 10 * 86400, 0.1, 1.0, 1, 1, 1.0, True))
    store.record_call(ModelCall("m", None, "ask", "u", NOW - 1, 0.1, 1.0, 1, 1, 1.0, True))
    store.record_training_step(TrainingStep("r1", "run_a", 1, 0.1, 2.0, None, 1e-4, 10.0, 1.0, 500.0, NOW - 20 * 86400))
    out = clear_older_than(store, 7, now=NOW)
    assert out.rows["model_calls"] == 1 and count(store, "model_calls") == 1
    assert count(store, "training_steps") == 1
    with pytest.raises(ValueError):
        clear_older_than(store, 0)


def test_export_json_and_csv_agree(store):
    store.record_call(ModelCall("m", None, "ask", "u", NOW, 0.1, 1.0, 1, 1, 1.0, True))
    store.record_gap(KnowledgeGap("u", "what is a monad?", None, 0.1, NOW))
    bundle = export(store)
    data = json.loads(bundle.to_json())
    assert data["tables"]["model_calls"][0]["model"] == "m"
    assert data["tables"]["knowledge_gaps"][0]["question"] == "what is a monad?"
    rows = list(csv.reader(io.StringIO(bundle.to_csv("model_calls"))))
    assert rows[0][:3] == ["id", "started_at", "model"] and len(rows) == 2
    names = zipfile.ZipFile(io.BytesIO(bundle.to_csv_zip())).namelist()
    assert "model_calls.csv" in names and "training_steps.csv" in names
    assert export(store, since=NOW + 1).counts()["model_calls"] == 0
    with pytest.raises(ValueError):
        export(store, tables=("sqlite_master",))


def test_alert_thresholds_and_health_score():
    cfg = MonitoringConfig()
    calm = evaluate(sample(NOW, cpu=10.0), 0.5, cfg)
    assert calm.score == 100 and calm.alerts == () and calm.label == "healthy"
    warm = evaluate(sample(NOW, cpu=75.0), 0.5, cfg)
    assert [a.level for a in warm.alerts] == ["warning"] and warm.score == 85
    hot = evaluate(sample(NOW, cpu=95.0, gpu_memory_used_mb=900.0, gpu_memory_total_mb=1000.0), 6.0, cfg)
    assert sorted(a.metric for a in hot.alerts) == ["cpu_percent", "gpu_memory_percent", "latency_p95_ms"]
    assert all(a.level == "critical" for a in hot.alerts) and hot.score == 0
    assert evaluate(None, None, cfg, store_problem="locked").alerts[0].metric == "metrics_store"


def test_engagement_formula_and_analytics(store):
    assert engagement_score(20, 0, 0, 3) == pytest.approx(100 * (0.5 + 0.15 + 0.2))
    assert engagement_score(10, 4, 3, 1) == pytest.approx(100 * (0.25 + 0.3 * 0.75 + 0.2 / 3))
    day = 86400 * 20000
    for i in range(10):
        store.record_interaction(Interaction("ann", "chat", day + i, subject="Statistics"))
    store.record_interaction(Interaction("bob", "quiz_answer", day + 5, subject="Python", correct=1.0))
    pts = engagement(store)
    assert len(pts) == 1 and pts[0].learners == 2 and pts[0].actions == 11
    expected = (engagement_score(10, 0, 0, 1) + engagement_score(1, 1, 1.0, 1)) / 2
    assert pts[0].engagement == pytest.approx(expected)
    assert [s.subject for s in popular_subjects(store)] == ["Statistics", "Python"]


def test_monitor_reports_a_broken_database_instead_of_raising(tmp_path):
    db = tmp_path / "m.sqlite3"
    store = MetricsStore(db)
    mon = Monitor(store, MonitoringConfig(sample_interval_s=0), tmp_path)
    db.unlink()
    Path(db).mkdir()  # a folder where the file was: every query fails
    health = mon.health()
    assert any(a.metric == "metrics_store" for a in health.alerts) and health.score < 100


def _call(t: float) -> ModelCall:
    return ModelCall(model="m", adapter=None, operation="ask", user="u", started_at=t, ttft_s=0.1, latency_s=1.0,
                     prompt_tokens=5, completion_tokens=5, tokens_per_s=5.0, success=True)


def test_records_retention_expires_old_calls_keeps_recent_ones_and_refreshes_statistics(store, tmp_path):
    mon = Monitor(store, MonitoringConfig(sample_interval_s=0, records_retention_days=30), tmp_path)
    for age_days in (100, 40, 10, 1):
        store.record_call(_call(NOW - age_days * 86400))
    store.record_interaction(Interaction(user="u", action="ask", at=NOW - 40 * 86400))
    store.record_sample(sample(NOW - 40 * 86400))  # resource samples have their own retention: not this one
    store.record_training_step(TrainingStep("r1", "run_a", 1, 0.1, 3.0, None, 1e-4, 10.0, 1.0, 100.0,
                                            NOW - 400 * 86400))
    assert mon.stats.statistics()[0].calls == 4  # the cache is loaded
    cleared = mon.expire_records(now=NOW)
    assert cleared.rows["model_calls"] == 2 and cleared.rows["interactions"] == 1
    assert "resource_samples" not in cleared.rows
    assert mon.stats.statistics()[0].calls == 2  # the statistics cache saw the delete
    assert count(store, "resource_samples") == 1 and count(store, "training_steps") == 1  # curves are kept
    off = Monitor(store, MonitoringConfig(sample_interval_s=0, records_retention_days=0), tmp_path)
    assert off.expire_records(now=NOW + 1000 * 86400) is None and count(store, "model_calls") == 2


def test_the_sampler_runs_the_records_retention_on_its_hourly_beat(store, tmp_path, monkeypatch):
    import tutor.metrics.sampler as sampler_mod

    monkeypatch.setattr(sampler_mod, "RETENTION_EVERY_S", 0.0)
    ran = []
    sampler = ResourceSampler(store, 0.05, tmp_path, also_hourly=lambda: ran.append(1))
    sampler.start()
    deadline = time.time() + 10
    while not ran and time.time() < deadline:
        time.sleep(0.05)
    sampler.stop()
    assert ran
