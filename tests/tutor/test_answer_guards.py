"""The tutor's answer guards end to end (scripted backend, hash embedder, real Chroma and SQLite):
a looping model is cut cleanly and recorded as truncated; an uncovered question gets the notice and
the closest course topics; unusable messages get a clear sentence."""
import pytest

from tutor import prompting
from tutor.backends.fake import FakeBackend
from tutor.retrieval import HashEmbedder
from tutor.backends.repetition import find_degeneration
from tutor.errors import InputError
from tutor.service import build_tutor
from tutor.types import Answer, Delta

from tests.tutor.test_service import make_cfg

LOOP = "The chain rule multiplies the derivatives [1]. " + "the outer derivative times " * 60


def ask(t, q):
    events = list(t.ask(q))
    ans = events[-1]
    assert isinstance(ans, Answer)
    assert "".join(e.text for e in events if isinstance(e, Delta)) == ans.text  # what streamed is kept
    return ans


def test_looping_model_is_cut_and_recorded_as_truncated(tmp_path):
    t = build_tutor(make_cfg(tmp_path), backend=FakeBackend(), embedder=HashEmbedder())
    assert t.warm_up().ready
    t.backend.enqueue([LOOP])
    ans = ask(t, "What does the chain rule say?")
    assert ans.grounded and ans.truncated and ans.completion.finish_reason == "repetition"
    assert ans.text.endswith(prompting.REPETITION_NOTE)
    model_part = ans.text[: -len(prompting.REPETITION_NOTE)]
    assert find_degeneration(model_part) is None
    assert ans.completion.usage.completion_tokens < 40  # stopped early, not streamed to the token limit
    assert t.backend.requests[-1].params.stop_on_repetition


def test_a_clean_answer_is_not_cut(tmp_path):
    t = build_tutor(make_cfg(tmp_path), backend=FakeBackend(), embedder=HashEmbedder())
    assert t.warm_up().ready
    t.backend.enqueue(["The chain rule multiplies the outer derivative by the inner one [1]."])
    ans = ask(t, "What does the chain rule say?")
    assert not ans.truncated and prompting.REPETITION_NOTE not in ans.text


def test_uncovered_question_gets_notice_and_closest_topics(tmp_path):
    t = build_tutor(make_cfg(tmp_path, relevance_floor=0.99), backend=FakeBackend(), embedder=HashEmbedder())
    assert t.warm_up().ready
    t.backend.enqueue(["General help."])
    ans = ask(t, "What does the chain rule say about photosynthesis?")
    assert not ans.grounded and ans.text.startswith(prompting.NOT_COVERED_NOTICE)
    assert "closest topics the course does cover" in ans.text and "*Chain rule" in ans.text
    assert t.metrics.knowledge_gaps()  # recorded as a gap, as before


@pytest.mark.parametrize("message,says", [
    ("?!?...", "in words"),
    ("   ***   ", "in words"),
    ("https://example.com/lecture?id=3", "can't open links"),
    ("www.example.org/notes", "can't open links"),
])
def test_unusable_messages_get_a_clear_sentence(tmp_path, message, says):
    t = build_tutor(make_cfg(tmp_path), backend=FakeBackend(), embedder=HashEmbedder())
    assert t.warm_up().ready
    with pytest.raises(InputError, match=says):
        list(t.ask(message))
    assert not t.backend.requests  # the model never ran


@pytest.mark.parametrize("message", [
    "¿Qué dice la regla de la cadena sobre las derivadas?",
    "what does this do: https://example.com and the chain rule?",  # a link inside a question is fine
    "def f(x):\n    return [i * i for i in range(x)]  # why is this slow?\n" * 120,  # ~7,000 chars of code
])
def test_odd_but_answerable_messages_get_an_answer(tmp_path, message):
    t = build_tutor(make_cfg(tmp_path), backend=FakeBackend(), embedder=HashEmbedder())
    assert t.warm_up().ready
    t.backend.enqueue(["Here is some help."])
    ans = ask(t, message)
    assert ans.text and "Here is some help." in ans.text
    if len(message) > t.cfg.server.max_message_chars:
        assert ans.notice and "characters" in ans.notice
