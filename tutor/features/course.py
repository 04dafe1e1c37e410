"""What the learning features (quiz, study plan) need of the course index, as narrow Protocols, so
their constructors name their dependencies instead of reaching through a whole Tutor."""
from __future__ import annotations

from typing import Protocol

import numpy as np

from tutor.types import Chunk, RetrievalResult


class CourseIndex(Protocol):
    """The course's subjects and a retrieval that is recorded in the metrics (the Tutor offers both)."""

    def subjects(self) -> list[str]: ...

    def retrieve(self, question: str, subject: str | None = None, user: str = "anonymous") -> RetrievalResult: ...


class ChunkSource(Protocol):
    """Every indexed chunk (the retriever's ChromaStore)."""

    def all_chunks(self, with_embeddings: bool = True) -> tuple[list[Chunk], np.ndarray]: ...
