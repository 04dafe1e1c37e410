"""The Tutor: the one object every tab talks to, and build_tutor(cfg), the composition root.

Owns the flow of a question: input checks -> retrieval -> coverage decision (knowledge gap)
-> prompt -> streamed generation through the citation filter -> metrics. Holds no per-user
state: history comes in with each call, so concurrent learners never mix.
"""
from __future__ import annotations

import dataclasses
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

from tutor import prompting
from tutor.backends.base import LLMBackend
from tutor.auth import UserDirectory
from tutor.config import AppConfig
from tutor.errors import InputError, TutorError
from tutor.keypoint import find_key_point
from tutor.metrics import Feedback, Interaction, KnowledgeGap, MetricsStore, ModelCall, RetrievalEvent
from tutor.metrics.monitor import Monitor
from tutor.retrieval import Ingestor, Retriever, ensure_index, load_document
from tutor.types import (
    Answer,
    BackendInfo,
    Completion,
    Delta,
    GenerationParams,
    GenerationRequest,
    IngestReport,
    Message,
    RetrievalResult,
    TutorEvent,
)

logger = logging.getLogger(__name__)

ProgressFn = Callable[[int, int, str], None]


@dataclass(frozen=True)
class TutorStatus:
    state: str  # "starting" | "indexing" | "loading model" | "ready" | "error"
    message: str  # a sentence for the UI
    backend: BackendInfo | None
    index_report: IngestReport | None
    model_error: str | None
    index_error: str | None

    @property
    def ready(self) -> bool:
        return self.state == "ready"


@dataclass(frozen=True)
class DocumentInfo:
    doc_id: str
    title: str
    subject: str
    level: str
    problem: str  # empty when the document parses


class Tutor:
    def __init__(self, cfg: AppConfig, backend: LLMBackend, retriever: Retriever, ingestor: Ingestor,
                 metrics: MetricsStore, users: UserDirectory | None = None) -> None:
        self.cfg = cfg
        self.backend = backend
        self.retriever = retriever
        self.ingestor = ingestor
        self.metrics = metrics
        # The admin's view of the metrics (statistics, sampler, health); its thread starts only
        # when the app calls monitor.start().
        self.monitor = Monitor(metrics, cfg.monitoring, cfg.paths.data_dir)
        self.users = users or UserDirectory()  # empty = login off, nobody is admin
        self._state = "starting"
        self._backend_info: BackendInfo | None = None
        self._index_report: IngestReport | None = None
        self._model_error: str | None = None
        self._index_error: str | None = None
        self._warm_lock = threading.Lock()
        self._warm_thread: threading.Thread | None = None

    # ------------------------------------------------------------ start-up

    def warm_up(self, progress: ProgressFn | None = None) -> TutorStatus:
        """Build the index if needed, then load the model. Errors are kept for status(), not raised,
        so the UI still starts and can say what is wrong."""
        with self._warm_lock:
            self._state = "indexing"
            try:
                self._index_report = ensure_index(self.ingestor, progress=progress)
                # An unchanged index loads no embedder; load it now so the first question doesn't wait.
                self.retriever.warm_up()
                self._index_error = None
            except Exception as e:  # noqa: BLE001 - start-up must survive; shown in status
                logger.exception("knowledge-base index failed")
                self._index_error = f"The knowledge base could not be indexed: {e}"
            self._state = "loading model"
            try:
                self._backend_info = self.backend.load()
                self._model_error = None
            except Exception as e:  # noqa: BLE001
                logger.exception("model failed to load")
                self._model_error = _model_error_message(e)
            self._state = "error" if (self._model_error or self._index_error) else "ready"
            return self.status()

    def warm_up_in_background(self) -> None:
        if self._warm_thread is None:
            self._warm_thread = threading.Thread(target=self.warm_up, name="tutor-warmup", daemon=True)
            self._warm_thread.start()

    def wait_ready(self, timeout: float | None = None) -> TutorStatus:
        if self._warm_thread is not None:
            self._warm_thread.join(timeout)
        return self.status()

    def status(self) -> TutorStatus:
        state = self._state
        if state == "ready":
            info = self._backend_info
            rep = self._index_report
            msg = f"Ready: {info.model if info else '?'} on {info.device if info else '?'}"
            if info and info.dtype:
                msg += f" ({info.dtype})"
            if rep is not None:
                msg += f"; {rep.total_chunks} knowledge-base chunks indexed"
                if rep.skipped:
                    msg += (f"; {len(rep.skipped)} document(s) could not be read: "
                            + "; ".join(f"{sk.path} ({sk.reason})" for sk in rep.skipped[:3]))
            msg += "."
        elif state == "error":
            msg = " ".join(e for e in (self._model_error, self._index_error) if e)
        else:
            msg = {"starting": "Starting up…", "indexing": "Indexing the course documents…",
                   "loading model": "Loading the language model…"}[state]
        return TutorStatus(state, msg, self._backend_info, self._index_report, self._model_error, self._index_error)

    # ------------------------------------------------------------ questions

    def retrieve(self, question: str, subject: str | None = None, user: str = "anonymous") -> RetrievalResult:
        t0 = time.time()
        result = self.retriever.search(question, subject=subject)
        self.metrics.record_retrieval(RetrievalEvent(
            user=user, query_chars=len(question), subject=subject, k=len(result.hits),
            latency_s=result.latency_s, best_similarity=result.best_similarity, covered=result.covered,
            started_at=t0,
        ))
        return result

    def ask(
        self,
        question: str,
        history: Sequence[Message] = (),
        subject: str | None = None,
        socratic: bool = False,
        *,
        user: str = "anonymous",
        adapter: str | None = None,
        operation: str = "chat",
    ) -> Iterator[TutorEvent]:
        """Stream Delta events, then one Answer. Raises InputError for an empty question and
        TutorError subclasses when the model cannot run."""
        question = (question or "").strip()
        if not question:
            raise InputError("Please type a question first.")
        if self._state in ("starting", "indexing"):
            # An empty index would make every question look "not covered"; say what is going on.
            raise TutorError("The course documents are still being indexed (the first start takes about a "
                             "minute). Please ask again in a moment.")
        question, notice = prompting.truncate(question, self.cfg.server.max_message_chars)
        subject = subject or None

        retrieval = self.retrieve(question, subject, user)
        grounded = retrieval.covered and bool(retrieval.hits)
        hits = retrieval.hits if grounded else ()
        if not grounded:
            self.metrics.record_gap(KnowledgeGap(
                user=user, question=question, subject=subject,
                best_similarity=retrieval.best_similarity, created_at=time.time(),
            ))
        sources = prompting.make_sources(hits)

        messages = prompting.build_messages(
            question, history, hits, grounded=grounded, socratic=socratic,
            count_tokens=self.backend.count_tokens,
            budget_tokens=self.cfg.model.max_context_tokens - self.cfg.generation.max_new_tokens,
        )
        hint_turn = grounded and socratic and not prompting.is_socratic_followup(history)
        params = self._generation_params(grounded, hint_turn)
        if adapter is None and grounded and not hint_turn:
            adapter = self.chat_adapter()
        request = GenerationRequest(messages=messages, params=params, adapter=adapter)

        prefix = "" if grounded else prompting.NOT_COVERED_NOTICE
        if grounded and self.cfg.generation.key_point and not hint_turn:  # a hint must not give the answer
            prefix = self._key_point_markdown(question, hits)
        if prefix:
            yield Delta(prefix)
        cite = prompting.CitationFilter(len(sources))
        parts = [prefix]
        completion: Completion | None = None
        started = time.time()
        try:
            for item in self.backend.stream(request):
                if isinstance(item, Completion):
                    completion = item
                    continue
                shown = cite.feed(item)
                if shown:
                    parts.append(shown)
                    yield Delta(shown)
        except Exception as e:
            call = ModelCall.failure(self._model_name(), adapter, operation, user, started,
                                     time.time() - started, e)
            self.metrics.record_call(call)
            if isinstance(e, TutorError):
                raise
            raise TutorError(f"The tutor model failed while answering ({type(e).__name__}). Please try again.") from e
        tail = cite.flush()
        if tail:
            parts.append(tail)
            yield Delta(tail)

        text = "".join(parts)
        if grounded and cite.cited:
            # The streamed text already showed the model's markers; the final answer (what the tabs keep)
            # cites the excerpt that holds each claim.
            body, moved = prompting.repoint_citations("".join(parts[1:]), hits)
            if moved:
                logger.info("re-pointed %d citation(s) to the excerpt that holds the claim", moved)
                parts = [parts[0], body]
                text = "".join(parts)
        if grounded and not cite.cited:
            # The model answered from the excerpts but wrote no marker: attribute its words (not the
            # quoted key point) to the excerpt they overlap most, so the learner can check the source.
            best = prompting.best_supporting_sources("".join(parts[1:]), hits, limit=1)
            marker = "".join(f" [{i}]" for i in best)
            parts.append(marker)
            yield Delta(marker)
            text = "".join(parts)
        if hint_turn:
            question_turn = prompting.guiding_question(hits)
            parts.append(question_turn)
            yield Delta(question_turn)
            text = "".join(parts)
        citations = prompting.citations_in(text, len(sources))

        call_id = None
        if completion is not None:
            call_id = self.metrics.record_call(ModelCall.from_completion(completion, operation, user, started))
        self.metrics.record_interaction(Interaction(user=user, action=operation, at=started, subject=subject))
        yield Answer(
            text=text, sources=sources, grounded=grounded, citations=citations, completion=completion,
            retrieval_latency_s=retrieval.latency_s, call_id=call_id if (call_id or 0) > 0 else None,
            notice=notice,
        )

    def _generation_params(self, grounded: bool, hint_turn: bool) -> GenerationParams:
        g = self.cfg.generation
        params = GenerationParams(
            max_new_tokens=g.max_new_tokens, temperature=g.temperature, top_p=g.top_p,
            seed=g.seed, repetition_penalty=g.repetition_penalty,
        )
        if not grounded:
            return dataclasses.replace(params, max_new_tokens=min(g.max_new_tokens, prompting.UNGROUNDED_MAX_TOKENS))
        if hint_turn:
            return dataclasses.replace(
                params, max_new_tokens=min(g.max_new_tokens, prompting.SOCRATIC_HINT_MAX_TOKENS),
                stop=prompting.SOCRATIC_HINT_STOP,
            )
        return params

    def _key_point_markdown(self, question: str, hits) -> str:
        """The quoted key point, or "" when there is none; never fails the answer (it is an extra)."""
        try:
            key = find_key_point(question, hits, self.retriever.embedder)
        except Exception:  # noqa: BLE001 - the model's answer still comes without it
            logger.exception("key point extraction failed")
            return ""
        return key.markdown() if key else ""

    def feedback(self, call_id: int, value: int, *, user: str = "anonymous", comment: str | None = None) -> None:
        if value not in (1, -1):
            raise InputError("Feedback must be thumbs up (+1) or thumbs down (-1).")
        self.metrics.record_feedback(Feedback(call_id=call_id, user=user, value=value, comment=comment))

    # ------------------------------------------------------------ knowledge base

    def subjects(self) -> list[str]:
        try:
            return self.retriever.subjects()
        except Exception:  # noqa: BLE001 - an unreadable index just means no filter choices yet
            logger.exception("could not list subjects")
            return []

    def ingest(self, progress: ProgressFn | None = None, rebuild: bool = False) -> IngestReport:
        report = self.ingestor.run(progress=progress, rebuild=rebuild)
        self._index_report = report
        return report

    def add_documents(self, paths: Sequence[Path]) -> IngestReport:
        """Copy user documents into the knowledge base and index them (type/size checked there)."""
        report = self.ingestor.add_documents(list(paths))
        self._index_report = report
        return report

    def documents(self) -> list[DocumentInfo]:
        """The course documents on disk, with their front matter, for the library list."""
        out = []
        for doc_id, path in self.ingestor.scan().items():
            try:
                d = load_document(path, self.ingestor.kb_dir)
            except TutorError as e:
                out.append(DocumentInfo(doc_id, path.name, "", "", f"not indexed: {e}"))
                continue
            out.append(DocumentInfo(doc_id, d.title, d.subject, d.level, ""))
        return sorted(out, key=lambda d: (d.subject, d.doc_id))

    def chat_adapter(self) -> str | None:
        """The configured adapter for grounded answers, when the backend has it. It was trained on grounded
        answers only, so Socratic hints and answers without course material use the base model."""
        name = self.cfg.generation.chat_adapter
        return name if name and name in self.backend.adapters() else None

    def _model_name(self) -> str:
        info = self._backend_info or self.backend.info()
        return info.model


def _model_error_message(e: BaseException) -> str:
    if isinstance(e, TutorError):
        return str(e)
    return (f"The language model could not be loaded ({type(e).__name__}: {e}). "
            "Check SMARTLEARN_MODEL_BASE_MODEL, or unset it to use the embedded model.")


def build_tutor(cfg: AppConfig, *, backend: LLMBackend | None = None, embedder=None) -> Tutor:
    """Composition root: the only place that wires config to concrete parts. Loads nothing heavy.

    `backend` and `embedder` override the configured ones (tests pass a FakeBackend / HashEmbedder)."""
    from tutor.backends import make_backend
    from tutor.retrieval import build_retrieval

    backend = backend or make_backend(cfg)
    retriever, ingestor = build_retrieval(cfg, embedder=embedder)
    metrics = MetricsStore(cfg.paths.metrics_db_path)
    return Tutor(cfg, backend, retriever, ingestor, metrics, users=UserDirectory.load(cfg))
