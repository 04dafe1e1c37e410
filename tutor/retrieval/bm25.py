"""Lexical (BM25) index over chunk texts with their title and section, built in memory with bm25s.

One index over the whole knowledge base; a subject filter masks the score vector, so IDF comes
from the whole corpus and one index serves every filter. Measured on the 421-chunk knowledge base
(and on it repeated 10x): a query takes ~0.05 ms filtered or not, the same as a per-subject index
would, and a rebuild ~50 ms per 421 chunks; so per-subject indexes would only add bookkeeping.
Tokens: lower-cased words, English stopwords (bm25s STOPWORDS_EN_PLUS) removed, plurals folded ("derivatives"
matches "derivative") by a tiny suffix rule instead of a stemmer dependency.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import bm25s
import numpy as np
from bm25s.stopwords import STOPWORDS_EN_PLUS

# bm25s sets its own logger to DEBUG at import, which floods the app's logs on every rebuild.
logging.getLogger("bm25s").setLevel(logging.WARNING)

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)?", re.UNICODE)


# The larger list (NLTK-style, 179 words): question words (what, how, why) carry no topic.
STOPWORDS = frozenset(STOPWORDS_EN_PLUS)


def _fold(tok: str) -> str:
    """Fold common English plural/possessive endings; conservative, so 'class' and 'bias' survive."""
    if tok.endswith(("'s", "’s")):
        tok = tok[:-2]
    if len(tok) > 4 and tok.endswith("ies"):
        return tok[:-3] + "y"
    if len(tok) > 4 and tok.endswith(("sses", "xes", "ches", "shes")):
        return tok[:-2]
    if len(tok) > 3 and tok.endswith("s") and not tok.endswith(("ss", "us", "is", "ous")):
        return tok[:-1]
    return tok


def tokenize(text: str) -> list[str]:
    out = []
    for tok in _WORD.findall(text.lower()):
        if tok in STOPWORDS:
            continue
        if len(tok) == 1 and not tok.isdigit():
            continue
        out.append(_fold(tok))
    return out


@dataclass(frozen=True)
class BM25Hit:
    index: int  # position in the corpus the index was built from
    score: float


class BM25Index:
    """Immutable once built: safe to query from many threads; rebuild a new one when the corpus changes."""

    def __init__(self, texts: list[str], subjects: list[str] | None = None, k1: float = 1.5, b: float = 0.75) -> None:
        self.size = len(texts)
        self._subjects = np.asarray(subjects if subjects is not None else [""] * self.size, dtype=object)
        self._masks: dict[str, np.ndarray] = {}
        self._vocab: set[str] = set()
        self._bm25 = None
        corpus_tokens = [tokenize(t) for t in texts]
        # Document frequencies for idf(): the coverage decision weighs a question's words by them.
        self._df: dict[str, int] = {}
        for toks in corpus_tokens:
            for t in set(toks):
                self._df[t] = self._df.get(t, 0) + 1
        self._terms = frozenset(self._df)
        if any(corpus_tokens):
            self._bm25 = bm25s.BM25(k1=k1, b=b)
            # A document with no tokens still needs a row: bm25s keeps a placeholder token for it.
            self._bm25.index(corpus_tokens, show_progress=False)
            self._vocab = set(self._bm25.vocab_dict)
        for s in set(self._subjects.tolist()):
            self._masks[s] = (self._subjects == s).astype(np.float32)

    @property
    def terms(self) -> frozenset[str]:
        """Every word (as tokenize() returns it) that some indexed text contains."""
        return self._terms

    def idf(self, token: str) -> float:
        """Smoothed inverse document frequency of a tokenize()d word; a word no chunk contains gets the
        largest value (it is the most distinctive word a question can have)."""
        return float(np.log1p((self.size + 1) / (self._df.get(token, 0) + 1)))

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every document for the query (zeros when no query word is indexed)."""
        if self._bm25 is None:
            return np.zeros(self.size, dtype=np.float32)
        toks = [t for t in tokenize(query) if t in self._vocab]
        if not toks:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self._bm25.get_scores(toks), dtype=np.float32)

    def search(self, query: str, n: int, subject: str | None = None,
               scores: np.ndarray | None = None) -> list[BM25Hit]:
        """Top-n documents with a positive score, best first (ties: corpus order)."""
        s = self.scores(query) if scores is None else scores
        if subject is not None:
            mask = self._masks.get(subject)
            if mask is None:
                return []
            s = s * mask
        positive = np.flatnonzero(s > 0)
        if positive.size == 0 or n <= 0:
            return []
        if positive.size > n:
            part = np.argpartition(-s[positive], n - 1)[:n]
            positive = positive[part]
        order = sorted(positive.tolist(), key=lambda i: (-float(s[i]), i))
        return [BM25Hit(index=i, score=float(s[i])) for i in order]
