"""Interview history store on real SQLite: migrations once, WAL, per-user reads and writes."""
import sqlite3

import pytest

from tutor.features.interview_store import MIGRATIONS, InterviewStore, InterviewStoreError


def _answer(store, sid, user, qid="q1", kind="question", score=5.0, q_score=5.0):
    return store.record_answer(sid, user, question_id=qid, topic="Python", difficulty="beginner", kind=kind,
                               prompt="Why?", answer="Because " * 1000, score=score, question_score=q_score,
                               covered=("a",), missed=("b", "c"))


def test_schema_is_migrated_once_in_wal_mode(tmp_path):
    db = tmp_path / "i.sqlite3"
    InterviewStore(db).sessions("ann")
    InterviewStore(db).sessions("ann")  # a second store on the same file runs nothing again
    with sqlite3.connect(db) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM _migrations ORDER BY rowid")]
        assert names == [m.__name__ for m in MIGRATIONS]
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_history_is_per_user_and_a_follow_up_updates_the_question_score(tmp_path):
    s = InterviewStore(tmp_path / "i.sqlite3")
    a = s.start_session("ann", "All topics", None, None, 2)
    _answer(s, a, "ann", score=3.3, q_score=3.3)
    _answer(s, a, "ann", kind="follow-up", score=10.0, q_score=5.0)
    s.finish_session(a, "ann", 5.0)
    b = s.start_session("bob", "ML engineer", "Python", "advanced", 1)
    _answer(s, b, "bob", score=9.0, q_score=9.0)
    (ann,) = s.sessions("ann")
    assert (ann.track, ann.score, ann.answered, ann.n_questions) == ("All topics", 5.0, 1, 2)
    assert [t.mean_score for t in s.topic_history("ann")] == [5.0]  # the question's final score
    assert [t.mean_score for t in s.topic_history("bob")] == [9.0]
    answers = s.answers("ann")
    assert {x.kind for x in answers} == {"question", "follow-up"} and all(x.session_id == a for x in answers)
    assert len(answers[0].answer) == 4000 and answers[0].missed == ("b", "c")
    assert s.sessions("carol") == [] and s.answers("carol") == []


def test_writing_into_another_users_session_is_refused(tmp_path):
    s = InterviewStore(tmp_path / "i.sqlite3")
    a = s.start_session("ann", "All topics", None, None, 1)
    with pytest.raises(InterviewStoreError, match="not yours"):
        _answer(s, a, "bob")
    assert s.answers("ann") == [] and s.answers("bob") == []


def test_unusable_location_is_a_readable_error(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(InterviewStoreError, match="interview history"):
        InterviewStore(tmp_path / "file" / "i.sqlite3").sessions("ann")
