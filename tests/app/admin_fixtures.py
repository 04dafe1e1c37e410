"""A Tutor on a scripted backend with two users: `root` (admin, with a REST token) and `ann`."""
from dataclasses import dataclass

from tests.tutor.test_service import make_cfg
from tutor import auth
from tutor.backends.fake import FakeBackend
from tutor.retrieval import HashEmbedder
from tutor.service import Tutor, build_tutor

ADMIN, ADMIN_PW = "root", "root-password-1"
LEARNER, LEARNER_PW = "ann", "ann-password-1"


@dataclass
class AdminSetup:
    tutor: Tutor
    token: str
    learner_token: str  # a token hand-added for a learner: must still be refused (403)


def admin_setup(tmp_path) -> AdminSetup:
    cfg = make_cfg(tmp_path)
    path = auth.users_file(cfg)
    auth.set_user(path, ADMIN, ADMIN_PW, "admin")
    auth.set_user(path, LEARNER, LEARNER_PW, "learner")
    token = auth.issue_token(path, ADMIN)
    # issue_token refuses learners; simulate a hand-edited file that gives one a token anyway.
    auth.set_user(path, LEARNER, LEARNER_PW, "admin")
    learner_token = auth.issue_token(path, LEARNER)
    auth.set_user(path, LEARNER, LEARNER_PW, "learner")
    tutor = build_tutor(cfg, backend=FakeBackend(), embedder=HashEmbedder())
    return AdminSetup(tutor, token, learner_token)
