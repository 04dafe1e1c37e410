"""The real app on the embedded models, driven through gradio_client."""
import concurrent.futures as cf

import pytest

pytestmark = pytest.mark.integration


def _client(live_app):
    from gradio_client import Client

    return Client(live_app.url, verbose=False)


def test_answer_streams_and_cites_a_retrieved_chunk(live_app):
    job = _client(live_app).submit("What does the chain rule say about derivatives?", "", False, api_name="/ask")
    outputs = list(job)  # every streamed update, in order
    final = outputs[-1]
    assert final["done"] and not final.get("error"), final
    partial = [o for o in outputs if not o["done"]]
    assert len(partial) >= 3, "the answer should arrive in several streamed pieces"
    assert all(final["text"].startswith(p["text"][:20]) for p in partial[:1])
    assert final["grounded"] is True
    indices = {s["index"] for s in final["sources"]}
    assert final["citations"], "a grounded answer carries at least one citation"
    assert set(final["citations"]) <= indices
    for i in final["citations"]:
        assert f"[{i}]" in final["text"]
    assert any("calculus" in s["doc_id"] for s in final["sources"]), final["sources"]


def test_uncovered_question_is_said_plainly(live_app):
    final = list(_client(live_app).submit("Which pizza topping is best in Naples?", "", False, api_name="/ask"))[-1]
    assert final["done"] and final["grounded"] is False
    assert "does not cover" in final["text"] and final["sources"] == [] and final["citations"] == []


def test_empty_question_gets_a_message_not_a_model_call(live_app):
    final = list(_client(live_app).submit("   ", "", False, api_name="/ask"))[-1]
    assert final["done"] and "type a question" in final["error"]


def test_two_learners_chatting_at_once_never_mix(live_app):
    """Two sessions of the chat endpoint at the same time: each history holds only its own turns."""
    questions = {"a": "What is a Python list comprehension?", "b": "What is Bayes' theorem?"}

    def chat(q):
        c = _client(live_app)
        out = list(c.submit(q, [], "All subjects", False, {}, "learner", api_name="/chat"))
        return out[-1][0]  # the chatbot's final value

    with cf.ThreadPoolExecutor(2) as ex:
        results = dict(zip(questions, ex.map(chat, questions.values())))
    for key, history in results.items():
        user_turns = [m["content"] for m in history if m["role"] == "user"]
        texts = [t if isinstance(t, str) else str(t) for t in user_turns]
        assert len(texts) == 1 and questions[key] in texts[0], history
        assert history[-1]["role"] == "assistant" and history[-1]["content"]
