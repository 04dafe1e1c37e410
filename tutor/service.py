"""The Tutor: the course API every tab and feature talks to (grounded answers, retrieval, the index).

Owns the flow of a question: input checks -> retrieval -> coverage decision (knowledge gap)
-> prompt -> streamed generation through the citation filter (tutor/citations.py) -> the answer.
Holds no per-user state: history comes in with each call, so concurrent learners never mix.
"""
from __future__ import annotations

import dataclasses
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

from tutor import prompting
from tutor.backends.base import LLMBackend
from tutor.config import AppConfig
from tutor.errors import InputError, TutorError
from tutor import socratic as soc
from tutor.keypoint import KeyPoint, Selection, find_key_point, is_worked_result, is_worked_section, select
from tutor.citations import Citations
from tutor.retrieval.coverage import decide
from tutor.metrics import Feedback, Interaction, KnowledgeGap, MetricsStore, RetrievalEvent
from tutor.retrieval import Ingestor, Retriever, ensure_index, load_document
from tutor.types import (
    Answer,
    BackendInfo,
    CallMeta,
    Completion,
    Delta,
    GenerationParams,
    GenerationRequest,
    IngestReport,
    Message,
    QueuePosition,
    RetrievalResult,
    RetrievedChunk,
    Source,
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


@dataclass(frozen=True)
class _AnswerPlan:
    """What an answer will be, decided before the model runs."""

    question: str
    notice: str | None  # e.g. "your message was cut to N characters"
    subject: str | None
    user: str
    operation: str
    retrieval: RetrievalResult
    grounded: bool
    hits: tuple[RetrievedChunk, ...]  # empty when not grounded
    sources: tuple[Source, ...]
    request: GenerationRequest
    prefix: str  # shown before the model's words: the quoted extract, a hint's course idea, an attempt check, or the notice
    hint_turn: bool  # a Socratic first reply: a hint and a guiding question, never the answer


@dataclass
class _Draft:
    """The answer as it streams (one per request, never shared): what the learner saw is what is kept."""

    prefix: str
    cite: Citations
    body: list[str] = field(default_factory=list)
    completion: Completion | None = None
    started: float = field(default_factory=time.time)


class Tutor:
    """The course API every feature and tab uses: retrieval, grounded answers, the knowledge base.

    Built by the composition root (tutor/services.py) with a metered backend, so every model call is
    recorded there; the tutor records what it owns (retrievals, knowledge gaps, interactions, votes)."""

    def __init__(self, cfg: AppConfig, backend: LLMBackend, retriever: Retriever, ingestor: Ingestor,
                 metrics: MetricsStore) -> None:
        self.cfg = cfg
        self.backend = backend
        self.retriever = retriever
        self.ingestor = ingestor
        self.metrics = metrics
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

    def covers(self, retrieval: RetrievalResult) -> bool:
        """Does the course answer this question (not just hold related material)? The dense floor, then the
        question's distinctive words in the retrieved text (tutor/retrieval/coverage.py)."""
        r = self.cfg.retrieval
        if not retrieval.covered:
            return False
        s = retrieval.coverage
        return s is None or decide(s, r.relevance_floor, r.min_term_support, r.strong_similarity)

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
        """Stream Delta events, then one Answer: plan -> stream -> finish. While the model is busy with other
        learners, QueuePosition events (the place in line) come before the model's words. Raises InputError
        for an empty question, TutorError subclasses when the model cannot run (ServerBusy when the line is
        full or the wait too long)."""
        plan = self._plan(question, history, subject, socratic, user, adapter, operation)
        draft = _Draft(plan.prefix, Citations(plan.hits))
        if plan.prefix:
            yield Delta(plan.prefix)
        yield from self._stream(plan, draft)
        yield from self._finish(plan, draft)

    def _plan(self, question: str, history: Sequence[Message], subject: str | None, socratic: bool,
              user: str, adapter: str | None, operation: str) -> _AnswerPlan:
        """Checks, retrieval, the coverage decision and the request: everything before the model runs."""
        question = (question or "").strip()
        if not question:
            raise InputError("Please type a question first.")
        if self._state in ("starting", "indexing"):
            # An empty index would make every question look "not covered"; say what is going on.
            raise TutorError("The course documents are still being indexed (the first start takes about a "
                             "minute). Please ask again in a moment.")
        problem = prompting.unusable_question(question)
        if problem:
            raise InputError(problem)
        question, notice = prompting.truncate(question, self.cfg.server.max_message_chars)
        subject = subject or None
        hint_turn_asked = socratic and not prompting.is_socratic_followup(history)
        # A Socratic follow-up ("is it 0.25?") is about the problem the hint was for: search with both.
        problem = None if (not socratic or hint_turn_asked) else soc.problem_of(history)
        topic = f"{problem} {question}" if problem else question
        retrieval = self.retrieve(topic, subject, user)
        grounded = self.covers(retrieval) and bool(retrieval.hits)
        hits = retrieval.hits if grounded else ()
        if not grounded:
            self.metrics.record_gap(KnowledgeGap(
                user=user, question=question, subject=subject,
                best_similarity=retrieval.best_similarity, created_at=time.time(),
            ))
        hint_turn = grounded and hint_turn_asked
        selection = self._selection(problem or question, hits, hint_turn) if grounded else None
        key = self._key_from(problem or question, hits, selection, second=not hint_turn)
        notes = prompting.passage_notes(selection, hits, key.source_index if key else None) if selection else None
        messages = prompting.build_messages(
            question, history, hits, grounded=grounded, socratic=socratic,
            count_tokens=self.backend.count_tokens,
            budget_tokens=self.cfg.model.max_context_tokens - self.cfg.generation.max_new_tokens, notes=notes,
        )
        if adapter is None and grounded and not hint_turn:
            adapter = self.chat_adapter()
        prefix = self._prefix(question, retrieval, hits, key, hint_turn, followup=grounded and problem is not None)
        shown = key.full_text if key else prefix  # what the guard counts as said (tutor/backends/repetition.py)
        # report_queue: a learner waiting for a busy model is told its place in line (tutor/serving).
        request = GenerationRequest(messages=messages, params=self._generation_params(grounded, hint_turn, shown),
                                    adapter=adapter, meta=CallMeta(operation, user), report_queue=True)
        return _AnswerPlan(question, notice, subject, user, operation, retrieval, grounded, tuple(hits),
                           prompting.make_sources(hits), request, prefix, hint_turn)

    def _selection(self, question: str, hits: Sequence[RetrievedChunk], hint_turn: bool) -> Selection | None:
        """The scored course sentences (tutor/keypoint.py); a hint's leave out worked results and withhold
        worked-example sections. None on failure: the model then gets the whole chunks, and the answer still
        comes; in a hint turn an empty selection instead, so a worked solution still never reaches the model."""
        keep = (lambda s: not is_worked_result(s)) if hint_turn else None
        withhold = is_worked_section if hint_turn else None
        try:
            sel = select(question, hits, self.retriever.embedder, self.retriever.idf, keep, withhold)
        except Exception:  # noqa: BLE001 - an extra: the answer still comes without it
            logger.exception("sentence selection failed")
            sel = None
        if sel is None and hint_turn:
            sel = Selection((), (), {}, frozenset(i for i, h in enumerate(hits, start=1) if is_worked_section(h)))
        return sel

    def _key_from(self, question: str, hits, selection: Selection | None, second: bool) -> KeyPoint | None:
        """The quoted extract; `second`: with another chunk's quote when it completes the answer (never in a
        Socratic hint, which must stay one idea and hand over no result)."""
        if selection is None or not self.cfg.generation.key_point:
            return None
        try:
            return find_key_point(question, hits, self.retriever.embedder, selection=selection, second=second)
        except Exception:  # noqa: BLE001 - the model's answer still comes without it
            logger.exception("key point extraction failed")
            return None

    def _prefix(self, question: str, retrieval: RetrievalResult, hits, key: KeyPoint | None, hint_turn: bool,
                followup: bool) -> str:
        """What the learner sees before the model's words: the not-covered notice, a hint's course idea,
        the check of a Socratic attempt, or the quoted course extract."""
        if not hits:
            return prompting.not_covered_notice(retrieval.hits)
        if key is None:
            return ""
        if hint_turn:
            topic = hits[key.source_index - 1].chunk.section.split(" > ")[-1]
            return soc.hint_markdown(key, topic)
        if followup:
            return soc.check_attempt(question, key, self.retriever.idf).markdown() + key.markdown()
        return key.markdown()

    def _stream(self, plan: _AnswerPlan, draft: _Draft) -> Iterator[Delta | QueuePosition]:
        """The model's words through the citation filter, after the request's place in line while it waits
        for the model (QueuePosition). The metered backend records the call, failures included."""
        try:
            for item in self.backend.stream(plan.request):
                if isinstance(item, Completion):
                    draft.completion = item
                    continue
                if isinstance(item, QueuePosition):
                    yield item
                    continue
                shown = draft.cite.feed(item)
                if shown:
                    draft.body.append(shown)
                    yield Delta(shown)
        except TutorError:
            raise
        except Exception as e:
            raise TutorError(f"The tutor model failed while answering ({type(e).__name__}). Please try again.") from e
        tail = draft.cite.flush()
        if tail:
            draft.body.append(tail)
            yield Delta(tail)

    def _finish(self, plan: _AnswerPlan, draft: _Draft) -> Iterator[TutorEvent]:
        """Checked citations, the Socratic question, the interaction record, then the Answer."""
        body, marker = ("".join(draft.body), "")
        if plan.grounded:
            body, marker = draft.cite.finalize(body)
        if marker:
            yield Delta(marker)  # an unmarked grounded answer: attribute it so the learner can check
        completion = draft.completion
        # A model that only began to copy the quoted extract back was stopped before it said anything: no note.
        cut = (prompting.REPETITION_NOTE if completion is not None and completion.finish_reason == "repetition"
               and body.strip() else "")
        if cut:
            logger.warning("answer cut by the repetition guard after %d tokens", completion.usage.completion_tokens)
            yield Delta(cut)
        question_turn = prompting.guiding_question(plan.hits) if plan.hint_turn else ""
        if question_turn:
            yield Delta(question_turn)
        text = draft.prefix + body + marker + cut + question_turn
        self.metrics.record_interaction(Interaction(user=plan.user, action=plan.operation, at=draft.started,
                                                    subject=plan.subject))
        yield Answer(
            text=text, sources=plan.sources, grounded=plan.grounded, citations=draft.cite.numbers(text),
            completion=completion, retrieval_latency_s=plan.retrieval.latency_s,
            call_id=completion.call_id if completion is not None else None, notice=plan.notice,
        )

    def _generation_params(self, grounded: bool, hint_turn: bool, shown: str = "") -> GenerationParams:
        """Bounded answers: each kind ends at a sentence end after its word budget (prompting.*_WORDS), well
        before its token cap; the guard sees what is already shown, so copying the extract back counts."""
        g = self.cfg.generation
        params = GenerationParams(
            max_new_tokens=min(g.max_new_tokens, prompting.GROUNDED_MAX_TOKENS), temperature=g.temperature,
            top_p=g.top_p, seed=g.seed, repetition_penalty=g.repetition_penalty, stop_on_repetition=True,
            repetition_context=shown, stop_after_words=prompting.GROUNDED_WORDS,
        )
        if not grounded:
            return dataclasses.replace(params, max_new_tokens=min(g.max_new_tokens, prompting.UNGROUNDED_MAX_TOKENS),
                                       stop_after_words=prompting.UNGROUNDED_WORDS)
        if hint_turn:
            return dataclasses.replace(
                params, max_new_tokens=min(g.max_new_tokens, prompting.SOCRATIC_HINT_MAX_TOKENS),
                stop=prompting.SOCRATIC_HINT_STOP, stop_after_words=prompting.SOCRATIC_HINT_WORDS,
            )
        return params

    def key_point(self, question: str, hits: Sequence[RetrievedChunk]) -> KeyPoint | None:
        """The course sentence(s) that answer the question best, or None; never fails the answer (it is an extra)."""
        try:
            return find_key_point(question, hits, self.retriever.embedder, idf=self.retriever.idf, second=True)
        except Exception:  # noqa: BLE001 - the model's answer still comes without it
            logger.exception("key point extraction failed")
            return None

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

    def document_ids(self) -> set[str]:
        """Ids of the documents in the knowledge-base folder (cheap: no parsing)."""
        return set(self.ingestor.scan())


def _model_error_message(e: BaseException) -> str:
    if isinstance(e, TutorError):
        return str(e)
    return (f"The language model could not be loaded ({type(e).__name__}: {e}). "
            "Check SMARTLEARN_MODEL_BASE_MODEL, or unset it to use the embedded model.")


def build_tutor(cfg: AppConfig, *, backend: LLMBackend | None = None, embedder=None) -> Tutor:
    """The tutor alone, wired by the composition root (tutor/services.py) like the app's."""
    from tutor.services import build_services

    return build_services(cfg, backend=backend, embedder=embedder).tutor
