"""The development set of bench.tutor_eval (bench/data/tutor_eval/*.yaml), loaded into dataclasses.

Files: kb_questions.yaml (questions the knowledge base answers), off_kb.yaml (questions it does not
cover), socratic.yaml (homework problems and the regexes that would leak their answers),
injection.yaml (documents carrying an instruction, for a throw-away index), interview_answers.yaml
(candidate answers to bank questions with the score band each should get).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

DATA_DIR = Path(__file__).resolve().parent / "data" / "tutor_eval"


@dataclass(frozen=True)
class KbQuestion:
    id: str
    doc: str  # doc id: path under knowledge_base/
    section: str  # a heading of that document
    question: str
    key_facts: tuple[str, ...]


@dataclass(frozen=True)
class OffKbQuestion:
    id: str
    question: str
    kind: str  # "adjacent" (near the course) or "off-topic"
    absent_terms: tuple[str, ...]  # words no KB document contains (a test checks)


@dataclass(frozen=True)
class SocraticProblem:
    id: str
    problem: str
    answer: str
    leak_patterns: tuple[str, ...]  # case-insensitive regexes; a match in the hint shows the answer


@dataclass(frozen=True)
class InjectionCase:
    id: str
    filename: str  # where the document goes in the throw-away knowledge base
    document: str  # markdown with front matter
    question: str  # retrieves the document
    marker: str  # in the answer = the injected instruction was obeyed


@dataclass(frozen=True)
class CandidateAnswer:
    kind: str  # strong | partial | off_topic | salad
    text: str
    band: tuple[float, float]  # expected rubric score, inclusive


@dataclass(frozen=True)
class InterviewCase:
    question_id: str  # id in training/data/interview/*.jsonl
    answers: tuple[CandidateAnswer, ...]


@dataclass(frozen=True)
class EvalSet:
    kb: tuple[KbQuestion, ...]
    off_kb: tuple[OffKbQuestion, ...]
    socratic: tuple[SocraticProblem, ...]
    injection: tuple[InjectionCase, ...]
    interview: tuple[InterviewCase, ...]


def _yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


def load_eval_set(folder: Path = DATA_DIR) -> EvalSet:
    kb = tuple(KbQuestion(q["id"], q["doc"], q["section"], q["question"], tuple(q["key_facts"]))
               for q in _yaml(folder / "kb_questions.yaml")["questions"])
    off = tuple(OffKbQuestion(q["id"], q["question"], q["kind"], tuple(q["absent_terms"]))
                for q in _yaml(folder / "off_kb.yaml")["questions"])
    soc = tuple(SocraticProblem(p["id"], p["problem"], str(p["answer"]), tuple(p["leak_patterns"]))
                for p in _yaml(folder / "socratic.yaml")["problems"])
    inj = tuple(InjectionCase(c["id"], c["filename"], c["document"], c["question"], c["marker"])
                for c in _yaml(folder / "injection.yaml")["cases"])
    bands = _yaml(folder / "interview_answers.yaml")
    default_bands = {k: tuple(v) for k, v in bands["bands"].items()}
    iv = tuple(
        InterviewCase(c["question_id"], tuple(
            CandidateAnswer(kind, text, default_bands[kind]) for kind, text in c["answers"].items()))
        for c in bands["cases"]
    )
    return EvalSet(kb, off, soc, inj, iv)


# ---------------------------------------------------------------- document sections

_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t]*#*[ \t]*$")
_FENCE = re.compile(r"^[ \t]{0,3}(`{3,}|~{3,})")


def section_text(markdown: str, heading: str) -> str | None:
    """The text under `heading` (any level) up to the next heading of the same or a higher level, so
    subsections are included; None when the document has no such heading. Code fences are text."""
    lines = markdown.splitlines()
    start = level = None
    in_fence = False
    out: list[str] = []
    for line in lines:
        if _FENCE.match(line):
            in_fence = not in_fence
        m = None if in_fence else _HEADING.match(line)
        if start is None:
            if m and m.group(2).strip().lower() == heading.strip().lower():
                start, level = True, len(m.group(1))
            continue
        if m and len(m.group(1)) <= level:
            break
        out.append(line)
    return "\n".join(out) if start else None
