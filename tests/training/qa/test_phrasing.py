"""Phrasing through the backend: schema + metering meta, invalid JSON recorded, retries, breaker, timeout."""
import json
from dataclasses import replace

import pytest

from tests.training.qa.fixtures import KB, SlowFake
from tutor.backends.fake import FakeBackend
from tutor.errors import GenerationError
from training.qa.candidates import candidates
from training.qa.checks import content_words
from training.qa.config import QAConfig
from training.qa.phrasing import QUESTION_SCHEMA, FirstWords, Phraser
from training.qa.sections import load_sections

CFG = QAConfig(retries=3, backoff_s=0.0, breaker_fail_max=2, breaker_reset_s=60)


@pytest.fixture(scope="module")
def phrased():
    sections, _ = load_sections(KB, 160, 30, paths=[KB / "calculus" / "derivatives.md"])
    return [c for c in candidates(sections, 6) if c.model_phrased]


def good_reply(c, opener=None):
    words = " ".join(content_words(c.sentence)[:4])
    return json.dumps({"question": f"{opener or c.opener} about {c.focus}: {words}?"})


def test_model_question_used_when_it_follows_the_form(phrased):
    c = phrased[0]
    fake = FakeBackend([good_reply(c)])
    pair, problem = Phraser(fake, CFG).phrase(c)
    assert problem is None and pair.generated_by == "fake" and pair.question.startswith(c.opener)
    req = fake.requests[0]
    assert req.json_schema == QUESTION_SCHEMA and req.meta.operation == "qa"
    assert pair.answer == c.answer  # the model never writes the answer


def test_model_question_off_form_falls_back_to_template(phrased):
    c = phrased[0]
    pair, problem = Phraser(FakeBackend([json.dumps({"question": "Hmm?"})]), CFG).phrase(c)
    assert pair.generated_by == "template" and pair.question == c.template_question
    assert "not used" in problem.reason


def test_question_off_the_answer_sentence_is_not_used(phrased):
    c = phrased[0]
    reply = json.dumps({"question": f"{c.opener} about {c.focus}: bakers knead sourdough loaves nightly?"})
    pair, problem = Phraser(FakeBackend([reply]), CFG).phrase(c)
    assert pair.generated_by == "template" and "not about the answer sentence" in problem.reason


def test_question_with_a_formula_the_answer_lacks_is_not_used(phrased):
    c = phrased[0]
    words = " ".join(content_words(c.sentence)[:4])
    reply = json.dumps({"question": f"{c.opener} about {c.focus}: {words} at x = 17?"})
    pair, problem = Phraser(FakeBackend([reply]), CFG).phrase(c)
    assert pair.generated_by == "template" and "brings in terms" in problem.reason


def test_other_first_word_used_only_within_the_run_share(phrased):
    c = phrased[0]
    other = "Whereby" if c.opener != "Whereby" else "Hence"
    budget = FirstWords([c.opener] * 9 + ["zzz"], cap_share=0.2)  # cap = 2 questions per first word
    phraser = Phraser(FakeBackend([good_reply(c, other)] * 3), CFG, first_words=budget)
    by = [phraser.phrase(c)[0].generated_by for _ in range(3)]
    assert by == ["fake", "fake", "template"]
    assert budget.counts[other.lower()] == 2 and budget.counts[c.opener.lower()] == 7


def test_invalid_json_is_recorded_and_skipped(phrased):
    fake = FakeBackend(["this is not json {"], strict_json=False)
    pair, problem = Phraser(fake, CFG).phrase(phrased[0])
    assert len(fake.requests) == 1  # greedy decoding would only repeat it: not retried
    assert pair.generated_by == "template" and problem.stage == "model" and "invalid JSON" in problem.reason


class FlakyOnce(FakeBackend):
    def stream(self, request):
        if not self.requests:
            self.requests.append(request)
            raise GenerationError("slot busy")
        yield from super().stream(request)


def test_transient_failure_is_retried(phrased):
    c = phrased[0]
    fake = FlakyOnce([good_reply(c)])
    pair, problem = Phraser(fake, CFG).phrase(c)
    assert len(fake.requests) == 2 and problem is None and pair.generated_by == "fake"


def test_retries_then_breaker_opens(phrased):
    fake = FakeBackend(fail_with=GenerationError("server down"))
    phraser = Phraser(fake, CFG)
    _, first = phraser.phrase(phrased[0])
    assert len(fake.requests) == 3 and "GenerationError after 3 attempts" in first.reason
    phraser.phrase(phrased[1])  # the second failed request trips the breaker (fail_max=2)
    asked = len(fake.requests)
    pair, third = phraser.phrase(phrased[2])
    assert len(fake.requests) == asked  # open circuit: the model is not called at all
    assert "circuit open" in third.reason and pair.generated_by == "template"


def test_timeout_is_recorded(phrased):
    fake = SlowFake(delay_s=0.05, question="x")
    pair, problem = Phraser(fake, replace(CFG, request_timeout_s=0.01, retries=2)).phrase(phrased[0])
    assert len(fake.requests) == 2 and "TimeoutError" in problem.reason and pair.generated_by == "template"
