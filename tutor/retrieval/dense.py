"""The one dense index: exact cosine top-n over an immutable in-memory matrix of chunk embeddings.

Decision (issue 12, "one dense index"): searches use this exact in-memory index at every size;
Chroma (tutor/retrieval/store.py) is only the durable store the index is loaded from, and is never
queried. Measured with `python -m bench.retrieval` (`dense_compare`: the dense search alone, same
query embeddings, the modes interleaved query by query; 2 shared cores):

DECISION_NUMBERS

Copy-on-write: a DenseIndex is never changed after `build`; after a write to the store the Retriever
builds a new one and swaps its reference, so any number of searches read it at once without a lock.
Rows are grouped by subject so a subject filter is one contiguous slice: one matrix-vector product.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from tutor.types import Chunk


@dataclass(frozen=True)
class DenseIndex:
    chunks: tuple[Chunk, ...]  # corpus order (the store's stable order)
    vectors: np.ndarray  # (n, dim) float32, read-only; rows grouped by subject: chunk i is row row_of[i]
    row_of: np.ndarray  # (n,) chunk index -> row in vectors
    chunk_at: np.ndarray  # (n,) row in vectors -> chunk index
    subject_rows: dict[str, tuple[int, int]]  # subject -> its rows [start, stop) in vectors

    @classmethod
    def build(cls, chunks: Sequence[Chunk], embeddings: np.ndarray) -> "DenseIndex":
        """Index `chunks` with their (unit-norm) embeddings, row i for chunk i."""
        emb = np.asarray(embeddings, dtype=np.float32)
        if emb.ndim != 2 or len(emb) != len(chunks):
            raise ValueError(f"{len(chunks)} chunks but embeddings of shape {emb.shape}")
        # Stable sort: corpus order within a subject, so ties break by corpus order.
        chunk_at = np.asarray(sorted(range(len(chunks)), key=lambda i: chunks[i].subject), dtype=np.int64)
        row_of = np.empty_like(chunk_at)
        row_of[chunk_at] = np.arange(len(chunk_at))
        subject_rows: dict[str, tuple[int, int]] = {}
        for row, i in enumerate(chunk_at.tolist()):
            start, _ = subject_rows.get(chunks[i].subject, (row, row))
            subject_rows[chunks[i].subject] = (start, row + 1)
        vectors = np.ascontiguousarray(emb[chunk_at])
        vectors.flags.writeable = False
        return cls(tuple(chunks), vectors, row_of, chunk_at, subject_rows)

    def __len__(self) -> int:
        return len(self.chunks)

    def search(self, q: np.ndarray, n: int, subject: str | None = None) -> list[tuple[Chunk, float]]:
        """Top-n chunks (of one subject, or all) by cosine similarity, best first (ties: corpus order)."""
        start, stop = (0, len(self.chunks)) if subject is None else self.subject_rows.get(subject, (0, 0))
        if stop <= start or n <= 0:
            return []
        # einsum, not `@`: a matrix-vector product goes to OpenBLAS, whose threads stall for a
        # scheduler tick (~8 ms) when another process keeps the cores busy; einsum stays on this thread.
        sims = np.einsum("ij,j->i", self.vectors[start:stop], np.asarray(q, dtype=np.float32))
        top = np.argpartition(-sims, n - 1)[:n] if sims.size > n else np.arange(sims.size)
        idx = self.chunk_at[start + top]
        order = np.lexsort((idx, -sims[top]))
        top, idx = top[order], idx[order]
        return [(self.chunks[i], float(sims[j])) for j, i in zip(top.tolist(), idx.tolist())]

    def similarity(self, i: int, q: np.ndarray) -> float:
        """Cosine similarity of chunk i (corpus order) to the query embedding."""
        return float(self.vectors[self.row_of[i]] @ np.asarray(q, dtype=np.float32))
