"""Admin tab handlers called directly, and the real server with login: a learner cannot reach
admin data through the UI's events or the API."""
import time

import pytest

from app.tabs import admin
from tests.app.admin_fixtures import (
    ADMIN, ADMIN_PW, LEARNER, LEARNER_PW, admin_setup, queue_messages, running_server,
)
from tutor.metrics import KnowledgeGap, ModelCall, TrainingStep


@pytest.fixture
def setup(tmp_path):
    s = admin_setup(tmp_path)
    now = time.time()
    for i in range(25):
        s.tutor.metrics.record_call(ModelCall("smollm2", None, "ask", "ann", now - 100 + i, 0.2, 1.0 + i / 50, 50,
                                              60, 20.0, True, quality=0.7))
    s.tutor.metrics.record_gap(KnowledgeGap("ann", "How do monads work?", None, 0.12, now))
    for step in range(1, 6):
        s.tutor.metrics.record_training_step(TrainingStep("run_a-1", "run_a", step, step / 5, 3.0 - step * 0.3,
                                                          2.9 - step * 0.2 if step % 2 == 0 else None, 2e-4,
                                                          100.0, 1.0, 800.0, now))
    s.services.monitor.sampler.sample_once()
    return s


VIEWS = [
    lambda t, u: admin.system_view(t, u),
    lambda t, u: admin.performance_view(t, u, "Last hour", "balanced", "latency_p50"),
    lambda t, u: admin.training_view(t, u),
    lambda t, u: admin.learners_view(t, u, "Last 7 days"),
    lambda t, u: admin.export_files(t, u, "All time"),
    lambda t, u: admin.clear_model(t, u, "smollm2", True),
    lambda t, u: admin.clear_old(t, u, 1, True),
]


def test_every_admin_handler_refuses_non_admins(setup):
    for view in VIEWS:
        for who in (LEARNER, None, "stranger"):
            with pytest.raises(admin.NotAdmin):
                view(setup.services, who)
    assert setup.services.monitor.stats.models() == ["smollm2"], "nothing was deleted"


def test_admin_sees_statistics_training_and_gaps(setup):
    t = setup.services
    health, fig = admin.system_view(t, ADMIN)
    assert "Health" in health and len(fig.data) >= 2
    v = admin.performance_view(t, ADMIN, "Last hour", "balanced", "latency_p50")
    assert v.table[0][0] == "smollm2" and v.table[0][2] == 25
    assert "Recommended for 'balanced':** smollm2" in v.recommendation
    loss, lr, note = admin.training_view(t, ADMIN)
    names = [tr.name for tr in loss.data]
    assert "run_a train" in names and "run_a val" in names and "1 run(s)" in note
    view = admin.learners_view(t, ADMIN, "Last 7 days")
    assert view.gaps[0][2] == "How do monads work?"
    files = admin.export_files(t, ADMIN, "All time")
    assert any(f.endswith(".json") for f in files) and any(f.endswith(".zip") for f in files)


def test_clears_need_the_confirmation_box(setup):
    t = setup.services
    assert "Tick the confirmation box" in admin.clear_model(t, ADMIN, "smollm2", False)
    assert t.monitor.stats.models() == ["smollm2"]
    assert "Deleted 25" in admin.clear_model(t, ADMIN, "smollm2", True)
    assert t.monitor.stats.models() == []
    assert "greater than 0" in admin.clear_old(t, ADMIN, 0, True)


@pytest.fixture
def live_server(setup):
    with running_server(setup.services) as (url, demo):
        yield url, demo


def _call_raw(http, url: str, fn_index: int, n_inputs: int) -> str:
    """Call one event by index the way a hand-written client would (gradio_client refuses hidden
    events on its side; the server must refuse them too). Returns everything the server sent."""
    import uuid

    session = uuid.uuid4().hex
    r = http.post(url + "gradio_api/queue/join", json={"data": [None] * n_inputs, "fn_index": fn_index,
                                                        "session_hash": session, "trigger_id": None,
                                                        "event_data": None})
    if r.status_code != 200:
        return f"refused {r.status_code}"
    return queue_messages(http, url, session)


def test_learner_login_cannot_call_admin_events(live_server, setup):
    import httpx

    url, demo = live_server
    admin_fns = [i for i, d in demo.fns.items()
                 if any(getattr(o, "elem_id", None) in ("admin-health", "admin-stats", "admin-gaps")
                        for o in d.outputs)]
    assert len(admin_fns) >= 4, "the admin tab's events were found"
    with httpx.Client() as http:
        assert http.post(url + "login", data={"username": LEARNER, "password": "wrong"}).status_code >= 400
        assert http.post(url + "login", data={"username": LEARNER, "password": LEARNER_PW}).status_code == 200
        replies = {i: _call_raw(http, url, i, len(demo.fns[i].inputs)) for i in admin_fns}
    completed = [i for i, text in replies.items() if "process_completed" in text]
    assert completed, f"the server ran the hidden events for the learner: {replies}"
    for i, text in replies.items():
        assert "smollm2" not in text and "monads" not in text and "Health" not in text, (i, text[:300])
    assert any("for admins" in text for text in replies.values()), "the learner is told why"
    # The same events do answer an admin: the probe above would have seen data.
    with httpx.Client() as http:
        assert http.post(url + "login", data={"username": ADMIN, "password": ADMIN_PW}).status_code == 200
        admin_text = "\n".join(_call_raw(http, url, i, len(demo.fns[i].inputs)) for i in admin_fns)
    assert "smollm2" in admin_text


def test_rest_api_on_the_same_server(live_server, setup):
    import httpx

    url, _ = live_server
    r = httpx.get(url + "api/v1/metrics/statistics", headers={"Authorization": f"Bearer {setup.token}"})
    assert r.status_code == 200 and r.json()[0]["model"] == "smollm2"
    assert httpx.get(url + "api/v1/metrics/statistics").status_code == 401
    # The UI itself is behind the login too.
    assert httpx.get(url + "gradio_api/info").status_code in (401, 403)


def test_admin_learner_analytics_include_quiz_accuracy_and_missed_items(setup):
    from tests.tutor.learners.test_learner_store import item
    from tutor.learners import LearnerStore

    store = LearnerStore(setup.tutor.cfg.paths.db_path)
    quiz = store.create_quiz("ann", "Python", "Lists", "beginner", "mcq")
    for n in range(3):
        store.add_item(quiz, item(n))
    for n, ok in ((0, True), (1, False), (2, False)):
        store.record_answer("ann", quiz, f"i{n}", "a", ok, float(ok), 3.0)
    view = admin.learners_view(setup.services, ADMIN, "Last 7 days", store)
    (bar,) = view.accuracy.data
    assert list(bar.x) == ["Python"] and round(bar.y[0]) == 33
    assert {row[0] for row in view.missed} == {"Question 1?", "Question 2?"}
    with pytest.raises(admin.NotAdmin):
        admin.learners_view(setup.services, LEARNER, "Last 7 days", store)
