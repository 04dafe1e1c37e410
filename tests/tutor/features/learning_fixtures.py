"""A Tutor over the shipped knowledge base with a FakeBackend and a HashEmbedder, plus a LearnerStore:
the real chunks (quiz items must come from real course text), no model weights."""
from __future__ import annotations

from pathlib import Path

from tutor.backends.fake import FakeBackend
from tutor.config import AppConfig, PathsConfig
from tutor.features.quiz import QuizMaker
from tutor.features.study_plan import PlanMaker
from tutor.retrieval import HashEmbedder
from tutor.services import Services, build_services

KB = Path(__file__).resolve().parents[3] / "knowledge_base"


def make_services(data_dir: Path, **backend_kw) -> Services:
    cfg = AppConfig(paths=PathsConfig(knowledge_base_dir=KB, data_dir=data_dir))
    services = build_services(cfg, backend=FakeBackend(**backend_kw), embedder=HashEmbedder())
    assert services.tutor.warm_up().ready
    return services


def make_tutor(data_dir: Path, **backend_kw):
    services = make_services(data_dir, **backend_kw)
    return services.tutor, services.learners


def quiz_maker(tutor, store) -> QuizMaker:
    """A QuizMaker over this tutor's current backend (tests that swap the backend build one after)."""
    return QuizMaker(backend=tutor.backend, course=tutor, retriever=tutor.retriever, chunks=tutor.retriever.store,
                     learners=store, cfg=tutor.cfg)


def plan_maker(tutor, store) -> PlanMaker:
    return PlanMaker(backend=tutor.backend, course=tutor, chunks=tutor.retriever.store, learners=store, cfg=tutor.cfg)
