"""The interview coach on the real app (embedded model, MiniLM rubric, real bank) through gradio_client."""
import re

import pytest

from tutor.features.interview_bank import DEFAULT_BANK_DIR, load_bank

pytestmark = pytest.mark.integration


def test_one_question_interview_scores_the_reference_answer_and_summarises(live_app):
    from gradio_client import Client

    bank = load_bank(DEFAULT_BANK_DIR)
    c = Client(live_app.url, verbose=False)  # one client = one session: the interview state stays server-side
    question_md, notes, *_ = c.predict("All topics", "Any", "Any", 1, api_name="/interview_start")
    assert question_md.startswith("### Question 1 of 1"), (question_md, notes)
    q = next(q for q in bank.split("test") if q.question in question_md)  # asked from the held-out split
    out = c.predict(q.answer, True, api_name="/interview_answer")
    question_md, feedback_md, model_md, summary_md = out[:4]
    score = float(re.search(r"## Score: ([\d.]+) / 10", feedback_md).group(1))
    assert score >= 6.0, feedback_md  # a reference answer covers (nearly) all of its own points
    assert "Interview complete" in question_md
    assert q.answer in model_md and "**Model answer" in model_md, model_md  # the real model answered too
    assert f"| {q.topic} | {score:g} | 1 |" in summary_md
