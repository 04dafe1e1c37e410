"""Key point: the course sentence(s) that best answer a question, quoted at the top of an answer.

Why: the embedded 135M model often rambles or invents facts even when retrieval found the right
passage. Quoting the retrieved sentence that answers the question gives the learner one correct,
cited statement from the course in every grounded answer, whatever the model then writes.
Extractive, so it can only be as wrong as the course material.

A candidate sentence is scored by the embedder's cosine plus the IDF-weighted share of the question's
topic words in its section heading (the section is about the question), and optionally in the sentence
itself; the best one is then extended by the next sentence of its chunk when the pair scores at least
as well (a definition often runs on: "... the limit of the slope of secant lines. Geometrically, it is
the slope of the tangent line."). Measured with bench/tutor_eval.py key_point_fact_share_all (the share
of the key facts the quote alone carries, no model needed), weights chosen on the even-numbered dev
questions, odd ones held out: the best single sentence by cosine (before) 0.494 all / 0.476 odd; now
0.516 all / 0.492 odd. Words in the sentence itself (LEXICAL_WEIGHT 0.1-1.0) did not help on the even
questions, so that weight is 0. (Any adjacent pair as a candidate measured 0.58, but then the quote can
start on a neighbour before the answering sentence.)
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from tutor.retrieval.bm25 import tokenize
from tutor.retrieval.chunking import split_sentences
from tutor.retrieval.coverage import content_words
from tutor.retrieval.embeddings import Embedder
from tutor.types import RetrievedChunk

LABEL = "**From the course"
MIN_WORDS, MAX_WORDS = 6, 60  # shorter is rarely a statement; longer is a paragraph, not a point
LEXICAL_WEIGHT = 0.0  # the question's words in the candidate, against cosine (0-1 each): measured, no gain
HEADING_WEIGHT = 0.1  # the question's words in the section heading
PAIR_MARGIN = 0.0  # subtracted from a best sentence extended by its next one
_FENCE = re.compile(r"```.*?```", re.DOTALL)
_LIST_MARK = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")


@dataclass(frozen=True)
class KeyPoint:
    source_index: int  # the [n] of the chunk it comes from (1-based, as in the answer's sources)
    text: str
    similarity: float  # the selection score (cosine plus word shares), not a bare cosine

    def markdown(self) -> str:
        return f"{LABEL} [{self.source_index}]:** {self.text}\n\n"


@dataclass(frozen=True)
class _Window:
    source_index: int
    text: str
    heading: str
    sentences: int


def candidate_sentences(hits: Sequence[RetrievedChunk]) -> list[tuple[int, str]]:
    """(source index, sentence) pairs from the retrieved chunks; code blocks and fragments left out."""
    out: list[tuple[int, str]] = []
    for i, h in enumerate(hits, start=1):
        prose = _FENCE.sub(" ", h.chunk.text)
        for line in prose.splitlines():
            line = _LIST_MARK.sub("", line).strip()
            if not line or line.startswith(("#", "|", ">")):
                continue
            for s in split_sentences(line):
                n = len(s.split())
                # A chunk can start mid-sentence (overlap), and flattened lists read as run-ons:
                # neither is a statement worth quoting.
                if (MIN_WORDS <= n <= MAX_WORDS and s[-1] in ".!?:" and (s[0].isupper() or s[0].isdigit())
                        and "`" not in s and " - " not in s):
                    out.append((i, s))
    return out


def _windows(hits: Sequence[RetrievedChunk]) -> list[_Window]:
    """Each candidate sentence, in order (a sentence's neighbour in the same chunk follows it)."""
    heads = {i: h.chunk.section for i, h in enumerate(hits, start=1)}
    return [_Window(i, t, heads[i], 1) for i, t in candidate_sentences(hits)]


def _extended(windows: list[_Window], k: int) -> _Window | None:
    """Window k with the next sentence of the same chunk, when the two fit MAX_WORDS."""
    if k + 1 >= len(windows) or windows[k + 1].source_index != windows[k].source_index:
        return None
    a, b = windows[k], windows[k + 1]
    if len(a.text.split()) + len(b.text.split()) > MAX_WORDS:
        return None
    return _Window(a.source_index, f"{a.text} {b.text}", a.heading, 2)


def _local_idf(texts: Sequence[str]) -> Callable[[str], float]:
    df: dict[str, int] = {}
    for t in texts:
        for w in set(tokenize(t)):
            df[w] = df.get(w, 0) + 1
    n = len(texts)
    return lambda w: math.log1p((n + 1) / (df.get(w, 0) + 1))


def _share(words: Sequence[str], text: str, idf: Callable[[str], float]) -> float:
    toks = set(tokenize(text))
    total = sum(idf(w) for w in words)
    return sum(idf(w) for w in words if w in toks) / total if total > 0 else 0.0


def find_key_point(question: str, hits: Sequence[RetrievedChunk], embedder: Embedder,
                   idf: Callable[[str], float] | None = None) -> KeyPoint | None:
    """The best-answering window; `idf` is the knowledge base's (Retriever.idf), else one from the candidates."""
    windows = _windows(hits)
    if not windows:
        return None
    idf = idf or _local_idf([w.text for w in windows])
    known = frozenset(t for w in windows for t in tokenize(w.text + " " + w.heading))
    words = content_words(question, known)

    def scored(ws: Sequence[_Window]) -> list[float]:
        vecs = embedder.embed([question] + [w.text for w in ws])
        sims = np.einsum("nd,d->n", vecs[1:], vecs[0])  # einsum stays on this thread (no BLAS pool)
        return [float(sims[k]) + LEXICAL_WEIGHT * _share(words, w.text, idf)
                + HEADING_WEIGHT * _share(words, w.heading, idf) - (PAIR_MARGIN if w.sentences == 2 else 0.0)
                for k, w in enumerate(ws)]

    scores = scored(windows)
    best = int(np.argmax(scores))
    chosen, score = windows[best], scores[best]
    # A point may run on into its next sentence (a definition, then what it means): keep the pair when
    # it scores at least as well as the sentence alone.
    pair = _extended(windows, best)
    if pair is not None:
        pair_score = scored([pair])[0]
        if pair_score >= score:
            chosen, score = pair, pair_score
    return KeyPoint(chosen.source_index, chosen.text, score)
