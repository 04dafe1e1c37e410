"""A Tutor on a scripted backend with three users: `root` (admin, with a REST token) and the learners
`ann` and `bob`."""
import dataclasses
import socket
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass

from tests.tutor.test_service import make_cfg
from tutor import auth
from tutor.backends.fake import FakeBackend
from tutor.retrieval import HashEmbedder
from tutor.service import Tutor
from tutor.services import Services, build_services

ADMIN, ADMIN_PW = "root", "root-password-1"
LEARNER, LEARNER_PW = "ann", "ann-password-1"
LEARNER2, LEARNER2_PW = "bob", "bob-password-1"


@dataclass
class AdminSetup:
    services: Services
    token: str
    learner_token: str  # a token hand-added for a learner: must still be refused (403)

    @property
    def tutor(self) -> Tutor:
        return self.services.tutor


def add_users(cfg) -> str:
    """Write root (admin), ann and bob (learners) into cfg's users file; returns the admin's REST token."""
    path = auth.users_file(cfg)
    auth.set_user(path, ADMIN, ADMIN_PW, "admin")
    auth.set_user(path, LEARNER, LEARNER_PW, "learner")
    auth.set_user(path, LEARNER2, LEARNER2_PW, "learner")
    return auth.issue_token(path, ADMIN)


def admin_setup(tmp_path) -> AdminSetup:
    cfg = make_cfg(tmp_path)
    path = auth.users_file(cfg)
    token = add_users(cfg)
    # issue_token refuses learners; simulate a hand-edited file that gives one a token anyway.
    auth.set_user(path, LEARNER, LEARNER_PW, "admin")
    learner_token = auth.issue_token(path, LEARNER)
    auth.set_user(path, LEARNER, LEARNER_PW, "learner")
    services = build_services(cfg, backend=FakeBackend(), embedder=HashEmbedder())
    return AdminSetup(services, token, learner_token)


@contextmanager
def running_server(services: Services):
    """The real server (FastAPI + mounted Gradio, login on) for ``services`` on a free port; yields
    (url, demo)."""
    import uvicorn

    from app.main import build_app
    from app.server import create_server

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cfg = services.cfg
    services = dataclasses.replace(services, cfg=cfg.replace(server=cfg.server.replace(port=port)))
    assert services.tutor.warm_up().ready
    demo = build_app(services)
    demo.queue()
    server = uvicorn.Server(uvicorn.Config(create_server(services, demo), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started and time.time() < deadline:
        time.sleep(0.1)
    try:
        yield f"http://127.0.0.1:{port}/", demo
    finally:
        server.should_exit = True
        thread.join(10)


def queue_messages(http, url: str, session: str) -> str:
    """Every message the server streams to a queue session until its event completes, one JSON per line."""
    import json

    out = []
    with http.stream("GET", url + "gradio_api/queue/data", params={"session_hash": session}, timeout=60) as resp:
        for line in resp.iter_lines():
            if line.startswith("data:"):
                msg = json.loads(line[5:])
                out.append(json.dumps(msg))
                if msg.get("msg") == "process_completed":
                    break
    return "\n".join(out)
