"""Metrics: the SQLite record of model calls, retrievals, thumbs votes and knowledge gaps.

``MetricsStore`` writes and reads them (best effort for learners: writes never raise);
``migrations`` owns the append-only schema; ``records`` holds the typed rows.
"""
from tutor.metrics.migrations import MIGRATIONS, migrate
from tutor.metrics.records import (
    Feedback,
    Interaction,
    KnowledgeGap,
    ModelCall,
    ResourceSample,
    RetrievalEvent,
    StoredCall,
    StoredGap,
    StoredRetrieval,
    TrainingStep,
)
from tutor.metrics.store import (
    MAX_COMMENT_CHARS,
    MAX_GAP_QUESTION_CHARS,
    MetricsError,
    MetricsStore,
)

__all__ = [
    "MAX_COMMENT_CHARS",
    "MAX_GAP_QUESTION_CHARS",
    "MIGRATIONS",
    "Feedback",
    "Interaction",
    "KnowledgeGap",
    "MetricsError",
    "MetricsStore",
    "ModelCall",
    "ResourceSample",
    "RetrievalEvent",
    "StoredCall",
    "StoredGap",
    "StoredRetrieval",
    "TrainingStep",
    "migrate",
]
