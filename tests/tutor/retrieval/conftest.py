"""Fixtures for retrieval tests: a small knowledge base on disk, PDF bytes, a counting embedder."""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from tutor.config import RetrievalConfig
from tutor.retrieval.embeddings import HashEmbedder
from tutor.retrieval.ingest import Ingestor
from tutor.retrieval.store import ChromaStore
from tutor.retrieval.hybrid import Retriever


def make_pdf(pages: list[str]) -> bytes:
    """A minimal valid PDF with one line of Helvetica text per page (empty string: a blank page)."""
    objects: list[bytes] = []
    n_pages = len(pages)
    font_id = 3 + 2 * n_pages
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(n_pages))
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {n_pages} >>".encode())
    for i, text in enumerate(pages):
        content_id = 4 + 2 * i  # page i is object 3 + 2 * i
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {content_id} 0 R "
            f"/Resources << /Font << /F1 {font_id} 0 R >> >> >>".encode()
        )
        safe = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        stream = f"BT /F1 12 Tf 72 720 Td ({safe}) Tj ET".encode() if text else b""
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, obj in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n".encode() + obj + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for off in offsets:
        out += f"{off:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def write_md(path: Path, title: str, subject: str, body: str, level: str = "beginner") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"---\ntitle: {title}\nsubject: {subject}\nlevel: {level}\n---\n\n{body}\n", encoding="utf-8")
    return path


CALCULUS = """# Derivatives

A derivative measures how fast a function changes.

## The chain rule

The chain rule differentiates a composition of functions: multiply the outer derivative by the inner derivative.

## The power rule

The power rule says the derivative of x^n is n times x^(n-1).
"""

PYTHON = """# Lists

A Python list is an ordered, mutable sequence of items.

## List comprehensions

A list comprehension builds a new list from an iterable in one expression, with an optional filter.
"""

STATS = """# Probability

Probability measures how likely an event is, between zero and one.

## Variance

The variance is the average squared deviation from the mean.
"""


@pytest.fixture
def kb(tmp_path: Path) -> Path:
    root = tmp_path / "kb"
    write_md(root / "calculus" / "derivatives.md", "Derivatives", "Calculus", CALCULUS)
    write_md(root / "python" / "lists.md", "Python lists", "Python", PYTHON)
    write_md(root / "statistics" / "probability.md", "Probability", "Statistics", STATS)
    return root


class CountingEmbedder(HashEmbedder):
    """HashEmbedder that records every text it embeds (thread-safe)."""

    def __init__(self, dim: int = 64) -> None:
        super().__init__(dim)
        self.texts: list[str] = []
        self.calls = 0
        self._lock = threading.Lock()

    def embed(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            self.calls += 1
            self.texts.extend(texts)
        return super().embed(texts)

    def reset_counts(self) -> None:
        with self._lock:
            self.calls = 0
            self.texts.clear()


@pytest.fixture
def rcfg() -> RetrievalConfig:
    return RetrievalConfig(chunk_words=40, chunk_overlap_words=8, top_k=3, candidates=10, relevance_floor=0.2)


@pytest.fixture
def embedder() -> CountingEmbedder:
    return CountingEmbedder(64)


@pytest.fixture
def stack(tmp_path: Path, kb: Path, embedder: CountingEmbedder, rcfg: RetrievalConfig):
    """(retriever, ingestor, store) over the small kb, not yet ingested; the store is closed after the test."""
    store = ChromaStore(tmp_path / "data" / "chroma", "test_kb", embedder)
    ingestor = Ingestor(kb, store, embedder, rcfg)
    retriever = Retriever(store, embedder, rcfg)
    yield retriever, ingestor, store
    store.close()
