"""A Tutor over the shipped knowledge base with a FakeBackend and a HashEmbedder, plus a LearnerStore:
the real chunks (quiz items must come from real course text), no model weights."""
from __future__ import annotations

from pathlib import Path

from tutor.backends.fake import FakeBackend
from tutor.config import AppConfig, PathsConfig
from tutor.learners import LearnerStore
from tutor.retrieval import HashEmbedder
from tutor.service import build_tutor

KB = Path(__file__).resolve().parents[3] / "knowledge_base"


def make_tutor(data_dir: Path, **backend_kw):
    cfg = AppConfig(paths=PathsConfig(knowledge_base_dir=KB, data_dir=data_dir))
    tutor = build_tutor(cfg, backend=FakeBackend(**backend_kw), embedder=HashEmbedder())
    assert tutor.warm_up().ready
    return tutor, LearnerStore(cfg.paths.db_path)
