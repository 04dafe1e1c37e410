"""Statistics, comparison, recommendation and trends against numpy on known data."""
import random
import time

import numpy as np
import pytest

from tutor.metrics import Feedback, MetricsStore, ModelCall
from tutor.metrics.stats import ANY, Statistics

NOW = 1_800_000_000.0


def call(model="m", adapter=None, op="ask", t=NOW, lat=1.0, ok=True, ttft=0.2, tps=20.0, q=None):
    return ModelCall(model=model, adapter=adapter, operation=op, user="u", started_at=t, ttft_s=ttft if ok else None,
                     latency_s=lat, prompt_tokens=10, completion_tokens=20, tokens_per_s=tps if ok else None,
                     success=ok, error_type=None if ok else "X", quality=q)


@pytest.fixture
def store(tmp_path):
    return MetricsStore(tmp_path / "m.sqlite3")


def test_statistics_match_numpy_and_ignore_failed_calls_for_timing(store):
    rng = random.Random(1)
    lats = [rng.lognormvariate(0, 0.6) for _ in range(300)]
    for i, lat in enumerate(lats):
        store.record_call(call(t=NOW + i, lat=lat, ttft=lat / 4, q=0.5 if i % 2 else None))
    for i in range(20):  # failures: fast, must not pull the latency down
        store.record_call(call(t=NOW + 400 + i, lat=0.001, ok=False))
    (s,) = Statistics(store).statistics()
    assert (s.calls, s.successes) == (320, 300)
    assert s.success_rate == pytest.approx(300 / 320)
    assert s.latency_p50_s == pytest.approx(np.percentile(lats, 50))
    assert s.latency_p95_s == pytest.approx(np.percentile(lats, 95))
    assert s.latency_p99_s == pytest.approx(np.percentile(lats, 99))
    assert s.ttft_p95_s == pytest.approx(np.percentile([x / 4 for x in lats], 95))
    assert s.latency_mean_s == pytest.approx(np.mean(lats))
    assert (s.quality, s.quality_source) == (pytest.approx(0.5), "scores")


def test_window_groups_and_incremental_refresh(store):
    stats = Statistics(store)
    store.record_call(call(op="ask", t=NOW, lat=1))
    store.record_call(call(op="quiz", t=NOW + 10, lat=3))
    store.record_call(call(adapter="interview", op="ask", t=NOW + 20, lat=5))
    rows = stats.statistics()
    assert [(r.label, r.operation) for r in rows] == [("m", "ask"), ("m", "quiz"), ("m+interview", "ask")]
    # New rows after the first read are picked up; a window excludes older calls.
    store.record_call(call(op="ask", t=NOW + 30, lat=2))
    merged = {r.label: r for r in stats.statistics(by_operation=False)}
    assert merged["m"].calls == 3 and merged["m+interview"].calls == 1
    recent = stats.statistics(since=NOW + 5, until=NOW + 25)
    assert [(r.label, r.operation, r.calls) for r in recent] == [("m", "quiz", 1), ("m+interview", "ask", 1)]
    assert stats.statistics(model="nope") == []


def test_out_of_order_start_times_are_sorted_for_windows(store):
    stats = Statistics(store)
    for t in (NOW + 50, NOW + 10, NOW + 30):
        store.record_call(call(t=t))
    stats.statistics()
    store.record_call(call(t=NOW + 5))  # started earlier than every stored call, recorded last
    assert stats.statistics(since=NOW, until=NOW + 20)[0].calls == 2


def test_thumbs_are_the_quality_when_no_scores(store):
    ids = [store.record_call(call(t=NOW + i)) for i in range(4)]
    for i, v in zip(ids, (1, 1, 1, -1)):
        store.record_feedback(Feedback(call_id=i, user="u", value=v))
    (s,) = Statistics(store).statistics()
    assert (s.thumbs_up, s.thumbs_down, s.quality, s.quality_source) == (3, 1, 0.75, "thumbs")


def test_clear_is_noticed_by_the_cache(store):
    from tutor.metrics.retention import clear_model

    stats = Statistics(store)
    store.record_call(call(model="a"))
    store.record_call(call(model="b"))
    assert stats.models() == ["a", "b"]
    clear_model(store, "a")
    stats.table.invalidate()
    assert stats.models() == ["b"]


def test_recommend_needs_enough_calls_and_follows_priority(store):
    for i in range(30):
        store.record_call(call(model="fast", t=NOW + i, lat=1.0, q=0.2))
        store.record_call(call(model="good", t=NOW + i, lat=2.0, q=0.9))
        store.record_call(call(model="flaky", t=NOW + i, lat=0.5, ok=i % 2 == 0, q=0.9))
    for i in range(3):
        store.record_call(call(model="new", t=NOW + i, lat=0.1, q=1.0))
    stats = Statistics(store, min_calls_to_recommend=20)
    assert stats.recommend("speed").model == "flaky"
    assert stats.recommend("reliable").model in ("fast", "good")
    assert stats.recommend("quality").model in ("good", "flaky")
    bal = stats.recommend("balanced")
    # good: 0.3*(0.5/2.0) + 0.4*0.9 + 0.3*1.0 = 0.735; flaky: 0.3*1 + 0.4*0.9 + 0.3*0.5 = 0.81
    scores = {c.label: c.score for c in bal.candidates}
    assert scores["good"] == pytest.approx(0.735) and scores["flaky"] == pytest.approx(0.81)
    assert bal.model == "flaky" and "new" in bal.ineligible and "new" not in scores
    assert "flaky" in bal.reason
    with pytest.raises(ValueError):
        stats.recommend("cheapest")
    assert Statistics(store, min_calls_to_recommend=1000).recommend().model is None


def test_compare_rankings(store):
    for i in range(5):
        store.record_call(call(model="a", t=NOW + i, lat=1.0, q=0.9))
        store.record_call(call(model="b", t=NOW + i, lat=3.0, ok=i > 0, q=0.1))
    r = Statistics(store).compare().ranking
    assert (r.fastest, r.most_reliable, r.best_quality, r.best_overall) == ("a", "a", "a", "a")


def test_trend_buckets(store):
    for i in range(6):
        store.record_call(call(t=NOW + i * 60, lat=float(i + 1)))
    store.record_call(call(model="other", t=NOW, lat=100.0))
    pts = Statistics(store).trend("latency_p50", 120, since=NOW, until=NOW + 360, model="m")
    assert [p.n for p in pts] == [2, 2, 2]
    assert [p.value for p in pts] == [1.5, 3.5, 5.5]
    calls = Statistics(store).trend("calls", 3600, since=NOW, until=NOW + 3600)
    assert calls[0].value == 7.0
    assert Statistics(store).trend("calls", 60, since=NOW + 10_000, until=NOW + 10_060) == []
    with pytest.raises(ValueError):
        Statistics(store).trend("bogus", 60)
    with pytest.raises(ValueError):
        Statistics(store).trend("calls", 0.001, since=0, until=NOW + 1000)


def test_trend_adapter_filter_separates_base_and_adapter(store):
    store.record_call(call(t=NOW, adapter=None))
    store.record_call(call(t=NOW, adapter="x"))
    s = Statistics(store)
    assert s.trend("calls", 60, model="m", adapter=None)[0].value == 1.0
    assert s.trend("calls", 60, model="m", adapter=ANY)[0].value == 2.0


def test_concurrent_writers_lose_nothing(store):
    import threading

    def write(k):
        for i in range(250):
            assert store.record_call(call(model=f"w{k}", t=time.time())) is not None

    threads = [threading.Thread(target=write, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r.calls for r in Statistics(store).statistics()) == 2000


def test_speech_and_ocr_calls_are_listed_but_never_recommended_as_the_tutor_model(store):
    for i in range(30):
        store.record_call(call(model="llm", t=NOW + i, lat=2.0, q=0.8))
        store.record_call(call(model="faster-whisper:embedded", op="speech", t=NOW + i, lat=0.5, tps=None))
        store.record_call(call(model="rapidocr", op="ocr", t=NOW + i, lat=0.05, tps=None))
    stats = Statistics(store, min_calls_to_recommend=5)
    assert {s.model for s in stats.statistics()} == {"llm", "faster-whisper:embedded", "rapidocr"}
    assert stats.recommend("speed").model == "llm"
    assert [c.label for c in stats.recommend("balanced").candidates] == ["llm"]
    assert stats.compare().ranking.fastest == "llm"
