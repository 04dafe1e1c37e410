"""The checks every pair is scored on, the 0-10 score, and near-duplicate removal.

Checks (training/qa/config.py CHECK_WEIGHTS):
- supported: at least `support_min` of the answer's content words (all tokens for a formula) occur in
  the source section;
- terms: every technical term of the source sentence (code in backticks, formulas, tokens with digits or
  symbols, acronyms, hyphenated words) appears verbatim in the answer;
- topic: the question names its focus term, or a content word of the section's title or heading path, so it
  cannot be answered without the source's topic;
- length: the question and the answer are within their word bounds;
- novel: the question's embedding is below `near_duplicate` cosine similarity to every question kept before it.

Score = 10 x (sum of the weights of the passed checks) / (sum of the weights of the enabled checks).
A pair is kept when its score >= min_score and it is novel (dedup in descending score order, ties by key).
"""
from __future__ import annotations

import re
from dataclasses import replace

import numpy as np

from training.qa.config import CHECK_WEIGHTS, QAConfig
from training.qa.records import Pair, Section

_WORD = re.compile(r"[A-Za-z][A-Za-z\-']+")
_TERM = re.compile(r"`[^`]+`|\S*[=^_()\[\]{}]\S*|\b\w*\d\w*\b|\b[A-Z]{2,}[a-z]?s?\b|\b\w+-\w+(?:-\w+)*\b")
STOPWORDS = frozenset(
    "a an the and or of to in on for with by from as at is are was were be been being it its this that these those "
    "which what who whom how why when where than then so such can could may might will would should do does did "
    "has have had not no but if into over under about also more most less very each every any all some one two "
    "their there they them his her our your we you i me my true false corrected statement full".split())


def content_words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text) if w.lower() not in STOPWORDS and len(w) > 2]


def technical_terms(sentence: str) -> list[str]:
    return [t.strip(".,;:") for t in _TERM.findall(sentence) if t.strip(".,;:")]


def _tokens(text: str) -> list[str]:
    return [t for t in (w.strip(".,;:!?()\"'").lower() for w in text.split()) if t]


def check_supported(pair: Pair, section: Section, cfg: QAConfig) -> bool:
    """Content words when the answer has any, else every token (a formula-only answer)."""
    words = content_words(pair.answer)
    source = set(content_words(section.text))
    if not words:
        words, source = _tokens(pair.answer), set(_tokens(section.text))
    return bool(words) and sum(w in source for w in words) / len(words) >= cfg.support_min


def check_terms(pair: Pair, sentence: str) -> bool:
    return all(t in pair.answer for t in technical_terms(sentence))


def check_topic(pair: Pair, section: Section) -> bool:
    q = pair.question.lower()
    if pair.focus and pair.focus.lower() in q:
        return True
    heading = set(content_words(f"{section.title} {section.section}"))
    return bool(heading & set(content_words(pair.question)))


def check_length(pair: Pair, cfg: QAConfig) -> bool:
    (qlo, qhi), (alo, ahi) = cfg.question_words, cfg.answer_words
    return qlo <= len(pair.question.split()) <= qhi and alo <= len(pair.answer.split()) <= ahi


def run_checks(pair: Pair, section: Section, cfg: QAConfig) -> dict[str, bool]:
    """Every enabled check but `novel` (that one needs the whole run: see dedup)."""
    table = {"supported": lambda: check_supported(pair, section, cfg),
             "terms": lambda: check_terms(pair, pair.sentence),
             "topic": lambda: check_topic(pair, section),
             "length": lambda: check_length(pair, cfg)}
    return {name: table[name]() for name in cfg.checks if name in table}


def score(checks: dict[str, bool], enabled: tuple[str, ...]) -> float:
    total = sum(CHECK_WEIGHTS[c] for c in enabled)
    return round(10.0 * sum(CHECK_WEIGHTS[c] for c in enabled if checks.get(c, False)) / total, 2)


def dedup(pairs: list[Pair], vectors: np.ndarray, cfg: QAConfig) -> list[Pair]:
    """Mark `novel` on every pair (greedy, best score first) and rescore. `vectors`: unit rows, one per pair."""
    order = sorted(range(len(pairs)), key=lambda i: (-(pairs[i].score or 0.0), pairs[i].key))
    kept: list[int] = []
    out: list[Pair | None] = [None] * len(pairs)
    for i in order:
        sims = vectors[kept] @ vectors[i] if kept else np.zeros(0)
        novel = not (sims.size and float(sims.max()) >= cfg.near_duplicate)
        checks = dict(pairs[i].checks)
        if "novel" in cfg.checks:
            checks["novel"] = novel
        new = replace(pairs[i], checks=checks, score=score(checks, cfg.checks))
        out[i] = new
        if novel and new.score >= cfg.min_score:
            kept.append(i)
    return [p for p in out if p is not None]


def is_kept(pair: Pair, cfg: QAConfig) -> bool:
    return (pair.score or 0.0) >= cfg.min_score and pair.checks.get("novel", True)
