"""The typed records the metrics store writes and reads (frozen dataclasses, never dicts).

Written: ModelCall, RetrievalEvent, Feedback, KnowledgeGap. Read back: StoredCall,
StoredRetrieval, StoredGap (the written fields plus the row id). Statistics over them are
``tutor/metrics/stats.py``'s.
None of them carries prompt or answer text; only KnowledgeGap.question and Feedback.comment hold
words a learner typed (the store caps both).
"""
from __future__ import annotations

from dataclasses import dataclass

from tutor.types import Completion


@dataclass(frozen=True)
class ModelCall:
    """One model call: who, which model/adapter, for what, and how it went. No text."""

    model: str
    adapter: str | None  # None = base model
    operation: str  # what the call was for: "ask", "quiz", "study_plan", "interview" ...
    user: str
    started_at: float  # unix seconds (time.time()) when the request was made
    ttft_s: float | None  # None when no token came (failed call)
    latency_s: float
    prompt_tokens: int
    completion_tokens: int
    tokens_per_s: float | None  # decode speed; None when not measurable (<= 1 token, failure)
    success: bool
    error_type: str | None = None  # exception class name only: messages may quote learner text
    quality: float | None = None  # optional score from an evaluator; None = not scored

    @classmethod
    def from_completion(
        cls, completion: Completion, operation: str, user: str, started_at: float, quality: float | None = None
    ) -> ModelCall:
        ok = completion.finish_reason != "error"
        tps = completion.tokens_per_s
        return cls(
            model=completion.model,
            adapter=completion.adapter,
            operation=operation,
            user=user,
            started_at=started_at,
            ttft_s=completion.ttft_s,
            latency_s=completion.latency_s,
            prompt_tokens=completion.usage.prompt_tokens,
            completion_tokens=completion.usage.completion_tokens,
            # Completion reports 0.0 when speed cannot be measured; a 0 would drag means down.
            tokens_per_s=tps if tps > 0 else None,
            success=ok,
            error_type=None if ok else "finish_reason=error",
            quality=quality,
        )

    @classmethod
    def failure(
        cls,
        model: str,
        adapter: str | None,
        operation: str,
        user: str,
        started_at: float,
        latency_s: float,
        error: BaseException,
    ) -> ModelCall:
        """A call that raised. Only the exception's class name is kept, not its message."""
        return cls(
            model=model,
            adapter=adapter,
            operation=operation,
            user=user,
            started_at=started_at,
            ttft_s=None,
            latency_s=latency_s,
            prompt_tokens=0,
            completion_tokens=0,
            tokens_per_s=None,
            success=False,
            error_type=type(error).__name__,
        )


@dataclass(frozen=True, kw_only=True)
class StoredCall(ModelCall):
    """A ModelCall read back from the store."""

    id: int  # the row id; what Answer.call_id and Feedback.call_id hold
    feedback: int | None = None  # the latest thumbs vote on this call (+1 / -1), None = none


@dataclass(frozen=True)
class RetrievalEvent:
    """One knowledge-base search. The query's length only, never its text."""

    user: str
    query_chars: int
    subject: str | None
    k: int
    latency_s: float
    best_similarity: float | None
    covered: bool
    started_at: float  # unix seconds


@dataclass(frozen=True, kw_only=True)
class StoredRetrieval(RetrievalEvent):
    id: int


@dataclass(frozen=True)
class Feedback:
    """A learner's thumbs up (+1) or down (-1) on one answer (a recorded model call)."""

    call_id: int
    user: str
    value: int
    comment: str | None = None

    def __post_init__(self) -> None:
        if type(self.value) is not int or self.value not in (1, -1):  # bool and float are refused
            raise ValueError(f"Feedback must be +1 (thumbs up) or -1 (thumbs down), not {self.value!r}.")


@dataclass(frozen=True)
class KnowledgeGap:
    """A question the knowledge base did not cover, kept so a teacher can add material."""

    user: str
    question: str  # capped by the store (MAX_GAP_QUESTION_CHARS)
    subject: str | None
    best_similarity: float | None
    created_at: float  # unix seconds


@dataclass(frozen=True, kw_only=True)
class StoredGap(KnowledgeGap):
    id: int


@dataclass(frozen=True)
class ResourceSample:
    """One reading of the machine by the resource sampler. None = not available here (no GPU)."""

    sampled_at: float  # unix seconds
    cpu_percent: float  # whole machine, 0-100
    memory_percent: float  # whole machine, 0-100
    process_rss_mb: float  # this app's resident memory
    disk_percent: float  # the disk holding the data folder, 0-100
    gpu_memory_used_mb: float | None = None
    gpu_memory_total_mb: float | None = None
    gpu_utilization_percent: float | None = None
    resolution_s: float = 0.0  # 0 = a raw sample; else the bucket width it was downsampled into


@dataclass(frozen=True)
class TrainingStep:
    """One logged step of a training run (training/ writes these; the admin tab draws them)."""

    run_id: str  # unique per run folder, e.g. "run_a-20261123-021500"
    run_name: str  # the config's name, e.g. "run_a"; runs of one name are overlaid in charts
    step: int
    epoch: float
    train_loss: float | None
    val_loss: float | None
    learning_rate: float | None
    tokens_per_s: float | None
    samples_per_s: float | None
    peak_memory_mb: float | None
    recorded_at: float  # unix seconds


@dataclass(frozen=True)
class Interaction:
    """One learner action in a tab, for the admin's learner analytics. No learner text."""

    user: str
    action: str  # "ask", "quiz_answer", "study_plan", "interview_answer", "voice", "photo" ...
    at: float  # unix seconds
    subject: str | None = None
    difficulty: str | None = None
    response_time_s: float | None = None  # how long the learner took (quiz/interview answers)
    correct: float | None = None  # 1/0 for graded answers, a 0-1 score for rubric-scored ones


__all__ = [
    "Feedback",
    "Interaction",
    "ResourceSample",
    "TrainingStep",
    "KnowledgeGap",
    "ModelCall",
    "RetrievalEvent",
    "StoredCall",
    "StoredGap",
    "StoredRetrieval",
]
