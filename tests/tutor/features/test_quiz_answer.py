"""The one quiz-answer flow (tutor/features/quiz_answer.py) on a real LearnerStore: grading, the
answer recorded once, the FSRS review queue, the learner interaction, closing the quiz, clear errors."""
import numpy as np
import pytest

from tutor.config import LearningConfig
from tutor.features.quiz_answer import BlankAnswer, QuizAnswers, UnknownQuizItem, finish_quiz
from tutor.features.schemas import QuizItem, item_id_for
from tutor.learners import LearnerStore


def make_item(kind, question, answer, options=()):
    return QuizItem(item_id=item_id_for(question, answer, "stats/mean#0"), kind=kind, question=question,
                    options=tuple(options), answer=answer,
                    explanation="The course says: “The mean is the average.” (source: Mean › Definition)",
                    chunk_id="stats/mean#0", doc_id="stats/mean", topic="Mean", section="Definition",
                    subject="Statistics", difficulty="beginner", source_quote="The mean is the average.")


MCQ = make_item("mcq", "Which term is the average?", "mean", ("median", "mode", "mean", "range"))
TF = make_item("true_false", "True or false: the mean is the average.", "True", ("True", "False"))
SHORT = make_item("short_answer", "Fill in the blank: the ___ is the average.", "arithmetic mean")


class Recorder:
    def __init__(self):
        self.events = []

    def record_interaction(self, event):
        self.events.append(event)
        return len(self.events)


class TableEmbedder:
    """Vectors from a table: the similarity of two texts is chosen by the test, not by hashing."""
    name, dim = "table", 2

    def __init__(self, vectors):
        self.vectors = vectors

    def embed(self, texts):
        return np.asarray([self.vectors[t] for t in texts], dtype=np.float32)


@pytest.fixture
def env(tmp_path):
    store = LearnerStore(tmp_path / "learners.db")
    quiz_id = store.create_quiz("ann", "Statistics", "", "beginner", "mcq")
    for item in (MCQ, TF, SHORT):
        store.add_item(quiz_id, item)
    rec = Recorder()
    return store, quiz_id, rec, QuizAnswers(store, rec, None, LearningConfig())


def test_correct_answer_is_recorded_with_feedback_source_and_interaction(env):
    store, quiz_id, rec, answers = env
    r = answers.answer("ann", quiz_id, "mean", item_id=MCQ.item_id, response_s=4.0)
    assert r.recorded and r.correct is True and r.grade_score == 1.0
    assert r.feedback.startswith("✅") and "Mean › Definition" in r.feedback
    assert r.reference == "mean" and r.source == "Mean › Definition" and r.rubric is None
    assert (r.score.answered, r.score.correct, r.score.total) == (1, 1, 3) and not r.finished
    assert [(a.item_id, a.correct, a.response_s) for a in store.answers("ann", quiz_id)] == [(MCQ.item_id, True, 4.0)]
    assert store.weak_cards("ann") == []  # a known item gets no review card
    [ev] = rec.events
    assert (ev.user, ev.action, ev.subject, ev.difficulty, ev.correct, ev.response_time_s) == (
        "ann", "quiz_answer", "Statistics", "beginner", 1.0, 4.0)


def test_wrong_answer_schedules_a_review_and_the_last_answer_closes_the_quiz(env):
    store, quiz_id, rec, answers = env
    r = answers.answer("ann", quiz_id, "median", position=0)  # by position, as the tab names it
    assert r.recorded and r.correct is False and "The answer is **mean**" in r.feedback
    assert [c.item.item_id for c in store.weak_cards("ann")] == [MCQ.item_id]
    assert rec.events[-1].correct == 0.0
    answers.answer("ann", quiz_id, "True", item_id=TF.item_id)
    last = answers.answer("ann", quiz_id, "arithmetic mean", item_id=SHORT.item_id)
    assert last.finished and (last.score.answered, last.score.correct) == (3, 2)
    assert store.quiz("ann", quiz_id).finished_at is not None
    assert len(rec.events) == 3


def test_short_answer_is_graded_by_similarity_with_the_rubric(tmp_path):
    store = LearnerStore(tmp_path / "l.db")
    quiz_id = store.create_quiz("sam", "Statistics", "", "beginner", "short_answer")
    store.add_item(quiz_id, SHORT)
    vectors = {"arithmetic mean": [1.0, 0.0], "the average value": [0.8, 0.6], "a bar chart": [0.0, 1.0]}
    answers = QuizAnswers(store, Recorder(), TableEmbedder(vectors), LearningConfig(short_answer_threshold=0.7))
    r = answers.answer("sam", quiz_id, "the average value", item_id=SHORT.item_id)  # cosine 0.8, no shared word
    assert r.correct is True and r.grade_score == pytest.approx(0.8)
    assert r.rubric and "0.70" in r.rubric and r.rubric in r.feedback

    quiz2 = store.create_quiz("sam", "Statistics", "", "beginner", "short_answer")
    store.add_item(quiz2, SHORT)
    r = answers.answer("sam", quiz2, "a bar chart", item_id=SHORT.item_id)  # cosine 0.0
    assert r.correct is False and r.grade_score == pytest.approx(0.0)


def test_an_already_answered_item_is_not_graded_again(env):
    store, quiz_id, rec, answers = env
    answers.answer("ann", quiz_id, "mean", item_id=MCQ.item_id)
    again = answers.answer("ann", quiz_id, "median", item_id=MCQ.item_id)
    assert not again.recorded and again.reason == "duplicate" and "first answer counts" in again.message
    assert again.correct is None and again.feedback == "" and again.reference == ""
    assert [a.correct for a in store.answers("ann", quiz_id)] == [True] and len(rec.events) == 1
    assert store.weak_cards("ann") == []  # the wrong repeat scheduled nothing


def test_a_finished_quiz_refuses_answers(env):
    store, quiz_id, rec, answers = env
    answers.answer("ann", quiz_id, "median", item_id=MCQ.item_id)
    score = finish_quiz(store, "ann", quiz_id)
    assert (score.answered, score.correct, score.total) == (1, 0, 3)
    late = answers.answer("ann", quiz_id, "True", item_id=TF.item_id)
    assert not late.recorded and late.reason == "quiz finished" and "ended" in late.message
    assert len(store.answers("ann", quiz_id)) == 1 and len(rec.events) == 1


def test_unknown_quiz_item_or_learner_and_blank_answers_are_clear_errors(env):
    store, quiz_id, rec, answers = env
    with pytest.raises(UnknownQuizItem, match="not part of your current quiz") as e:
        answers.answer("ann", "no-such-quiz", "mean", item_id=MCQ.item_id)
    assert e.value.reason == "unknown quiz"
    with pytest.raises(UnknownQuizItem) as e:
        answers.answer("bob", quiz_id, "mean", item_id=MCQ.item_id)  # another learner's quiz is invisible
    assert e.value.reason == "unknown quiz"
    with pytest.raises(UnknownQuizItem) as e:
        answers.answer("ann", quiz_id, "mean", item_id="0123456789abcdef")
    assert e.value.reason == "unknown item"
    with pytest.raises(UnknownQuizItem):
        answers.answer("ann", quiz_id, "mean", position=3)
    with pytest.raises(BlankAnswer, match="Pick or type an answer"):
        answers.answer("ann", quiz_id, "   ", item_id=MCQ.item_id)
    with pytest.raises(UnknownQuizItem):
        finish_quiz(store, "bob", quiz_id)
    assert store.answers("ann") == [] and store.answers("bob") == [] and rec.events == []
