"""Interview coach tab handlers called directly (no server), on a real Tutor with a scripted backend."""
import dataclasses

import pytest

from app.tabs import interview as tab
from tutor.features.delivery import Delivery, SpokenAnswer
# the feature tests' tutor (small bank, scripted model) and lexical-rubric coach
from tests.tutor.features.test_interview import coach, services, tutor  # noqa: F401 - pytest fixtures
from tutor.features import interview as iv


def last(updates):
    """The final UI state of a streaming handler."""
    return list(updates)[-1]



def test_start_shows_the_first_question_and_resets_the_panels(coach):
    out = tab.start(coach, "ann", "All topics", tab.ANY, tab.ANY, 2, seed=0)
    session, user, question_md, notes, feedback, model_md, summary, chart, box = out
    assert user == "ann" and isinstance(session, iv.InterviewSession) and len(session.questions) == 2
    assert question_md.startswith("### Question 1 of 2") and session.questions[0].question in question_md
    assert (feedback, model_md, summary, chart, box) == ("", "", "", None, "")


def test_api_callers_without_a_user_get_their_own_anonymous_id(coach):
    a = tab.start(coach, "", "All topics", tab.ANY, tab.ANY, 1, seed=0)[1]
    b = tab.start(coach, "", "All topics", tab.ANY, tab.ANY, 1, seed=0)[1]
    assert a.startswith("anon-") and b.startswith("anon-") and a != b


def test_bad_settings_warn_and_keep_the_previous_state(coach):
    with pytest.warns(UserWarning, match="Unknown track"):
        out = tab.start(coach, "ann", "Astronaut", tab.ANY, tab.ANY, 3)
    assert out[0] == tab.gr.skip() and "Unknown track" in out[3]


def test_a_whole_interview_ends_with_summary_chart_and_history(coach, tutor):
    session = tab.start(coach, "ann", "All topics", "Python", tab.ANY, 2, seed=0)[0]
    tutor.backend.enqueue(["A list is mutable and a tuple is not."] * 3)
    # answer 1: the reference answer -> 10, with the model answer shown
    q1 = session.current
    steps = list(tab.submit(coach, session, "ann", q1.answer, True))
    assert len(steps) == 2 and "Generating a model answer" in steps[0][3] and q1.answer in steps[0][3]
    session, qmd, fb_md, model_md, summary, chart, box = steps[-1]
    assert "## Score: 10 / 10" in fb_md and "**Covered**" in fb_md and "**Missed**" not in fb_md
    assert "**Reference answer**" in model_md and q1.answer in model_md
    assert "**Model answer" in model_md and "base model" in model_md
    assert qmd.startswith("### Question 2 of 2") and box == "" and summary == "" and chart is None
    # answer 2: a real but wrong answer -> a follow-up first, the model answer withheld
    session, qmd, fb_md, model_md, *_ = last(tab.submit(coach, session, "ann", "It is a kind of loop that runs fast.",
                                                        True))
    assert qmd.startswith("### Follow-up 2 of 2") and "Score so far: 0 / 10" in fb_md
    assert model_md == "_The model answer appears after the follow-up._"
    steps = list(tab.submit(coach, session, "ann", "", False))
    assert len(steps) == 1, "no model answer wanted: one update"
    session, qmd, fb_md, model_md, summary, chart, box = steps[-1]
    assert "Interview complete" in qmd and "**Missed**" in fb_md and "Reference answer" in model_md
    assert "## Interview summary: 5 / 10" in summary and "**Weakest topic:** Python" in summary
    assert "Reading from the course" in summary and "`python/" in summary
    assert list(chart.data[0].x) == ["Python"] and list(chart.data[0].y) == [5.0]
    md, hist_chart = tab.history(coach, "ann")
    assert "| All topics | Python | Any | 2 / 2 | 5 / 10 |" in md and list(hist_chart.data[0].x) == ["Python"]
    assert tab.history(coach, "bob")[0] == "_No interviews yet._"


def test_submit_without_a_session_warns_and_keeps_the_text(coach):
    with pytest.warns(UserWarning, match="Start an interview first"):
        out = last(tab.submit(coach, None, "ann", "my careful answer", True))
    assert out[-1] == "my careful answer"


def test_internal_error_keeps_the_answer_in_the_box(coach, monkeypatch):
    session = tab.start(coach, "ann", "All topics", tab.ANY, tab.ANY, 1, seed=0)[0]

    def boom(*a, **k):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(coach, "answer", boom)
    with pytest.warns(UserWarning, match="could not be scored"):
        out = last(tab.submit(coach, session, "ann", "my careful answer", True))
    assert out[0] is session and out[-1] == "my careful answer"


def _spoken(text: str, seconds: float = 6.0) -> SpokenAnswer:
    n = len(text.split())
    return SpokenAnswer(text, Delivery(words=n, speaking_s=seconds, words_per_minute=60 * n / seconds, fillers=()))


def test_voice_hook_appends_the_transcript_and_shows_its_delivery(coach):
    box, note = tab.transcribe_into_box(lambda p, u: _spoken(" overfitting means memorising "), "a.wav", "So,")
    assert box == "So, overfitting means memorising"
    assert "too short to judge" in note  # three words
    long = " ".join(["the model memorises noise in the training data"] * 2)
    box, note = tab.transcribe_into_box(lambda p, u: _spoken(long, 6.0), "a.wav", "")
    assert box == long and "160 words/min" in note and "comfortable" in note
    assert tab.transcribe_into_box(lambda p, u: _spoken("x"), None, "typed") == ("typed", "")

    def bad(p, u):
        raise ValueError("not audio")

    with pytest.warns(UserWarning, match="could not be transcribed"):
        assert tab.transcribe_into_box(bad, "a.wav", "typed") == ("typed", "")


def test_the_app_has_the_tab_and_its_api_endpoints(services):
    from app.main import build_app

    demo = build_app(services)
    names = set(demo.get_api_info()["named_endpoints"])
    assert {"/interview_start", "/interview_answer"} <= names


def test_a_model_answer_that_failed_the_rubric_is_not_shown():
    ma = iv.ModelAnswer("Overfitting is fitting noise.", "10-fold cross validation gives a loss of 23%.", "interview",
                        0.2, iv.MODEL_ANSWER_MISMATCH, matches_reference=False)
    fb = iv.AnswerFeedback("question", None, True, None, None, ma, "", ())
    md = tab.model_answer_markdown(fb)
    assert "Overfitting is fitting noise." in md and "23%" not in md and iv.MODEL_ANSWER_MISMATCH in md
    passed = dataclasses.replace(ma, matches_reference=True)
    shown = tab.model_answer_markdown(dataclasses.replace(fb, model_answer=passed))
    assert "23%" in shown and "**Model answer (covers 20% of the key points)**" in shown
