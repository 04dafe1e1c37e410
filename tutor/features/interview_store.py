"""Interview history: one SQLite file of sessions and answered prompts, kept per user.

Owns the interview schema (append-only migrations, run by tutor/db with this module's own list)
and its SQL; connections, WAL and the busy timeout are the database layer's (tutor/db).
A separate file from the metrics database: a learner's answers are learner data, not telemetry.

Every read takes the user and filters on it: one learner never sees another's history.
Writes raise InterviewStoreError (a readable sentence); the coach catches it, keeps the session
going in the learner's browser state and says the history could not be saved.
"""
from __future__ import annotations

import json
import sqlite3
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from tutor.db import Database, DatabaseError, Migrations

MAX_ANSWER_CHARS = 4000  # bounds stored learner text; longer answers are cut
BUSY_TIMEOUT_S = 5.0

MIGRATIONS = Migrations()  # append-only: never edit, rename, reorder or delete one (tutor/db/migrations.py)
_migration = MIGRATIONS.migration


@_migration
def i001_sessions(conn: sqlite3.Connection) -> None:
    conn.execute(
        """
        CREATE TABLE interview_sessions (
            id INTEGER PRIMARY KEY,
            user TEXT NOT NULL,
            started_at REAL NOT NULL,
            finished_at REAL,
            track TEXT NOT NULL,
            topic TEXT,
            difficulty TEXT,
            n_questions INTEGER NOT NULL,
            score REAL
        )
        """
    )
    conn.execute("CREATE INDEX ix_interview_sessions_user ON interview_sessions (user, started_at)")


@_migration
def i002_answers(conn: sqlite3.Connection) -> None:
    # covered / missed: JSON arrays of the key-point texts. score: this answer's rubric score;
    # question_score: the question's score after this answer (a follow-up adds partial credit).
    conn.execute(
        """
        CREATE TABLE interview_answers (
            id INTEGER PRIMARY KEY,
            session_id INTEGER NOT NULL REFERENCES interview_sessions (id) ON DELETE CASCADE,
            user TEXT NOT NULL,
            answered_at REAL NOT NULL,
            question_id TEXT NOT NULL,
            topic TEXT NOT NULL,
            difficulty TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('question', 'follow-up')),
            prompt TEXT NOT NULL,
            answer TEXT NOT NULL,
            score REAL NOT NULL,
            question_score REAL NOT NULL,
            covered TEXT NOT NULL,
            missed TEXT NOT NULL
        )
        """
    )
    conn.execute("CREATE INDEX ix_interview_answers_user ON interview_answers (user, answered_at)")
    conn.execute("CREATE INDEX ix_interview_answers_session ON interview_answers (session_id)")


class InterviewStoreError(DatabaseError):
    """The interview history could not be read or written."""


@dataclass(frozen=True)
class StoredSession:
    id: int
    started_at: float
    finished_at: float | None
    track: str
    topic: str | None
    difficulty: str | None
    n_questions: int
    score: float | None  # None until the session is finished
    answered: int  # main questions answered so far


@dataclass(frozen=True)
class StoredAnswer:
    id: int
    session_id: int
    answered_at: float
    question_id: str
    topic: str
    difficulty: str
    kind: str
    prompt: str
    answer: str
    score: float
    question_score: float
    covered: tuple[str, ...]
    missed: tuple[str, ...]


@dataclass(frozen=True)
class TopicHistory:
    topic: str
    mean_score: float
    answers: int


class InterviewStore:
    def __init__(self, db_path: Path) -> None:
        # Learner data raises (tutor/db/database.py); the coach catches it and carries on.
        self.db = Database(db_path, MIGRATIONS, error=InterviewStoreError, label="the interview history",
                           busy_timeout_s=BUSY_TIMEOUT_S)
        self.db_path = self.db.path

    def _connect(self, what: str, write: bool = False) -> AbstractContextManager[sqlite3.Connection]:
        """One operation; ``write`` = one BEGIN IMMEDIATE transaction. Raises InterviewStoreError."""
        return self.db.session(what, write=write)

    # ------------------------------------------------------------ writes

    def start_session(self, user: str, track: str, topic: str | None, difficulty: str | None,
                      n_questions: int, started_at: float | None = None) -> int:
        with self._connect("starting a session", write=True) as conn:
            cur = conn.execute(
                "INSERT INTO interview_sessions (user, started_at, track, topic, difficulty, n_questions) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (user, started_at or time.time(), track, topic, difficulty, n_questions),
            )
            return int(cur.lastrowid)

    def record_answer(self, session_id: int, user: str, *, question_id: str, topic: str, difficulty: str,
                      kind: str, prompt: str, answer: str, score: float, question_score: float,
                      covered: tuple[str, ...], missed: tuple[str, ...], answered_at: float | None = None) -> int:
        # The owner check and the insert in one transaction.
        with self._connect("saving an answer", write=True) as conn:
            owner = conn.execute("SELECT user FROM interview_sessions WHERE id = ?", (session_id,)).fetchone()
            if owner is None or owner[0] != user:
                raise InterviewStoreError("This interview session is not yours, or no longer exists.")
            cur = conn.execute(
                "INSERT INTO interview_answers (session_id, user, answered_at, question_id, topic, difficulty, "
                "kind, prompt, answer, score, question_score, covered, missed) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (session_id, user, answered_at or time.time(), question_id, topic, difficulty, kind, prompt,
                 (answer or "")[:MAX_ANSWER_CHARS], float(score), float(question_score), json.dumps(list(covered)),
                 json.dumps(list(missed))),
            )
            return int(cur.lastrowid)

    def finish_session(self, session_id: int, user: str, score: float) -> None:
        with self._connect("finishing a session", write=True) as conn:
            conn.execute("UPDATE interview_sessions SET finished_at = ?, score = ? WHERE id = ? AND user = ?",
                         (time.time(), float(score), session_id, user))

    # ------------------------------------------------------------ reads (always for one user)

    def sessions(self, user: str, limit: int = 20) -> list[StoredSession]:
        with self._connect("reading your sessions") as conn:
            rows = conn.execute(
                "SELECT s.id, s.started_at, s.finished_at, s.track, s.topic, s.difficulty, s.n_questions, s.score, "
                "(SELECT COUNT(*) FROM interview_answers a WHERE a.session_id = s.id AND a.kind = 'question') "
                "FROM interview_sessions s WHERE s.user = ? ORDER BY s.started_at DESC, s.id DESC LIMIT ?",
                (user, limit),
            ).fetchall()
        return [StoredSession(*r) for r in rows]

    def answers(self, user: str, session_id: int | None = None, limit: int = 200) -> list[StoredAnswer]:
        sql = ("SELECT id, session_id, answered_at, question_id, topic, difficulty, kind, prompt, answer, score, "
               "question_score, covered, missed FROM interview_answers WHERE user = ?")
        args: list = [user]
        if session_id is not None:
            sql += " AND session_id = ?"
            args.append(session_id)
        sql += " ORDER BY answered_at DESC, id DESC LIMIT ?"
        args.append(limit)
        with self._connect("reading your answers") as conn:
            rows = conn.execute(sql, args).fetchall()
        return [StoredAnswer(*r[:11], tuple(json.loads(r[11])), tuple(json.loads(r[12]))) for r in rows]

    def topic_history(self, user: str) -> list[TopicHistory]:
        """Mean question score per topic over all of the user's answered questions, weakest first.
        A question counts once per session, with its score after its last answer (follow-up included)."""
        with self._connect("reading your topic history") as conn:
            rows = conn.execute(
                "SELECT topic, AVG(question_score), COUNT(*) FROM interview_answers a WHERE user = ? AND id = "
                "(SELECT MAX(id) FROM interview_answers b WHERE b.session_id = a.session_id "
                "AND b.question_id = a.question_id) GROUP BY topic ORDER BY AVG(question_score), topic",
                (user,),
            ).fetchall()
        return [TopicHistory(t, float(m), int(n)) for t, m, n in rows]
