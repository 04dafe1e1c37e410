"""DenseIndex: exact cosine top-n, subject slices, tie order, immutability."""
from __future__ import annotations

import numpy as np
import pytest

from tutor.retrieval.dense import DenseIndex
from tutor.types import Chunk


def _chunk(i: int, subject: str) -> Chunk:
    return Chunk(id=f"c{i}", doc_id=f"d{i}.md", title="t", subject=subject, level="general",
                 section="s", text=f"text {i}", ordinal=0)


def _unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture
def index() -> tuple[DenseIndex, list[Chunk], np.ndarray]:
    rng = np.random.default_rng(0)
    subjects = ["B", "A", "C", "A", "B", "A", "C", "B"]  # interleaved: rows get regrouped by subject
    chunks = [_chunk(i, s) for i, s in enumerate(subjects)]
    emb = _unit(rng.normal(size=(len(chunks), 16)))
    return DenseIndex.build(chunks, emb), chunks, emb


def test_search_is_exact_with_and_without_subject(index) -> None:
    dense, chunks, emb = index
    q = emb[3] + 0.1 * emb[0]
    for subject in (None, "A", "B", "C"):
        want = sorted((i for i, c in enumerate(chunks) if subject in (None, c.subject)), key=lambda i: -(emb[i] @ q))
        got = dense.search(q, 3, subject)
        assert [c.id for c, _ in got] == [chunks[i].id for i in want[:3]]
        assert [s for _, s in got] == pytest.approx([float(emb[i] @ q) for i in want[:3]], abs=1e-5)
    assert len(dense.search(q, 100)) == len(chunks)
    assert dense.search(q, 5, "Z") == [] and dense.search(q, 0) == []
    assert dense.similarity(5, q) == pytest.approx(float(emb[5] @ q), abs=1e-5)


def test_ties_break_by_corpus_order() -> None:
    chunks = [_chunk(i, s) for i, s in enumerate(["B", "A", "B", "A"])]
    emb = _unit(np.ones((4, 8)))
    dense = DenseIndex.build(chunks, emb)
    assert [c.id for c, _ in dense.search(emb[0], 4)] == ["c0", "c1", "c2", "c3"]
    assert [c.id for c, _ in dense.search(emb[0], 2, "A")] == ["c1", "c3"]


def test_index_is_immutable_and_checks_shapes(index) -> None:
    dense, chunks, emb = index
    with pytest.raises(ValueError):
        dense.vectors[0, 0] = 1.0  # copy-on-write: readers share the matrix without a lock
    emb[:] = 0.0  # the caller's array is not the index's
    assert dense.search(np.ones(16, dtype=np.float32), 1)[0][1] != 0.0
    with pytest.raises(ValueError):
        DenseIndex.build(chunks, emb[:3])
    empty = DenseIndex.build([], np.zeros((0, 16), dtype=np.float32))
    assert len(empty) == 0 and empty.search(np.ones(16), 3) == []
