"""Tab handlers called directly (no server), on a real Tutor with a scripted backend."""

import pytest

from app import main as app_main
from app.tabs import chat, library
from tests.tutor.test_service import make_cfg
from tutor.backends.fake import FakeBackend
from tutor.errors import TutorError
from tutor.retrieval import HashEmbedder
from tutor.services import build_services


@pytest.fixture
def services(tmp_path):
    cfg = make_cfg(tmp_path)
    cfg = cfg.replace(server=cfg.server.replace(admin_user="teach", admin_password="pw"))
    s = build_services(cfg, backend=FakeBackend(), embedder=HashEmbedder())
    assert s.tutor.warm_up().ready
    return s


@pytest.fixture
def tutor(services):
    return services.tutor


@pytest.fixture
def users(services):
    return services.users


def test_respond_echoes_then_streams_then_shows_sources(tutor):
    tutor.backend.enqueue(["Multiply outer and inner derivatives [1]."])
    steps = list(chat.respond(tutor, "What does the chain rule say?", [], chat.ALL_SUBJECTS, False, {}, "ann"))
    first_chat, first_sources, first_box, _ = steps[0]
    assert first_chat[-2] == {"role": "user", "content": "What does the chain rule say?"}
    assert first_chat[-1]["content"] == chat.THINKING and first_box == ""
    final_chat, sources_md, _, ids = steps[-1]
    final = final_chat[-1]["content"]
    assert final.startswith("**From the course [") and "Multiply outer and inner derivatives [1]" in final
    assert "Chain rule" in sources_md and "**cited**" in sources_md
    assert ids == {"1": tutor.metrics.recent_calls()[0].id}
    assert len(steps) > 3, "answer text should arrive in several updates"


def test_history_is_passed_back_to_the_tutor(tutor):
    steps = list(chat.respond(tutor, "chain rule?", [], None, False, {}, "ann"))
    chat_after = steps[-1][0]
    list(chat.respond(tutor, "and lists?", chat_after, None, False, steps[-1][3], "ann"))
    msgs = tutor.backend.requests[-1].messages
    assert [m.role for m in msgs] == ["system", "user", "assistant", "user"]
    assert msgs[1].content == "chain rule?"


def test_empty_message_is_refused_without_model_call(tutor):
    steps = list(chat.respond(tutor, "   ", [], None, False, {}, "ann"))
    assert len(steps) == 1 and steps[0][0] == [] and tutor.backend.requests == []


def test_model_error_is_a_readable_message(tutor):
    tutor.backend.fail_with = TutorError("The language model is not loaded yet.")
    steps = list(chat.respond(tutor, "chain rule?", [], None, False, {}, "ann"))
    final_chat, _, box, _ = steps[-1]
    assert final_chat[-1]["content"] == chat.ERROR_PREFIX + "The language model is not loaded yet."
    assert box == "chain rule?", "the learner's message is given back, not lost"


def test_feedback_on_answers_only(tutor):
    steps = list(chat.respond(tutor, "chain rule?", [], None, False, {}, "ann"))
    ids = steps[-1][3]
    assert "saved" in chat.record_feedback(tutor, ids, "ann", 1, True)
    assert tutor.metrics.recent_calls()[0].feedback == 1
    assert "only be given on a tutor answer" in chat.record_feedback(tutor, ids, "ann", 0, True)


def test_to_history_skips_placeholders_and_errors():
    h = chat.to_history([{"role": "user", "content": "q"}, {"role": "assistant", "content": chat.ERROR_PREFIX + "failed"},
                         {"role": "assistant", "content": [{"type": "text", "text": "a"}]}])
    assert [(m.role, m.content) for m in h] == [("user", "q"), ("assistant", "a")]


def test_admin_check(users, tmp_path):
    off = build_services(make_cfg(tmp_path / "off"), backend=FakeBackend(), embedder=HashEmbedder()).users
    assert "turned off" in library.check_admin(off, None, "x", "y")
    assert library.check_admin(users, None, "teach", "pw") is None
    assert library.check_admin(users, None, "teach", "nope") == "Wrong admin name or password."
    assert library.check_admin(users, "teach", "", "") is None, "a logged-in admin need not retype"
    assert library.check_admin(users, "ann", "", "") == "Wrong admin name or password."


def test_upload_needs_admin_and_checks_type(tutor, users, tmp_path):
    doc = tmp_path / "new.md"
    doc.write_text("---\ntitle: Heaps\nsubject: Python\n---\n# Heaps\n\nA binary heap keeps the smallest item on top.\n")
    bad = tmp_path / "virus.exe"
    bad.write_bytes(b"MZ\x00\x01")
    assert "Wrong admin" in library.add_documents(tutor, users, [str(doc)], "teach", "wrong")
    assert "heap" not in " ".join(c.chunk.text for c in tutor.retrieve("binary heap").hits).lower()
    out = library.add_documents(tutor, users, [str(doc), str(bad)], "teach", "pw")
    assert "**Skipped** `virus.exe`" in out and "'.exe' files are not supported" in out and "Added" in out
    assert tutor.retrieve("binary heap smallest item").hits[0].chunk.title == "Heaps"


def test_app_builds_with_named_api(services):
    demo = app_main.build_app(services)
    names = {d.api_name for d in demo.fns.values() if d.api_name}
    assert {"chat", "ask", "status"} <= names


def test_ask_api_reports_errors_as_data(tutor):
    out = list(app_main.ask_api(tutor, "  "))
    assert out == [{"text": "", "done": True, "error": "Please type a question first."}]


def test_json_endpoints_declare_outputs(services):
    """gr.api builds outputs from the return hint; without it a client gets an empty tuple."""
    demo = app_main.build_app(services)
    api = demo.get_api_info()["named_endpoints"]
    assert api["/ask"]["returns"] and api["/status"]["returns"]


def test_app_refuses_to_start_on_invalid_setting(monkeypatch, capsys):
    from app.__main__ import main

    monkeypatch.setenv("SMARTLEARN_MODEL_DEVICE", "tpu")
    assert main([]) == 2
    err = capsys.readouterr().err
    assert "model.device" in err and "SMARTLEARN_MODEL_DEVICE" in err


def test_reindex_needs_admin_and_picks_up_edited_files(tutor, users):
    kb = tutor.cfg.paths.knowledge_base_dir
    (kb / "python" / "sets.md").write_text("---\ntitle: Sets\nsubject: Python\n---\n# Sets\n\n"
                                            "A Python set stores unique hashable items with O(1) membership tests.\n")
    assert "Wrong admin" in library.reindex(tutor, users, "teach", "nope")
    seen = []
    out = library.reindex(tutor, users, "teach", "pw", progress=lambda frac, desc="": seen.append(desc))
    assert "Added: `python/sets.md`" in out
    assert seen, "progress is reported while indexing"
    assert tutor.retrieve("python set unique membership").hits[0].chunk.title == "Sets"


def test_malloc_arenas_are_limited_unless_the_environment_says(monkeypatch):
    import sys

    from app.memory import limit_malloc_arenas

    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert limit_malloc_arenas() is False, "an explicit MALLOC_ARENA_MAX is the operator's choice"
    monkeypatch.delenv("MALLOC_ARENA_MAX")
    assert limit_malloc_arenas() is (sys.platform.startswith("linux") and "glibc" in __import__("platform").libc_ver()[0])


def test_malloc_trimmer_runs_and_can_be_turned_off(monkeypatch):
    import platform
    import threading
    import time

    from app import memory

    monkeypatch.setenv(memory.TRIM_ENV, "0")
    assert memory.start_malloc_trimmer() is None, "0 turns the trims off"
    monkeypatch.setenv(memory.TRIM_ENV, "soon")
    assert memory.trim_interval_s() == memory.DEFAULT_TRIM_S  # a bad value keeps the default, with a warning
    if "glibc" not in platform.libc_ver()[0]:
        return
    calls = []
    libc = memory._glibc()
    monkeypatch.setattr(memory, "_glibc", lambda: type("Libc", (), {
        "malloc_trim": staticmethod(lambda pad: calls.append(pad) or libc.malloc_trim(pad))})())
    monkeypatch.setenv(memory.TRIM_ENV, "0.01")
    stop = threading.Event()
    t = memory.start_malloc_trimmer(stop)
    deadline = time.time() + 5
    while len(calls) < 3 and time.time() < deadline:
        time.sleep(0.01)
    stop.set()
    t.join(2)
    assert len(calls) >= 3 and set(calls) == {0} and not t.is_alive()
