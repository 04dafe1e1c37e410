"""Grading of quiz answers: immediate feedback per answer and the final score with a per-topic breakdown.

Multiple choice and true/false compare the chosen option with the answer. Short answers follow a
stated rubric (SHORT_ANSWER_RUBRIC): the reference term (or all its words) in the answer is
correct; otherwise the answer's sentence embedding is compared with the reference's, and a
cosine similarity at or above `learning.short_answer_threshold` counts as correct.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from tutor.features import quiz_checks as checks
from tutor.features.schemas import QuizItem

SHORT_ANSWER_RUBRIC = (
    "Short answers: correct when they contain the reference term (case and punctuation ignored), or when "
    "their meaning is close to it (sentence-embedding similarity of {threshold:.2f} or more). Blank answers "
    "score 0."
)


@dataclass(frozen=True)
class Grade:
    item_id: str
    correct: bool
    score: float  # 1/0 for options; the similarity for short answers (1.0 for a contained reference)
    feedback: str  # markdown: right/wrong, the answer, the explanation with its source


@dataclass(frozen=True)
class TopicScore:
    topic: str
    answered: int
    correct: int


@dataclass(frozen=True)
class QuizScore:
    total: int  # items in the quiz
    answered: int
    correct: int
    by_topic: tuple[TopicScore, ...]

    @property
    def percent(self) -> float:
        return 100.0 * self.correct / self.total if self.total else 0.0


def grade(item: QuizItem, given: str, embedder=None, threshold: float = 0.5) -> Grade:
    given = (given or "").strip()
    if item.kind in ("mcq", "true_false"):
        chosen = _option(item, given)
        ok = chosen is not None and checks.norm(chosen) == checks.norm(item.answer)
        score = 1.0 if ok else 0.0
    else:
        score = short_answer_score(given, item.answer, embedder)
        ok = bool(given) and score >= threshold
    verdict = "✅ Correct." if ok else f"❌ Not quite. The answer is **{item.answer}**."
    return Grade(item.item_id, ok, float(score), f"{verdict}\n\n{item.explanation}")


def _option(item: QuizItem, given: str) -> str | None:
    """The option the learner picked: its text, or a letter A-D for multiple choice."""
    for o in item.options:
        if checks.norm(o) == checks.norm(given):
            return o
    if item.kind == "mcq" and len(given) == 1 and given.upper() in "ABCDEFGH":
        i = "ABCDEFGH".index(given.upper())
        return item.options[i] if i < len(item.options) else None
    return None


def short_answer_score(given: str, reference: str, embedder=None) -> float:
    if not given.strip():
        return 0.0
    if checks.contains_phrase(given, reference):
        return 1.0
    ref_words = checks.content_words(reference)
    if ref_words and ref_words <= checks.content_words(given):
        return 1.0
    if embedder is None:
        return 0.0
    vecs = np.asarray(embedder.embed([given, reference]), dtype=np.float32)
    a, b = vecs[0], vecs[1]
    denom = float(np.linalg.norm(a) * np.linalg.norm(b)) or 1.0
    return max(0.0, float(np.dot(a, b)) / denom)


def score_quiz(items: Sequence[QuizItem], correct_by_item: dict[str, bool]) -> QuizScore:
    """The final score; unanswered items count as wrong (they are part of the total)."""
    topics: dict[str, list[int]] = {}
    for it in items:
        t = topics.setdefault(it.topic, [0, 0])
        if it.item_id in correct_by_item:
            t[0] += 1
            t[1] += int(correct_by_item[it.item_id])
    by_topic = tuple(TopicScore(k, a, c) for k, (a, c) in topics.items())
    return QuizScore(len(items), len(correct_by_item), sum(correct_by_item.values()), by_topic)


def score_markdown(score: QuizScore) -> str:
    lines = [f"### Score: {score.correct} / {score.total} ({score.percent:.0f}%)", "",
             "| Topic | Correct | Answered |", "|---|---|---|"]
    lines += [f"| {t.topic} | {t.correct} | {t.answered} |" for t in score.by_topic]
    if score.answered < score.total:
        lines += ["", f"{score.total - score.answered} question(s) were not answered and count as wrong."]
    return "\n".join(lines)
