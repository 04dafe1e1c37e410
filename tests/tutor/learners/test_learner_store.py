"""LearnerStore: per-learner isolation, idempotent answers, FSRS queue, progress and admin aggregates."""
import sqlite3
import threading

import pytest

from tutor.features.schemas import QuizItem
from tutor.learners import LearnerStore
from tutor.learners import migrations
from tutor.learners.store import DAY_S, streak

T0 = 1_760_000_000.0  # a fixed "now" so time buckets are deterministic


def item(n: int, subject="Python", topic="Lists", difficulty="beginner") -> QuizItem:
    return QuizItem(item_id=f"i{n}", kind="mcq", question=f"Question {n}?", options=("a", "b", "c", "d"),
                    answer="a", explanation="because", chunk_id=f"doc.md::{n}:abc", doc_id="doc.md", topic=topic,
                    section="S", subject=subject, difficulty=difficulty, source_quote="a is a")


@pytest.fixture
def store(tmp_path):
    return LearnerStore(tmp_path / "learners.sqlite3")


def quiz_with(store, learner, items, subject="Python", now=T0):
    qid = store.create_quiz(learner, subject, "", "beginner", "mcq", now=now)
    for it in items:
        store.add_item(qid, it)
    return qid


def test_migrations_run_once_and_db_is_wal(store, tmp_path):
    store.plans("x")  # opens and migrates
    conn = sqlite3.connect(tmp_path / "learners.sqlite3", isolation_level=None)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert migrations.applied(conn) == [m.__name__ for m in migrations.MIGRATIONS]
    assert migrations.migrate(conn) == []


def test_answer_recorded_once_and_not_after_finish(store):
    qid = quiz_with(store, "ann", [item(1), item(2)])
    assert store.record_answer("ann", qid, "i1", "a", True, 1.0, 2.5).recorded
    again = store.record_answer("ann", qid, "i1", "b", False, 0.0, 1.0)
    assert (again.recorded, again.reason) == (False, "duplicate")
    assert store.finish_quiz("ann", qid)
    late = store.record_answer("ann", qid, "i2", "a", True, 1.0, 1.0)
    assert (late.recorded, late.reason) == (False, "quiz finished")
    rows = store.answers("ann", qid)
    assert [(r.item_id, r.given, r.correct, r.response_s) for r in rows] == [("i1", "a", True, 2.5)]
    assert not store.finish_quiz("ann", qid)  # second finish changes nothing


def test_learners_never_see_each_others_records(store):
    qa = quiz_with(store, "ann", [item(1)])
    assert store.quiz("bob", qa) is None
    out = store.record_answer("bob", qa, "i1", "a", True, 1.0, 1.0)
    assert (out.recorded, out.reason) == (False, "unknown quiz")
    assert store.answers("bob") == [] and store.progress("bob").answered == 0


def test_two_learners_answering_concurrently(store):
    quizzes = {name: quiz_with(store, name, [item(i) for i in range(20)]) for name in ("ann", "bob")}
    errors = []

    def learner(name, correct):
        try:
            for i in range(20):
                for _ in range(2):  # every answer double-submitted
                    store.record_answer(name, quizzes[name], f"i{i}", "a", correct, float(correct), 1.0)
        except Exception as e:  # pragma: no cover - shown by the assert
            errors.append(e)

    threads = [threading.Thread(target=learner, args=("ann", True)), threading.Thread(target=learner, args=("bob", False))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    ann, bob = store.progress("ann"), store.progress("bob")
    assert (ann.answered, ann.correct) == (20, 20)
    assert (bob.answered, bob.correct) == (20, 0)


def test_missed_items_enter_fsrs_queue_and_come_due(store):
    store.review("ann", item(1), correct=False, now=T0)
    assert store.review("ann", item(2), correct=True, now=T0) == float("inf")  # known: no card
    assert store.due_reviews("ann", now=T0 + 1) == []  # "Again" is due in minutes, not at once
    due = store.due_reviews("ann", now=T0 + DAY_S)
    assert [c.item.item_id for c in due] == ["i1"]
    assert store.due_reviews("bob", now=T0 + DAY_S) == []
    nxt = store.review("ann", item(1), correct=True, now=T0 + DAY_S)
    assert nxt > T0 + DAY_S


def test_progress_buckets_mastery_streak(store):
    qid = quiz_with(store, "ann", [item(1), item(2, difficulty="advanced"), item(3, topic="Dicts")])
    store.record_answer("ann", qid, "i1", "a", True, 1, 1.0, now=T0 - DAY_S)
    store.record_answer("ann", qid, "i2", "x", False, 0, 1.0, now=T0)
    store.record_answer("ann", qid, "i3", "a", True, 1, 1.0, now=T0)
    p = store.progress("ann", now=T0)
    assert (p.answered, p.correct, p.streak_days) == (3, 2, 2)
    cells = {(b.difficulty, b.bucket_start): (b.answered, b.correct) for b in p.by_time}
    day = int(T0 // DAY_S) * DAY_S
    assert cells[("beginner", day - DAY_S)] == (1, 1) and cells[("advanced", day)] == (1, 0)
    mastery = {m.topic: m.mastery for m in p.mastery}
    assert mastery["Dicts"] == 1.0 and 0 < mastery["Lists"] < 1


def test_streak_rules():
    today = int(T0 // DAY_S)
    assert streak([today, today - 1, today - 3], T0) == 2
    assert streak([today - 1, today - 2], T0) == 2  # today not over yet
    assert streak([today - 2], T0) == 0


def test_admin_aggregates_across_learners(store):
    for name, ok in (("ann", True), ("bob", False), ("cy", False)):
        qid = quiz_with(store, name, [item(1), item(2, subject="Statistics")], now=T0)
        store.record_answer(name, qid, "i1", "a", ok, float(ok), 1.0, now=T0)
    qs = quiz_with(store, "ann", [item(5, subject="Statistics")], subject="Statistics", now=T0)
    store.record_answer("ann", qs, "i5", "x", False, 0.0, 1.0, now=T0)
    acc = store.accuracy_over_time(DAY_S)
    py = [b for b in acc if b.subject == "Python"][0]
    assert (py.answered, py.correct) == (3, 1)
    pop = store.popular_subjects()
    assert pop[0].subject == "Python" and (pop[0].answers, pop[0].learners) == (3, 3)
    missed = store.most_missed(5)
    assert missed[0].item_id == "i1" and missed[0].misses == 2 and missed[0].question == "Question 1?"
    days = store.learner_activity()
    assert {(d.learner, d.answers) for d in days} == {("ann", 2), ("bob", 1), ("cy", 1)}
    assert store.accuracy_over_time(DAY_S, since=T0 + DAY_S) == []
