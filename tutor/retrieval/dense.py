"""The one dense index: exact cosine top-n over an immutable in-memory matrix of chunk embeddings.

Decision (issue 12, "one dense index"): searches use this exact in-memory index at every size;
Chroma (tutor/retrieval/store.py) is only the durable store the index is loaded from, and is never
queried. Measured with `python -m bench.retrieval` (`dense_compare`: the dense search alone, same
query embeddings, the modes interleaved query by query; 2 shared cores):

  top-20, p50/p95 ms       in memory, all | in memory, subject | Chroma, all | Chroma, subject
  10k chunks                    2.3 / 6.5  |        0.4 / 4.5   | 12.9 / 47.6 |   31.2 / 92.1
  100k chunks                  45.7 / 80.8 |        6.3 / 18.3  | 18.9 / 38.9 |  284.9 / 598.5
  (load average 11-15 on the 2 cores while measured: every number is inflated, Chroma's recall@20
  against the exact top-20 was 0.9975 unfiltered and 0.999-1.0 filtered, minimum 0.95.)
  The run before, on a quiet machine: in memory 0.7 ms at 10k and 5.9 ms (p95 7.1) at 100k unfiltered,
  0.9 ms filtered at 100k; Chroma ~1.7 / ~3 ms unfiltered and ~8 / ~55 ms with a subject filter.

Chroma's filtered query loads the subject's ids from SQLite on every call, so at 100k it alone breaks
the 50 ms retrieval target, and subject filters are common (questions and quizzes take the
learner's subject). Unfiltered, Chroma's HNSW is faster than the exact scan at 100k under load (the
scan reads the whole 150 MB matrix per query), but it is approximate, and a second path by size is
what this module replaces. So one exact path; if unfiltered search at 100k+ becomes the bottleneck, halve the
matrix (float16) or add an ANN index over this matrix, not a second store.

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
