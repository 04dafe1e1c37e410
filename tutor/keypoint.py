"""Key point: the course sentence that best answers a question, quoted at the top of an answer.

Why: the embedded 135M model often rambles or invents facts even when retrieval found the right
passage. Quoting the retrieved sentence closest to the question (by the same embedder retrieval
uses) gives the learner one correct, cited statement from the course in every grounded answer,
whatever the model then writes. Extractive, so it can only be as wrong as the course material.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from tutor.retrieval.chunking import split_sentences
from tutor.retrieval.embeddings import Embedder
from tutor.types import RetrievedChunk

LABEL = "**From the course"
MIN_WORDS, MAX_WORDS = 6, 60  # shorter is rarely a statement; longer is a paragraph, not a point
_FENCE = re.compile(r"```.*?```", re.DOTALL)
_LIST_MARK = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")


@dataclass(frozen=True)
class KeyPoint:
    source_index: int  # the [n] of the chunk it comes from (1-based, as in the answer's sources)
    text: str
    similarity: float

    def markdown(self) -> str:
        return f"{LABEL} [{self.source_index}]:** {self.text}\n\n"


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


def find_key_point(question: str, hits: Sequence[RetrievedChunk], embedder: Embedder) -> KeyPoint | None:
    candidates = candidate_sentences(hits)
    if not candidates:
        return None
    vecs = embedder.embed([question] + [s for _, s in candidates])
    sims = np.einsum("nd,d->n", vecs[1:], vecs[0])  # einsum stays on this thread (no BLAS pool)
    best = int(np.argmax(sims))
    idx, text = candidates[best]
    return KeyPoint(idx, text, float(sims[best]))
