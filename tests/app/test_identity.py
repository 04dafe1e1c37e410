"""Who a call acts for (app/identity.py) and owner-only downloads (app/downloads.py), without a server."""
import gradio as gr
import pytest

from app.downloads import Downloads, links_markdown
from app.identity import API_PREFIX, ClientIds, bind_user_events, resolve_user, with_user


def req(username=None, session="s1"):
    return gr.Request(username=username, session_hash=session)


def test_resolve_user_prefers_the_login_and_refuses_client_ids_from_a_browser():
    assert resolve_user(req("ann"), "anon-1234") == "ann"
    assert resolve_user(req(), "anon-1234") == "anon-1234"
    posing = resolve_user(req(), API_PREFIX + "abc")  # a browser cannot pose as an API client
    assert posing.startswith("anon-") and posing != API_PREFIX + "abc"


def test_api_user_is_the_login_name_whatever_the_learner_parameter_says():
    ids = ClientIds()
    assert ids.api_user(req("ann"), "bob") == "ann"
    assert ids.api_user(req("ann"), "") == "ann"


def test_login_off_api_ids_come_from_the_session_and_never_collide():
    ids = ClientIds()
    a, b = ids.api_user(req(session="one"), "x"), ids.api_user(req(session="two"), "x")
    assert a != b, "two clients choosing the same label stay apart"
    assert ids.api_user(req(session="one"), "x") == a, "one client keeps its id across calls"
    assert ids.api_user(req(session="one"), "y") != a and ids.api_user(req(session="one")).startswith(API_PREFIX)
    assert "one" not in a, "the session hash itself is not exposed"
    assert ClientIds().api_user(req(session="one"), "x") != a, "the id depends on this process's secret"
    tricky = ids.api_user(req(session="one"), "../ann:root")
    assert tricky.startswith(ids.session_id(req(session="one")) + ":") and "/" not in tricky
    assert ids.api_user(None).startswith(API_PREFIX) and ids.api_user(None) != ids.api_user(None)


def test_event_user_ignores_the_page_state_when_logged_in():
    ids = ClientIds()
    assert ids.event_user(req("ann"), "bob") == "ann"
    assert ids.event_user(req(), "anon-7") == "anon-7"
    assert ids.event_user(req(session="s9"), "") == ids.session_id(req(session="s9"))
    assert ids.event_user(req(session="s9"), API_PREFIX + "x") == ids.session_id(req(session="s9"))


def test_with_user_replaces_the_user_input_in_functions_and_generators():
    ids = ClientIds()

    def plain(subject, user, request: gr.Request = None):
        return subject, user

    def gen(user, n, progress=gr.Progress()):
        yield user, n, progress

    wrapped = with_user(plain, 1, ids)
    assert wrapped("Python", "bob", None, req("ann")) == ("Python", "ann")
    gwrapped = with_user(gen, 0, ids)
    progress = gr.Progress()
    assert list(gwrapped("bob", 3, progress, req("ann"))) == [("ann", 3, progress)]
    import inspect
    assert inspect.isgeneratorfunction(gwrapped) and not inspect.isgeneratorfunction(wrapped)
    names = list(inspect.signature(gwrapped).parameters)
    assert names[:3] == ["user", "n", "progress"] and len(names) == 4


def test_every_event_that_takes_the_user_is_bound(tmp_path):
    from app.main import build_app
    from tests.tutor.features.learning_fixtures import make_services

    demo = build_app(make_services(tmp_path))
    user_state = next(c for c in demo.blocks.values()
                      if isinstance(c, gr.State) and any(c in f.inputs for f in demo.fns.values())
                      and any(getattr(o, "elem_id", None) == "quiz-status" for f in demo.fns.values()
                              if c in f.inputs for o in f.outputs))
    takes_user = [f for f in demo.fns.values() if user_state in f.inputs]
    assert len(takes_user) >= 15, "chat, quiz, plan, progress, interview and voice events take the user"
    assert all(getattr(f.fn, "__wrapped_user_fn__", None) for f in takes_user)
    assert bind_user_events(demo, user_state, ClientIds()) == 0, "binding twice changes nothing"


def test_downloads_go_to_their_owner_only_and_expire(tmp_path):
    now = [1000.0]
    dl = Downloads(60, root=tmp_path / "dl", clock=lambda: now[0])
    src = tmp_path / "made"
    src.mkdir()
    (src / "plan.md").write_text("# plan")
    (link,) = dl.offer("ann", [str(src / "plan.md")])
    assert not src.exists(), "the handler's temporary folder is gone"
    token, name = link.url.split("/")[-2:]
    assert dl.lookup(token, name, "ann").read_text() == "# plan"
    for caller in ("bob", None, "root"):
        assert dl.lookup(token, name, caller) is None
    assert dl.lookup(token, "../" + name, "ann") is None and dl.lookup("nope", name, "ann") is None
    now[0] += 61
    assert dl.lookup(token, name, "ann") is None
    assert not (tmp_path / "dl" / token).exists(), "expired files are deleted"
    assert "plan.md" in links_markdown([link], 600) and links_markdown([], 600) == ""


@pytest.mark.parametrize("owner", [None, "ann"])
def test_login_off_links_need_only_the_token(tmp_path, owner):
    dl = Downloads(60, root=tmp_path / "dl")
    f = tmp_path / "x.ics"
    f.write_text("BEGIN:VCALENDAR")
    (link,) = dl.offer(owner, [str(f)])
    token, name = link.url.split("/")[-2:]
    assert (dl.lookup(token, name, None) is not None) == (owner is None)


def test_expired_downloads_are_deleted_without_another_request(tmp_path):
    import time

    dl = Downloads(0.2, root=tmp_path / "dl")
    f = tmp_path / "export.zip"
    f.write_bytes(b"PK")
    (link,) = dl.offer("root", [str(f)])
    token = link.url.split("/")[-2]
    assert (tmp_path / "dl" / token).exists()
    deadline = time.time() + 10
    while (tmp_path / "dl" / token).exists() and time.time() < deadline:
        time.sleep(0.05)
    assert not (tmp_path / "dl" / token).exists(), "the sweeper removed the expired offer"
