"""Typed values of the learning features (quiz items, study plans) and the JSON Schemas the model
must follow when it writes parts of them.

The dataclasses cross layers (features -> learner store -> tabs); `to_json`/`from_json` are the one
serialisation used by the store, so the database never holds ad-hoc dicts.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any, Literal

Difficulty = Literal["beginner", "intermediate", "advanced"]
DIFFICULTIES: tuple[str, ...] = ("beginner", "intermediate", "advanced")
QuizKind = Literal["mcq", "true_false", "short_answer"]  # how an item is answered (QuizItem.kind)
MIXED = "mixed"
# The question kinds a learner can pick, with their labels. The first six draw from the question bank
# (tutor/features/quiz_bank.py; "mixed" = several of its kinds, true_false falls back to the course
# text); "mcq" (a key term of a course sentence) and "short_answer" are built from the course text only.
QUIZ_KINDS: dict[str, str] = {
    MIXED: "Mixed", "definition": "Definition", "why": "Why (reasons)", "compare": "Compare",
    "apply": "Apply (fill in the value)", "true_false": "True / false", "mcq": "Multiple choice",
    "short_answer": "Short answer",
}


@dataclass(frozen=True)
class QuizItem:
    item_id: str  # content hash: the same question and answer always get the same id
    kind: str  # a QuizKind
    question: str
    options: tuple[str, ...]  # mcq: 4 options; true_false: ("True", "False"); short_answer: ()
    answer: str  # the correct option's text, or the reference short answer
    explanation: str  # why, quoting the source sentence, ending with the citation
    chunk_id: str
    doc_id: str
    topic: str  # the source document's title
    section: str
    subject: str
    difficulty: str
    source_quote: str  # the sentence of the chunk that supports the answer
    generated_by: str = "kb"  # "model" (phrased by the LLM, passed the checks), "kb" (built from the chunk) or
    # "bank:<writer>" (from the question bank, written by a template or a model)
    question_kind: str = ""  # the bank kind (definition, why, compare, apply, true_false); "" for course-text items

    @property
    def citation(self) -> str:
        return f"{self.topic} › {self.section}" if self.section else self.topic

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), ensure_ascii=False)

    @staticmethod
    def from_json(text: str) -> "QuizItem":
        d = json.loads(text)
        d["options"] = tuple(d.get("options", ()))
        return QuizItem(**d)


def item_id_for(question: str, answer: str, chunk_id: str) -> str:
    norm = " ".join(question.lower().split()) + "\x00" + " ".join(answer.lower().split()) + "\x00" + chunk_id
    return hashlib.sha256(norm.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class Reading:
    """A citation into the knowledge base: only ever built from indexed chunks, never by the model."""

    doc_id: str
    title: str
    section: str
    chunk_id: str

    def label(self) -> str:
        return f"{self.title} › {self.section}" if self.section else self.title


@dataclass(frozen=True)
class PlanSession:
    topic: str
    activities: tuple[str, ...]
    minutes: int
    readings: tuple[Reading, ...]


@dataclass(frozen=True)
class PlanWeek:
    number: int
    theme: str
    sessions: tuple[PlanSession, ...]

    @property
    def minutes(self) -> int:
        return sum(s.minutes for s in self.sessions)


@dataclass(frozen=True)
class StudyPlan:
    plan_id: str
    title: str
    subject: str
    goal: str
    level: str
    hours_per_week: float
    start_date: str  # ISO date of week 1's Monday-or-start day
    weeks: tuple[PlanWeek, ...]
    notes: tuple[str, ...] = ()  # e.g. "Focus topic X is not in the knowledge base"

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), ensure_ascii=False)

    @staticmethod
    def from_json(text: str) -> "StudyPlan":
        d = json.loads(text)
        weeks = tuple(
            PlanWeek(w["number"], w["theme"], tuple(
                PlanSession(s["topic"], tuple(s["activities"]), int(s["minutes"]),
                            tuple(Reading(**r) for r in s["readings"]))
                for s in w["sessions"]))
            for w in d["weeks"])
        return StudyPlan(d["plan_id"], d["title"], d["subject"], d["goal"], d["level"], float(d["hours_per_week"]),
                         d["start_date"], weeks, tuple(d.get("notes", ())))


# ---------------------------------------------------------------- JSON Schemas for the model
# Short maxLengths keep the 135M model from rambling inside a string and bound decode time.

QUESTION_SCHEMA: dict[str, Any] = {
    "type": "object",
    # The pattern makes the model open with a question word and close with "?": left free, the 135M
    # model copies the fact back instead of asking about it.
    "properties": {"question": {"type": "string", "pattern": r"^(What|Which|Why|How|When|Who)[^?\"\\]{8,110}\?$"}},
    "required": ["question"],
    "additionalProperties": False,
}
"""The model phrases a question whose answer is already fixed (taken from the chunk)."""

WEEK_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "theme": {"type": "string", "minLength": 3, "maxLength": 40},
        "activities": {
            "type": "array", "minItems": 2, "maxItems": 2,
            "items": {"type": "string", "minLength": 5, "maxLength": 50},
        },
    },
    "required": ["theme", "activities"],
    "additionalProperties": False,
}
"""The model writes a week's theme and practice activities; topics, minutes and readings come from the KB."""

PLAN_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "title": {"type": "string", "minLength": 1},
        "weeks": {
            "type": "array", "minItems": 1,
            "items": {
                "type": "object",
                "properties": {
                    "number": {"type": "integer", "minimum": 1},
                    "theme": {"type": "string", "minLength": 1},
                    "sessions": {
                        "type": "array", "minItems": 1,
                        "items": {
                            "type": "object",
                            "properties": {
                                "topic": {"type": "string", "minLength": 1},
                                "activities": {"type": "array", "minItems": 1, "items": {"type": "string"}},
                                "minutes": {"type": "integer", "minimum": 5},
                                "readings": {
                                    "type": "array", "minItems": 1,
                                    "items": {
                                        "type": "object",
                                        "properties": {"doc_id": {"type": "string", "minLength": 1},
                                                       "title": {"type": "string"},
                                                       "section": {"type": "string"},
                                                       "chunk_id": {"type": "string", "minLength": 1}},
                                        "required": ["doc_id", "title", "section", "chunk_id"],
                                    },
                                },
                            },
                            "required": ["topic", "activities", "minutes", "readings"],
                        },
                    },
                },
                "required": ["number", "theme", "sessions"],
            },
        },
    },
    "required": ["title", "weeks"],
}
"""The whole plan as stored: every delivered plan is validated against this (bench: 100% valid)."""
