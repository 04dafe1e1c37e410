"""Identity and downloads through the REAL server (FastAPI + mounted Gradio, login on): admin `root`,
learners `ann` and `bob`. API calls act for the logged-in learner whatever `learner` they send; exports and
study-plan files are served to their owner only, never from Gradio's shared file cache."""
import json
from contextlib import contextmanager
import re
import sqlite3
import uuid

import httpx
import pytest
from gradio_client import Client

from tests.app.admin_fixtures import (
    ADMIN, ADMIN_PW, LEARNER, LEARNER2, LEARNER2_PW, LEARNER_PW, add_users, queue_messages, running_server,
)
from tests.tutor.features.learning_fixtures import KB
from tutor.backends.fake import FakeBackend
from tutor.config import AppConfig, PathsConfig
from tutor.retrieval import HashEmbedder
from tutor.services import build_services

LINK = re.compile(r"/downloads/[A-Za-z0-9_-]+/[^\"'\s)<>\\]+")


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    cfg = AppConfig(paths=PathsConfig(knowledge_base_dir=KB, data_dir=tmp_path_factory.mktemp("entry")))
    add_users(cfg)
    services = build_services(cfg, backend=FakeBackend(), embedder=HashEmbedder())
    with running_server(services) as (url, demo):
        yield url, demo, services


@contextmanager
def login(url: str, user: str, password: str):
    with httpx.Client(timeout=60) as http:
        assert http.post(url + "login", data={"username": user, "password": password}).status_code == 200
        yield http


def call_event(http: httpx.Client, url: str, fn_index: int, data: list) -> str:
    """One event through the queue in a fresh session (no page load: the user_id State is empty),
    the way a hand-written client calls it. Returns every message the server sent."""
    session = uuid.uuid4().hex
    r = http.post(url + "gradio_api/queue/join", json={"data": data, "fn_index": fn_index, "session_hash": session,
                                                        "trigger_id": None, "event_data": None})
    assert r.status_code == 200, r.text
    return queue_messages(http, url, session)


def event_with_output(demo, elem_id: str, n_inputs: int) -> int:
    return next(i for i, f in demo.fns.items() if len(f.inputs) == n_inputs
                and any(getattr(o, "elem_id", None) == elem_id for o in f.outputs))


def test_api_calls_act_for_the_logged_in_learner(live):
    url, _, services = live
    ann = Client(url, auth=(LEARNER, LEARNER_PW), verbose=False)
    final = list(ann.submit("Python", 2, "mcq", "", "bob", api_name="/quiz"))[-1]  # claims to be bob
    assert final["done"] and not final.get("error"), final
    store = services.learners
    assert store.quiz(LEARNER, final["quiz_id"]) is not None, "the quiz is ann's, one record with her browser"
    assert store.quiz(LEARNER2, final["quiz_id"]) is None and store.quiz("api:bob", final["quiz_id"]) is None
    first = final["items"][0]
    bob = Client(url, auth=(LEARNER2, LEARNER2_PW), verbose=False)
    stolen = bob.predict(final["quiz_id"], first["item_id"], first["options"][0], "ann", api_name="/quiz_answer")
    assert stolen["recorded"] is False and stolen["reason"] == "unknown quiz or item"
    mine = ann.predict(final["quiz_id"], first["item_id"], first["options"][0], "bob", api_name="/quiz_answer")
    assert mine["recorded"] is True
    assert [a.item_id for a in store.answers(LEARNER, final["quiz_id"])] == [first["item_id"]]
    assert list(ann.submit("What is a Python list?", "", False, api_name="/ask"))[-1]["done"]
    with sqlite3.connect(services.cfg.paths.metrics_db_path) as db:
        users = {u for (u,) in db.execute("SELECT user FROM retrieval_events")}
    assert LEARNER in users and "api" not in users


def test_plan_api_saves_the_plan_to_the_logged_in_learner(live):
    url, _, services = live
    ann = Client(url, auth=(LEARNER, LEARNER_PW), verbose=False)
    final = list(ann.submit("Statistics", "", "beginner", 3, 2, api_name="/plan"))[-1]
    assert final["done"] and not final.get("error") and len(final["weeks"]) == 2, final
    assert services.learners.plan(LEARNER, final["plan_id"]) is not None
    assert services.learners.plan(LEARNER2, final["plan_id"]) is None


def test_ui_events_called_raw_act_for_the_logged_in_user(live):
    url, demo, services = live

    def quiz_owners() -> list[str]:
        services.learners.answers("nobody")  # opens (and so migrates) the learner database
        with sqlite3.connect(services.cfg.paths.db_path) as db:
            return [learner for (learner,) in db.execute("SELECT learner FROM quizzes ORDER BY rowid")]

    before = quiz_owners()
    start = event_with_output(demo, "quiz-status", 7)  # start quiz: user_id first, then six fields
    with login(url, LEARNER2, LEARNER2_PW) as http:
        text = call_event(http, url, start, [None, "Python", "", "beginner", 2, "Multiple choice", False])
    assert json.loads(text.splitlines()[-1])["success"], text[-800:]
    assert quiz_owners() == [*before, LEARNER2], \
        "a fresh session that skipped the page load (empty user_id State) still acts as bob"


def test_admin_export_is_served_to_the_admin_only(live):
    url, demo, _ = live
    export = event_with_output(demo, "admin-exports", 1)
    with login(url, ADMIN, ADMIN_PW) as admin:
        text = call_event(admin, url, export, ["All time"])
        links = LINK.findall(text)
        assert any(u.endswith(".zip") for u in links) and any(u.endswith(".json") for u in links), text[-800:]
        assert "file=" not in text, "nothing of the export goes through Gradio's file cache"
        zip_url = url + next(u for u in links if u.endswith(".zip")).lstrip("/")
        got = admin.get(zip_url)
        assert got.status_code == 200 and got.content[:2] == b"PK"
        assert got.headers["cache-control"] == "private, no-store"
        assert admin.get(url + "gradio_api/user").json() == ADMIN  # the route reads the login as Gradio does
    for user, password in ((LEARNER, LEARNER_PW), (LEARNER2, LEARNER2_PW)):
        with login(url, user, password) as http:
            assert http.get(zip_url).status_code == 404
    assert httpx.get(zip_url).status_code == 401


def test_study_plan_files_are_served_to_their_owner_only(live):
    url, demo, _ = live
    make = event_with_output(demo, "plan-downloads", 8)
    with login(url, LEARNER, LEARNER_PW) as ann:
        text = call_event(ann, url, make, [None, "Statistics", "", "beginner", 3, 2, "", ""])
        links = LINK.findall(text)
        assert {u.rsplit(".", 1)[-1] for u in links} == {"md", "ics"}, text[-800:]
        assert "file=" not in text
        ics = url + next(u for u in links if u.endswith(".ics")).lstrip("/")
        got = ann.get(ics)
        assert got.status_code == 200 and got.text.count("BEGIN:VEVENT") == 6
    with login(url, LEARNER2, LEARNER2_PW) as bob:
        assert bob.get(ics).status_code == 404
    with login(url, ADMIN, ADMIN_PW) as admin:
        assert admin.get(ics).status_code == 404, "a learner's plan is theirs alone"
    assert httpx.get(ics).status_code == 401
