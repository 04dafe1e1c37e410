"""Retrieval: documents -> chunks -> embeddings -> Chroma + BM25 -> hybrid search.

`build_retrieval(cfg)` is the one place that wires the pieces; the service and the CLI both use it.
Nothing heavy happens at construction: the store opens and the embedding model loads on first use.
"""
from __future__ import annotations

from tutor.config import AppConfig
from tutor.retrieval.documents import Document, load_document
from tutor.retrieval.embeddings import Embedder, HashEmbedder, SentenceTransformerEmbedder, make_embedder
from tutor.retrieval.hybrid import Retriever
from tutor.retrieval.ingest import Ingestor, ensure_index
from tutor.retrieval.store import ChromaStore

__all__ = [
    "ChromaStore", "Document", "Embedder", "HashEmbedder", "Ingestor", "Retriever",
    "SentenceTransformerEmbedder", "build_retrieval", "ensure_index", "load_document", "make_embedder",
]


def build_retrieval(cfg: AppConfig, embedder: Embedder | None = None) -> tuple[Retriever, Ingestor]:
    """The retriever and ingestor for a config, sharing one store and one embedder.

    `embedder` overrides cfg.retrieval.embedding_model (tests pass a HashEmbedder)."""
    r = cfg.retrieval
    embedder = embedder or make_embedder(r.embedding_model)
    store = ChromaStore(cfg.paths.chroma_dir, r.collection, embedder)
    max_bytes = int(cfg.server.max_upload_mb * 1024 * 1024)
    ingestor = Ingestor(cfg.paths.knowledge_base_dir, store, embedder, r, max_upload_bytes=max_bytes)
    return Retriever(store, embedder, r), ingestor
