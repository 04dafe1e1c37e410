"""Quiz, study-plan and progress tab handlers, called directly (no server): streaming, grading,
double and late submits, downloads, reopening, the progress chart, and the app building with them."""

import pytest

from app.tabs import progress, quiz, study_plan
from tests.tutor.features.learning_fixtures import make_services


class KB:
    """The app's services over the shipped knowledge base; unpacks as (tutor, learner store)."""

    def __init__(self, services):
        self.services = services

    def __iter__(self):
        return iter((self.services.tutor, self.services.learners))


@pytest.fixture(scope="module")
def kb(tmp_path_factory):
    return KB(make_services(tmp_path_factory.mktemp("tabs")))


def start(kb, user, **kw):
    _, store = kb
    args = dict(subject="Python", topic="", difficulty="beginner", count=3, kind_label="Multiple choice", review=False)
    args.update(kw)
    return list(quiz.start_quiz(kb.services.quizzes, store, user, **args))


def test_quiz_streams_then_grades_records_and_scores(kb):
    tutor, store = kb
    views = start(kb, "ann")
    quiz_id = views[0][0]
    first = [v for v in views if v[1] == 0 and v[2] is not None][0]  # the first item is shown once ready
    assert "Question 1 of 3" in first[4]
    assert "All 3 questions ready" in views[-1][3]
    items = store.quiz("ann", quiz_id).items
    fb, score = quiz.submit_answer(kb.services.quiz_answers, store, "ann", quiz_id, 0, first[2], items[0].answer, "")
    assert fb.startswith("✅") and items[0].topic in fb
    again = quiz.submit_answer(kb.services.quiz_answers, store, "ann", quiz_id, 0, first[2], "wrong", "")  # double submit
    assert [a.correct for a in store.answers("ann", quiz_id)] == [True]
    assert again[0] != fb  # no new feedback: it was ignored
    pos, shown_at, q, *_ = quiz.next_question(store, "ann", quiz_id, 0)
    assert pos == 1 and "Question 2 of 3" in q
    wrong = next(o for o in items[1].options if o != items[1].answer)
    fb, _ = quiz.submit_answer(kb.services.quiz_answers, store, "ann", quiz_id, 1, shown_at, wrong, "")
    assert fb.startswith("❌") and items[1].answer in fb
    final = quiz.finish_quiz(store, "ann", quiz_id)
    assert "1 / 3" in final and "| Topic |" in final
    quiz.submit_answer(kb.services.quiz_answers, store, "ann", quiz_id, 2, None, items[2].answer, "")  # after the end: ignored
    assert len(store.answers("ann", quiz_id)) == 2
    assert [c.item.item_id for c in store.weak_cards("ann")] == [items[1].item_id]  # missed -> review queue


def test_the_tab_offers_mixed_and_every_kind_of_the_question_bank(kb):
    labels = quiz.kind_choices(kb.services.quizzes)
    assert labels[0] == "Mixed"
    assert {quiz.QUIZ_KINDS[k] for k in kb.services.quizzes.bank.kinds()} <= set(labels)
    assert len(kb.services.quizzes.bank.kinds()) == 5
    views = start(kb, "mixer", kind_label="Mixed", count=5, subject="Machine Learning")
    items = kb.services.learners.quiz("mixer", views[0][0]).items
    assert len(items) == 5 and len({i.doc_id for i in items}) >= 2 and len({i.question_kind for i in items}) >= 2
    assert any(f"· {quiz.QUIZ_KINDS[items[0].question_kind]}" in str(v[4]) for v in views)


def test_quiz_answers_of_another_learner_are_refused(kb):
    tutor, store = kb
    quiz_id = start(kb, "p1")[0][0]
    item = store.quiz("p1", quiz_id).items[0]
    quiz.submit_answer(kb.services.quiz_answers, store, "p2", quiz_id, 0, None, item.answer, "")
    assert store.answers("p2") == [] and store.answers("p1") == []


def test_quiz_bad_input_is_a_message(kb):
    views = start(kb, "bad", topic="medieval French poetry sonnets")
    assert views[-1][3].startswith("⚠️") and "do not cover" in views[-1][3]
    views = start(kb, "bad", count=500, difficulty="auto")
    assert "1 to 20" in views[0][3]


def test_short_answer_quiz_uses_textbox_and_rubric(kb):
    tutor, store = kb
    views = start(kb, "sa", kind_label="Short answer", count=1)
    quiz_id, shown = views[0][0], [v for v in views if v[2] is not None][0]
    assert shown[6]["visible"] is True and shown[5]["visible"] is False
    item = store.quiz("sa", quiz_id).items[0]
    fb, score = quiz.submit_answer(kb.services.quiz_answers, store, "sa", quiz_id, 0, shown[2], None, item.answer.upper())
    assert fb.startswith("✅") and "similarity" in fb and "1 / 1" in score  # last answer closes the quiz


def test_quiz_api_answers_share_the_tab_flow_and_record_the_interaction(kb):
    from tutor.metrics.learners import popular_subjects

    tutor, store = kb
    final = list(quiz.quiz_api(kb.services.quizzes, store, "api:api-ann", "Python", count=2, kind="mcq"))[-1]
    assert final["done"] and len(final["items"]) == 2
    first = final["items"][0]
    item = next(i for i in store.quiz("api:api-ann", final["quiz_id"]).items if i.item_id == first["item_id"])

    def python_actions():
        return sum(s.actions for s in popular_subjects(tutor.metrics) if s.subject == "Python")

    before = python_actions()
    res = quiz.answer_api(kb.services.quiz_answers, "api:api-ann", final["quiz_id"], first["item_id"], item.answer)
    assert res["recorded"] and res["correct"] is True and "source:" in res["feedback"]
    assert res["score"] == {"correct": 1, "answered": 1, "total": 2} and res["finished"] is False
    assert python_actions() == before + 1  # the API answer reaches the learner analytics too
    assert store.weak_cards("api:api-ann") == []
    again = quiz.answer_api(kb.services.quiz_answers, "api:api-ann", final["quiz_id"], first["item_id"], item.answer)
    assert again["recorded"] is False and again["reason"] == "duplicate"
    other = quiz.answer_api(kb.services.quiz_answers, "api:api-bob", final["quiz_id"], first["item_id"], item.answer)
    assert other["recorded"] is False and other["reason"] == "unknown quiz or item" and other["error"]
    assert python_actions() == before + 1


def test_plan_streams_weeks_downloads_and_reopens(kb):
    tutor, store = kb
    tutor.backend.enqueue([])  # FakeBackend's default reply is not JSON: strict fake raises -> outline weeks
    views = list(study_plan.make_plan(kb.services.plans, store, "ann", "Statistics", "", "beginner", 3, 2, "", ""))
    assert "Writing week 1" in views[0][0] and "## Week 1" in views[1][0]
    md, files, saved = views[-1]
    assert "## Week 2" in md
    paths = files["value"]
    assert paths[0].endswith(".md") and paths[1].endswith(".ics")
    assert open(paths[1], encoding="utf-8").read().count("BEGIN:VEVENT") == 6
    plan_id = saved["value"]
    again, files2 = study_plan.open_plan(store, "ann", plan_id)
    assert again == md
    assert study_plan.open_plan(store, "bob", plan_id)[0] != md  # another learner cannot open it


def test_plan_bad_input_is_a_message(kb):
    tutor, store = kb
    views = list(study_plan.make_plan(kb.services.plans, store, "x", study_plan.ANY_SUBJECT, "", "beginner", 3, 2, "", ""))
    assert views[-1][0].startswith("⚠️")


def test_progress_chart_and_mastery(kb):
    tutor, store = kb
    head, fig, rows = progress.show_progress(store, "ann")
    assert "answers" in head and "streak" in head
    assert fig.data and all(0 <= y <= 100 for t in fig.data for y in t.y)
    assert any(r[0] == "Python" for r in rows)
    head, fig, rows = progress.show_progress(store, "nobody")
    assert "No answers yet" in head and rows == []


def test_app_builds_with_the_new_tabs(kb):
    from app.main import build_app

    demo = build_app(kb.services)
    ids = {getattr(b, "elem_id", None) for b in demo.blocks.values()}
    assert {"quiz-start", "plan-make", "progress-chart"} <= ids


def test_plan_api_streams_weeks_and_saves_to_the_caller(kb):
    tutor, store = kb
    tutor.backend.enqueue([])  # not JSON: outline weeks, as in the tab test
    views = list(study_plan.plan_api(kb.services.plans, "api:plan-ann", "Statistics", "", "beginner", 3, 2))
    assert [len(v["weeks"]) for v in views if v["weeks"]] == [1, 2, 2]
    final = views[-1]
    assert final["done"] and final["plan_id"] and "error" not in final
    assert [p.plan_id for p in store.plans("api:plan-ann")] == [final["plan_id"]]
    assert store.plan("api:someone-else", final["plan_id"]) is None
    bad = list(study_plan.plan_api(kb.services.plans, "api:plan-ann", study_plan.ANY_SUBJECT, "", "beginner", 3, 2))
    assert bad[-1]["done"] and bad[-1]["error"]
