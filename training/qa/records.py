"""The typed records that move between the pipeline's stages (and their JSONL form)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Section:
    """One chunk of a course document, as the app's chunker cut it (its id is the app's chunk id)."""

    chunk_id: str
    doc_id: str
    title: str
    subject: str
    section: str  # heading path, "H1 > H2"
    text: str


@dataclass(frozen=True)
class Candidate:
    """An extractive pair before its question is phrased: the answer is the source's own words."""

    key: str  # stable id: the same section, kind and sentence give the same key on every run
    chunk_id: str
    doc_id: str
    kind: str  # training/qa/config.py KINDS
    focus: str  # the topic term the question must name
    sentence: str  # the source sentence the pair is built from
    answer: str
    template_question: str
    opener: str  # the first word asked of the model (spreads first words across the run)
    difficulty: str
    model_phrased: bool  # False: this kind's question is a template by design (cloze, true/false)


@dataclass(frozen=True)
class Pair:
    key: str
    chunk_id: str
    doc_id: str
    kind: str
    focus: str
    question: str
    answer: str
    difficulty: str
    generated_by: str  # the model's name, or "template"
    sentence: str = ""  # the source sentence the answer was built from (the terms check compares against it)
    checks: dict[str, bool] = field(default_factory=dict)
    score: float | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, row: dict[str, Any]) -> "Pair":
        return cls(**{k: row[k] for k in cls.__dataclass_fields__ if k in row})


@dataclass(frozen=True)
class Problem:
    """Something the run skipped or fell back on, with the reason; the run goes on."""

    key: str
    stage: str  # "document" | "section" | "model"
    where: str  # a doc id, chunk id or candidate key
    reason: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
