"""Answering a quiz question: grade -> record the answer once -> schedule the item's FSRS review ->
record the learner interaction -> close the quiz when every item is answered.

One flow for every caller (the quiz tab, the JSON API), so none of them can grade differently or
forget a step. The LearnerStore is the record: which items a quiz has and which were answered are
read back from it, so a double submit, a late answer or another learner's quiz id is refused there.
Results are frozen dataclasses; the UI decides how to show them.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

from tutor.config import LearningConfig
from tutor.errors import InputError
from tutor.features.grading import SHORT_ANSWER_RUBRIC, QuizScore, grade, score_quiz
from tutor.features.schemas import QuizItem
from tutor.learners import LearnerStore
from tutor.metrics import Interaction
from tutor.retrieval import Embedder

# The store's reasons for not recording an answer, as sentences a learner can act on.
_NOT_RECORDED = {
    "duplicate": "You already answered this question; your first answer counts.",
    "quiz finished": "This quiz has ended; start a new one to keep practising.",
}


class UnknownQuizItem(InputError):
    """The quiz is not the learner's (or does not exist), or the item is not part of it."""

    def __init__(self, reason: str) -> None:
        super().__init__("That question is not part of your current quiz.")
        self.reason = reason  # "unknown quiz" | "unknown item"


class BlankAnswer(InputError):
    def __init__(self) -> None:
        super().__init__("Pick or type an answer first.")


class InteractionRecorder(Protocol):
    """Where learner actions go for the admin's analytics (the MetricsStore; never raises)."""

    def record_interaction(self, event: Interaction) -> int | None: ...


@dataclass(frozen=True)
class AnswerResult:
    quiz_id: str
    item_id: str
    recorded: bool  # False: a repeat or late answer; nothing was graded or stored
    reason: str  # the store's word: "recorded" | "duplicate" | "quiz finished"
    message: str  # why it was not recorded, a sentence for the learner; "" when recorded
    correct: bool | None  # None when not recorded
    grade_score: float | None  # 1/0 for options, the similarity for short answers
    feedback: str  # markdown: verdict, the answer, the explanation with its source (and the rubric)
    rubric: str | None  # the short-answer rubric the grade followed; None for option questions
    reference: str  # the correct answer; "" when not recorded (a refused call reveals nothing)
    source: str  # the item's citation, "Title › Section"
    chunk_id: str
    score: QuizScore | None  # the quiz's score so far (unanswered items count as wrong); None when not recorded
    finished: bool  # every item is answered and the quiz is now closed


class QuizAnswers:
    """Grades and records quiz answers over a LearnerStore. Holds no per-learner state."""

    def __init__(self, store: LearnerStore, interactions: InteractionRecorder, embedder: Embedder | None,
                 learning: LearningConfig) -> None:
        self.store = store
        self.interactions = interactions
        self.embedder = embedder  # sentence embeddings for short answers by meaning
        self.learning = learning

    def answer(self, learner: str, quiz_id: str, given: str | None, *, item_id: str | None = None,
               position: int | None = None, response_s: float | None = None) -> AnswerResult:
        """Grade and record `learner`'s answer to one item, named by `item_id` or by its 0-based
        `position` in the quiz. Raises UnknownQuizItem or BlankAnswer; a repeat or late answer is a
        result with recorded=False."""
        quiz = self.store.quiz(learner, quiz_id) if quiz_id else None
        if quiz is None:
            raise UnknownQuizItem("unknown quiz")
        item = _find(quiz.items, item_id, position)
        if quiz.finished_at is not None:  # checked before grading: no embedding spent on a refusal
            return self._refused(quiz_id, item, "quiz finished")
        given = (given or "").strip()
        if not given:
            raise BlankAnswer()
        g = grade(item, given, self.embedder, self.learning.short_answer_threshold)
        outcome = self.store.record_answer(learner, quiz_id, item.item_id, given, g.correct, g.score, response_s)
        if not outcome.recorded:
            return self._refused(quiz_id, item, outcome.reason)
        self.store.review(learner, item, g.correct)  # missed items enter the spaced-repetition queue
        self.interactions.record_interaction(Interaction(
            user=learner, action="quiz_answer", at=time.time(), subject=item.subject, difficulty=item.difficulty,
            response_time_s=response_s, correct=1.0 if g.correct else 0.0))
        rubric = None
        feedback = g.feedback
        if item.kind == "short_answer":
            rubric = SHORT_ANSWER_RUBRIC.format(threshold=self.learning.short_answer_threshold)
            feedback += f"\n\n*{rubric}*"
        score = _score(self.store, learner, quiz_id, quiz.items)
        # All items answered closes the quiz (later answers are refused). Items still streaming in
        # after this are not counted: the store does not know how many the generator will deliver.
        finished = score.answered == score.total
        if finished:
            self.store.finish_quiz(learner, quiz_id)
        return AnswerResult(quiz_id, item.item_id, True, outcome.reason, "", g.correct, g.score, feedback, rubric,
                            item.answer, item.citation, item.chunk_id, score, finished)

    def _refused(self, quiz_id: str, item: QuizItem, reason: str) -> AnswerResult:
        message = _NOT_RECORDED.get(reason, f"Answer not recorded ({reason}).")
        return AnswerResult(quiz_id, item.item_id, False, reason, message, None, None, "", None, "", item.citation,
                            item.chunk_id, None, False)


def finish_quiz(store: LearnerStore, learner: str, quiz_id: str) -> QuizScore:
    """Close the learner's quiz (later answers are refused) and return its final score."""
    quiz = store.quiz(learner, quiz_id) if quiz_id else None
    if quiz is None:
        raise UnknownQuizItem("unknown quiz")
    store.finish_quiz(learner, quiz_id)
    return _score(store, learner, quiz_id, quiz.items)


def _score(store: LearnerStore, learner: str, quiz_id: str, items: tuple[QuizItem, ...]) -> QuizScore:
    correct = {a.item_id: a.correct for a in store.answers(learner, quiz_id)}
    return score_quiz(items, correct)


def _find(items: tuple[QuizItem, ...], item_id: str | None, position: int | None) -> QuizItem:
    if (item_id is None) == (position is None):
        raise ValueError("name the item by item_id or by position, not both")  # a caller's bug
    if item_id is not None:
        for it in items:
            if it.item_id == item_id:
                return it
        raise UnknownQuizItem("unknown item")
    if position is None or not 0 <= position < len(items):
        raise UnknownQuizItem("unknown item")
    return items[position]
