"""Hybrid search: RRF fusion, similarities, relevance floor, subject filter, concurrency."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from tutor.errors import InputError
from tutor.retrieval.bm25 import BM25Index
from tutor.retrieval.chunking import context_text
from tutor.retrieval.hybrid import Retriever, rrf_fuse

QUERIES = ["chain rule derivative", "list comprehension", "variance mean", "power rule", "probability event"]


def exact_dense(store, q: np.ndarray, n: int, subject: str | None = None) -> list[tuple[object, float]]:
    """Brute-force reference: every stored chunk's cosine, best first, ties in corpus order."""
    chunks, emb = store.all_chunks()
    sims = emb @ q
    order = sorted((i for i, c in enumerate(chunks) if subject is None or c.subject == subject),
                   key=lambda i: (-sims[i], i))
    return [(chunks[i], float(sims[i])) for i in order[:n]]


@pytest.fixture
def ready(stack):
    retriever, ingestor, store = stack
    ingestor.run()
    return retriever, ingestor, store


def test_rrf_fuse_by_hand() -> None:
    fused = rrf_fuse([["a", "b", "c"], ["c", "a"]], rrf_k=60)
    assert fused["a"] == pytest.approx(1 / 61 + 1 / 62)
    assert fused["b"] == pytest.approx(1 / 62)
    assert fused["c"] == pytest.approx(1 / 63 + 1 / 61)
    assert rrf_fuse([[], []], 60) == {}


def test_search_fuses_dense_and_bm25_ranks(ready, embedder, rcfg) -> None:
    retriever, _, store = ready
    chunks, _ = store.all_chunks()
    bm25 = BM25Index([context_text(c.title, c.section, c.text) for c in chunks], [c.subject for c in chunks])
    for query in QUERIES:
        res = retriever.search(query, k=5)
        q = embedder.embed([query])[0]
        dense_ids = [c.id for c, _ in exact_dense(store, q, rcfg.candidates)]
        bm25_ids = [chunks[h.index].id for h in bm25.search(query, rcfg.candidates)]
        expected = {}
        for ranking in (dense_ids, bm25_ids):
            for r, id_ in enumerate(ranking, 1):
                expected[id_] = expected.get(id_, 0.0) + 1 / (rcfg.rrf_k + r)
        top = sorted(expected.values(), reverse=True)[:5]
        assert [h.score for h in res.hits] == pytest.approx(top)
        for h in res.hits:
            assert h.score == pytest.approx(expected[h.chunk.id])
        assert [h.rank for h in res.hits] == list(range(1, len(res.hits) + 1))


def test_every_hit_has_cosine_and_bm25(ready, embedder) -> None:
    retriever, _, store = ready
    chunks, emb = store.all_chunks()
    by_id = {c.id: i for i, c in enumerate(chunks)}
    bm25 = BM25Index([context_text(c.title, c.section, c.text) for c in chunks], [c.subject for c in chunks])
    for query in QUERIES:
        res = retriever.search(query, k=10)
        q = embedder.embed([query])[0]
        scores = bm25.scores(query)
        for h in res.hits:
            i = by_id[h.chunk.id]
            assert h.dense_similarity == pytest.approx(float(emb[i] @ q), abs=1e-5)
            assert h.bm25_score == pytest.approx(float(scores[i]), abs=1e-5)
        assert res.best_similarity == pytest.approx(max(float(e @ q) for e in emb), abs=1e-5)
        assert res.latency_s > 0


def test_relevance_floor_sets_covered(ready, embedder, rcfg) -> None:
    retriever, _, store = ready
    res = retriever.search("chain rule derivative")
    assert res.hits and res.covered == (res.best_similarity >= rcfg.relevance_floor)
    strict = Retriever(store, embedder, rcfg.replace(relevance_floor=0.999))
    res = strict.search("chain rule derivative")
    assert res.hits and not res.covered  # hits are still returned; the caller decides what to do
    lax = Retriever(store, embedder, rcfg.replace(relevance_floor=-1.0))
    assert lax.search("zebra xylophone").covered


def test_subject_filter(ready) -> None:
    retriever, _, _ = ready
    assert retriever.subjects() == ["Calculus", "Python", "Statistics"]
    res = retriever.search("rule list variance", k=10, subject="Python")
    assert res.hits and {h.chunk.subject for h in res.hits} == {"Python"}
    assert res.subject == "Python"
    assert retriever.search("list", subject="python").subject == "Python"  # case-insensitive
    assert retriever.search("list", subject="all").subject is None
    unknown = retriever.search("list", subject="Astronomy")
    assert unknown.hits == () and not unknown.covered


@pytest.mark.parametrize("subject", [None, "Calculus", "Python", "Statistics"])
def test_dense_index_matches_brute_force(ready, embedder, subject) -> None:
    """Dense candidates come from the snapshot's DenseIndex: exactly the brute-force top-n over the
    stored embeddings, with and without a subject filter."""
    retriever, _, store = ready
    dense = retriever._current().dense
    for query in QUERIES:
        q = embedder.embed([query])[0]
        for n in (1, 3, 50):
            ours = dense.search(q, n, subject)
            ref = exact_dense(store, q, n, subject)
            assert [s for _, s in ours] == pytest.approx([s for _, s in ref], abs=1e-5)
            assert [s for _, s in ours] == sorted((s for _, s in ours), reverse=True)
            cut = ref[-1][1] + 1e-4 if ref else 0.0
            assert {c.id for c, s in ours if s > cut} == {c.id for c, s in ref if s > cut}
            assert all(c.subject == subject for c, _ in ours) or subject is None
    assert dense.search(q, 5, "Astronomy") == []


def test_searches_never_query_chroma(ready, monkeypatch) -> None:
    """One dense index: after the snapshot is built, searches (filtered or not) read only memory."""
    import chromadb.api.models.Collection as chroma_collection

    retriever, _, store = ready
    expected = {q: [h.chunk.id for h in retriever.search(q, k=5).hits] for q in QUERIES}

    def no_query(*a, **kw):
        raise AssertionError("a search asked Chroma")

    monkeypatch.setattr(chroma_collection.Collection, "query", no_query)
    monkeypatch.setattr(store, "all_chunks", no_query)
    for q in QUERIES:
        assert [h.chunk.id for h in retriever.search(q, k=5).hits] == expected[q]
    assert retriever.search("list", subject="Python").hits


def test_empty_index_and_bad_input(stack) -> None:
    retriever, _, _ = stack
    res = retriever.search("anything")
    assert res.hits == () and not res.covered and retriever.subjects() == []
    with pytest.raises(InputError):
        retriever.search("   ")
    with pytest.raises(InputError):
        retriever.search("x", k=0)


def test_snapshot_follows_store_changes(ready, kb) -> None:
    retriever, ingestor, _ = ready
    assert not any("lambda" in h.chunk.text for h in retriever.search("lambda functions", k=10).hits)
    (kb / "python" / "lambda.md").write_text(
        "---\ntitle: Lambdas\nsubject: Python\n---\nA lambda creates a small anonymous function.\n")
    ingestor.run()
    hits = retriever.search("lambda anonymous", k=3).hits
    assert hits[0].chunk.doc_id == "python/lambda.md"


def test_concurrent_searches_match_sequential(ready) -> None:
    retriever, _, _ = ready
    expected = {q: [h.chunk.id for h in retriever.search(q, k=5).hits] for q in QUERIES}

    def work(i: int) -> tuple[str, list[str]]:
        q = QUERIES[i % len(QUERIES)]
        return q, [h.chunk.id for h in retriever.search(q, k=5).hits]

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(work, range(80)))
    for q, ids in results:
        assert ids == expected[q]


def test_concurrent_searches_during_ingest(ready, kb) -> None:
    retriever, ingestor, _ = ready
    errors: list[BaseException] = []

    def searcher() -> None:
        try:
            for _ in range(15):
                assert retriever.search("derivative rule", k=3).hits
        except BaseException as e:  # noqa: BLE001 - collected and re-raised below
            errors.append(e)

    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = [pool.submit(searcher) for _ in range(3)]
        for i in range(3):
            (kb / "calculus" / f"extra{i}.md").write_text(f"# Extra {i}\n\nThe quotient rule, part {i}.\n")
            ingestor.run()
        for f in futures:
            f.result()
    assert not errors
    assert np.isfinite(retriever.search("quotient rule").best_similarity)


def test_warm_up(ready, embedder) -> None:
    retriever, _, _ = ready
    embedder.reset_counts()
    assert retriever.warm_up() >= 0 and embedder.calls == 1
