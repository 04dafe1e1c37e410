"""Ingestion: knowledge-base files -> chunks -> embeddings -> the vector store, incrementally.

A manifest (JSON next to the Chroma folder, e.g. data/chroma_manifest.json, written atomically after
every file) records each file's content hash and chunk count plus the embedder and chunking
parameters. A run then touches only added, changed and removed files; a different embedder,
chunk size, overlap or chunker version, a missing/corrupt/inconsistent index, or `rebuild=True`
re-ingests everything (IngestReport.rebuilt). Files that cannot be parsed are skipped with the
reason (IngestReport.skipped) and the rest ingested.

`add_documents` is the upload path: it checks type (extension and content), size and that the
file parses, copies it under kb_dir/uploads/ with a safe unique name, and ingests it.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
import threading
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from tutor.config import RetrievalConfig
from tutor.errors import ConfigError, DocumentError
from tutor.retrieval.chunking import CHUNKER_VERSION, chunk_document, context_text
from tutor.retrieval.documents import SUPPORTED_SUFFIXES, doc_id_for, load_document
from tutor.retrieval.embeddings import Embedder
from tutor.retrieval.store import ChromaStore
from tutor.types import IngestReport, IngestSkip

logger = logging.getLogger(__name__)

Progress = Callable[[int, int, str], None]  # (files done, files to do, current doc_id)
MANIFEST_FORMAT = 1
UPLOADS_DIR = "uploads"
DEFAULT_MAX_UPLOAD_BYTES = 20 * 1024 * 1024  # ServerConfig.max_upload_mb's default
_EMBED_BATCH = 64


def manifest_path_for(store_path: Path) -> Path:
    """data/chroma -> data/chroma_manifest.json (beside the store, not inside: a wipe keeps it)."""
    return store_path.with_name(store_path.name + "_manifest.json")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _write_json_atomic(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass
class _Manifest:
    params: dict
    files: dict[str, dict] = field(default_factory=dict)  # doc_id -> {sha256, size, mtime_ns, chunks}

    def to_json(self) -> dict:
        return {"format": MANIFEST_FORMAT, "params": self.params, "files": self.files}


def safe_filename(name: str, default_stem: str = "document") -> str:
    """A file name with no directory part, only [A-Za-z0-9._-], no leading dot, at most 100 chars."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    base = unicodedata.normalize("NFKD", base).encode("ascii", "ignore").decode("ascii")
    stem, dot, ext = base.rpartition(".")
    if not dot:
        stem, ext = base, ""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip(".-_") or default_stem
    ext = re.sub(r"[^A-Za-z0-9]+", "", ext).lower()
    stem = re.sub(r"-{2,}", "-", stem)[:90]
    return f"{stem}.{ext}" if ext else stem


class Ingestor:
    """Keeps the vector store in step with the knowledge-base folder. One run at a time."""

    def __init__(
        self,
        kb_dir: str | Path,
        store: ChromaStore,
        embedder: Embedder,
        cfg: RetrievalConfig,
        manifest_path: str | Path | None = None,
        max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
    ) -> None:
        self.kb_dir = Path(kb_dir)
        self.store = store
        self.embedder = embedder
        self.cfg = cfg
        self.manifest_path = Path(manifest_path) if manifest_path else manifest_path_for(store.path)
        self.max_upload_bytes = max_upload_bytes
        self._lock = threading.Lock()

    # ------------------------------------------------------------ manifest

    def _params(self) -> dict:
        return {
            "embedder": self.embedder.name,
            "dim": int(self.embedder.dim),
            "collection": self.store.collection_name,
            "chunk_words": self.cfg.chunk_words,
            "chunk_overlap_words": self.cfg.chunk_overlap_words,
            "chunker_version": CHUNKER_VERSION,
        }

    def _load_manifest(self) -> _Manifest | None:
        try:
            data = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as e:
            logger.warning("ingest manifest %s is unreadable (%s); rebuilding", self.manifest_path, e)
            return None
        if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
            return None
        files = data.get("files")
        params = data.get("params")
        if not isinstance(files, dict) or not isinstance(params, dict):
            return None
        return _Manifest(params=params, files={k: v for k, v in files.items() if isinstance(v, dict)})

    def _save(self, manifest: _Manifest) -> None:
        _write_json_atomic(self.manifest_path, manifest.to_json())

    # ------------------------------------------------------------ scanning

    def scan(self) -> dict[str, Path]:
        """doc_id -> path of every candidate file; hidden files and folders are ignored."""
        found: dict[str, Path] = {}
        if not self.kb_dir.is_dir():
            return found
        for p in sorted(self.kb_dir.rglob("*")):
            rel = p.relative_to(self.kb_dir)
            if any(part.startswith(".") for part in rel.parts) or not p.is_file():
                continue
            found[rel.as_posix()] = p
        return found

    @staticmethod
    def _fingerprint(path: Path, old: dict | None) -> dict:
        st = path.stat()
        if old and old.get("size") == st.st_size and old.get("mtime_ns") == st.st_mtime_ns and old.get("sha256"):
            return {"sha256": old["sha256"], "size": st.st_size, "mtime_ns": st.st_mtime_ns}
        return {"sha256": _sha256(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns}

    # ------------------------------------------------------------ runs

    def run(self, progress: Progress | None = None, rebuild: bool = False) -> IngestReport:
        """Bring the index in step with the folder (only what changed, unless a rebuild is due)."""
        with self._lock:
            return self._run(progress=progress, rebuild=rebuild, only=None)

    def _full_rebuild_reason(self, manifest: _Manifest | None, rebuild: bool) -> str | None:
        status = self.store.open()
        if rebuild:
            return "rebuild requested"
        if status.fresh:
            return f"index {status.reason}"
        if manifest is None:
            return "no ingest manifest"
        if manifest.params != self._params():
            changed = sorted(k for k in set(manifest.params) | set(self._params())
                             if manifest.params.get(k) != self._params().get(k))
            return "settings changed: " + ", ".join(changed)
        expected = sum(int(f.get("chunks", 0)) for f in manifest.files.values())
        actual = self.store.count()
        if expected != actual:
            return f"index has {actual} chunks, manifest expects {expected}"
        return None

    def _changes(self, manifest: _Manifest, only: set[str] | None
                 ) -> tuple[list[tuple[str, Path, dict, bool]], list[str], list[IngestSkip], int]:
        """(documents to (re)index, ids removed from the folder, files refused, how many are unchanged),
        by content hash against the manifest."""
        on_disk = self.scan()
        if only is not None:
            on_disk = {d: p for d, p in on_disk.items() if d in only}
        removed = [] if only is not None else sorted(d for d in manifest.files if d not in on_disk)
        skipped: list[IngestSkip] = []
        todo: list[tuple[str, Path, dict, bool]] = []  # (doc_id, path, fingerprint, is_update)
        unchanged = 0
        for doc_id, path in on_disk.items():
            if path.suffix.lower() not in SUPPORTED_SUFFIXES:
                skipped.append(IngestSkip(doc_id, f"'{path.suffix or 'no extension'}' files are not supported; "
                                                  "use .md, .txt or .pdf."))
                continue
            old = manifest.files.get(doc_id)
            try:
                fp = self._fingerprint(path, old)
            except OSError as e:
                skipped.append(IngestSkip(doc_id, f"could not be read ({e.strerror or e})."))
                continue
            if old and old.get("sha256") == fp["sha256"]:
                unchanged += 1
                if old.get("mtime_ns") != fp["mtime_ns"]:  # touched, same content: remember new mtime
                    manifest.files[doc_id] = {**old, **fp}
                continue
            todo.append((doc_id, path, fp, old is not None))
        return todo, removed, skipped, unchanged

    def _run(self, progress: Progress | None, rebuild: bool, only: set[str] | None) -> IngestReport:
        t0 = time.perf_counter()
        if not self.kb_dir.is_dir():
            # Refuse rather than "ingest" an empty folder: a wrong working directory or path would
            # otherwise silently remove every document from the index.
            raise ConfigError(
                f"The knowledge-base folder {self.kb_dir.resolve()} does not exist "
                "(setting paths.knowledge_base_dir, env SMARTLEARN_PATHS_KNOWLEDGE_BASE_DIR)."
            )
        manifest = self._load_manifest()
        reason = self._full_rebuild_reason(manifest, rebuild)
        full = reason is not None
        if full:
            logger.info("full (re)ingest of %s: %s", self.kb_dir, reason)
            status = self.store.open()
            if not (status.fresh and self.store.count() == 0):
                self.store.reset(reason or "rebuild")
            manifest = _Manifest(params=self._params())
            self._save(manifest)
            only = None  # a rebuild covers the whole folder, uploads included
        assert manifest is not None

        todo, removed, skipped, unchanged = self._changes(manifest, only)

        for doc_id in removed:
            self.store.delete_doc(doc_id)
            manifest.files.pop(doc_id, None)
            self._save(manifest)

        added: list[str] = []
        updated: list[str] = []
        written = 0
        total = len(todo)
        if progress:
            progress(0, total, "")
        for i, (doc_id, path, fp, is_update) in enumerate(todo, start=1):
            try:
                doc = load_document(path, self.kb_dir)
                chunks = chunk_document(doc, self.cfg.chunk_words, self.cfg.chunk_overlap_words)
                if not chunks:
                    raise DocumentError(f"{doc_id} has no text to index.")
            except DocumentError as e:
                logger.warning("skipping %s: %s", doc_id, e)
                skipped.append(IngestSkip(doc_id, str(e)))
                if is_update:  # its old chunks describe content that is no longer there
                    self.store.delete_doc(doc_id)
                    manifest.files.pop(doc_id, None)
                    self._save(manifest)
                if progress:
                    progress(i, total, doc_id)
                continue
            texts = [context_text(c.title, c.section, c.text) for c in chunks]
            vectors = [self.embedder.embed(texts[j:j + _EMBED_BATCH]) for j in range(0, len(texts), _EMBED_BATCH)]
            if is_update:
                self.store.delete_doc(doc_id)
            self.store.upsert(chunks, np.concatenate(vectors))
            written += len(chunks)
            manifest.files[doc_id] = {**fp, "chunks": len(chunks)}
            self._save(manifest)
            (updated if is_update else added).append(doc_id)
            if progress:
                progress(i, total, doc_id)
        if not todo and not removed:
            self._save(manifest)  # records refreshed mtimes
        if full:
            self.store.mark_built()

        report = IngestReport(
            added=tuple(added), updated=tuple(updated), removed=tuple(removed), unchanged=unchanged,
            skipped=tuple(skipped), chunks_written=written, total_chunks=self.store.count(),
            seconds=time.perf_counter() - t0, rebuilt=full,
        )
        logger.info("ingest: %d added, %d updated, %d removed, %d unchanged, %d skipped, %d chunks written "
                    "(%d total) in %.1fs%s", len(added), len(updated), len(removed), unchanged, len(skipped),
                    written, report.total_chunks, report.seconds, " [full rebuild]" if full else "")
        return report

    # ------------------------------------------------------------ uploads

    def _check_upload(self, src: Path, max_bytes: int) -> bytes:
        """The file's bytes if it is an acceptable upload; DocumentError says why not."""
        name = src.name
        suffix = src.suffix.lower()
        if suffix not in SUPPORTED_SUFFIXES:
            raise DocumentError(f"{name}: '{suffix or 'no extension'}' files are not supported; use .md, .txt or .pdf.")
        try:
            size = src.stat().st_size
        except OSError as e:
            raise DocumentError(f"{name} could not be read ({e.strerror or e}).") from e
        if not src.is_file():
            raise DocumentError(f"{name} is not a file.")
        if size == 0:
            raise DocumentError(f"{name} is empty.")
        if size > max_bytes:
            raise DocumentError(
                f"{name} is {size / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.0f} MB."
            )
        data = src.read_bytes()
        if suffix == ".pdf":
            if not data.startswith(b"%PDF-"):
                raise DocumentError(f"{name} has a .pdf name but is not a PDF file.")
        else:
            if data.startswith(b"%PDF-"):
                raise DocumentError(f"{name} is a PDF file; give it a .pdf name.")
            if b"\x00" in data[:8192]:
                raise DocumentError(f"{name} is not a text file (it contains binary data).")
            try:
                data.decode("utf-8-sig")
            except UnicodeDecodeError as e:
                raise DocumentError(f"{name} is not UTF-8 text; save it as UTF-8 and upload it again.") from e
        return data

    def _place_upload(self, data: bytes, original_name: str) -> Path:
        """Write under uploads/ with a safe name; a different file already there keeps its name."""
        uploads = self.kb_dir / UPLOADS_DIR
        uploads.mkdir(parents=True, exist_ok=True)
        name = safe_filename(original_name)
        stem, dot, ext = name.rpartition(".")
        digest = hashlib.sha256(data).hexdigest()
        for n in range(0, 1000):
            candidate = uploads / (name if n == 0 else f"{stem}-{n}{dot}{ext}")
            if uploads.resolve() not in candidate.resolve().parents:
                raise DocumentError(f"{original_name}: unsafe file name.")
            if candidate.exists():
                if candidate.is_file() and _sha256(candidate) == digest:
                    return candidate  # the same file uploaded again
                continue
            fd, tmp = tempfile.mkstemp(prefix=".upload-", suffix=f".{ext}", dir=uploads)
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                # Parse before it becomes visible: an unusable file never lands in the knowledge base.
                load_document(tmp, self.kb_dir)
                try:
                    os.link(tmp, candidate)  # fails if the name was taken meanwhile: no overwrite
                except FileExistsError:
                    continue
                except OSError:  # a file system without hard links: exclusive create instead
                    try:
                        with candidate.open("xb") as f:
                            f.write(data)
                    except FileExistsError:
                        continue
                return candidate
            finally:
                Path(tmp).unlink(missing_ok=True)
        raise DocumentError(f"{original_name}: too many files with this name in uploads/.")

    def add_documents(self, paths: Iterable[str | Path], max_bytes: int | None = None) -> IngestReport:
        """Copy user files into kb_dir/uploads/ and ingest them. Rejected files are in report.skipped."""
        limit = self.max_upload_bytes if max_bytes is None else max_bytes
        t0 = time.perf_counter()
        rejected: list[IngestSkip] = []
        placed: set[str] = set()
        with self._lock:
            for raw in paths:
                src = Path(raw)
                try:
                    data = self._check_upload(src, limit)
                    dest = self._place_upload(data, src.name)
                    placed.add(doc_id_for(dest, self.kb_dir))
                except DocumentError as e:
                    logger.warning("upload rejected: %s", e)
                    rejected.append(IngestSkip(src.name, str(e)))
            if placed:
                report = self._run(progress=None, rebuild=False, only=placed)
            else:
                report = IngestReport(added=(), updated=(), removed=(), unchanged=0, skipped=(), chunks_written=0,
                                      total_chunks=self.store.count(), seconds=0.0)
        return IngestReport(
            added=report.added, updated=report.updated, removed=report.removed, unchanged=report.unchanged,
            skipped=tuple(rejected) + report.skipped, chunks_written=report.chunks_written,
            total_chunks=report.total_chunks, seconds=time.perf_counter() - t0, rebuilt=report.rebuilt,
        )


def ensure_index(ingestor: Ingestor, progress: Progress | None = None) -> IngestReport:
    """Call at app start: ingests on first start, catches up with edited files, rebuilds a corrupt
    or incompatible index. Cheap when nothing changed (hashes only files whose size/mtime moved)."""
    return ingestor.run(progress=progress, rebuild=False)
