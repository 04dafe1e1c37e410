"""Study plans on the shipped knowledge base with a scripted backend: structure, citations from the
index only, model weeks used only when usable, bounds and bad input, saving and reopening."""
import dataclasses
import json

import pytest

from tutor.features.schemas import StudyPlan
from tutor.features.study_plan import (
    PlanFinished, PlanInputError, PlanRequest, PlanStarted, WeekReady, layout, outline, plan_markdown,
    sessions_per_week, validate_plan,
)

from .learning_fixtures import make_tutor, plan_maker


@pytest.fixture(scope="module")
def kb(tmp_path_factory):
    return make_tutor(tmp_path_factory.mktemp("plan"))


def make(tutor, store, **kw):
    events = list(plan_maker(tutor, store).generate(PlanRequest(**kw)))
    assert isinstance(events[0], PlanStarted) and isinstance(events[-1], PlanFinished)
    return events


def indexed(tutor):
    chunks, _ = tutor.retriever.store.all_chunks(with_embeddings=False)
    return {c.id: c for c in chunks}


def test_plan_structure_citations_and_saving(kb):
    tutor, store = kb
    events = make(tutor, store, learner="ann", subject="statistics", hours_per_week=3, weeks=3, use_model=False,
                  start_date="2026-01-05")
    done = events[-1]
    plan = done.plan
    assert done.valid and validate_plan(plan) is None
    assert [w.number for w in plan.weeks] == [1, 2, 3]
    assert sum(isinstance(e, WeekReady) for e in events) == 3  # weeks stream one by one
    chunks = indexed(tutor)
    for w in plan.weeks:
        assert len(w.sessions) == 3 and all(s.minutes == 60 for s in w.sessions)
        for s in w.sessions:
            for r in s.readings:  # every citation is an indexed chunk of the subject, with its real names
                c = chunks[r.chunk_id]
                assert (c.doc_id, c.title, c.subject) == (r.doc_id, r.title, "Statistics")
    # beginner documents come before advanced ones
    levels = [chunks[s.readings[0].chunk_id].level for w in plan.weeks for s in w.sessions]
    assert levels.index("beginner") < len(levels) - 1 - levels[::-1].index("advanced")
    saved = store.plans("ann")
    assert [p.plan_id for p in saved] == [plan.plan_id]
    assert store.plan("ann", plan.plan_id) == plan and store.plan("bob", plan.plan_id) is None
    assert StudyPlan.from_json(plan.to_json()) == plan
    md = plan_markdown(plan)
    assert "## Week 1" in md and plan.weeks[0].sessions[0].readings[0].doc_id in md


def test_model_weeks_used_when_relevant_else_outline(kb):
    tutor, store = kb
    tutor.backend.enqueue([
        json.dumps({"theme": "Lists and tuples in Python", "activities": ["Write a list comprehension for squares",
                                                                          "Compare a list with a tuple"]}),
        json.dumps({"theme": "Cooking pasta", "activities": ["Boil the water now", "Add salt to taste"]}),
    ])
    events = make(tutor, store, learner="m", subject="Python", hours_per_week=2, weeks=2, level="beginner")
    weeks = [e for e in events if isinstance(e, WeekReady)]
    done = events[-1]
    assert done.valid
    # week 1's theme names its topics only if the model's text was about them; week 2's was not.
    assert [w.by_model for w in weeks][1] is False
    assert weeks[1].week.theme != "Cooking pasta"
    requests = [r for r in tutor.backend.requests if r.json_schema is not None]
    assert len(requests) == 2
    calls = [c for c in tutor.metrics.recent_calls() if c.operation == "study_plan" and c.user == "m"]
    assert len(calls) == 2 and calls[0].quality == 0.0  # newest first: the rejected week 2


def test_free_text_goal_picks_the_subject_and_uncovered_goal_says_so(kb):
    tutor, store = kb
    done = make(tutor, store, learner="g", goal="convolutional networks, pooling and dropout", weeks=1, use_model=False)[-1]
    assert done.plan.subject == "Deep Learning"
    with pytest.raises(PlanInputError) as e:
        list(plan_maker(tutor, store).generate(PlanRequest("g", goal="medieval French poetry sonnets")))
    assert "do not cover" in str(e.value)


@pytest.mark.parametrize("kw, message", [
    ({"subject": "Astrology"}, "not a subject"),
    ({"subject": "Python", "hours_per_week": 0}, "between 0.5 and 60"),
    ({"subject": "Python", "level": "expert"}, "Level must be"),
    ({"subject": "Python", "weeks": None, "target_date": "soon"}, "not a date"),
    ({}, "pick a subject"),
])
def test_bad_input_is_a_sentence(kb, kw, message):
    tutor, store = kb
    with pytest.raises(PlanInputError, match=message):
        list(plan_maker(tutor, store).generate(PlanRequest("x", use_model=False, **kw)))


def test_weeks_bounded_and_target_date(kb):
    tutor, store = kb
    start, *_, done = make(tutor, store, learner="w", subject="NLP", weeks=500, use_model=False)
    assert len(done.plan.weeks) == 26 and "26 weeks" in start.notices[-1]
    done = make(tutor, store, learner="w", subject="NLP", weeks=None, target_date="2026-02-02",
                start_date="2026-01-05", use_model=False)[-1]
    assert len(done.plan.weeks) == 4


def test_layout_and_sessions():
    assert sessions_per_week(3) == (3, 60)
    assert sessions_per_week(0.5) == (1, 30)
    assert sessions_per_week(10)[0] == 7
    grid = layout(list("abcde"), 1, 2, 60)
    assert grid == [[["a", "b", "c"], ["d", "e"]]]
    review = layout(list("ab"), 2, 2, 60)
    assert [s for w in review for s in w] == [["a"], ["b"], ["a"], ["b"]]


def test_outline_orders_by_level(kb):
    tutor, _ = kb
    chunks = [c for c in indexed(tutor).values() if c.subject == "Machine Learning"]
    levels = [t.level for t in outline(chunks)]
    assert levels == sorted(levels, key=["beginner", "intermediate", "advanced"].index)
    assert all(t.section.lower() != "key takeaways" for t in outline(chunks))


def test_invalid_plan_is_detected():
    plan = StudyPlan("p", "t", "s", "", "beginner", 1.0, "2026-01-01", ())
    assert validate_plan(plan) is not None
    assert validate_plan(dataclasses.replace(plan, title="")) is not None
