"""The training commands' composition root: the only place in training/ that reads the tutor's config and builds
tutor-side parts. `python -m training` (and the benchmark) call `build_parts` once and hand the result to
`train` and `evaluate`, which never reach for the app's config themselves.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from training.config import resolve_path

if TYPE_CHECKING:
    from tutor.metrics import MetricsStore

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingParts:
    """What runs and evaluations use from the tutor side."""

    model_cache_dir: Path  # the tutor's paths.model_cache_dir: the embedded model's safetensors cache
    embedding_model: str  # the tutor's retrieval.embedding_model: the rubric scorer's embedder in evaluate
    metrics_store: MetricsStore | None = None  # per-step records for the app's dashboard; None: off/unavailable
    kb_dir: Path | None = None  # the tutor's knowledge base: the notes of Q&A export rows (training/tutor_rows.py)
    chunking: tuple[int, int] | None = None  # the tutor's (chunk_words, chunk_overlap_words): the export's chunk ids

    def source_notes(self) -> dict[str, str]:
        """Chunk id -> note text over the knowledge base, cut the way the app (and the Q&A export) cuts it."""
        from training.data import DataError
        from training.tutor_rows import source_notes

        if self.kb_dir is None or self.chunking is None:
            raise DataError("Q&A export rows name their source chunk, but no knowledge base was given to read it.")
        return source_notes(self.kb_dir, self.chunking)


def build_parts(*, metrics_store: bool) -> TrainingParts:
    """`metrics_store`: open the app's metrics store (best effort: a run folder's metrics.jsonl is the record)."""
    from tutor.config import load_config

    app = load_config()
    store = None
    if metrics_store:
        try:
            from tutor.metrics import MetricsStore

            store = MetricsStore(resolve_path(app.paths.metrics_db_path))
        except Exception:  # noqa: BLE001 - metrics are best effort; the run folder log is the record
            logger.warning("metrics store unavailable; logging to the run folder only", exc_info=True)
    r = app.retrieval
    return TrainingParts(model_cache_dir=resolve_path(app.paths.model_cache_dir),
                         embedding_model=r.embedding_model, metrics_store=store,
                         kb_dir=resolve_path(app.paths.knowledge_base_dir),
                         chunking=(r.chunk_words, r.chunk_overlap_words))


@dataclass(frozen=True)
class QAParts:
    """What the Q&A pipeline uses from the app: its metered backend, its embedder, its knowledge base and
    chunking (so section ids are the retriever's chunk ids), and how many requests the backend takes at once."""

    backend: object  # tutor.backends.base.LLMBackend: the app's MeteredBackend
    embed: object  # Callable[[list[str]], np.ndarray]: the app's embedder
    kb_dir: Path
    chunking: tuple[int, int]  # (chunk_words, chunk_overlap_words)
    parallel: int  # requests the backend serves at once: model.slots on llama.cpp, else 1 (one at a time)


def build_qa_parts(app_cfg=None, *, backend=None, embedder=None) -> QAParts:
    """The app's services, built once the way the app builds them (tutor/services.py); `backend` and `embedder`
    override the configured ones (tests pass a FakeBackend and a HashEmbedder; they are metered all the same)."""
    from tutor.config import load_config
    from tutor.services import build_services

    app_cfg = app_cfg or load_config()
    services = build_services(app_cfg, backend=backend, embedder=embedder)
    r = app_cfg.retrieval
    return QAParts(backend=services.tutor.backend, embed=services.tutor.retriever.embedder.embed,
                   kb_dir=resolve_path(app_cfg.paths.knowledge_base_dir),
                   chunking=(r.chunk_words, r.chunk_overlap_words),
                   parallel=app_cfg.model.slots if services.tutor.backend.info().backend == "llamacpp" else 1)
