"""LearnerStore: every learner's quizzes, answers, study plans and review cards, in SQLite.

Owns `cfg.paths.db_path` (a file apart from the metrics database). Design:
- the database layer of tutor/db: one short-lived connection per operation (any thread may call
  any method), WAL, busy timeout, append-only migrations; every failure raises LearnerStoreError;
- every per-learner query filters on `learner`: two learners at once never see each other's rows;
- idempotent writes: an answer is keyed (quiz, item), so a double submit changes nothing, and an
  answer to a finished or unknown quiz is refused (AnswerOutcome says which);
- read-only aggregates across all learners (the admin analytics of issue 7) at the end.
Time buckets and streak days are UTC calendar days.
"""
from __future__ import annotations

import sqlite3
import time
import uuid
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Sequence

from tutor.db import Database, DatabaseError, time_window, where_clause
from tutor.features.schemas import QuizItem, StudyPlan
from tutor.learners import migrations

DAY_S = 86_400.0


class LearnerStoreError(DatabaseError):
    """The learner database cannot be read or written."""


# ---------------------------------------------------------------- records


@dataclass(frozen=True)
class QuizRecord:
    quiz_id: str
    learner: str
    subject: str
    topic: str
    difficulty: str
    kind: str
    created_at: float
    finished_at: float | None
    items: tuple[QuizItem, ...]


@dataclass(frozen=True)
class AnswerRecord:
    quiz_id: str
    item_id: str
    learner: str
    subject: str
    topic: str
    difficulty: str
    chunk_id: str
    given: str
    correct: bool
    score: float
    response_s: float | None
    answered_at: float


@dataclass(frozen=True)
class AnswerOutcome:
    recorded: bool
    reason: str  # "recorded" | "duplicate" | "quiz finished" | "unknown quiz" | "unknown item"


@dataclass(frozen=True)
class PlanSummary:
    plan_id: str
    title: str
    subject: str
    created_at: float


@dataclass(frozen=True)
class ReviewCard:
    item: QuizItem
    due: float
    reviews: int


@dataclass(frozen=True)
class AccuracyBucket:
    """Answers in one (time bucket, subject, difficulty) cell."""

    bucket_start: float  # unix seconds, start of the bucket
    subject: str
    difficulty: str
    answered: int
    correct: int

    @property
    def accuracy(self) -> float:
        return self.correct / self.answered if self.answered else 0.0


@dataclass(frozen=True)
class TopicMastery:
    subject: str
    topic: str
    answered: int
    correct: int
    mastery: float  # recency-weighted accuracy in [0, 1] (last answers count most)


@dataclass(frozen=True)
class SubjectPopularity:
    subject: str
    quizzes: int
    answers: int
    learners: int


@dataclass(frozen=True)
class MissedItem:
    item_id: str
    question: str
    subject: str
    topic: str
    attempts: int
    misses: int


@dataclass(frozen=True)
class LearnerDay:
    learner: str
    day: str  # ISO date (UTC)
    answers: int
    quizzes: int


@dataclass(frozen=True)
class ProgressSummary:
    learner: str
    answered: int
    correct: int
    streak_days: int
    reviews_due: int
    by_time: tuple[AccuracyBucket, ...]
    mastery: tuple[TopicMastery, ...]


# ---------------------------------------------------------------- the store


class LearnerStore:
    def __init__(self, db_path: Path, busy_timeout_s: float = 10.0) -> None:
        # Learner data raises (tutor/db/database.py): a lost answer must never look saved.
        self.db = Database(db_path, migrations.MIGRATIONS, error=LearnerStoreError, label="the learner records",
                           busy_timeout_s=busy_timeout_s)
        self.db_path = self.db.path

    def _conn(self, write: bool = False) -> AbstractContextManager[sqlite3.Connection]:
        """One operation; ``write`` = one BEGIN IMMEDIATE transaction. Raises LearnerStoreError."""
        return self.db.session("saving your learning record" if write else "reading your learning records",
                               write=write)

    # ------------------------------------------------------------ quizzes

    def create_quiz(self, learner: str, subject: str, topic: str, difficulty: str, kind: str,
                    *, now: float | None = None) -> str:
        quiz_id = uuid.uuid4().hex
        with self._conn(write=True) as c:
            c.execute("INSERT INTO quizzes (id, learner, subject, topic, difficulty, kind, created_at) "
                      "VALUES (?, ?, ?, ?, ?, ?, ?)",
                      (quiz_id, learner, subject, topic, difficulty, kind, now or time.time()))
        return quiz_id

    def add_item(self, quiz_id: str, item: QuizItem) -> None:
        """Store an item as it is delivered (items stream in one by one)."""
        with self._conn(write=True) as c:
            pos = c.execute("SELECT COUNT(*) FROM quiz_items WHERE quiz_id = ?", (quiz_id,)).fetchone()[0]
            c.execute("INSERT OR IGNORE INTO quiz_items (quiz_id, item_id, position, question, chunk_id, subject, "
                      "topic, difficulty, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                      (quiz_id, item.item_id, pos, item.question, item.chunk_id, item.subject, item.topic,
                       item.difficulty, item.to_json()))

    def quiz(self, learner: str, quiz_id: str) -> QuizRecord | None:
        """The quiz if it belongs to `learner` (None otherwise: another learner's quiz is invisible)."""
        with self._conn() as c:
            row = c.execute("SELECT id, learner, subject, topic, difficulty, kind, created_at, finished_at "
                            "FROM quizzes WHERE id = ? AND learner = ?", (quiz_id, learner)).fetchone()
            if row is None:
                return None
            items = tuple(QuizItem.from_json(p) for (p,) in c.execute(
                "SELECT payload FROM quiz_items WHERE quiz_id = ? ORDER BY position", (quiz_id,)))
        return QuizRecord(*row, items=items)

    def record_answer(self, learner: str, quiz_id: str, item_id: str, given: str, correct: bool, score: float,
                      response_s: float | None, *, now: float | None = None) -> AnswerOutcome:
        with self._conn(write=True) as c:
            q = c.execute("SELECT finished_at FROM quizzes WHERE id = ? AND learner = ?",
                          (quiz_id, learner)).fetchone()
            if q is None:
                return AnswerOutcome(False, "unknown quiz")
            if q[0] is not None:
                return AnswerOutcome(False, "quiz finished")
            it = c.execute("SELECT payload FROM quiz_items WHERE quiz_id = ? AND item_id = ?",
                           (quiz_id, item_id)).fetchone()
            if it is None:
                return AnswerOutcome(False, "unknown item")
            item = QuizItem.from_json(it[0])
            cur = c.execute(
                "INSERT OR IGNORE INTO answers (quiz_id, item_id, learner, subject, topic, difficulty, chunk_id, "
                "given, correct, score, response_s, answered_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (quiz_id, item_id, learner, item.subject, item.topic, item.difficulty, item.chunk_id, given[:2000],
                 int(bool(correct)), float(score), response_s, now or time.time()))
            if cur.rowcount == 0:
                return AnswerOutcome(False, "duplicate")
        return AnswerOutcome(True, "recorded")

    def finish_quiz(self, learner: str, quiz_id: str, *, now: float | None = None) -> bool:
        """Close the quiz; later answers are ignored. False when it was already closed or is not theirs."""
        with self._conn(write=True) as c:
            cur = c.execute("UPDATE quizzes SET finished_at = ? WHERE id = ? AND learner = ? AND finished_at IS NULL",
                            (now or time.time(), quiz_id, learner))
            return cur.rowcount == 1

    def answers(self, learner: str, quiz_id: str | None = None) -> list[AnswerRecord]:
        sql = ("SELECT quiz_id, item_id, learner, subject, topic, difficulty, chunk_id, given, correct, score, "
               "response_s, answered_at FROM answers WHERE learner = ?")
        args: list[object] = [learner]
        if quiz_id is not None:
            sql += " AND quiz_id = ?"
            args.append(quiz_id)
        with self._conn() as c:
            rows = c.execute(sql + " ORDER BY answered_at, id", args).fetchall()
        return [AnswerRecord(*r[:8], bool(r[8]), *r[9:]) for r in rows]

    def recent_questions(self, learner: str, quizzes: int) -> set[str]:
        """Question texts of the learner's last `quizzes` quizzes (not to be asked again)."""
        if quizzes <= 0:
            return set()
        with self._conn() as c:
            rows = c.execute(
                "SELECT qi.question FROM quiz_items qi WHERE qi.quiz_id IN "
                "(SELECT id FROM quizzes WHERE learner = ? ORDER BY created_at DESC LIMIT ?)",
                (learner, quizzes)).fetchall()
        return {q for (q,) in rows}

    def recent_accuracy(self, learner: str, subject: str, window: int) -> tuple[int, float]:
        """(answers counted, accuracy) over the learner's last `window` answers in `subject`."""
        with self._conn() as c:
            rows = c.execute("SELECT correct FROM answers WHERE learner = ? AND subject = ? "
                             "ORDER BY answered_at DESC, id DESC LIMIT ?", (learner, subject, window)).fetchall()
        if not rows:
            return 0, 0.0
        return len(rows), sum(r[0] for r in rows) / len(rows)

    # ------------------------------------------------------------ spaced repetition (FSRS)

    def review(self, learner: str, item: QuizItem, correct: bool, *, now: float | None = None) -> float:
        """Schedule the item's next review with FSRS; returns the next due time. Missed items enter
        the queue; correct answers on items already in the queue push them out in time."""
        from fsrs import Card, Rating, Scheduler

        at = datetime.fromtimestamp(now or time.time(), tz=timezone.utc)
        with self._conn(write=True) as c:
            row = c.execute("SELECT card, reviews FROM review_cards WHERE learner = ? AND item_id = ?",
                            (learner, item.item_id)).fetchone()
            if row is None and correct:
                return float("inf")  # known items need no card
            card = Card.from_json(row[0]) if row else Card()
            # Scheduler without fuzz: the same history always gives the same due date (testable).
            card, _ = Scheduler(enable_fuzzing=False).review_card(
                card, Rating.Good if correct else Rating.Again, review_datetime=at)
            due = card.due.timestamp()
            c.execute(
                "INSERT INTO review_cards (learner, item_id, subject, topic, chunk_id, question, payload, card, due, "
                "reviews, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?) ON CONFLICT (learner, item_id) DO "
                "UPDATE SET card = excluded.card, due = excluded.due, reviews = reviews + 1, "
                "updated_at = excluded.updated_at",
                (learner, item.item_id, item.subject, item.topic, item.chunk_id, item.question, item.to_json(),
                 card.to_json(), due, at.timestamp()))
        return due

    def due_reviews(self, learner: str, *, now: float | None = None, limit: int = 20,
                    subject: str | None = None) -> list[ReviewCard]:
        sql = "SELECT payload, due, reviews FROM review_cards WHERE learner = ? AND due <= ?"
        args: list[object] = [learner, now or time.time()]
        if subject:
            sql += " AND subject = ?"
            args.append(subject)
        with self._conn() as c:
            rows = c.execute(sql + " ORDER BY due LIMIT ?", [*args, limit]).fetchall()
        return [ReviewCard(QuizItem.from_json(p), d, n) for p, d, n in rows]

    def weak_cards(self, learner: str, limit: int = 20) -> list[ReviewCard]:
        """The review queue, due first: what "review my weak spots" draws from when nothing is due yet."""
        with self._conn() as c:
            rows = c.execute("SELECT payload, due, reviews FROM review_cards WHERE learner = ? ORDER BY due LIMIT ?",
                             (learner, limit)).fetchall()
        return [ReviewCard(QuizItem.from_json(p), d, n) for p, d, n in rows]

    # ------------------------------------------------------------ plans

    def save_plan(self, learner: str, plan: StudyPlan, *, now: float | None = None) -> None:
        with self._conn(write=True) as c:
            c.execute("INSERT OR REPLACE INTO plans (id, learner, title, subject, created_at, plan) "
                      "VALUES (?, ?, ?, ?, ?, ?)",
                      (plan.plan_id, learner, plan.title, plan.subject, now or time.time(), plan.to_json()))

    def plans(self, learner: str) -> list[PlanSummary]:
        with self._conn() as c:
            rows = c.execute("SELECT id, title, subject, created_at FROM plans WHERE learner = ? "
                             "ORDER BY created_at DESC", (learner,)).fetchall()
        return [PlanSummary(*r) for r in rows]

    def plan(self, learner: str, plan_id: str) -> StudyPlan | None:
        with self._conn() as c:
            row = c.execute("SELECT plan FROM plans WHERE id = ? AND learner = ?", (plan_id, learner)).fetchone()
        return StudyPlan.from_json(row[0]) if row else None

    # ------------------------------------------------------------ one learner's progress

    def progress(self, learner: str, *, now: float | None = None, bucket_s: float = DAY_S) -> ProgressSummary:
        now = now or time.time()
        with self._conn() as c:
            answered, correct = c.execute("SELECT COUNT(*), COALESCE(SUM(correct), 0) FROM answers WHERE learner = ?",
                                          (learner,)).fetchone()
            by_time = _buckets(c, bucket_s, "WHERE learner = ?", [learner])
            rows = c.execute("SELECT subject, topic, correct FROM answers WHERE learner = ? ORDER BY answered_at, id",
                             (learner,)).fetchall()
            days = [r[0] for r in c.execute(
                "SELECT DISTINCT CAST(answered_at / 86400 AS INTEGER) FROM answers WHERE learner = ?", (learner,))]
            due = c.execute("SELECT COUNT(*) FROM review_cards WHERE learner = ? AND due <= ?",
                            (learner, now)).fetchone()[0]
        return ProgressSummary(learner, answered, correct, streak(days, now), due, by_time, _mastery(rows))

    # ------------------------------------------------------------ all learners (admin analytics, read-only)

    def accuracy_over_time(self, bucket_s: float = DAY_S, *, since: float | None = None,
                           until: float | None = None) -> list[AccuracyBucket]:
        where, args = _window(since, until)
        with self._conn() as c:
            return list(_buckets(c, bucket_s, where, args))

    def popular_subjects(self, *, since: float | None = None, until: float | None = None) -> list[SubjectPopularity]:
        where, args = _window(since, until)
        qwhere, qargs = _window(since, until, column="created_at")
        with self._conn() as c:
            ans = {s: (n, l) for s, n, l in c.execute(
                f"SELECT subject, COUNT(*), COUNT(DISTINCT learner) FROM answers {where} GROUP BY subject", args)}
            quiz = dict(c.execute(f"SELECT subject, COUNT(*) FROM quizzes {qwhere} GROUP BY subject", qargs).fetchall())
        out = [SubjectPopularity(s, quiz.get(s, 0), ans.get(s, (0, 0))[0], ans.get(s, (0, 0))[1])
               for s in set(ans) | set(quiz)]
        return sorted(out, key=lambda p: (-p.answers, -p.quizzes, p.subject))

    def most_missed(self, limit: int = 20, *, since: float | None = None, min_attempts: int = 1) -> list[MissedItem]:
        where, args = _window(since, None)
        with self._conn() as c:
            rows = c.execute(
                f"SELECT a.item_id, (SELECT question FROM quiz_items qi WHERE qi.item_id = a.item_id LIMIT 1), "
                f"a.subject, a.topic, COUNT(*), SUM(1 - a.correct) FROM answers a {where.replace('answered_at', 'a.answered_at')} "
                f"GROUP BY a.item_id HAVING COUNT(*) >= ? AND SUM(1 - a.correct) > 0 "
                f"ORDER BY SUM(1 - a.correct) DESC, COUNT(*) DESC LIMIT ?", [*args, min_attempts, limit]).fetchall()
        return [MissedItem(i, q or "", s, t, n, m) for i, q, s, t, n, m in rows]

    def learner_activity(self, *, since: float | None = None, until: float | None = None) -> list[LearnerDay]:
        where, args = _window(since, until)
        qwhere, qargs = _window(since, until, column="created_at")
        with self._conn() as c:
            ans = c.execute(f"SELECT learner, CAST(answered_at / 86400 AS INTEGER), COUNT(*) FROM answers {where} "
                            f"GROUP BY 1, 2", args).fetchall()
            qz = c.execute(f"SELECT learner, CAST(created_at / 86400 AS INTEGER), COUNT(*) FROM quizzes {qwhere} "
                           f"GROUP BY 1, 2", qargs).fetchall()
        cells: dict[tuple[str, int], list[int]] = {}
        for l, d, n in ans:
            cells.setdefault((l, d), [0, 0])[0] = n
        for l, d, n in qz:
            cells.setdefault((l, d), [0, 0])[1] = n
        return [LearnerDay(l, _iso_day(d), a, q) for (l, d), (a, q) in sorted(cells.items(), key=lambda kv: (kv[0][1], kv[0][0]))]


# ---------------------------------------------------------------- helpers


def _window(since: float | None, until: float | None, column: str = "answered_at") -> tuple[str, list[object]]:
    conds, args = time_window(column, since, until)
    return where_clause(conds), args


def _buckets(c: sqlite3.Connection, bucket_s: float, where: str, args: Sequence[object]) -> tuple[AccuracyBucket, ...]:
    if bucket_s <= 0:
        raise ValueError("bucket_s must be > 0")
    rows = c.execute(
        f"SELECT CAST(answered_at / ? AS INTEGER) AS b, subject, difficulty, COUNT(*), SUM(correct) FROM answers "
        f"{where} GROUP BY b, subject, difficulty ORDER BY b, subject, difficulty", [bucket_s, *args]).fetchall()
    return tuple(AccuracyBucket(b * bucket_s, s, d, n, k) for b, s, d, n, k in rows)


def _mastery(rows: Sequence[tuple[str, str, int]]) -> tuple[TopicMastery, ...]:
    """Exponentially weighted accuracy per topic (weight 0.7 per older answer): recent answers count most."""
    acc: dict[tuple[str, str], list[int]] = {}
    for subject, topic, correct in rows:
        acc.setdefault((subject, topic), []).append(correct)
    out = []
    for (subject, topic), seq in acc.items():
        weights = [0.7 ** (len(seq) - 1 - i) for i in range(len(seq))]
        m = sum(w * c for w, c in zip(weights, seq)) / sum(weights)
        out.append(TopicMastery(subject, topic, len(seq), sum(seq), round(m, 3)))
    return tuple(sorted(out, key=lambda t: (t.subject, t.topic)))


def streak(day_numbers: Sequence[int], now: float) -> int:
    """Consecutive UTC days with activity ending today, or yesterday (a streak is not lost before the day ends)."""
    days = set(day_numbers)
    today = int(now // DAY_S)
    start = today if today in days else today - 1
    n = 0
    while start - n in days:
        n += 1
    return n


def _iso_day(day_number: int) -> str:
    return (datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(days=day_number)).date().isoformat()

