"""Quizzes on the real app and the embedded model, through gradio_client: grounded items stream,
answers are graded once, two learners at once never mix."""
import concurrent.futures as cf

import pytest

pytestmark = pytest.mark.integration


def _client(live_app):
    from gradio_client import Client

    return Client(live_app.url, verbose=False)


def _quiz(client, subject, learner, count=5, kind="mcq"):
    return list(client.submit(subject, count, kind, "", learner, api_name="/quiz"))


def test_quiz_items_stream_grounded_and_are_graded_once(live_app):
    client = _client(live_app)
    updates = _quiz(client, "Statistics", "int-ann")
    final = updates[-1]
    assert final["done"] and not final.get("error"), final
    items = final["items"]
    assert len(items) == 5
    assert len([u for u in updates if u["items"]]) >= 2, "items should arrive one by one"
    for it in items:
        assert it["chunk_id"].startswith("statistics/") and len(it["options"]) == 4
        assert len({o.lower() for o in it["options"]}) == 4
    assert len({it["question"] for it in items}) == 5
    first = items[0]
    # the correct option is unknown to the client: try each until graded correct (only the first counts)
    res = client.predict(final["quiz_id"], first["item_id"], first["options"][0], "int-ann", api_name="/quiz_answer")
    assert res["recorded"] and "source:" in res["feedback"]
    again = client.predict(final["quiz_id"], first["item_id"], first["options"][1], "int-ann", api_name="/quiz_answer")
    assert again["recorded"] is False and again["reason"] == "duplicate"


def test_bad_counts_are_bounded_and_uncovered_topics_said(live_app):
    client = _client(live_app)
    final = _quiz(client, "Python", "int-b", count=0, kind="true_false")[-1]
    assert len(final["items"]) == 1 and any("1 to 20" in n for n in final["notices"])
    final = list(client.submit("Python", 3, "mcq", "medieval French poetry", "int-b", api_name="/quiz"))[-1]
    assert final["done"] and "do not cover" in final["error"]


def test_two_learners_at_once(live_app):
    client = _client(live_app)
    with cf.ThreadPoolExecutor(2) as pool:
        a, b = pool.map(lambda args: _quiz(client, *args, count=2)[-1],
                        [("Python", "int-p1"), ("Deep Learning", "int-p2")])
    assert all(i["chunk_id"].startswith("python/") for i in a["items"])
    assert all(i["chunk_id"].startswith("deep-learning/") for i in b["items"])
    # p2 cannot answer p1's quiz
    res = client.predict(a["quiz_id"], a["items"][0]["item_id"], "x", "int-p2", api_name="/quiz_answer")
    assert res["recorded"] is False
