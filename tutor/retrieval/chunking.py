"""Heading-aware chunking of a Document into Chunks.

Markdown is cut at headings first; each chunk's `section` is the heading path ("H1 > H2 > H3").
Inside a section, paragraphs (a fenced code block counts as one paragraph) are packed into chunks
of about `chunk_words` words, and each chunk after the first of its section starts with the last
`overlap_words` words (whole sentences where possible) of the previous one, so a fact that spans a
boundary is still found. A paragraph longer than a chunk is split at sentence ends; a code block is
split (at line ends, fences re-opened) only when it is longer than twice the chunk size.
PDF pages are sections of their own ("Page 3"), so a hit can be cited by page.

Chunk ids are derived from content: f"{doc_id}::{ordinal}:{sha1(text)[:8]}", stable across runs.
Chunk.text is the passage alone; `context_text` adds title and section for embedding and BM25.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from tutor.retrieval.documents import Document
from tutor.types import Chunk

# Bump when the output of chunk_document changes for the same input: the ingest manifest stores
# it, so a new chunker version re-chunks the whole knowledge base.
CHUNKER_VERSION = 1

_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t]*#*[ \t]*$")
_FENCE = re.compile(r"^[ \t]{0,3}(`{3,}|~{3,})")
# A sentence ends at . ! ? (optionally followed by a closing quote/bracket) before whitespace and an
# upper-case letter, digit, quote or bracket: "e.g. the" and "3.14" are not boundaries.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]?\s+(?=[A-Z0-9\"'(\[`$])")
SECTION_SEP = " > "


@dataclass
class _Unit:
    """A piece that is never split further: a sentence group, a whole paragraph or a code block."""

    text: str
    words: int
    para: int  # paragraph number: units of one paragraph are joined by a space, else a blank line
    code: bool = False


def word_count(text: str) -> int:
    return len(text.split())


def split_sentences(text: str) -> list[str]:
    parts = [p.strip() for p in _SENTENCE_END.split(text.strip())]
    return [p for p in parts if p]


def context_text(title: str, section: str, text: str) -> str:
    """What is embedded and BM25-indexed for a chunk: the passage with its title and section."""
    if section.startswith(title + SECTION_SEP):  # the H1 usually repeats the title
        section = section[len(title) + len(SECTION_SEP):]
    head = f"{title} — {section}" if section and section != title else title
    return f"{head}\n{text}"


def chunk_id(doc_id: str, ordinal: int, text: str) -> str:
    return f"{doc_id}::{ordinal}:{hashlib.sha1(text.encode('utf-8')).hexdigest()[:8]}"


# ---------------------------------------------------------------- sections and blocks


def _closes(line: str, fence: str) -> bool:
    """CommonMark: a closing fence is the same character, at least as long, and nothing after it."""
    stripped = line.strip()
    run = len(stripped) - len(stripped.lstrip(fence[0]))
    return run >= len(fence) and not stripped[run:].strip() and len(line) - len(line.lstrip()) <= 3


def _markdown_sections(text: str) -> list[tuple[str, list[str]]]:
    """[(heading path, lines)] in document order. Headings inside code fences are not headings."""
    sections: list[tuple[str, list[str]]] = []
    path: list[tuple[int, str]] = []
    lines: list[str] = []
    fence: str | None = None

    def flush() -> None:
        if any(line.strip() for line in lines):
            sections.append((SECTION_SEP.join(t for _, t in path), list(lines)))
        lines.clear()

    for line in text.splitlines():
        m_fence = _FENCE.match(line)
        if fence is not None:
            lines.append(line)
            if _closes(line, fence):
                fence = None
            continue
        if m_fence:
            fence = m_fence.group(1)
            lines.append(line)
            continue
        m = _HEADING.match(line)
        if m:
            flush()
            level = len(m.group(1))
            title = m.group(2).strip().strip("#").strip()
            while path and path[-1][0] >= level:
                path.pop()
            path.append((level, title))
            continue
        lines.append(line)
    flush()
    return sections


def _blocks(lines: list[str]) -> list[tuple[str, bool]]:
    """Paragraphs separated by blank lines; a fenced code block is one block. [(text, is_code)]."""
    blocks: list[tuple[str, bool]] = []
    cur: list[str] = []
    fence: str | None = None

    def flush(code: bool = False) -> None:
        if any(line.strip() for line in cur):
            blocks.append(("\n".join(cur).strip("\n"), code))
        cur.clear()

    for line in lines:
        m_fence = _FENCE.match(line)
        if fence is not None:
            cur.append(line)
            if _closes(line, fence):
                fence = None
                flush(code=True)
            continue
        if m_fence:
            flush()
            fence = m_fence.group(1)
            cur.append(line)
            continue
        if not line.strip():
            flush()
            continue
        cur.append(line)
    flush(code=fence is not None)  # an unclosed fence runs to the end of the section
    return blocks


def _split_code(block: str, max_words: int) -> list[str]:
    """Split an over-long fenced block at line ends, closing and re-opening the fence."""
    lines = block.splitlines()
    opener = lines[0]
    fence = _FENCE.match(opener).group(1)  # type: ignore[union-attr]
    body = lines[1:-1] if len(lines) > 1 and lines[-1].strip().startswith(fence) else lines[1:]
    pieces: list[str] = []
    cur: list[str] = []
    words = 0
    for line in body:
        w = word_count(line)
        if cur and words + w > max_words:
            pieces.append("\n".join([opener, *cur, fence]))
            cur, words = [], 0
        cur.append(line)
        words += w
    if cur or not pieces:
        pieces.append("\n".join([opener, *cur, fence]))
    return pieces


def _units(blocks: list[tuple[str, bool]], chunk_words: int) -> list[_Unit]:
    units: list[_Unit] = []
    for para, (text, code) in enumerate(blocks):
        words = word_count(text)
        if code:
            pieces = _split_code(text, chunk_words) if words > 2 * chunk_words else [text]
            units.extend(_Unit(p, word_count(p), para, code=True) for p in pieces)
            continue
        if words <= chunk_words:
            units.append(_Unit(text, words, para))
            continue
        for sentence in split_sentences(" ".join(text.split())):
            sw = word_count(sentence)
            if sw <= chunk_words:
                units.append(_Unit(sentence, sw, para))
            else:  # a "sentence" longer than a chunk (e.g. a table row dump): cut by words
                toks = sentence.split()
                for i in range(0, len(toks), chunk_words):
                    piece = toks[i:i + chunk_words]
                    units.append(_Unit(" ".join(piece), len(piece), para))
    return units


def _render(units: list[_Unit]) -> str:
    out: list[str] = []
    prev: _Unit | None = None
    for u in units:
        if prev is not None:
            out.append(" " if (u.para == prev.para and not u.code and not prev.code) else "\n\n")
        out.append(u.text)
        prev = u
    return "".join(out)


def _overlap(units: list[_Unit], overlap_words: int) -> list[_Unit]:
    """The tail of a chunk to repeat at the start of the next: whole sentences up to the budget,
    else the last words of the last sentence. Code is not repeated."""
    if overlap_words <= 0 or not units or units[-1].code:
        return []
    last = units[-1]
    sentences = split_sentences(" ".join(last.text.split()))
    picked: list[str] = []
    words = 0
    for s in reversed(sentences):
        w = word_count(s)
        if words + w > overlap_words:
            break
        picked.insert(0, s)
        words += w
    if not picked:
        toks = last.text.split()[-overlap_words:]
        return [_Unit(" ".join(toks), len(toks), last.para)]
    return [_Unit(" ".join(picked), words, last.para)]


def _pack(units: list[_Unit], chunk_words: int, overlap_words: int) -> list[str]:
    chunks: list[str] = []
    cur: list[_Unit] = []
    cur_words = 0
    fresh = 0  # words in cur that are not overlap: a chunk of only overlap is never emitted
    for u in units:
        if cur and fresh and cur_words + u.words > chunk_words:
            chunks.append(_render(cur))
            cur = _overlap(cur, overlap_words)
            cur_words = sum(x.words for x in cur)
            fresh = 0
            if cur_words + u.words > chunk_words:  # the overlap would push this unit over: drop it
                cur, cur_words = [], 0
        cur.append(u)
        cur_words += u.words
        fresh += u.words
    if cur and fresh:
        chunks.append(_render(cur))
    return chunks


# ---------------------------------------------------------------- public


def chunk_document(doc: Document, chunk_words: int = 160, overlap_words: int = 30) -> list[Chunk]:
    """Cut a document into Chunks (see the module docstring). Deterministic for the same input."""
    if chunk_words < 1:
        raise ValueError("chunk_words must be >= 1")
    overlap_words = max(0, min(overlap_words, chunk_words - 1))
    if doc.kind == "pdf" and doc.pages:
        sections = [(f"Page {i}", page.splitlines()) for i, page in enumerate(doc.pages, 1) if page.strip()]
    elif doc.kind == "md":
        sections = _markdown_sections(doc.text)
    else:
        sections = [("", doc.text.splitlines())]

    out: list[Chunk] = []
    for section, lines in sections:
        for text in _pack(_units(_blocks(lines), chunk_words), chunk_words, overlap_words):
            ordinal = len(out)
            out.append(
                Chunk(
                    id=chunk_id(doc.doc_id, ordinal, text),
                    doc_id=doc.doc_id,
                    title=doc.title,
                    subject=doc.subject,
                    level=doc.level,
                    section=section,
                    text=text,
                    ordinal=ordinal,
                )
            )
    return out
