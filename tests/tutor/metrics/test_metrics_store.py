"""MetricsStore round trips, votes, the statistics over them (tutor/metrics/stats.py), the text it keeps
(and does not), concurrency."""
from __future__ import annotations

import sqlite3
import threading
import time
from contextlib import closing

import pytest

from tutor.metrics import (
    MAX_GAP_QUESTION_CHARS,
    Feedback,
    KnowledgeGap,
    MetricsStore,
    ModelCall,
    RetrievalEvent,
    StoredCall,
    StoredGap,
)
from tutor.metrics.stats import Statistics
from tutor.types import Completion, Usage

from .conftest import make_call


def test_creates_the_parent_folder(store, db_path):
    assert db_path.is_file()


def test_call_round_trip(store):
    call = make_call(adapter="calculus", quality=0.75)
    call_id = store.record_call(call)
    assert isinstance(call_id, int)
    [stored] = store.recent_calls()
    assert stored == StoredCall(**vars(call), id=call_id, feedback=None)


def test_failed_call_round_trip(store):
    call = ModelCall.failure("m", None, "quiz", "bo", started_at=10.0, latency_s=0.5, error=TimeoutError())
    call_id = store.record_call(call)
    [stored] = store.recent_calls()
    assert stored == StoredCall(**vars(call), id=call_id)


def test_recent_calls_newest_first_limit_and_operation_filter(store):
    ids = [store.record_call(make_call(started_at=float(t), operation=op))
           for t, op in [(1, "ask"), (2, "quiz"), (3, "ask"), (4, "ask")]]
    assert [c.id for c in store.recent_calls()] == [ids[3], ids[2], ids[1], ids[0]]
    assert [c.id for c in store.recent_calls(limit=2)] == [ids[3], ids[2]]
    assert [c.id for c in store.recent_calls(operation="quiz")] == [ids[1]]
    assert [c.id for c in store.recent_calls(since=3.0)] == [ids[3], ids[2]]
    assert store.recent_calls(limit=0) == []


def test_retrieval_round_trip(store):
    event = RetrievalEvent(user="ada", query_chars=42, subject="calculus", k=3, latency_s=0.02,
                           best_similarity=0.61, covered=True, started_at=99.0)
    event_id = store.record_retrieval(event)
    [stored] = store.recent_retrievals()
    assert stored.id == event_id and RetrievalEvent(**{k: v for k, v in vars(stored).items() if k != "id"}) == event


def test_gap_round_trip_and_question_capped(store):
    long_q = "why " * 400  # 1600 chars
    gap_id = store.record_gap(KnowledgeGap(user="ada", question=long_q, subject=None, best_similarity=0.1,
                                           created_at=5.0))
    short_id = store.record_gap(KnowledgeGap(user="bo", question="What is a monad?", subject="python",
                                             best_similarity=None, created_at=6.0))
    gaps = store.knowledge_gaps()
    assert gaps == [
        StoredGap(id=short_id, user="bo", question="What is a monad?", subject="python", best_similarity=None,
                  created_at=6.0),
        StoredGap(id=gap_id, user="ada", question=long_q[:MAX_GAP_QUESTION_CHARS], subject=None,
                  best_similarity=0.1, created_at=5.0),
    ]
    assert len(gaps[1].question) == MAX_GAP_QUESTION_CHARS == 500
    assert store.knowledge_gaps(limit=1) == gaps[:1]


def test_no_message_text_is_stored(store, db_path):
    completion = Completion(text="ANSWER-TEXT-XYZZY", model="m", adapter=None,
                            usage=Usage(prompt_tokens=9, completion_tokens=5), ttft_s=0.1, latency_s=0.5)
    store.record_call(ModelCall.from_completion(completion, "ask", "ada", time.time()))
    store.record_call(ModelCall.failure("m", None, "ask", "ada", time.time(), 0.1,
                                        RuntimeError("PROMPT-TEXT-XYZZY leaked in an error")))
    with closing(sqlite3.connect(db_path)) as conn:
        dump = "\n".join(conn.iterdump())
    assert "XYZZY" not in dump


# ---------------------------------------------------------------- feedback


def test_feedback_second_vote_replaces_the_first(store):
    call_id = store.record_call(make_call())
    store.record_feedback(Feedback(call_id=call_id, user="ada", value=1, comment="clear"))
    store.record_feedback(Feedback(call_id=call_id, user="ada", value=-1, comment="actually wrong"))
    assert store.recent_calls()[0].feedback == -1
    [summary] = Statistics(store).statistics()
    assert (summary.thumbs_up, summary.thumbs_down) == (0, 1)


def test_feedback_on_unknown_call_raises_value_error(store):
    with pytest.raises(ValueError, match="not in the records"):
        store.record_feedback(Feedback(call_id=12345, user="ada", value=1))
    assert store.health() is None  # the learner's mistake is not a database problem


def test_feedback_comment_capped(store, db_path):
    call_id = store.record_call(make_call())
    store.record_feedback(Feedback(call_id=call_id, user="ada", value=1, comment="x" * 2000))
    with closing(sqlite3.connect(db_path)) as conn:
        assert len(conn.execute("SELECT comment FROM feedback").fetchone()[0]) == 500


# ---------------------------------------------------------------- statistics


def test_statistics_numbers_on_known_data(store):
    base = dict(model="smollm2", adapter=None, operation="ask")
    ids = []
    for i in range(1, 11):  # successes: latency 1..10 s, ttft 0.1..1.0, speed 10..100 tok/s
        ids.append(store.record_call(make_call(**base, started_at=1000.0 + i, latency_s=float(i), ttft_s=i / 10,
                                               tokens_per_s=10.0 * i, quality=0.5 if i <= 2 else None)))
    for i in range(2):  # failures: slow, excluded from timing statistics
        store.record_call(ModelCall.failure("smollm2", None, "ask", "bo", 1100.0 + i, 100.0, TimeoutError()))
    store.record_call(make_call(model="smollm2", adapter="calculus", operation="ask", latency_s=2.0,
                                tokens_per_s=None, started_at=1050.0))
    store.record_call(ModelCall.failure("qwen", None, "quiz", "ada", 1060.0, 3.0, RuntimeError()))
    store.record_feedback(Feedback(ids[0], "ada", 1))
    store.record_feedback(Feedback(ids[0], "bo", 1))
    store.record_feedback(Feedback(ids[1], "ada", -1))

    # sorted: model, base adapter first, operation
    qwen_quiz, base_ask, adapter_ask = Statistics(store).statistics()
    assert (base_ask.model, base_ask.adapter, base_ask.operation) == ("smollm2", None, "ask")
    assert (base_ask.calls, base_ask.successes, base_ask.calls - base_ask.successes) == (12, 10, 2)
    assert base_ask.success_rate == pytest.approx(10 / 12)
    assert base_ask.latency_p50_s == pytest.approx(5.5)
    assert base_ask.latency_p95_s == pytest.approx(9.55)
    assert base_ask.latency_mean_s == pytest.approx(5.5)  # the two slow failures are not in the timings
    assert base_ask.ttft_p50_s == pytest.approx(0.55)
    assert base_ask.tokens_per_s == pytest.approx(55.0)
    assert (base_ask.quality, base_ask.quality_source) == (pytest.approx(0.5), "scores")
    assert (base_ask.thumbs_up, base_ask.thumbs_down) == (2, 1)

    assert (adapter_ask.adapter, adapter_ask.calls, adapter_ask.latency_p50_s, adapter_ask.latency_p95_s) == (
        "calculus", 1, 2.0, 2.0)
    assert adapter_ask.tokens_per_s is None and adapter_ask.thumbs_up == 0

    assert (qwen_quiz.model, qwen_quiz.operation, qwen_quiz.calls, qwen_quiz.success_rate) == ("qwen", "quiz", 1, 0.0)
    assert qwen_quiz.latency_p50_s is None and qwen_quiz.ttft_p50_s is None


def test_statistics_time_window(store):
    for t in (10.0, 20.0, 30.0, 40.0):
        store.record_call(make_call(started_at=t, latency_s=t))
    stats = Statistics(store)
    assert [s.calls for s in stats.statistics()] == [4]
    [window] = stats.statistics(since=20.0, until=40.0)  # [since, until): the calls started at 20 and 30
    assert (window.calls, window.latency_p50_s, window.latency_mean_s) == (2, 25.0, 25.0)
    assert stats.statistics(since=50.0) == []


# ---------------------------------------------------------------- concurrency


def test_concurrent_writers_all_counted(store, db_path):
    threads_n, per_thread = 8, 500
    barrier = threading.Barrier(threads_n)
    ids: list[list[int | None]] = [[] for _ in range(threads_n)]

    def worker(n: int) -> None:
        barrier.wait()
        for i in range(per_thread):
            ids[n].append(store.record_call(make_call(user=f"user{n}", started_at=float(i))))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    all_ids = [i for chunk in ids for i in chunk]
    assert None not in all_ids
    assert len(set(all_ids)) == threads_n * per_thread
    with closing(sqlite3.connect(db_path)) as conn:
        counts = dict(conn.execute("SELECT user, count(*) FROM model_calls GROUP BY user").fetchall())
    assert counts == {f"user{n}": per_thread for n in range(threads_n)}
    assert Statistics(store).statistics()[0].calls == threads_n * per_thread
    assert store.health() is None


def test_two_stores_on_one_file_see_each_other(db_path):
    a, b = MetricsStore(db_path), MetricsStore(db_path)
    call_id = a.record_call(make_call())
    b.record_feedback(Feedback(call_id, "ada", 1))
    assert a.recent_calls()[0].feedback == 1
