"""Hybrid search: dense (cosine) + lexical (BM25) candidates fused by reciprocal rank.

`Retriever.search` embeds the query once, takes the top `candidates` of each ranker, fuses them
with RRF (score = sum over rankers of 1 / (rrf_k + rank), Cormack et al. 2009) and returns the top k
as RetrievedChunk with the fused score, the cosine similarity of every returned chunk (also the
BM25-only ones, from the query and chunk embeddings) and its BM25 score. `covered` says whether the
best dense similarity reaches `relevance_floor`: below it the knowledge base does not cover the
question and the tutor should say so instead of citing weak hits.

The BM25 index and a copy of the chunk embeddings live in an immutable snapshot rebuilt when the
store's version changes; searches only read shared state, so any number may run at once.

Dense candidates are the exact top-n cosine similarities over the snapshot's embeddings, which it
keeps grouped by subject so a subject filter is a contiguous slice: one matrix-vector product on the
calling thread. Measured on 2 cores (bench/retrieval.py): ~0.4 ms at 10k chunks, ~5 ms at 100k,
~0.5 ms for one subject's 12.5k of 100k. Chroma's query costs ~1.7 ms at 10k and ~3 ms at 100k
unfiltered (SQLite reads around the HNSW search), but ~8 ms at 10k and ~55 ms at 100k with a `where`
subject filter (it loads the subject's ids on every call), and HNSW is approximate (recall@20 ~0.99
on synthetic 10k/100k indexes, but one build of a 100k index missed the whole true top-20 for one
question). Above _EXACT_MAX_CHUNKS chunks an unfiltered search uses Chroma's HNSW, whose cost grows
slower than linearly; store.query stays the way to search the store directly.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import numpy as np

from tutor.config import RetrievalConfig
from tutor.errors import InputError
from tutor.retrieval.bm25 import BM25Index
from tutor.retrieval.chunking import context_text
from tutor.retrieval.embeddings import Embedder
from tutor.retrieval.store import ChromaStore
from tutor.types import Chunk, RetrievalResult, RetrievedChunk

logger = logging.getLogger(__name__)

# Largest index searched exactly without a subject filter (~10 ms per query at 200k chunks on one
# core); above it, Chroma's HNSW.
_EXACT_MAX_CHUNKS = 200_000


@dataclass(frozen=True)
class _Snapshot:
    version: int
    chunks: tuple[Chunk, ...]
    index_of: dict[str, int]
    vectors: np.ndarray  # (n, dim) chunk embeddings, grouped by subject: chunk i is row row_of[i]
    row_of: np.ndarray  # (n,) chunk index -> row in vectors
    chunk_at: np.ndarray  # (n,) row in vectors -> chunk index
    subject_rows: dict[str, tuple[int, int]]  # subject -> its rows [start, stop) in vectors
    bm25: BM25Index
    subjects: tuple[str, ...]


def rrf_fuse(rankings: list[list[str]], rrf_k: int) -> dict[str, float]:
    """Reciprocal rank fusion of ranked id lists (best first): id -> sum of 1 / (rrf_k + rank)."""
    fused: dict[str, float] = {}
    for ranking in rankings:
        for rank, id_ in enumerate(ranking, start=1):
            fused[id_] = fused.get(id_, 0.0) + 1.0 / (rrf_k + rank)
    return fused


class Retriever:
    """Thread-safe hybrid search over a ChromaStore."""

    def __init__(self, store: ChromaStore, embedder: Embedder, cfg: RetrievalConfig) -> None:
        self.store = store
        self.embedder = embedder
        self.cfg = cfg
        self._snapshot: _Snapshot | None = None
        self._snap_lock = threading.Lock()

    # ------------------------------------------------------------ snapshot

    def _current(self) -> _Snapshot:
        self.store.open()
        snap = self._snapshot
        version = self.store.version
        if snap is not None and snap.version == version:
            return snap
        with self._snap_lock:
            snap = self._snapshot
            version = self.store.version
            if snap is None or snap.version != version:
                snap = self._build_snapshot(version)
                self._snapshot = snap
        return snap

    def _build_snapshot(self, version: int) -> _Snapshot:
        t0 = time.perf_counter()
        chunks, emb = self.store.all_chunks(with_embeddings=True)
        bm25 = BM25Index([context_text(c.title, c.section, c.text) for c in chunks], [c.subject for c in chunks])
        # Rows grouped by subject (stable, so corpus order within a subject) for filtered dense search.
        chunk_at = np.asarray(sorted(range(len(chunks)), key=lambda i: chunks[i].subject), dtype=np.int64)
        row_of = np.empty_like(chunk_at)
        row_of[chunk_at] = np.arange(len(chunk_at))
        subject_rows: dict[str, tuple[int, int]] = {}
        for row, i in enumerate(chunk_at.tolist()):
            start, _ = subject_rows.get(chunks[i].subject, (row, row))
            subject_rows[chunks[i].subject] = (start, row + 1)
        snap = _Snapshot(
            version=version,
            chunks=tuple(chunks),
            index_of={c.id: i for i, c in enumerate(chunks)},
            vectors=np.ascontiguousarray(emb[chunk_at], dtype=np.float32),
            row_of=row_of,
            chunk_at=chunk_at,
            subject_rows=subject_rows,
            bm25=bm25,
            subjects=tuple(sorted({c.subject for c in chunks}, key=str.lower)),
        )
        logger.info("retrieval snapshot: %d chunks, %d subjects, built in %.3fs",
                    len(chunks), len(snap.subjects), time.perf_counter() - t0)
        return snap

    def warm_up(self) -> float:
        """Open the store, build the BM25 snapshot and load the embedding model now, so the first
        learner's question does not pay for it. Returns the seconds it took."""
        t0 = time.perf_counter()
        self._current()
        self.embedder.embed(["warm up"])
        return time.perf_counter() - t0

    def refresh(self) -> None:
        """Rebuild the in-memory BM25 snapshot now (searches also do it lazily after a change)."""
        with self._snap_lock:
            self._snapshot = self._build_snapshot(self.store.version)

    # ------------------------------------------------------------ public

    def subjects(self) -> list[str]:
        """Subjects present in the index, sorted case-insensitively."""
        return list(self._current().subjects)

    def resolve_subject(self, subject: str | None) -> str | None:
        """The indexed spelling of a subject, matched case-insensitively; None for none/'all'."""
        if subject is None or not subject.strip() or subject.strip().lower() == "all":
            return None
        want = subject.strip().lower()
        for s in self._current().subjects:
            if s.lower() == want:
                return s
        return subject.strip()  # unknown: searching it finds nothing, which is the honest answer

    def _dense(self, snap: _Snapshot, q: np.ndarray, n: int, subject: str | None) -> list[tuple[Chunk, float]]:
        """Top-n chunks (of one subject, or all) by cosine similarity, best first (ties: corpus order)."""
        if subject is None and len(snap.chunks) > _EXACT_MAX_CHUNKS:
            return self.store.query(q, n)
        start, stop = (0, len(snap.chunks)) if subject is None else snap.subject_rows.get(subject, (0, 0))
        if stop <= start or n <= 0:
            return []
        # einsum, not `@`: a matrix-vector product goes to OpenBLAS, whose threads stall for a
        # scheduler tick (~8 ms) when another process keeps the cores busy; einsum stays on this thread.
        sims = np.einsum("ij,j->i", snap.vectors[start:stop], np.asarray(q, dtype=np.float32))
        top = np.argpartition(-sims, n - 1)[:n] if sims.size > n else np.arange(sims.size)
        idx = snap.chunk_at[start + top]
        order = np.lexsort((idx, -sims[top]))
        top, idx = top[order], idx[order]
        return [(snap.chunks[i], float(sims[j])) for j, i in zip(top.tolist(), idx.tolist())]

    def search(self, query: str, k: int | None = None, subject: str | None = None) -> RetrievalResult:
        t0 = time.perf_counter()
        if not query or not query.strip():
            raise InputError("Please type a question to search for.")
        k = self.cfg.top_k if k is None else int(k)
        if k < 1:
            raise InputError("The number of results must be at least 1.")
        n_cand = max(self.cfg.candidates, k)
        subject = self.resolve_subject(subject)
        snap = self._current()

        q = self.embedder.embed([query.strip()])[0]
        dense = self._dense(snap, q, n_cand, subject)
        bm25_scores = snap.bm25.scores(query)
        lexical = snap.bm25.search(query, n_cand, subject=subject, scores=bm25_scores)

        chunks: dict[str, Chunk] = {}
        sims: dict[str, float] = {}
        for chunk, sim in dense:
            chunks[chunk.id] = chunk
            sims[chunk.id] = sim
        lexical_ids: list[str] = []
        for hit in lexical:
            c = snap.chunks[hit.index]
            chunks.setdefault(c.id, c)
            lexical_ids.append(c.id)
        fused = rrf_fuse([[c.id for c, _ in dense], lexical_ids], self.cfg.rrf_k)

        def similarity(id_: str) -> float | None:
            if id_ in sims:
                return sims[id_]
            i = snap.index_of.get(id_)  # a BM25-only hit: cosine from the stored embedding
            return float(snap.vectors[snap.row_of[i]] @ q) if i is not None else None

        def bm25_of(id_: str) -> float:
            i = snap.index_of.get(id_)
            return float(bm25_scores[i]) if i is not None and i < len(bm25_scores) else 0.0

        ranked = sorted(fused, key=lambda i: (-fused[i], -(similarity(i) or -1.0), i))[:k]
        hits = tuple(
            RetrievedChunk(
                chunk=chunks[id_], score=fused[id_], dense_similarity=similarity(id_),
                bm25_score=bm25_of(id_), rank=r,
            )
            for r, id_ in enumerate(ranked, start=1)
        )
        best = max((s for _, s in dense), default=0.0)
        covered = bool(dense) and best >= self.cfg.relevance_floor
        return RetrievalResult(
            query=query, hits=hits, covered=covered, best_similarity=float(best),
            latency_s=time.perf_counter() - t0, subject=subject,
        )
