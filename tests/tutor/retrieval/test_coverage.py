"""The coverage decision (tutor/retrieval/coverage.py) over real knowledge-base text."""
from __future__ import annotations

from pathlib import Path

import pytest

from tutor.retrieval.bm25 import BM25Index
from tutor.retrieval.coverage import content_words, decide, term_support
from tutor.types import CoverageSignals

KB_DIR = Path(__file__).resolve().parents[3] / "knowledge_base"


@pytest.fixture(scope="module")
def course() -> tuple[BM25Index, dict[str, str]]:
    texts = {p.relative_to(KB_DIR).as_posix(): p.read_text(encoding="utf-8") for p in sorted(KB_DIR.rglob("*.md"))}
    return BM25Index(list(texts.values())), texts


# (question, the document retrieval would return, expected: supported >= 0.65, a word that must be reported missing)
SUPPORT = [
    ("How do I use the chain rule when one function is inside another?", "calculus/derivatives.md", True, None),
    ("whats the derivitive of the sigmoid function", "calculus/derivatives.md", True, None),  # typo folded
    ("what's the difference between a list and a tuple in python?", "python/python-data-structures-and-comprehensions.md", True, None),
    ("what is Q-learning in reinforcement learning?", "machine-learning/supervised-learning-linear-regression.md",
     False, "reinforcement"),
    ("how does the kernel trick let an SVM learn nonlinear boundaries",
     "machine-learning/classification-logistic-regression-evaluation.md", False, "svm"),
    ("how does photosynthesis work in plants?", "deep-learning/training-deep-networks.md", False, "photosynthesis"),
]


@pytest.mark.parametrize("question,doc,supported,missing", SUPPORT)
def test_term_support_table(course, question, doc, supported, missing):
    bm25, texts = course
    assert doc in texts, f"{doc} is not in the knowledge base"
    share, absent = term_support(question, [texts[doc]], bm25)
    assert (share >= 0.65) == supported, (share, absent)
    if missing:
        assert missing in absent and absent[0] != "what"


def test_content_words_drop_framing_and_fold_typos(course):
    bm25, _ = course
    assert content_words("what's the difference between == and is, explain like I'm five", bm25.terms) == ["five"]
    assert "derivative" in content_words("derivitive of x squared", bm25.terms)
    assert content_words("?!?", bm25.terms) == []
    assert term_support("what is it?", ["anything"], bm25) == (1.0, ())  # no topic words: dense score decides


def test_idf_ranks_unknown_words_highest(course):
    bm25, _ = course
    assert bm25.idf("photosynthesis") > bm25.idf("eigenvalue") > bm25.idf("function")


@pytest.mark.parametrize("sim,support,agree,covered", [
    (0.30, 1.00, True, False),   # below the dense floor: never covered
    (0.45, 0.70, False, True),   # floor cleared, words found
    (0.45, 0.50, False, False),  # floor cleared, distinctive words missing (an adjacent topic)
    (0.45, 0.40, True, True),    # both rankers agree: half the word bar
    (0.65, 0.35, False, True),   # a close paraphrase: half the word bar
    (0.65, 0.20, False, False),
])
def test_decide_table(sim, support, agree, covered):
    s = CoverageSignals(sim, support, (), agree)
    assert decide(s, relevance_floor=0.33, min_term_support=0.65, strong_similarity=0.6) == covered
