"""The durable store of chunks and their embeddings: one Chroma collection (cosine space) on disk.

Owns the Chroma PersistentClient at PathsConfig.chroma_dir and its health: on first use the
collection is opened and probed; a missing folder, an unreadable/corrupt database, or a collection
built with another embedder (name or dimension) is deleted and recreated empty, and `open()`
reports that a full rebuild is needed (the Ingestor then sets IngestReport.rebuilt). Embeddings are
always passed in explicitly: Chroma's default embedding function would download a model.

Storage only: searches never query Chroma. The Retriever loads every chunk and embedding from here
into its in-memory snapshot (the one dense index, tutor/retrieval/dense.py, which says why, with the
measurements) and rebuilds it when `version` changes; `version` goes up on every write.

Concurrency: one re-entrant lock serializes every use of the Chroma client (open, writes, reads,
reset, close), so a reset or close never pulls the collection from under a reader. Only ingestion and
snapshot rebuilds come here, never a search, so there is no read concurrency worth a read-write lock.
"""
from __future__ import annotations

import logging
import shutil
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from tutor.errors import RetrievalError
from tutor.retrieval.embeddings import Embedder
from tutor.types import Chunk

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1  # of the chunk metadata we write; a different one means rebuild
_GET_PAGE = 2000  # rows per Chroma get() page (keeps SQLite variable counts small)
_WRITE_BATCH = 1000


@dataclass(frozen=True)
class StoreStatus:
    fresh: bool  # the collection was created empty just now: everything must be (re)ingested
    reason: str  # why: "created", "missing", "corrupt: ...", "embedder changed: ..." or "ok"
    count: int


def _is_fatal(e: BaseException) -> bool:
    return isinstance(e, (KeyboardInterrupt, SystemExit, GeneratorExit, MemoryError))


def _chunk_metadata(c: Chunk) -> dict[str, Any]:
    return {
        "doc_id": c.doc_id, "title": c.title, "subject": c.subject, "level": c.level,
        "section": c.section, "ordinal": int(c.ordinal),
    }


def _chunk_from(id_: str, text: str | None, meta: dict[str, Any] | None) -> Chunk:
    meta = meta or {}
    return Chunk(
        id=id_, doc_id=str(meta.get("doc_id", "")), title=str(meta.get("title", "")),
        subject=str(meta.get("subject", "")), level=str(meta.get("level", "")),
        section=str(meta.get("section", "")), text=text or "", ordinal=int(meta.get("ordinal", 0)),
    )


class ChromaStore:
    """Chunks and their embeddings in a Chroma collection on disk, bound to one embedder's space."""

    def __init__(self, path: str | Path, collection: str, embedder: Embedder) -> None:
        self.path = Path(path)
        self.collection_name = collection
        self._embedder = embedder
        self._client: Any = None
        self._col: Any = None
        self._status: StoreStatus | None = None
        self._lock = threading.RLock()  # re-entrant: mark_built() counts while holding it
        self._version = 0

    # ------------------------------------------------------------ lifecycle

    @property
    def version(self) -> int:
        """Goes up on every change; compare to know whether a derived index is stale."""
        return self._version

    @property
    def embedder_name(self) -> str:
        return self._embedder.name

    def open(self) -> StoreStatus:
        """Open (once) and health-check the collection; recreate it if missing, corrupt or foreign."""
        if self._status is not None:
            return self._status
        with self._lock:
            if self._status is None:
                self._status = self._open_checked()
                logger.info("vector store %s: %s (%d chunks)", self.path, self._status.reason, self._status.count)
        return self._status

    def _expected_meta(self) -> dict[str, Any]:
        return {"embedder": self._embedder.name, "dim": int(self._embedder.dim), "schema": SCHEMA_VERSION}

    def _open_checked(self) -> StoreStatus:
        existed = (self.path / "chroma.sqlite3").is_file()
        if self.path.exists() and not existed and any(self.path.iterdir()):
            self._wipe("a folder without chroma.sqlite3")
            return self._create("missing")
        if not existed:
            return self._create("created")
        try:
            self._connect()
            meta = dict(self._col.metadata or {})
            expected = self._expected_meta()
            diff = {k: (meta.get(k), v) for k, v in expected.items() if meta.get(k) != v}
            if diff:
                reason = "embedder changed: " + ", ".join(f"{k} {a!r} -> {b!r}" for k, (a, b) in diff.items())
                self._wipe(reason)
                return self._create(reason)
            count = self._probe()
            return StoreStatus(fresh=False, reason="ok", count=count)
        except BaseException as e:  # noqa: BLE001 - Rust panics (pyo3 PanicException) are BaseException
            if _is_fatal(e):
                raise
            reason = f"corrupt: {type(e).__name__}: {str(e)[:200]}"
            logger.warning("vector store at %s is unusable (%s); deleting it for a rebuild", self.path, reason)
            self._wipe(reason)
            return self._create(reason)

    def _connect(self) -> None:
        import chromadb
        from chromadb.config import Settings

        self.path.mkdir(parents=True, exist_ok=True)
        self._client = chromadb.PersistentClient(
            path=str(self.path), settings=Settings(anonymized_telemetry=False, allow_reset=False)
        )
        self._col = self._client.get_or_create_collection(
            name=self.collection_name,
            configuration={"hnsw": {"space": "cosine"}},
            metadata=self._expected_meta(),
            embedding_function=None,  # never Chroma's default: it downloads a model
        )

    def _probe(self) -> int:
        """Touch the SQLite tables and the HNSW index, so a damaged store fails here, not mid-search."""
        count = int(self._col.count())
        if count:
            got = self._col.get(limit=1, include=["embeddings", "metadatas", "documents"])
            emb = np.asarray(got["embeddings"], dtype=np.float32)
            if emb.shape != (1, self._embedder.dim):
                raise RetrievalError(f"stored embedding has shape {emb.shape}")
            self._col.query(query_embeddings=emb, n_results=1, include=["distances"])
        return count

    def _create(self, reason: str) -> StoreStatus:
        try:
            self._connect()
            return StoreStatus(fresh=True, reason=reason, count=int(self._col.count()))
        except BaseException as e:  # noqa: BLE001
            if _is_fatal(e):
                raise
            raise RetrievalError(f"Could not create the vector store at {self.path}: {e}") from e

    def _release_client(self) -> None:
        client, self._client, self._col = self._client, None, None
        if client is not None:
            try:
                client.close()
            except BaseException as e:  # noqa: BLE001
                if _is_fatal(e):
                    raise
                logger.debug("closing chroma client failed: %s", e)
        # Chroma caches one System per path for the whole process; a System still cached for a
        # deleted folder would keep writing to the unlinked files. Drop it so the next client starts clean.
        try:
            from chromadb.api.shared_system_client import SharedSystemClient

            for ident, system in list(SharedSystemClient._identifier_to_system.items()):
                if ident == str(self.path) or Path(ident).resolve() == self.path.resolve():
                    SharedSystemClient._identifier_to_system.pop(ident, None)
                    SharedSystemClient._identifier_to_refcount.pop(ident, None)
                    try:
                        system.stop()
                    except BaseException as e:  # noqa: BLE001
                        if _is_fatal(e):
                            raise
        except (ImportError, AttributeError):  # private API moved: nothing cached to drop
            pass

    def _wipe(self, reason: str) -> None:
        self._release_client()
        if self.path.exists():
            logger.warning("deleting vector store folder %s (%s)", self.path, reason)
            shutil.rmtree(self.path, ignore_errors=True)
            if self.path.exists():
                raise RetrievalError(f"Could not delete the damaged vector store at {self.path}; delete it by hand.")
        self._version += 1

    def mark_built(self) -> None:
        """The ingestor filled a fresh store: later open() calls report it as usable ("ok")."""
        with self._lock:
            if self._status is not None and self._status.fresh:
                self._status = StoreStatus(fresh=False, reason="ok", count=self.count())

    def reset(self, reason: str = "rebuild requested") -> StoreStatus:
        """Delete everything and start with an empty collection."""
        with self._lock:
            self._wipe(reason)
            self._status = self._create(reason)
            return self._status

    def close(self) -> None:
        with self._lock:
            self._release_client()
            self._status = None

    def __enter__(self) -> "ChromaStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ access helpers

    def _collection(self) -> Any:
        col = self._col
        if col is None:
            raise RetrievalError("The vector store is closed.")
        return col

    @contextmanager
    def _op(self, what: str, write: bool = False) -> Iterator[Any]:
        self.open()
        with self._lock:
            col = self._collection()
            try:
                yield col
            except RetrievalError:
                raise
            except BaseException as e:  # noqa: BLE001
                if _is_fatal(e):
                    raise
                raise RetrievalError(
                    f"The vector store failed to {what} ({type(e).__name__}: {e}); "
                    "run `python -m tutor ingest --rebuild` if this persists."
                ) from e
            finally:
                if write:
                    self._version += 1

    # ------------------------------------------------------------ writes

    def upsert(self, chunks: Sequence[Chunk], embeddings: np.ndarray) -> None:
        embeddings = np.asarray(embeddings, dtype=np.float32)
        if len(chunks) != len(embeddings):
            raise ValueError(f"{len(chunks)} chunks but {len(embeddings)} embeddings")
        if not chunks:
            return
        with self._op("write chunks", write=True) as col:
            for i in range(0, len(chunks), _WRITE_BATCH):
                part = chunks[i:i + _WRITE_BATCH]
                col.upsert(
                    ids=[c.id for c in part],
                    embeddings=embeddings[i:i + _WRITE_BATCH],
                    documents=[c.text for c in part],
                    metadatas=[_chunk_metadata(c) for c in part],
                )

    def delete_doc(self, doc_id: str) -> int:
        """Remove every chunk of a document; returns how many there were."""
        with self._op("delete a document", write=True) as col:
            ids = col.get(where={"doc_id": doc_id}, include=[])["ids"]
            if ids:
                col.delete(ids=ids)
            return len(ids)

    # ------------------------------------------------------------ reads

    def count(self) -> int:
        with self._op("count chunks") as col:
            return int(col.count())

    def all_chunks(self, with_embeddings: bool = True) -> tuple[list[Chunk], np.ndarray]:
        """Every chunk (for BM25) in a stable order, and their embeddings as an (n, dim) array."""
        chunks: list[Chunk] = []
        vecs: list[np.ndarray] = []
        include = ["documents", "metadatas"] + (["embeddings"] if with_embeddings else [])
        with self._op("read all chunks") as col:
            offset = 0
            while True:
                page = col.get(include=include, limit=_GET_PAGE, offset=offset)
                ids = page["ids"]
                if not ids:
                    break
                chunks.extend(_chunk_from(i, d, m) for i, d, m in zip(ids, page["documents"], page["metadatas"]))
                if with_embeddings:
                    vecs.append(np.asarray(page["embeddings"], dtype=np.float32))
                offset += len(ids)
                if len(ids) < _GET_PAGE:
                    break
        dim = self._embedder.dim
        emb = np.concatenate(vecs) if vecs else np.zeros((0, dim), dtype=np.float32)
        order = sorted(range(len(chunks)), key=lambda i: (chunks[i].doc_id, chunks[i].ordinal, chunks[i].id))
        return [chunks[i] for i in order], (emb[order] if len(emb) else emb)

    def doc_chunk_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        with self._op("list documents") as col:
            offset = 0
            while True:
                page = col.get(include=["metadatas"], limit=_GET_PAGE, offset=offset)
                if not page["ids"]:
                    break
                for m in page["metadatas"]:
                    d = str((m or {}).get("doc_id", ""))
                    counts[d] = counts.get(d, 0) + 1
                offset += len(page["ids"])
                if len(page["ids"]) < _GET_PAGE:
                    break
        return counts
