"""Hybrid search: dense (cosine) + lexical (BM25) candidates fused by reciprocal rank.

`Retriever.search` embeds the query once, takes the top `candidates` of each ranker, fuses them
with RRF (score = sum over rankers of 1 / (rrf_k + rank), Cormack et al. 2009) and returns the top k
as RetrievedChunk with the fused score, the cosine similarity of every returned chunk (also the
BM25-only ones, from the query and chunk embeddings) and its BM25 score. `covered` says whether the
best dense similarity reaches `relevance_floor` (related material exists: what quiz, study-plan and
interview reading need); `coverage` carries the signals the tutor's stricter "does the course answer
this question" decision uses (tutor/retrieval/coverage.py decide, applied in Tutor._plan).

Dense candidates come from the one dense index (tutor/retrieval/dense.py: exact, in memory; why
not Chroma's query is written there, with the numbers). The BM25 index and the dense index live in
an immutable snapshot, rebuilt from the store when its version changes and swapped in by reference
(copy-on-write): searches only read shared state, so any number may run at once without a lock.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from tutor.config import RetrievalConfig
from tutor.errors import InputError
from tutor.retrieval.bm25 import BM25Index
from tutor.retrieval.chunking import context_text
from tutor.retrieval.coverage import coverage_signals
from tutor.retrieval.dense import DenseIndex
from tutor.retrieval.embeddings import Embedder
from tutor.retrieval.store import ChromaStore
from tutor.types import Chunk, RetrievalResult, RetrievedChunk

logger = logging.getLogger(__name__)

AGREE_TOP = 3  # "both rankers agree": the best dense chunk is among this many best BM25 chunks (= top_k)


@dataclass(frozen=True)
class _Snapshot:
    version: int
    chunks: tuple[Chunk, ...]
    index_of: dict[str, int]
    dense: DenseIndex
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
        snap = _Snapshot(
            version=version,
            chunks=tuple(chunks),
            index_of={c.id: i for i, c in enumerate(chunks)},
            dense=DenseIndex.build(chunks, emb),
            bm25=bm25,
            subjects=tuple(sorted({c.subject for c in chunks}, key=str.lower)),
        )
        logger.info("retrieval snapshot: %d chunks, %d subjects, built in %.3fs",
                    len(chunks), len(snap.subjects), time.perf_counter() - t0)
        return snap

    def warm_up(self) -> float:
        """Open the store, build the snapshot (BM25 and dense index) and load the embedding model now,
        so the first learner's question does not pay for it. Returns the seconds it took."""
        t0 = time.perf_counter()
        self._current()
        self.embedder.embed(["warm up"])
        return time.perf_counter() - t0

    def refresh(self) -> None:
        """Rebuild the in-memory snapshot now (searches also do it lazily after a change)."""
        with self._snap_lock:
            self._snapshot = self._build_snapshot(self.store.version)

    # ------------------------------------------------------------ public

    def subjects(self) -> list[str]:
        """Subjects present in the index, sorted case-insensitively."""
        return list(self._current().subjects)

    def idf(self, token: str) -> float:
        """The knowledge base's inverse document frequency of a tokenize()d word (tutor/retrieval/bm25.py)."""
        return self._current().bm25.idf(token)

    def resolve_subject(self, subject: str | None) -> str | None:
        """The indexed spelling of a subject, matched case-insensitively; None for none/'all'."""
        if subject is None or not subject.strip() or subject.strip().lower() == "all":
            return None
        want = subject.strip().lower()
        for s in self._current().subjects:
            if s.lower() == want:
                return s
        return subject.strip()  # unknown: searching it finds nothing, which is the honest answer

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
        dense = snap.dense.search(q, n_cand, subject)
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
            return snap.dense.similarity(i, q) if i is not None else None

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
        signals = coverage_signals(
            query, best, [context_text(h.chunk.title, h.chunk.section, h.chunk.text) for h in hits], snap.bm25,
            snap.index_of.get(dense[0][0].id) if dense else None, [h.index for h in lexical[:AGREE_TOP]],
        )
        covered = bool(dense) and best >= self.cfg.relevance_floor
        return RetrievalResult(
            query=query, hits=hits, covered=covered, best_similarity=float(best),
            latency_s=time.perf_counter() - t0, subject=subject, coverage=signals,
        )
