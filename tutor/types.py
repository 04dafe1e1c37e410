"""Typed values that cross layer boundaries (backends -> service -> tabs).

Everything here is a frozen dataclass: results carry their own usage and latency, so no
per-call counters live on shared objects (which would race under concurrent users).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Mapping, Union

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class Message:
    role: Role
    content: str


@dataclass(frozen=True)
class GenerationParams:
    max_new_tokens: int = 256
    temperature: float = 0.0  # 0 means greedy decoding
    top_p: float = 0.95
    seed: int | None = None
    stop: tuple[str, ...] = ()
    repetition_penalty: float = 1.0
    # Stop a looping answer at a clean sentence end (tutor/backends/repetition.py); the finish reason is
    # then "repetition". Off by default: structured output (JSON, code) repeats on purpose.
    stop_on_repetition: bool = False
    # Text the learner already sees before the model's words (the quoted course extract): the repetition
    # guard counts repeats across it, so copying the extract back is caught like any other loop.
    repetition_context: str = ""
    # A soft length: once the answer has this many words, it ends at the next sentence end (finish reason
    # "stop"), so a bounded answer ends on a full sentence, not mid-word at max_new_tokens. 0 = off.
    stop_after_words: int = 0


@dataclass(frozen=True)
class CallMeta:
    """Who made a model request and what for: what the metered backend records it under."""

    operation: str = "generate"  # "chat", "quiz", "study_plan", "interview", "qa" ...
    user: str = "anonymous"
    # Optional: turns the finished text into the call's quality score (0-1), e.g. 1.0 when a
    # generated quiz question passed its checks; None = not scored.
    judge: Callable[[str], float | None] | None = None


@dataclass(frozen=True)
class GenerationRequest:
    messages: tuple[Message, ...]
    params: GenerationParams = field(default_factory=GenerationParams)
    adapter: str | None = None  # None = base model; else a name from backend.adapters()
    # A JSON Schema the reply must match, enforced at decode time (tutor/backends/json_schema.py);
    # None = free text. A plain dict is fine: requests are built per call and never hashed.
    json_schema: Mapping[str, Any] | None = None
    meta: CallMeta = field(default_factory=CallMeta)  # recorded by tutor/metrics/meter.py
    # The caller streams to a person: while the request waits for an engine slot, the stream also yields
    # QueuePosition items (tutor/serving/queued.py), before any text. Off: the stream keeps to str + Completion.
    report_queue: bool = False


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int


FinishReason = Literal["stop", "length", "error", "repetition"]  # repetition: cut by the guard


@dataclass(frozen=True)
class Completion:
    """The final item of a backend stream: the full text plus its own measurements."""

    text: str
    model: str
    adapter: str | None
    usage: Usage
    ttft_s: float  # request start -> first streamed token
    latency_s: float  # request start -> last token
    finish_reason: FinishReason = "stop"
    call_id: int | None = None  # the metrics row of this call, set by the metered backend

    @property
    def tokens_per_s(self) -> float:
        decode = self.latency_s - self.ttft_s
        if self.usage.completion_tokens <= 1 or decode <= 0:
            return 0.0
        # The first token's time is prefill; decode speed is over the remaining tokens.
        return (self.usage.completion_tokens - 1) / decode


@dataclass(frozen=True)
class QueuePosition:
    """The request waits for the model: ``position`` is its 1-based place among the waiting (1 = next)."""

    position: int


# A backend stream yields text deltas (str) and ends with exactly one Completion; a request with
# report_queue=True may first get QueuePosition items while it waits in line.
StreamItem = Union[str, Completion, QueuePosition]


@dataclass(frozen=True)
class BackendInfo:
    backend: str  # "transformers", "mlx", "fake"
    model: str  # what the user configured, e.g. "embedded" or a hub id / folder
    device: str
    dtype: str
    adapters: tuple[str, ...]
    load_s: float = 0.0
    detail: str = ""  # e.g. why the device/dtype was chosen


# ---------------------------------------------------------------- retrieval


@dataclass(frozen=True)
class Chunk:
    id: str  # stable: f"{doc_id}::{ordinal}:{content-hash8}"
    doc_id: str  # path relative to the knowledge-base folder, posix style
    title: str
    subject: str
    level: str
    section: str  # heading path, e.g. "Gradient descent > Learning rate"
    text: str
    ordinal: int  # position of the chunk in its document


@dataclass(frozen=True)
class RetrievedChunk:
    chunk: Chunk
    score: float  # fused score used for ranking (reciprocal rank fusion)
    dense_similarity: float | None  # cosine similarity in [-1, 1] (also for BM25-only hits); None if unknown
    bm25_score: float | None
    rank: int  # 1-based


@dataclass(frozen=True)
class CoverageSignals:
    """What the coverage decision saw (tutor/retrieval/coverage.py), kept for calibration and the gap log."""

    best_similarity: float  # best dense cosine over the candidates
    term_support: float  # IDF-weighted share of the question's words present in the retrieved text, 0-1
    missing_terms: tuple[str, ...]  # the question's words no retrieved chunk contains, most distinctive first
    agreement: bool  # the best dense chunk is among the top BM25 chunks


@dataclass(frozen=True)
class RetrievalResult:
    query: str
    hits: tuple[RetrievedChunk, ...]
    covered: bool  # False when the best hit is below the relevance floor
    best_similarity: float
    latency_s: float
    subject: str | None = None
    coverage: CoverageSignals | None = None  # None for results not built by Retriever.search


@dataclass(frozen=True)
class IngestSkip:
    path: str
    reason: str


@dataclass(frozen=True)
class IngestReport:
    added: tuple[str, ...]
    updated: tuple[str, ...]
    removed: tuple[str, ...]
    unchanged: int
    skipped: tuple[IngestSkip, ...]
    chunks_written: int
    total_chunks: int
    seconds: float
    rebuilt: bool = False  # True when a missing/corrupt index was rebuilt from scratch

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed)


# ---------------------------------------------------------------- tutor answers


@dataclass(frozen=True)
class Source:
    index: int  # the [n] used in the answer text
    chunk_id: str
    doc_id: str
    title: str
    section: str
    subject: str
    snippet: str
    score: float


@dataclass(frozen=True)
class Delta:
    """A piece of streamed answer text."""

    text: str


@dataclass(frozen=True)
class Answer:
    """Final event of Tutor.ask: the whole answer and everything the UI shows beside it."""

    text: str
    sources: tuple[Source, ...]
    grounded: bool  # False: the KB did not cover the question (general help, marked so)
    citations: tuple[int, ...]  # the [n] indices that appear in text, all valid indices of sources
    completion: Completion | None
    retrieval_latency_s: float
    call_id: int | None = None  # metrics record id, for thumbs up/down
    notice: str | None = None  # e.g. "Your message was truncated to 4,000 characters."

    @property
    def truncated(self) -> bool:
        """The model's part was cut: by the repetition guard or the token limit."""
        return self.completion is not None and self.completion.finish_reason in ("repetition", "length")


TutorEvent = Union[Delta, QueuePosition, Answer]  # QueuePosition only before the model's first words
