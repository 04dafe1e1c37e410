"""Distractors: the wrong options of a question, drawn from the other concepts of the same subject.

A distractor shares no word with the answer and is absent from the source chunk, so none of them is
also correct; advanced quizzes prefer concepts of the same document (closer, harder to tell apart).
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Sequence

from tutor.features import quiz_checks as checks
from tutor.features.quiz_terms import concept_vocabulary, fold_words
from tutor.types import Chunk


@dataclass(frozen=True)
class ConceptPool:
    vocab: dict[tuple[str, ...], str]
    doc_of: dict[tuple[str, ...], set[str]]  # concept -> documents whose text names it


def build_pool(chunks: Sequence[Chunk]) -> ConceptPool:
    vocab = concept_vocabulary(chunks)
    doc_of: dict[tuple[str, ...], set[str]] = {}
    for key, surface in vocab.items():
        for c in chunks:
            if checks.contains_phrase(c.title + " " + c.section, surface):
                doc_of.setdefault(key, set()).add(c.doc_id)
    return ConceptPool(vocab, doc_of)


def distractors(answer: str, source: Chunk, pool: ConceptPool, rng: random.Random, n: int,
                 difficulty: str) -> list[str]:
    """`n` other concepts of the subject: sharing no word with the answer and absent from the source
    chunk (so none of them is also correct); same length as the answer where possible."""
    a_key = set(fold_words(answer))
    same_doc: list[str] = []
    other: list[str] = []
    for key, surface in pool.vocab.items():
        if set(key) & a_key or checks.contains_phrase(source.text, surface) or len(surface) < 4:
            continue
        (same_doc if source.doc_id in pool.doc_of.get(key, ()) else other).append(surface)
    same_doc.sort()
    other.sort()
    rng.shuffle(same_doc)
    rng.shuffle(other)
    # Advanced quizzes draw from the same document first: closer concepts, harder to tell apart.
    ordered = same_doc + other if difficulty == "advanced" else other + same_doc
    want = len(a_key)
    ordered.sort(key=lambda t: len(t.split()) != want)  # stable: same length first, shuffle kept
    picked: list[str] = []
    for t in ordered:
        t = _shape_like(t, answer)
        if checks._options_distinct(picked + [t, answer]):
            picked.append(t)
        if len(picked) == n:
            break
    return picked


def _shape_like(term: str, answer: str) -> str:
    """Match the answer's capitalisation so the correct option does not stand out."""
    if answer[:1].islower() and term[:1].isupper() and not term.isupper():
        return term[0].lower() + term[1:]
    return term
