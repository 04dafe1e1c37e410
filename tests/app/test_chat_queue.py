"""The chat tab while the model is busy: the learner's place in line shows, then the answer replaces it; past the
line's limit a polite refusal, recorded for the admin. A real Tutor and composition root, with a scripted
backend that holds its answers until the test lets them go."""
from __future__ import annotations

import threading

import pytest

from app.tabs import chat
from tests.polling import until
from tests.tutor.test_service import make_cfg
from tutor.backends.fake import FakeBackend
from tutor.errors import ServerBusy
from tutor.retrieval import HashEmbedder
from tutor.services import build_services




@pytest.fixture
def busy(tmp_path):
    """Services on a one-slot engine with room for one learner in line; the engine answers once `hold` is set."""
    cfg = make_cfg(tmp_path)
    cfg = cfg.replace(serving=cfg.serving.replace(max_waiting=1))
    hold = threading.Event()
    s = build_services(cfg, backend=FakeBackend(default="The outer derivative times the inner [1].", slots=1,
                                                hold=hold), embedder=HashEmbedder())
    assert s.tutor.warm_up().ready
    yield s, hold
    hold.set()


def test_a_queued_chat_shows_its_place_then_the_answer(busy):
    services, hold = busy
    tutor, gate = services.tutor, services.gate
    assert gate is not None and gate.slots == 1
    first: list = []
    runner = threading.Thread(target=lambda: first.extend(
        chat.respond(tutor, "What does the chain rule say?", [], None, False, {}, "ann")), daemon=True)
    runner.start()
    until(lambda: gate.state().running == 1, "the first learner's answer to start")

    second = chat.respond(tutor, "What does the chain rule say?", [], None, False, {}, "bob")
    shown = ""
    for step in second:
        shown = step[0][-1]["content"]
        if "in line" in shown:
            break
    assert "You are next in line" in shown, shown

    # A third learner finds the line full: told at once, politely, and the admin sees the refusal.
    refused = list(chat.respond(tutor, "What does the chain rule say?", [], None, False, {}, "cat"))
    assert refused[-1][0][-1]["content"] == chat.ERROR_PREFIX + ServerBusy.MESSAGE
    calls = tutor.metrics.recent_calls()
    assert [c.error_type for c in calls if not c.success] == ["ServerBusy"]
    assert gate.state().refused_full == 1

    hold.set()
    final = list(second)[-1][0][-1]["content"]
    runner.join(10)
    assert "The outer derivative times the inner" in final and "in line" not in final
    assert "The outer derivative times the inner" in first[-1][0][-1]["content"]
    assert gate.state().running == 0 and gate.state().waiting == 0
