"""BM25 tokenization and the subject mask."""
from __future__ import annotations

from tutor.retrieval.bm25 import BM25Index, tokenize


def test_tokenize_lowercases_drops_stopwords_and_folds_plurals() -> None:
    assert tokenize("What is THE derivative of the Sigmoid's outputs?") == ["derivative", "sigmoid", "output"]
    assert tokenize("classes class boxes") == ["class", "class", "box"]
    assert tokenize("a b 3 x2") == ["3", "x2"]


def test_search_ranks_and_filters() -> None:
    texts = ["chain rule derivative chain", "derivative of a power", "python list comprehension", "the the the"]
    ix = BM25Index(texts, ["calc", "calc", "py", "py"])
    hits = ix.search("chain rule", 10)
    assert [h.index for h in hits] == [0] and hits[0].score > 0
    assert [h.index for h in ix.search("derivatives", 10)] in ([0, 1], [1, 0])
    assert ix.search("derivative", 10, subject="py") == []
    assert [h.index for h in ix.search("list", 10, subject="py")] == [2]
    assert ix.search("list", 10, subject="unknown") == []
    assert ix.search("zebra", 10) == [] and ix.search("the", 10) == []
    assert len(ix.search("derivative", 1)) == 1


def test_empty_corpus() -> None:
    ix = BM25Index([], [])
    assert ix.search("anything", 5) == [] and ix.scores("x").shape == (0,)
