"""The composition root: ``build_services(cfg) -> Services``, the only place that wires config to
concrete parts.

Everything the app, the benches and the tools use is built here once, from the config, and handed
out as one typed object: each tab builder receives only the services it uses, never a locator to
reach through. Nothing heavy loads here (models load on first use or in ``Tutor.warm_up``), and
nothing is cached at module level: two ``Services`` are two independent apps (tests build many).

Every model goes through one ``Meter`` (tutor/metrics/meter.py): the LLM as a ``MeteredBackend``
shared by the tutor, quizzes, plans and the interview coach; speech, OCR and captions through
``MediaService``. Inside the meter, the LLM sits behind one FIFO admission gate (tutor/serving): requests
beyond the engine's slots wait in arrival order, and past ``serving.max_waiting`` are told to try again.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from tutor.auth import UserDirectory
from tutor.backends.base import LLMBackend
from tutor.config import AppConfig
from tutor.features.interview import InterviewCoach
from tutor.features.interview_bank import load_bank, resolve_bank_dir
from tutor.features.interview_store import InterviewStore
from tutor.features.multimodal.service import Engines, MediaService, make_engines
from tutor.features.quiz import QuizMaker
from tutor.features.quiz_answer import QuizAnswers
from tutor.features.quiz_bank import load_quiz_bank
from tutor.features.study_plan import PlanMaker
from tutor.learners import LearnerStore
from tutor.metrics import MetricsStore
from tutor.metrics.meter import Meter, MeteredBackend
from tutor.metrics.monitor import Monitor
from tutor.service import Tutor
from tutor.serving import AdmissionGate, QueuedBackend, make_gate

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Services:
    """One app's worth of parts, built once. Shared by every user: none of them holds per-user state."""

    cfg: AppConfig
    tutor: Tutor  # grounded answers, retrieval, the knowledge base
    media: MediaService  # speech, OCR and captions (voice & photo tab, spoken interview answers)
    learners: LearnerStore  # quiz answers, reviews, plans, progress
    quizzes: QuizMaker
    quiz_answers: QuizAnswers  # grade -> record -> schedule review -> interaction, for the tab and the API
    plans: PlanMaker
    interviews: InterviewCoach
    metrics: MetricsStore
    meter: Meter  # the one place model calls are recorded
    monitor: Monitor  # the admin's statistics, resource sampler, retention, health
    users: UserDirectory  # login and roles; empty = login off, nobody is admin
    gate: AdmissionGate | None = None  # the model's FIFO line (None: the server behind the backend queues)


def build_services(cfg: AppConfig, *, backend: LLMBackend | None = None, embedder=None,
                   engines: Engines | None = None) -> Services:
    """Wire the whole app from its config. Loads nothing heavy.

    ``backend``, ``embedder`` and ``engines`` override the configured ones (tests pass a FakeBackend,
    a HashEmbedder, fake speech/OCR engines); whatever backend is used, it is metered."""
    from tutor.backends import make_backend
    from tutor.retrieval import build_retrieval

    metrics = MetricsStore(cfg.paths.metrics_db_path)
    meter = Meter(metrics)
    engine = backend or make_backend(cfg)
    gate = make_gate(cfg.serving, engine)
    # Queued inside the meter, so a refusal (ServerBusy) is recorded like any failed call.
    llm = MeteredBackend(QueuedBackend(engine, gate) if gate is not None else engine, meter)
    retriever, ingestor = build_retrieval(cfg, embedder=embedder)
    tutor = Tutor(cfg, llm, retriever, ingestor, metrics)
    learners = LearnerStore(cfg.paths.db_path)  # opened lazily, on the first record
    return Services(
        cfg=cfg,
        tutor=tutor,
        media=MediaService(cfg, engines or make_engines(cfg), meter),
        learners=learners,
        quizzes=QuizMaker(backend=llm, course=tutor, retriever=retriever, chunks=retriever.store, learners=learners,
                          cfg=cfg, bank=load_quiz_bank(cfg.paths.quiz_bank_path)),
        quiz_answers=QuizAnswers(learners, metrics, getattr(retriever, "embedder", None), cfg.learning),
        plans=PlanMaker(backend=llm, course=tutor, chunks=retriever.store, learners=learners, cfg=cfg),
        interviews=_interview_coach(cfg, tutor, llm, metrics),
        metrics=metrics,
        meter=meter,
        monitor=Monitor(metrics, cfg.monitoring, cfg.paths.data_dir),  # its thread starts with monitor.start()
        users=UserDirectory.load(cfg),
        gate=gate,
    )


def _interview_coach(cfg: AppConfig, tutor: Tutor, llm: LLMBackend, metrics: MetricsStore) -> InterviewCoach:
    bank = load_bank(resolve_bank_dir(cfg.paths.interview_bank_dir))
    if bank.problems:
        logger.warning("interview bank: %d row problem(s), first: %s", len(bank.problems), bank.problems[0])
    embedder = getattr(tutor.retriever, "embedder", None)
    return InterviewCoach(tutor, bank, InterviewStore(cfg.paths.interviews_db_path), backend=llm,
                          generation=cfg.generation, metrics=metrics,
                          embed=embedder.embed if embedder is not None else None)
