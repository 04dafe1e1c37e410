"""Documents -> sections, through the app's own document loader and chunker.

Sections are the app's chunks (same settings, so `chunk_id` is the id the retriever cites). A file that
cannot be parsed is a Problem with the loader's reason; the other files go on.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from tutor.errors import DocumentError
from tutor.retrieval.chunking import chunk_document
from tutor.retrieval.documents import SUPPORTED_SUFFIXES, load_document
from training.qa.records import Problem, Section


def document_paths(kb_dir: Path) -> list[Path]:
    """Every course file under the knowledge base (uploads included), in a stable order."""
    return sorted(p for p in Path(kb_dir).rglob("*")
                  if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES
                  and not any(part.startswith(".") for part in p.relative_to(kb_dir).parts))


def problem_key(stage: str, where: str) -> str:
    return hashlib.sha1(f"{stage}|{where}".encode("utf-8")).hexdigest()[:16]


def load_sections(kb_dir: Path, chunk_words: int, overlap_words: int,
                  paths: list[Path] | None = None) -> tuple[list[Section], list[Problem]]:
    sections: list[Section] = []
    problems: list[Problem] = []
    for path in paths if paths is not None else document_paths(kb_dir):
        try:
            doc = load_document(path, kb_dir)
        except DocumentError as e:
            where = path.relative_to(kb_dir).as_posix() if path.is_relative_to(kb_dir) else str(path)
            problems.append(Problem(problem_key("document", where), "document", where, str(e)))
            continue
        for ch in chunk_document(doc, chunk_words, overlap_words):
            sections.append(Section(ch.id, ch.doc_id, ch.title, ch.subject, ch.section, ch.text))
    return sections, problems
