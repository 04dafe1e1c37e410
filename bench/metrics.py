"""Metrics: recording overhead, sampler cost, statistics and dashboard at 1M records, concurrent writers.

    .venv/bin/python -m bench.metrics [--quick] [--records 1000000]

1. Recording overhead: the same scripted model call (FakeBackend through tutor.backends.generate)
   timed N times without and with MetricsStore.record_call after it, interleaved so drift hits both
   alike; reports p50/p95 of each, the p95 difference (target <= 1 ms) and record_call's own p95.
2. Sampler cost: ResourceSampler at a 1 s interval (5x the default rate) for 20 s; the process's CPU
   time over that span divided by wall time, in % of one core (target <= 1% at the default 5 s;
   reported at 1 s, which is harsher). The main thread sleeps meanwhile.
3. 1M records (--quick: 200k): model_calls filled with executemany (4 models x 2 adapters x 4
   operations over 7 days). Statistics.statistics() cold (first load into the numpy cache) and
   warm (p50 of 5 runs, a few new calls recorded before each so the incremental path runs);
   baseline in the same run: the plain-SQL way (GROUP BY for counts/means, then every successful
   latency and TTFT fetched per group into a Python list, numpy percentiles of it). Then a full admin
   dashboard refresh (app/tabs/admin.py views: system, performance with comparison,
   recommendation and trend figures, training, learners) as an admin (target <= 1 s).
4. 8 writer threads x 10,000 record_call each (--quick: 2,000) into a fresh file; every record
   counted afterwards.
The last stdout line is one JSON object.
"""
from __future__ import annotations

import argparse
import os
import random
import sqlite3
import tempfile
import threading
import time
from pathlib import Path
from types import SimpleNamespace

from bench.common import emit, log, pct, summary_ms

from tutor.config import MonitoringConfig
from tutor.metrics import MetricsStore, ModelCall
from tutor.metrics.monitor import Monitor
from tutor.metrics.stats import Statistics


def _call(model="bench", adapter=None, op="ask", t=None, lat=1.0) -> ModelCall:
    return ModelCall(model, adapter, op, "bench", time.time() if t is None else t, 0.1, lat, 100, 50, 25.0, True,
                     quality=0.8)


def recording_overhead(tmp: Path, n: int) -> dict:
    from tutor.backends import generate
    from tutor.backends.fake import FakeBackend
    from tutor.types import GenerationParams, GenerationRequest, Message

    store = MetricsStore(tmp / "overhead.sqlite3")
    backend = FakeBackend()
    backend.load()
    req = GenerationRequest(messages=(Message("user", "What is a gradient?"),), params=GenerationParams(max_new_tokens=32))
    plain, recorded, record_only = [], [], []
    for i in range(n):
        for with_record in ((False, True) if i % 2 == 0 else (True, False)):
            t0 = time.perf_counter()
            completion = generate(backend, req)
            if with_record:
                t1 = time.perf_counter()
                store.record_call(ModelCall.from_completion(completion, "ask", "bench", time.time()))
                record_only.append(time.perf_counter() - t1)
                recorded.append(time.perf_counter() - t0)
            else:
                plain.append(time.perf_counter() - t0)
    p, r = summary_ms(plain), summary_ms(recorded)
    return {"call_without_recording": p, "call_with_recording": r, "record_call_only": summary_ms(record_only),
            "p95_added_ms": round(r["p95_ms"] - p["p95_ms"], 3), "target_p95_added_ms": 1.0}


def sampler_cost(tmp: Path, seconds: float) -> dict:
    import psutil

    from tutor.metrics.sampler import ResourceSampler

    store = MetricsStore(tmp / "sampler.sqlite3")
    sampler = ResourceSampler(store, 1.0, tmp)
    proc = psutil.Process(os.getpid())
    c0, t0 = proc.cpu_times(), time.perf_counter()
    sampler.start()
    time.sleep(seconds)
    sampler.stop()
    c1, t1 = proc.cpu_times(), time.perf_counter()
    cpu = (c1.user + c1.system) - (c0.user + c0.system)
    pct_core = 100 * cpu / (t1 - t0)
    return {"interval_s": 1.0, "seconds": round(t1 - t0, 1), "samples": sampler.samples_taken,
            "cpu_percent_of_one_core_at_1s": round(pct_core, 3),
            "cpu_percent_of_one_core_at_default_5s_est": round(pct_core / 5, 3), "target_percent": 1.0}


def fill(store: MetricsStore, records: int) -> float:
    rng = random.Random(0)
    models = [(m, a) for m in ("smollm2", "qwen", "llama", "phi") for a in (None, "interview")]
    ops = ["ask", "quiz", "study_plan", "interview"]
    now = time.time()
    t0 = time.perf_counter()
    batch = []

    def flush(conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO model_calls (started_at, model, adapter, operation, user, ttft_s, latency_s, prompt_tokens, "
            "completion_tokens, tokens_per_s, success, error_type, quality) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", batch)
        conn.execute("COMMIT")

    for i in range(records):
        m, a = models[i % len(models)]
        ok = rng.random() > 0.02
        lat = rng.lognormvariate(0, 0.5) * (1 + (i % 4) / 4)
        batch.append((now - rng.random() * 7 * 86400, m, a, ops[(i // 8) % 4], f"u{i % 100}",
                      lat / 5 if ok else None, lat, 300, 120, rng.uniform(10, 40) if ok else None, int(ok),
                      None if ok else "GenerationError", rng.random() if i % 3 == 0 else None))
        if len(batch) == 100_000:
            store.run_checked("bench fill", flush)
            batch = []
            log(f"  filled {i + 1:,} records")
    if batch:
        store.run_checked("bench fill", flush)
    return time.perf_counter() - t0


def sql_baseline(db: Path, since: float) -> float:
    """The plain-SQL way to the same numbers: aggregates by GROUP BY, percentiles by fetching each
    group's successful latencies and TTFTs into a list (numpy computes the percentiles of it)."""
    import numpy as np

    t0 = time.perf_counter()
    conn = sqlite3.connect(db)
    groups = conn.execute(
        "SELECT model, adapter, operation, COUNT(*), SUM(success), AVG(tokens_per_s), AVG(quality) FROM model_calls "
        "WHERE started_at >= ? GROUP BY model, adapter, operation", (since,)).fetchall()
    for m, a, op, *_ in groups:
        for col in ("latency_s", "ttft_s"):
            vals = [r[0] for r in conn.execute(
                f"SELECT {col} FROM model_calls WHERE model = ? AND adapter IS ? AND operation = ? AND started_at >= ? "
                f"AND success = 1 AND {col} IS NOT NULL", (m, a, op, since))]
            np.percentile(vals, [50, 95, 99])
    conn.close()
    return time.perf_counter() - t0


def big_table(tmp: Path, records: int) -> dict:
    from app.tabs import admin
    from tutor.auth import User, UserDirectory

    db = tmp / "big.sqlite3"
    store = MetricsStore(db)
    log(f"filling {records:,} model-call records ...")
    fill_s = fill(store, records)
    stats = Statistics(store)
    week = time.time() - 7 * 86400 - 60
    t0 = time.perf_counter()
    rows = stats.statistics(week)
    cold = time.perf_counter() - t0
    assert sum(r.calls for r in rows) == records, "every record is in the statistics"
    warm = []
    for _ in range(5):
        for _ in range(10):
            store.record_call(_call("smollm2"))
        t0 = time.perf_counter()
        stats.statistics(week)
        warm.append(time.perf_counter() - t0)
    baseline = [sql_baseline(db, week) for _ in range(2)]

    mon = Monitor(store, MonitoringConfig(sample_interval_s=0), tmp)
    mon.stats = stats  # the warm cache, as in the running app
    mon.sampler.sample_once()
    app_view = SimpleNamespace(monitor=mon, users=UserDirectory({"root": User("root", "admin", "$argon2id$unused")}))
    dash = []
    for _ in range(3):
        t0 = time.perf_counter()
        admin.system_view(app_view, "root")
        admin.performance_view(app_view, "root", "Last 7 days", "balanced", "latency_p50")
        admin.training_view(app_view, "root")
        admin.learners_view(app_view, "root", "Last 7 days")
        dash.append(time.perf_counter() - t0)
    warm_p50 = pct(warm, 50)
    base_p50 = pct(baseline, 50)
    return {
        "records": records, "fill_s": round(fill_s, 1), "groups": len(rows),
        "statistics_cold_s": round(cold, 3), "statistics_warm": summary_ms(warm),
        "sql_baseline": summary_ms(baseline), "speedup_vs_sql_baseline": round(base_p50 / warm_p50, 1),
        "target_statistics_s": 0.5, "dashboard_refresh": summary_ms(dash), "target_dashboard_s": 1.0,
    }


def concurrent_writers(tmp: Path, threads: int, per_thread: int) -> dict:
    store = MetricsStore(tmp / "concurrent.sqlite3")
    failures = []

    def write(k: int) -> None:
        for i in range(per_thread):
            if store.record_call(_call(f"w{k}", t=time.time())) is None:
                failures.append((k, i))

    ts = [threading.Thread(target=write, args=(k,)) for k in range(threads)]
    t0 = time.perf_counter()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    elapsed = time.perf_counter() - t0
    counted = store.run_checked("count", lambda c: c.execute("SELECT COUNT(*) FROM model_calls").fetchone()[0])
    return {"threads": threads, "per_thread": per_thread, "expected": threads * per_thread, "counted": counted,
            "failed_writes": len(failures), "all_present": counted == threads * per_thread,
            "seconds": round(elapsed, 1), "records_per_s": round(counted / elapsed)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--records", type=int, default=None)
    args = ap.parse_args()
    records = args.records or (200_000 if args.quick else 1_000_000)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        log("recording overhead ...")
        overhead = recording_overhead(tmp, 200 if args.quick else 1000)
        log("sampler cost ...")
        sampler = sampler_cost(tmp, 5.0 if args.quick else 20.0)
        big = big_table(tmp, records)
        log("concurrent writers ...")
        conc = concurrent_writers(tmp, 8, 2000 if args.quick else 10_000)
    load = os.getloadavg()
    emit("metrics", {"recording": overhead, "sampler": sampler, "statistics": big, "concurrent_writers": conc,
                     "loadavg_end": [round(x, 2) for x in load]})


if __name__ == "__main__":
    main()
