"""The interview question bank: loading, validation and the deterministic train/validation/test split.

The bank is JSON Lines under ``training/data/interview/*.jsonl``, one question per line:
``{"id", "question", "answer", "topic", "difficulty", "key_points": [3-5 strings]}``.

This module owns the row schema and the split. It lives in ``tutor`` (not ``training``) because both
the interview coach (which asks questions from the held-out test split) and the training pipeline
(which trains on the train split) need the same loader and the same split, and tutor never imports
training. A bad row never stops loading: it is reported as a RowProblem with its file and line and
left out, and every other row is used.
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from tutor.repo_paths import REPO_ROOT, resolve_shipped
from tutor.types import Message

logger = logging.getLogger(__name__)

Split = Literal["train", "validation", "test"]
SPLITS: tuple[Split, ...] = ("train", "validation", "test")

TOPICS: tuple[str, ...] = (
    "ML fundamentals", "Deep learning", "NLP", "Statistics", "MLOps", "ML system design", "Python",
)
DIFFICULTIES: tuple[str, ...] = ("beginner", "intermediate", "advanced")
# Interview topic -> knowledge-base subject the coach searches for reading (None = search all subjects).
TOPIC_SUBJECTS: dict[str, str | None] = {
    "ML fundamentals": "Machine Learning", "Deep learning": "Deep Learning", "NLP": "NLP", "Statistics": "Statistics",
    "Python": "Python", "MLOps": None, "ML system design": "Machine Learning",
}
# 70/15/15, as in the original InterviewMate split.
SPLIT_FRACTIONS: tuple[float, float, float] = (0.70, 0.15, 0.15)
DEFAULT_SEED = 13
MIN_KEY_POINTS, MAX_KEY_POINTS = 3, 5
REQUIRED_FIELDS: tuple[str, ...] = ("id", "question", "answer", "topic", "difficulty", "key_points")

# The one prompt of the interview adapter: the training pipeline trains on exactly these messages and the
# interview coach asks the adapter with them, so the adapter sees at run time the format it learned.
# The same text as tutor/features/interview.py's SYSTEM_PROMPT (a test checks that they agree).
INTERVIEW_SYSTEM_PROMPT = ("You are a strong candidate in a machine learning job interview. Answer the interviewer's "
                           "question correctly and concisely in a few sentences.")

# The repo's bank; cfg.paths.interview_bank_dir overrides it where a config is at hand.
DEFAULT_BANK_DIR = REPO_ROOT / "training" / "data" / "interview"


@dataclass(frozen=True)
class InterviewQuestion:
    id: str
    question: str
    answer: str
    topic: str
    difficulty: str
    key_points: tuple[str, ...]

    @property
    def split(self) -> Split:
        return split_of(self.question)


@dataclass(frozen=True)
class RowProblem:
    file: str
    line: int  # 1-based, as an editor shows it
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


@dataclass(frozen=True)
class Bank:
    questions: tuple[InterviewQuestion, ...]
    problems: tuple[RowProblem, ...] = ()

    def split(self, name: Split, seed: int = DEFAULT_SEED) -> tuple[InterviewQuestion, ...]:
        if name not in SPLITS:
            raise ValueError(f"Unknown split {name!r}; use one of {', '.join(SPLITS)}.")
        return tuple(q for q in self.questions if split_of(q.question, seed) == name)

    def topics(self) -> tuple[str, ...]:
        present = {q.topic for q in self.questions}
        return tuple(t for t in TOPICS if t in present)

    def filter(self, *, topic: str | None = None, difficulty: str | None = None,
               split: Split | None = None) -> tuple[InterviewQuestion, ...]:
        """Questions matching every given criterion (None = any), in bank order."""
        qs = self.split(split) if split else self.questions
        return tuple(
            q for q in qs
            if (topic is None or q.topic == topic) and (difficulty is None or q.difficulty == difficulty)
        )

    def by_id(self, qid: str) -> InterviewQuestion | None:
        return next((q for q in self.questions if q.id == qid), None)


def interview_messages(question: str) -> tuple[Message, ...]:
    """The prompt (system + user) for a model answer to `question`; see INTERVIEW_SYSTEM_PROMPT."""
    return (Message("system", INTERVIEW_SYSTEM_PROMPT), Message("user", question.strip()))


# ---------------------------------------------------------------- split


def normalise_question(text: str) -> str:
    """Case, Unicode form and whitespace do not change a question's split."""
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text).casefold()).strip()


def split_of(question: str, seed: int = DEFAULT_SEED) -> Split:
    """70/15/15 by a seeded sha256 of the normalised question text.

    Depends on the question alone, so adding or removing other items never moves this one, and the
    same question pasted in two files always lands in the same split (no train/test leak).
    """
    digest = hashlib.sha256(f"{seed}:{normalise_question(question)}".encode("utf-8")).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64  # uniform in [0, 1)
    train, val, _ = SPLIT_FRACTIONS
    if u < train:
        return "train"
    if u < train + val:
        return "validation"
    return "test"


# ---------------------------------------------------------------- loading


def _text(row: dict[str, Any], key: str) -> str:
    value = row[key]
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"field {key!r} must be a non-empty string")
    return value.strip()


def parse_row(row: Any) -> InterviewQuestion:
    """One JSON object -> InterviewQuestion; ValueError with a sentence naming the field otherwise."""
    if not isinstance(row, dict):
        raise ValueError(f"expected a JSON object, got {type(row).__name__}")
    missing = [k for k in REQUIRED_FIELDS if k not in row]
    if missing:
        raise ValueError(f"missing field{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
    topic, difficulty = _text(row, "topic"), _text(row, "difficulty")
    if topic not in TOPICS:
        raise ValueError(f"topic {topic!r} is not one of {', '.join(TOPICS)}")
    if difficulty not in DIFFICULTIES:
        raise ValueError(f"difficulty {difficulty!r} is not one of {', '.join(DIFFICULTIES)}")
    points = row["key_points"]
    if not isinstance(points, list) or not all(isinstance(p, str) and p.strip() for p in points):
        raise ValueError("field 'key_points' must be a list of non-empty strings")
    if not MIN_KEY_POINTS <= len(points) <= MAX_KEY_POINTS:
        raise ValueError(f"field 'key_points' has {len(points)} items; {MIN_KEY_POINTS}-{MAX_KEY_POINTS} expected")
    return InterviewQuestion(
        id=_text(row, "id"),
        question=_text(row, "question"),
        answer=_text(row, "answer"),
        topic=topic,
        difficulty=difficulty,
        key_points=tuple(p.strip() for p in points),
    )


def load_bank(folder: str | Path = DEFAULT_BANK_DIR) -> Bank:
    """Every ``*.jsonl`` under `folder` (sorted by name). Bad rows become RowProblems; the rest are used.

    A missing or empty folder gives an empty Bank with one problem saying so, never an exception, so
    the app can start and say what is wrong.
    """
    root = Path(folder)
    files = sorted(root.glob("*.jsonl")) if root.is_dir() else []
    if not files:
        why = "no *.jsonl files" if root.is_dir() else "folder does not exist"
        return Bank((), (RowProblem(str(root), 0, f"{why}: the interview bank is empty"),))
    questions: list[InterviewQuestion] = []
    problems: list[RowProblem] = []
    seen: dict[str, str] = {}
    for path in files:
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as e:
            problems.append(RowProblem(str(path), 0, f"cannot read file: {e}"))
            continue
        for n, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            where = f"{path.name}:{n}"
            try:
                q = parse_row(json.loads(line))
            except json.JSONDecodeError as e:
                problems.append(RowProblem(str(path), n, f"not valid JSON ({e.msg} at column {e.colno})"))
                continue
            except ValueError as e:
                problems.append(RowProblem(str(path), n, str(e)))
                continue
            if q.id in seen:
                problems.append(RowProblem(str(path), n, f"duplicate id {q.id!r} (first at {seen[q.id]})"))
                continue
            seen[q.id] = where
            questions.append(q)
    for p in problems:
        logger.warning("interview bank row skipped: %s", p)
    return Bank(tuple(questions), tuple(problems))


def resolve_bank_dir(configured: str | Path | None = None) -> Path:
    """cfg.paths.interview_bank_dir, found from any working directory (tutor/repo_paths.py); None ->
    DEFAULT_BANK_DIR."""
    return resolve_shipped(configured, DEFAULT_BANK_DIR)
