"""Learner analytics for the admin (teacher) view, from the `interactions` table the tabs write.

Engagement score of one learner on one day (0-100), documented here because the admin reads it:
    100 * (0.5 * min(actions / 20, 1)          how much they did (20 actions = full marks)
         + 0.3 * accuracy                       share correct of graded answers (0.5 if none graded)
         + 0.2 * min(distinct actions / 3, 1))  breadth: chat, quizzes, interviews, plans ...
The daily engagement shown is the mean over the learners active that day.
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from tutor.metrics.store import MetricsStore
from tutor.db.sql import time_window, where_clause

DAY_S = 86400.0


@dataclass(frozen=True)
class EngagementPoint:
    day_start: float  # unix seconds, UTC midnight
    learners: int
    actions: int
    engagement: float  # mean score of the learners active that day, 0-100


@dataclass(frozen=True)
class SubjectCount:
    subject: str
    actions: int
    learners: int


def engagement_score(actions: int, graded: int, correct: float, distinct_actions: int) -> float:
    accuracy = correct / graded if graded else 0.5
    return 100.0 * (0.5 * min(actions / 20.0, 1.0) + 0.3 * accuracy + 0.2 * min(distinct_actions / 3.0, 1.0))


def engagement(store: MetricsStore, since: float | None = None, until: float | None = None) -> list[EngagementPoint]:
    where, params = _window(since, until)
    sql = ("SELECT CAST(at / 86400 AS INTEGER) AS day, user, COUNT(*), COUNT(correct), IFNULL(SUM(correct), 0), "
           f"COUNT(DISTINCT action) FROM interactions {where} GROUP BY day, user ORDER BY day")

    def read(conn: sqlite3.Connection) -> list[EngagementPoint]:
        days: dict[int, list[tuple]] = {}
        for day, _user, n, graded, correct, distinct in conn.execute(sql, params):
            days.setdefault(int(day), []).append((n, graded, correct, distinct))
        return [
            EngagementPoint(day * DAY_S, len(rows), sum(r[0] for r in rows),
                            sum(engagement_score(*r) for r in rows) / len(rows))
            for day, rows in sorted(days.items())
        ]

    return store.run_checked("learner engagement", read)


def popular_subjects(store: MetricsStore, since: float | None = None, until: float | None = None,
                     limit: int = 10) -> list[SubjectCount]:
    where, params = _window(since, until, extra="subject IS NOT NULL AND subject != ''")
    sql = (f"SELECT subject, COUNT(*), COUNT(DISTINCT user) FROM interactions {where} "
           "GROUP BY subject ORDER BY 2 DESC LIMIT ?")

    def read(conn: sqlite3.Connection) -> list[SubjectCount]:
        return [SubjectCount(*r) for r in conn.execute(sql, (*params, limit))]

    return store.run_checked("popular subjects", read)


def _window(since, until, extra: str | None = None) -> tuple[str, list]:
    cond, params = time_window("at", since, until)
    if extra:
        cond.append(extra)
    return where_clause(cond), params
