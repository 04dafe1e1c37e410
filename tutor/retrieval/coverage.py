"""The coverage decision: does the knowledge base answer this question, or should the tutor say it does not?

One dense score cannot tell "a course topic asked oddly" from "a neighbouring topic the course never
covers": "what is Q-learning in reinforcement learning?" sits as close to the machine-learning chunks
(cosine ~0.5) as many real course questions do. What separates them is whether the question's own
distinctive words occur in what was retrieved: "reinforcement" and "Q-learning" occur nowhere in the
course. So the decision combines
- the best dense cosine similarity (the old relevance floor, still a hard lower bound),
- term support: the IDF-weighted share of the question's words found in the retrieved chunks
  (a word no chunk contains weighs most), and
- agreement: whether the best dense chunk is also a top BM25 chunk (two rankers pointing at one place).
The thresholds are calibrated on the development set by bench/coverage_calibration.py (even items fit,
odd items reported), written to bench/results/coverage_calibration.json; tutor/config.py keeps the values.
"""
from __future__ import annotations

import difflib
from typing import Sequence

from tutor.retrieval.bm25 import STOPWORDS, BM25Index, tokenize
from tutor.types import CoverageSignals


def decide(s: CoverageSignals, relevance_floor: float, min_term_support: float, strong_similarity: float) -> bool:
    """Covered when dense similarity clears the floor and the question's distinctive words are found
    in the retrieved text; a very close dense match (a paraphrase in other words) or both rankers
    agreeing on one chunk halves the bar on words."""
    if s.best_similarity < relevance_floor:
        return False
    lenient = s.best_similarity >= strong_similarity or s.agreement
    return s.term_support >= (min_term_support / 2 if lenient else min_term_support)


# Words that say what kind of answer is wanted, not what it is about ("what's the difference between
# == and is", "explain overfitting like I'm five"): a course chunk need not contain them.
FRAMING = frozenset("""
actually answer basically case choose different difference example exactly explain good help idea kind like
mean meaning need pls please problem really simple simply tell thing understand use used using way whats
work works
""".split())
TYPO_CUTOFF = 0.85  # difflib ratio: one wrong letter in a 7+ letter word ("derivitive" -> "derivative")


def content_words(question: str, known: frozenset[str]) -> list[str]:
    """The question's topic words: tokenized, framing words dropped, a misspelt word (not in the course)
    replaced by the course word it is closest to, so a typo is not taken for an unknown topic."""
    out = []
    for w in tokenize(question):
        # "what's" folds to "what" and "i'm" starts with "i": stopwords once the ending is off
        if w in FRAMING or w in STOPWORDS or w.replace("’", "'").split("'")[0] in STOPWORDS:
            continue
        if w not in known and len(w) >= 7:
            close = difflib.get_close_matches(w, known, n=1, cutoff=TYPO_CUTOFF)
            w = close[0] if close else w
        out.append(w)
    return list(dict.fromkeys(out))


def term_support(question: str, texts: Sequence[str], bm25: BM25Index) -> tuple[float, tuple[str, ...]]:
    """(IDF-weighted share of the question's distinct words found in `texts`, the missing words).
    A question with no content words (only stopwords) counts as fully supported: the dense score decides."""
    words = content_words(question, bm25.terms)
    if not words:
        return 1.0, ()
    present: set[str] = set()
    for t in texts:
        present.update(tokenize(t))
    weights = {w: bm25.idf(w) for w in words}
    total = sum(weights.values())
    found = sum(v for w, v in weights.items() if w in present)
    missing = tuple(sorted((w for w in words if w not in present), key=lambda w: -weights[w]))
    return (found / total if total > 0 else 1.0), missing


def coverage_signals(question: str, best_similarity: float, hit_texts: Sequence[str], bm25: BM25Index,
                     best_dense_index: int | None, bm25_top: Sequence[int]) -> CoverageSignals:
    share, missing = term_support(question, hit_texts, bm25)
    agree = best_dense_index is not None and best_dense_index in set(bm25_top)
    return CoverageSignals(float(best_similarity), share, missing, agree)
