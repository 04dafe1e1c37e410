"""Quiz generation on the shipped knowledge base with a scripted backend: grounding, checks,
bounds, no repeats, review queue, adaptive difficulty, concurrent learners."""
import json
import re
import threading

import pytest

from tutor.metrics.meter import MeteredBackend

from tutor.backends.fake import FakeBackend
from tutor.features import quiz_checks as checks
from tutor.features.quiz import ItemReady, QuizFinished, QuizInputError, QuizRequest, QuizStarted
from tutor.features.schemas import DIFFICULTIES

from .learning_fixtures import make_tutor, quiz_maker


class PhrasingBackend(FakeBackend):
    """Answers question-phrasing requests from the prompt: a good question about the fact, or (bad=True)
    one that gives the answer away. Other requests fall back to FakeBackend."""

    def __init__(self, bad=False):
        super().__init__()
        self.bad = bad

    def stream(self, request):
        if request.json_schema is not None:
            prompt = request.messages[-1].content
            fact = re.search(r"Fact: (.*)\n", prompt).group(1)
            answer = re.search(r"Answer: (.*)\n", prompt).group(1)
            words = [w for w in re.findall(r"[A-Za-z]+", checks.cloze(fact, answer)) if w.lower() not in answer.lower()]
            q = f"What is {answer} about?" if self.bad else f"Which idea fits: {' '.join(words[:8])}?"
            self.enqueue([json.dumps({"question": q[:160]})])
        return super().stream(request)


@pytest.fixture(scope="module")
def kb(tmp_path_factory):
    return make_tutor(tmp_path_factory.mktemp("quiz"))


def run(maker, **kw):
    kw.setdefault("use_model", False)
    events = list(maker.generate(QuizRequest(**kw)))
    assert isinstance(events[0], QuizStarted) and isinstance(events[-1], QuizFinished)
    return events[0], [e.item for e in events if isinstance(e, ItemReady)], events[-1]


def chunk_text(tutor, chunk_id):
    chunks, _ = tutor.retriever.store.all_chunks(with_embeddings=False)
    return {c.id: c.text for c in chunks}[chunk_id]


@pytest.mark.parametrize("kind", ["mcq", "true_false", "short_answer"])
def test_items_are_grounded_checked_and_stored(kb, kind):
    tutor, store = kb
    maker = quiz_maker(tutor, store)
    start, items, done = run(maker, learner=f"ann-{kind}", subject="statistics", count=5, kind=kind,
                             difficulty="beginner", seed=3)
    assert len(items) == 5 and done.delivered == 5
    assert start.subject == "Statistics"
    for it in items:
        text = chunk_text(tutor, it.chunk_id)  # cites a real chunk of the subject
        assert it.subject == "Statistics" and it.source_quote in text and it.topic in it.explanation
        assert checks.check_item(it, text, set()) == ()
        if kind == "mcq":
            assert len(it.options) == 4 and it.answer in it.options
    assert len({checks.norm(i.question) for i in items}) == 5
    assert [i.item_id for i in store.quiz(f"ann-{kind}", start.quiz_id).items] == [i.item_id for i in items]


def test_question_count_is_bounded_with_a_message(kb):
    tutor, store = kb
    maker = quiz_maker(tutor, store)
    start, items, _ = run(maker, learner="b0", subject="Python", count=0)
    assert len(items) == 1 and "1 to 20" in start.notices[0]
    start, items, done = run(maker, learner="b1", subject="Machine Learning", count=500, difficulty="beginner")
    assert start.count == 20 and "1 to 20" in start.notices[0]
    assert len(items) <= 20


def test_uncovered_topic_and_unknown_subject_are_said_with_suggestions(kb):
    tutor, store = kb
    maker = quiz_maker(tutor, store)
    with pytest.raises(QuizInputError) as e:
        list(maker.generate(QuizRequest("c", "Python", topic="medieval French poetry sonnets")))
    assert "do not cover" in str(e.value) and e.value.suggestions
    with pytest.raises(QuizInputError) as e:
        list(maker.generate(QuizRequest("c", "Astrology")))
    assert "Python" in str(e.value)


def test_no_repeats_across_recent_quizzes(kb):
    tutor, store = kb
    maker = quiz_maker(tutor, store)
    _, first, _ = run(maker, learner="rep", subject="Calculus for ML", count=5, seed=1, difficulty="beginner")
    _, second, _ = run(maker, learner="rep", subject="Calculus for ML", count=5, seed=1, difficulty="beginner")
    assert not {checks.norm(i.question) for i in first} & {checks.norm(i.question) for i in second}


@pytest.fixture
def swap_backend(kb):
    tutor, _ = kb
    original = tutor.backend
    # the composition root meters every backend; a swapped-in one is metered the same way
    yield lambda b: setattr(tutor, "backend", MeteredBackend(b, original.meter))
    tutor.backend = original


def test_model_phrased_questions_are_used_only_when_they_pass(kb, swap_backend):
    tutor, store = kb
    swap_backend(PhrasingBackend())
    _, items, done = run(quiz_maker(tutor, store), learner="m", subject="Python", count=3, use_model=True, seed=2,
                         difficulty="beginner")
    assert done.model_calls >= 3 and done.model_passed >= 1
    assert any(i.generated_by == "model" for i in items)
    assert all(r.json_schema is not None for r in tutor.backend.requests)
    calls = [c for c in tutor.metrics.recent_calls() if c.operation == "quiz" and c.user == "m"]
    assert len(calls) == done.model_calls and {c.quality for c in calls} <= {0.0, 1.0}

    swap_backend(PhrasingBackend(bad=True))
    _, items, done = run(quiz_maker(tutor, store), learner="m2", subject="Python", count=3, use_model=True, seed=2,
                         difficulty="beginner")
    assert done.model_passed == 0 and len(items) == 3  # fell back to cloze questions
    assert all(i.generated_by == "kb" for i in items)


def test_backend_without_constraints_falls_back_to_cloze(kb, swap_backend):
    tutor, store = kb
    swap_backend(FakeBackend(["not json at all"]))  # strict FakeBackend raises GenerationError for it
    _, items, done = run(quiz_maker(tutor, store), learner="f", subject="NLP", count=2, use_model=True)
    assert len(items) == 2 and done.model_calls == 0


def test_review_my_weak_spots_draws_from_missed_items(kb):
    tutor, store = kb
    maker = quiz_maker(tutor, store)
    with pytest.raises(QuizInputError, match="no missed questions"):
        list(maker.generate(QuizRequest("weak", None, review=True)))
    _, items, _ = run(maker, learner="weak", subject="Deep Learning", count=3)
    store.review("weak", items[0], correct=False)
    _, review, _ = run(maker, learner="weak", subject=None, review=True, count=5)
    assert [i.item_id for i in review] == [items[0].item_id]


def test_difficulty_follows_recent_accuracy(kb):
    tutor, store = kb
    maker = quiz_maker(tutor, store)
    start, items, _ = run(maker, learner="ada", subject="Linear Algebra", count=4)
    assert start.difficulty == "beginner"
    for it in items:
        store.record_answer("ada", start.quiz_id, it.item_id, it.answer, True, 1.0, 1.0)
    start2, _, _ = run(maker, learner="ada", subject="Linear Algebra", count=2)
    assert start2.difficulty == "intermediate" and "100%" in start2.notices[0]


def test_two_learners_generate_at_once_without_mixing(kb):
    tutor, store = kb
    out = {}

    def learner(name, subject):
        out[name] = run(quiz_maker(tutor, store), learner=name, subject=subject, count=4, difficulty="beginner")

    threads = [threading.Thread(target=learner, args=a) for a in (("p1", "Python"), ("p2", "Statistics"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    (s1, i1, _), (s2, i2, _) = out["p1"], out["p2"]
    assert {i.subject for i in i1} == {"Python"} and {i.subject for i in i2} == {"Statistics"}
    assert store.quiz("p2", s1.quiz_id) is None and store.quiz("p1", s2.quiz_id) is None
    assert len(store.quiz("p1", s1.quiz_id).items) == len(i1)


def test_every_difficulty_makes_items(kb):
    tutor, store = kb
    for d in DIFFICULTIES:
        _, items, _ = run(quiz_maker(tutor, store), learner=f"d-{d}", subject="Machine Learning", count=3, difficulty=d)
        assert len(items) == 3
