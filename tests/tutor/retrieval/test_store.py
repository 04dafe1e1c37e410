"""ChromaStore on a real on-disk Chroma: writes, round-trips, deletes, and self-healing.

The store is durable storage only (searches use tutor/retrieval/dense.py); the cosine search and
subject filter it used to have are tested on the DenseIndex built from what the store returns."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tutor.retrieval.chunking import chunk_id
from tutor.retrieval.dense import DenseIndex
from tutor.retrieval.embeddings import HashEmbedder
from tutor.retrieval.store import ChromaStore
from tutor.types import Chunk


def _chunk(doc: str, i: int, text: str, subject: str = "S") -> Chunk:
    return Chunk(id=chunk_id(doc, i, text), doc_id=doc, title=doc, subject=subject, level="general",
                 section=f"Sec {i}", text=text, ordinal=i)


@pytest.fixture
def store(tmp_path: Path):
    s = ChromaStore(tmp_path / "chroma", "test_kb", HashEmbedder(32))
    yield s
    s.close()


def test_fresh_store_then_ok_on_reopen(tmp_path: Path) -> None:
    emb = HashEmbedder(32)
    with ChromaStore(tmp_path / "chroma", "test_kb", emb) as s:
        st = s.open()
        assert st.fresh and st.reason == "created" and st.count == 0
        texts = ["alpha beta", "gamma delta"]
        s.upsert([_chunk("a.md", i, t) for i, t in enumerate(texts)], emb.embed(texts))
    with ChromaStore(tmp_path / "chroma", "test_kb", emb) as s:
        st = s.open()
        assert not st.fresh and st.reason == "ok" and st.count == 2


def _query(store: ChromaStore, q: np.ndarray, n: int, subject: str | None = None) -> list:
    """What the Retriever does with the store: load everything into a DenseIndex and search it."""
    return DenseIndex.build(*store.all_chunks()).search(q, n, subject)


def test_upsert_query_delete_and_filter(store: ChromaStore) -> None:
    emb = HashEmbedder(32)
    chunks = [_chunk("a.md", 0, "chain rule derivative", "Calculus"),
              _chunk("a.md", 1, "power rule derivative", "Calculus"),
              _chunk("b.md", 0, "python list comprehension", "Python")]
    vecs = emb.embed([c.text for c in chunks])
    v0 = store.version
    store.upsert(chunks, vecs)
    assert store.version > v0 and store.count() == 3

    hits = _query(store, emb.embed(["chain rule derivative"])[0], 5)
    assert hits[0][0] == chunks[0]  # metadata round-trips into an equal Chunk
    assert hits[0][1] == pytest.approx(1.0, abs=1e-5)  # cosine similarity, not distance
    sims = [s for _, s in hits]
    assert sims == sorted(sims, reverse=True)
    expected = float(vecs[2] @ emb.embed(["chain rule derivative"])[0])
    assert dict((c.id, s) for c, s in hits)[chunks[2].id] == pytest.approx(expected, abs=1e-5)

    only_py = _query(store, emb.embed(["derivative"])[0], 5, subject="Python")
    assert [c.id for c, _ in only_py] == [chunks[2].id]
    assert _query(store, emb.embed(["x"])[0], 5, subject="Nope") == []

    all_chunks, all_emb = store.all_chunks()
    assert [c.id for c in all_chunks] == [chunks[0].id, chunks[1].id, chunks[2].id]
    assert np.allclose(all_emb, vecs, atol=1e-6)
    assert store.doc_chunk_counts() == {"a.md": 2, "b.md": 1}

    assert store.delete_doc("a.md") == 2
    assert store.count() == 1 and store.delete_doc("a.md") == 0


def test_query_sees_every_write(store: ChromaStore) -> None:
    """Every write is visible to what is read back afterwards, and bumps the version."""
    emb = HashEmbedder(32)
    q = emb.embed(["rule"])[0]
    assert _query(store, q, 10) == []
    first = [_chunk("a.md", 0, "chain rule"), _chunk("a.md", 1, "power rule")]
    store.upsert(first, emb.embed([c.text for c in first]))
    assert len(_query(store, q, 10)) == 2
    more = [_chunk("b.md", i, f"rule number {i}") for i in range(3)]
    store.upsert(more, emb.embed([c.text for c in more]))
    assert len(_query(store, q, 10)) == 5
    store.delete_doc("a.md")
    assert len(_query(store, q, 10)) == 3
    v = store.version
    store.reset()
    assert store.version > v and _query(store, q, 10) == []


def test_garbage_sqlite_is_detected_and_wiped(tmp_path: Path) -> None:
    emb = HashEmbedder(32)
    path = tmp_path / "chroma"
    with ChromaStore(path, "test_kb", emb) as s:
        s.upsert([_chunk("a.md", 0, "text")], emb.embed(["text"]))
    (path / "chroma.sqlite3").write_bytes(b"this is not a database" * 500)
    with ChromaStore(path, "test_kb", emb) as s:
        st = s.open()
        assert st.fresh and st.reason.startswith("corrupt") and s.count() == 0
        s.upsert([_chunk("a.md", 0, "text")], emb.embed(["text"]))  # usable again
        assert s.count() == 1


def test_truncated_sqlite_is_detected(tmp_path: Path) -> None:
    emb = HashEmbedder(32)
    path = tmp_path / "chroma"
    with ChromaStore(path, "test_kb", emb) as s:
        s.upsert([_chunk("a.md", i, f"text {i}") for i in range(20)], emb.embed([f"text {i}" for i in range(20)]))
    db = path / "chroma.sqlite3"
    db.write_bytes(db.read_bytes()[:4096])
    with ChromaStore(path, "test_kb", emb) as s:
        st = s.open()
        assert st.fresh and st.reason.startswith("corrupt")


def test_other_embedder_means_fresh_store(tmp_path: Path) -> None:
    path = tmp_path / "chroma"
    e32 = HashEmbedder(32)
    with ChromaStore(path, "test_kb", e32) as s:
        s.upsert([_chunk("a.md", 0, "text")], e32.embed(["text"]))
    with ChromaStore(path, "test_kb", HashEmbedder(48)) as s:
        st = s.open()
        assert st.fresh and "embedder changed" in st.reason and s.count() == 0


def test_reset_empties(store: ChromaStore) -> None:
    emb = HashEmbedder(32)
    store.upsert([_chunk("a.md", 0, "text")], emb.embed(["text"]))
    st = store.reset("test")
    assert st.fresh and store.count() == 0
