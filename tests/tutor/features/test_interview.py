"""Interview coach on a real Tutor (FakeBackend, hash embedder, Chroma + SQLite on disk) and a small
bank in tmp_path: held-out questions only, scoring, follow-ups, model answers, summary, history."""
import json
import random

import pytest

from tests.tutor.test_service import make_cfg
from tutor.backends.fake import FakeBackend
from tutor.errors import InputError, TutorError
from tutor.features import interview as iv
from tutor.features.interview_bank import InterviewQuestion, split_of
from tutor.features.interview_store import InterviewStore
from tutor.retrieval import HashEmbedder
from tutor.services import build_services

# (topic, difficulty, question, reference answer, key points). Written so the lexical rubric
# (the coach runs without an embedder in these tests) behaves like a human grader.
ITEMS = [
    ("ML fundamentals", "beginner", "What is overfitting?",
     "Overfitting is when a model fits noise in the training data. Training error is low while "
     "validation error is high. Regularization, more data or early stopping reduce it.",
     ["model fits noise in the training data", "training error low, validation error high",
      "regularization, more data or early stopping reduce it"]),
    ("ML fundamentals", "advanced", "Explain the bias-variance trade-off.",
     "Bias is error from wrong assumptions of a too simple model. Variance is error from sensitivity to the "
     "training sample. Expected error is bias squared plus variance plus irreducible noise.",
     ["bias comes from a too simple model", "variance is sensitivity to the training sample",
      "error is bias squared plus variance plus noise"]),
    ("Python", "beginner", "How does a Python list differ from a tuple?",
     "A list is mutable: items can be appended or changed. A tuple is immutable. Tuples are hashable and "
     "can be dictionary keys when their items are.",
     ["lists are mutable", "tuples are immutable", "tuples can be dictionary keys"]),
    ("Python", "intermediate", "What does a Python generator do?",
     "A generator function uses yield to produce values lazily, one at a time. It keeps its state between "
     "calls and saves memory on long sequences.",
     ["uses yield", "produces values lazily one at a time", "saves memory on long sequences"]),
    ("Statistics", "intermediate", "What is a p-value?",
     "A p-value is the probability of data at least as extreme as observed when the null hypothesis holds. "
     "It is not the probability that the null hypothesis is true. Small values count as evidence against it.",
     ["probability of data at least as extreme under the null hypothesis",
      "not the probability the null hypothesis is true", "small values are evidence against the null"]),
]


def _test_split_text(question: str) -> str:
    """The question, reworded just enough to land in the held-out TEST split."""
    for suffix in ["", " Explain briefly.", " Give an example.", " Why does it matter?", " Be concise.",
                   *(f" (part {i})" for i in range(200))]:
        if split_of(question + suffix) == "test":
            return question + suffix
    raise AssertionError("no test-split wording found")


def write_bank(folder, with_train_item=True):
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, (topic, diff, q, a, kps) in enumerate(ITEMS):
        rows.append({"id": f"t-{i}", "question": _test_split_text(q), "answer": a, "topic": topic,
                     "difficulty": diff, "key_points": kps})
    if with_train_item:
        q = next(f"What is a decorator in Python, variant {i}?" for i in range(500)
                 if split_of(f"What is a decorator in Python, variant {i}?") == "train")
        rows.append({"id": "train-0", "question": q, "answer": "A decorator wraps a function.", "topic": "Python",
                     "difficulty": "beginner", "key_points": ["wraps a function", "uses @ syntax", "returns a function"]})
    (folder / "bank.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return folder


@pytest.fixture
def services(tmp_path):
    cfg = make_cfg(tmp_path)
    cfg = cfg.replace(paths=cfg.paths.replace(interview_bank_dir=write_bank(tmp_path / "bank")))
    return _services(cfg)


def _services(cfg, backend=None):
    s = build_services(cfg, backend=backend or FakeBackend(), embedder=HashEmbedder())
    assert s.tutor.warm_up().ready
    return s


@pytest.fixture
def tutor(services):
    return services.tutor


@pytest.fixture
def coach(services):
    return _lexical(services.interviews)


def _lexical(c):
    c.embed = None  # the lexical rubric: exact expectations without a model
    return c


def _ref(q):
    return q.answer


def test_sessions_use_only_test_split_questions_in_difficulty_order(coach):
    s = coach.start("ann", iv.InterviewSettings("All topics", None, None, 5), seed=1)
    assert len(s.questions) == 5 and all(split_of(q.question) == "test" for q in s.questions)
    assert "train-0" not in {q.id for q in s.questions}
    order = [iv.DIFFICULTIES.index(q.difficulty) for q in s.questions]
    assert order == sorted(order)
    p = s.prompt()
    assert p.kind == "question" and p.number == 1 and p.total == 5 and p.text == s.questions[0].question


def test_topic_filter_and_relaxed_difficulty_are_explained(coach):
    s = coach.start("ann", iv.InterviewSettings("Data scientist", "Python", "beginner", 2), seed=0)
    assert [q.topic for q in s.questions] == ["Python", "Python"]
    assert any("Only 1 held-out beginner" in n for n in s.notes)
    s = coach.start("ann", iv.InterviewSettings("All topics", "Statistics", None, 4), seed=0)
    assert len(s.questions) == 1 and any("Only 1 held-out question" in n for n in s.notes)


@pytest.mark.parametrize("settings, msg", [
    (iv.InterviewSettings("Astronaut", None, None, 3), "Unknown track"),
    (iv.InterviewSettings("All topics", None, "expert", 3), "Unknown difficulty"),
    (iv.InterviewSettings("All topics", None, None, 0), "between 1 and"),
    (iv.InterviewSettings("All topics", "MLOps", None, 3), "no held-out questions"),
])
def test_bad_settings_are_input_errors(coach, settings, msg):
    with pytest.raises(InputError, match=msg):
        coach.start("ann", settings)


def test_empty_bank_is_a_clear_input_error(tutor, tmp_path):
    cfg = tutor.cfg.replace(paths=tutor.cfg.paths.replace(
                                                                   interview_bank_dir=tmp_path / "nothing"))
    with pytest.raises(InputError, match="could not be loaded"):
        _services(cfg).interviews.start("ann", iv.InterviewSettings())


def test_full_answer_scores_10_with_reference_and_generated_model_answer(coach, tutor):
    s = coach.start("ann", iv.InterviewSettings("All topics", "ML fundamentals", "beginner", 1), seed=0)
    q = s.current
    tutor.backend.enqueue(["Overfitting is when the model fits noise in the training data."])
    s2, fb = coach.answer(s, _ref(q))
    assert fb.question_done and fb.follow_up is None and fb.result.score == 10.0 and s2.finished
    assert fb.result.covered == q.key_points and fb.result.missed == ()
    ma = fb.model_answer
    assert ma.reference == q.answer and ma.generated.startswith("Overfitting is when")
    assert ma.adapter is None and "base model" in ma.note  # FakeBackend has no interview adapter
    req = tutor.backend.requests[-1]
    assert req.adapter is None and req.messages[-1].content == q.question and req.params.temperature == 0
    call = tutor.metrics.recent_calls()[0]
    assert call.operation == "interview" and call.user == "ann"
    assert call.quality == pytest.approx(ma.generated_coverage, abs=0.005)  # score/10 ~ coverage (1 decimal)


def test_the_interview_adapter_is_used_when_loaded(tutor):
    svc = _services(tutor.cfg, FakeBackend(adapters=("interview", "tutor")))
    c = _lexical(svc.interviews)
    s = c.start("ann", iv.InterviewSettings("All topics", "Python", "beginner", 1), seed=0)
    _, fb = c.answer(s, _ref(s.current))
    assert svc.tutor.backend.requests[-1].adapter == "interview"
    assert fb.model_answer.adapter == "interview" and "interview adapter" in fb.model_answer.note


def test_partial_answer_gets_one_follow_up_and_half_credit(coach):
    s = coach.start("ann", iv.InterviewSettings("All topics", "ML fundamentals", "beginner", 1), seed=0)
    q = s.current
    s, fb = coach.answer(s, "Overfitting is when a model fits noise in the training data, not the signal.")
    assert not fb.question_done and fb.model_answer is None and fb.rubric.score == pytest.approx(3.3)
    assert s.prompt().kind == "follow-up" and s.prompt().text == fb.follow_up
    assert fb.follow_up.endswith("?") and q.key_points[1] not in fb.follow_up  # a cue, not the answer
    s, fb = coach.answer(s, "Training error is low but the validation error is high.")
    assert fb.question_done and s.finished
    # 1 point unprompted + 1 point after the follow-up at half credit, of 3
    assert fb.result.score == iv.question_score(3, 1, 1) == pytest.approx(5.0)
    assert fb.result.missed == (q.key_points[2],) and q.key_points[2] in fb.feedback
    assert fb.model_answer.reference == q.answer


@pytest.mark.parametrize("answer", ["", "   ", "asdf qwrtp zxcvbn", "idk"])
def test_empty_or_nonsense_answer_scores_zero_without_follow_up(coach, answer):
    s = coach.start("ann", iv.InterviewSettings("All topics", None, None, 2), seed=3)
    s2, fb = coach.answer(s, answer)
    assert fb.question_done and fb.result.score == 0.0 and fb.follow_up is None
    assert "0" in fb.feedback and s2.index == 1 and fb.model_answer.reference


def test_model_failure_still_shows_the_reference_answer(coach, tutor):
    tutor.backend.fail_with = TutorError("The language model is not loaded yet.")
    s = coach.start("ann", iv.InterviewSettings("All topics", "Python", None, 1), seed=0)
    _, fb = coach.answer(s, _ref(s.current))
    assert fb.result.score == 10.0 and fb.model_answer.generated is None
    assert fb.model_answer.reference == s.current.answer and "could not be generated" in fb.model_answer.note
    assert tutor.metrics.recent_calls()[0].success is False


def test_answering_a_finished_session_is_an_input_error(coach):
    s = coach.start("ann", iv.InterviewSettings("All topics", "Statistics", None, 1), seed=0)
    s, _ = coach.answer(s, "", model_answer=False)
    with pytest.raises(InputError, match="over"):
        coach.answer(s, "more")


def test_summary_history_and_reading_from_real_documents(coach, tutor):
    s = coach.start("ann", iv.InterviewSettings("All topics", None, None, 5), seed=2)
    while not s.finished:
        q = s.current
        text = _ref(q) if q.topic != "Python" else "I think it is something about loops and speed."
        s, fb = coach.answer(s, text, model_answer=False)
        if not fb.question_done:
            s, fb = coach.answer(s, "I am not sure about that one at all.", model_answer=False)
    summ = coach.summary(s)
    assert summ.weakest == ("Python",) and summ.per_topic[0].topic == "Python"
    assert summ.per_topic[0].mean_score == 0.0 and summ.overall == pytest.approx(10.0 * 3 / 5)
    on_disk = set(tutor.ingestor.scan())
    assert summ.reading and all(r.doc_id in on_disk and r.topic == "Python" for r in summ.reading)
    assert {r.doc_id for r in summ.reading} <= {"python/lists.md", "python/evil.md"}
    sessions, topics = coach.history("ann")
    assert len(sessions) == 1 and sessions[0].score == summ.overall and sessions[0].answered == 5
    assert {t.topic: t.mean_score for t in topics}["Python"] == 0.0
    assert coach.history("bob") == ([], []), "one learner never sees another's history"


def test_unwritable_history_keeps_the_interview_running(services, tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    c = _lexical(services.interviews)
    c.store = InterviewStore(blocker / "interviews.sqlite3")
    s = c.start("ann", iv.InterviewSettings("All topics", "Python", None, 1), seed=0)
    assert s.session_id is None and any("history" in n for n in s.notes)
    s, fb = c.answer(s, _ref(s.current), model_answer=False)
    assert fb.result.score == 10.0 and s.finished


def test_unseen_questions_come_first(coach):
    first = coach.start("ann", iv.InterviewSettings("All topics", "Python", None, 1), seed=5)
    coach.answer(first, "", model_answer=False)
    second = coach.start("ann", iv.InterviewSettings("All topics", "Python", None, 1), seed=5)
    assert second.questions[0].id != first.questions[0].id


def test_follow_up_text_never_crashes_on_odd_points():
    q = InterviewQuestion("x", "Why?", "Because.", "Python", "beginner", ("the", "a", "!!"))
    assert iv.follow_up_text(q, q.key_points, "").endswith("?")


def test_question_selection_is_seeded(coach):
    a = iv.select_questions(coach.bank, iv.InterviewSettings("All topics", None, None, 3), random.Random(7))
    b = iv.select_questions(coach.bank, iv.InterviewSettings("All topics", None, None, 3), random.Random(7))
    assert a == b


@pytest.mark.parametrize("generated, shown", [
    # the reference answer's content in the model's words: passes the rubric, shown as a model answer
    ("Overfitting is when a model fits noise in the training data. Its training error is low while the "
     "validation error is high. Regularization, more data or early stopping reduce it.", True),
    # one point of three: a candidate would score 3.3, so it is no model answer
    ("Overfitting is when the model fits noise in the training data.", False),
    # every key word, no statement: word salad
    ("Overfitting noise training data model fits error validation high low regularization early stopping "
     "data more reduce.", False),
    # fluent, on topic, and wrong: the errors swapped
    ("Overfitting is when a model fits noise in the training data. Its training error is high while the "
     "validation error is low. Regularization, more data or early stopping reduce it.", False),
])
def test_the_model_answer_is_shown_only_when_it_passes_the_rubric(coach, tutor, generated, shown):
    s = coach.start("ann", iv.InterviewSettings("All topics", "ML fundamentals", "beginner", 1), seed=0)
    tutor.backend.enqueue([generated])
    _, fb = coach.answer(s, _ref(s.current))
    ma = fb.model_answer
    assert ma.reference == s.current.answer and ma.generated == generated  # kept for the record either way
    assert ma.matches_reference is shown
    assert (iv.MODEL_ANSWER_MISMATCH in ma.note) is (not shown)
