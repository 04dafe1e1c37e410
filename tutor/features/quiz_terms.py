"""The terms a quiz question can ask for: the subject's concepts and, per chunk, the (sentence,
concept term) pairs that make good questions.

Why the answer is a term of the course text, not something the model writes: the 135M embedded
model invents wrong facts (MODELS.md). The answer is a distinctive term of one of the chunk's
sentences (rare in the subject, preferably named in the section heading), and every term is a
concept of the course (a phrase of its titles, headings or bold terms), so options are names of
real concepts, not random words of a sentence.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Sequence

from tutor.features import quiz_checks as checks
from tutor.keypoint import candidate_sentences
from tutor.retrieval.bm25 import STOPWORDS, _fold
from tutor.types import Chunk, RetrievedChunk

_TERM_WORD = checks._WORD


@dataclass(frozen=True)
class Candidate:
    """One question a chunk can make: `term` of `sentence` is the answer, `score` how distinctive it is."""

    score: float
    sentence: str
    term: str


def idf_of(chunks: Sequence[Chunk]) -> dict[str, float]:
    """Inverse document frequency of each word over the subject's chunks: rare words make distinctive answers."""
    df: dict[str, int] = {}
    for c in chunks:
        for w in set(checks.norm(c.text).split()):
            df[w] = df.get(w, 0) + 1
    n = max(1, len(chunks))
    return {w: math.log((n + 1) / (d + 0.5)) for w, d in df.items()}


# Headings that name a kind of section, not a concept of the subject.
_GENERIC = frozenset({"worked", "example", "examples", "common", "mistakes", "key", "takeaways", "summary",
                      "introduction", "overview", "notes", "further", "reading", "practice", "exercises", "page",
                      "meaning", "form", "word", "rules", "basics", "definition", "intuition", "idea", "ideas",
                      "uses", "works", "checks", "default"})
_BOLD = re.compile(r"\*\*([^*\n]{3,40})\*\*")


def fold_words(text: str) -> tuple[str, ...]:
    return tuple(_fold(w) for w in checks.norm(text).split())


def concept_vocabulary(chunks: Sequence[Chunk]) -> dict[tuple[str, ...], str]:
    """The subject's concepts: 1-3 word phrases of its titles, section headings and bold terms
    (folded words -> a display form). Answers and distractors are drawn from these, so options are
    all names of real concepts of the course, not random words of a sentence."""
    phrases: list[str] = []
    for c in chunks:
        parts = [c.title] + c.section.split(">")
        parts += _BOLD.findall(c.text)
        for part in parts:
            for piece in re.split(r"[,:;()/]| and | or | vs\.? | with | of | for | in | the ", part):
                phrases.append(piece.strip())
    vocab: dict[tuple[str, ...], str] = {}
    for ph in phrases:
        words = [w for w in _TERM_WORD.findall(ph)]
        # contiguous runs of non-stopword words
        run: list[str] = []
        for w in words + [""]:
            if w and w.lower() not in STOPWORDS and len(w) > 2 and w.lower() not in _GENERIC:
                run.append(w)
                continue
            # Suffixes of the run only: its last word is the head noun ("critical points" -> "points"),
            # while a leading modifier alone ("critical", "finding") is not a concept.
            for n in (1, 2, 3):
                if n <= len(run):
                    surface = " ".join(x if x.isupper() else x.lower() for x in run[-n:])
                    vocab.setdefault(fold_words(surface), surface)
            run = []
    return vocab


def _terms_in(sentence: str) -> list[str]:
    """Runs of 1-3 consecutive words (letters only): the spans a question can blank out."""
    words = [(m.group(0), m.start(), m.end()) for m in _TERM_WORD.finditer(sentence)]
    out: list[str] = []
    for i in range(len(words)):
        for n in (1, 2, 3):
            span = words[i:i + n]
            if len(span) < n:
                break
            if any(sentence[a[2]:b[1]] != " " for a, b in zip(span, span[1:])):
                break  # consecutive words only: nothing but spaces between them
            out.append(sentence[span[0][1]:span[-1][2]])
    return out


def _prose_like(sentence: str) -> bool:
    """Formulas and worked numbers make poor questions: mostly letters required."""
    letters = sum(ch.isalpha() or ch == " " for ch in sentence)
    return letters / max(1, len(sentence)) >= 0.85 and "=" not in sentence


def candidates_for(chunk: Chunk, idf: dict[str, float], vocab: dict[tuple[str, ...], str]) -> list[Candidate]:
    """(sentence, concept term) pairs of a chunk, best first; one per sentence."""
    heading = set(fold_words(chunk.section + " " + chunk.title))
    out: list[Candidate] = []
    hit = RetrievedChunk(chunk, 0.0, None, None, 1)
    for _, sentence in candidate_sentences([hit]):
        if len(sentence) > 300 or not _prose_like(sentence):
            continue
        for term in _terms_in(sentence):
            key = fold_words(term)
            nt = checks.norm(term)
            if key not in vocab or checks.norm(sentence).count(nt) != 1 or len(nt) < 4:
                continue
            score = sum(idf.get(w, 0.0) for w in nt.split()) / len(key) * (1 + 0.3 * (len(key) - 1))
            if set(key) & heading:
                score += 1.0
            out.append(Candidate(score, sentence, term))
    out.sort(key=lambda c: -c.score)
    seen: set[str] = set()
    best: list[Candidate] = []
    for c in out:
        if c.sentence not in seen:
            seen.add(c.sentence)
            best.append(c)
    return best
