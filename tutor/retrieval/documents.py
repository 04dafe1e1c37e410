"""Loading one course document (md, txt, pdf) from disk into a typed Document.

Owns the rules for metadata: markdown front matter (title, subject, level), falling back to the
first `#` heading or the file stem for the title, the parent folder for the subject ("General" at
the top of the knowledge base or in uploads/), and "general" for the level. Everything that makes
a file unusable (wrong type, bytes that are not UTF-8, broken front matter, no text) raises
DocumentError with a sentence saying why, so ingestion can skip the file and report the reason.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import yaml

from tutor.errors import DocumentError

logger = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = (".md", ".markdown", ".txt", ".pdf")
DEFAULT_SUBJECT = "General"
DEFAULT_LEVEL = "general"
# Folders whose name is not a subject: user uploads land in kb/uploads/ (see ingest.add_documents).
NON_SUBJECT_FOLDERS = frozenset({"uploads"})

# A course document longer than this is a book series, not a handout: extracting 10,000 pages takes
# minutes and floods the index, so it is refused before any page is read (a long textbook is ~1,000).
MAX_PDF_PAGES = 2000
# Longer runs without a space are not prose (base64 data, minified code, a line of noise): a chunk is
# cut at spaces, so one such run would become one huge passage in every prompt that cites it. 2,000
# characters is above any real URL (browsers' practical limit) or identifier.
MAX_WORD_CHARS = 2000
_LONG_WORD = re.compile(r"\S{%d}" % (MAX_WORD_CHARS + 1))

_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.DOTALL)
_H1 = re.compile(r"^#[ \t]+(.+?)[ \t#]*$", re.MULTILINE)


@dataclass(frozen=True)
class Document:
    doc_id: str  # path relative to the knowledge-base folder, posix style
    title: str
    subject: str
    level: str
    text: str  # the body: markdown without front matter, plain text, or pages joined
    path: Path
    kind: str = "md"  # "md" | "txt" | "pdf": whether headings are markdown, pages are real
    pages: tuple[str, ...] = ()  # pdf only: text per page (page n is pages[n-1])


def doc_id_for(path: Path, kb_dir: Path) -> str:
    """The id of a file: its path relative to the knowledge base, posix style."""
    try:
        rel = Path(path).resolve().relative_to(Path(kb_dir).resolve())
    except ValueError as e:
        raise DocumentError(f"{path} is not inside the knowledge-base folder {kb_dir}.") from e
    return PurePosixPath(*rel.parts).as_posix()


def _subject_from_folder(doc_id: str) -> str:
    parts = PurePosixPath(doc_id).parts
    if len(parts) < 2 or parts[-2] in NON_SUBJECT_FOLDERS:
        return DEFAULT_SUBJECT
    return parts[-2]


def _clean_str(value: object, field_name: str, name: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, (dict, list)):
        raise DocumentError(f"{name}: front matter field '{field_name}' must be text, not a {type(value).__name__}.")
    text = str(value).strip()
    return text or None


def _decode(data: bytes, name: str) -> str:
    if b"\x00" in data:
        raise DocumentError(f"{name} is not a text file (it contains binary bytes).")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DocumentError(f"{name} is not valid UTF-8 text (byte {e.start}); save it as UTF-8.") from e


def parse_markdown(raw: str, name: str) -> tuple[dict, str]:
    """Split front matter from the body. Returns (metadata, body); no front matter -> ({}, raw)."""
    if not raw.lstrip("\ufeff").startswith("---"):
        return {}, raw
    m = _FRONT_MATTER.match(raw)
    if not m:
        raise DocumentError(f"{name}: the front matter starting with '---' is never closed by a '---' line.")
    try:
        meta = yaml.safe_load(m.group(1))
    except yaml.YAMLError as e:
        raise DocumentError(f"{name}: the front matter is not valid YAML ({str(e).splitlines()[0]}).") from e
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise DocumentError(f"{name}: the front matter must be 'key: value' lines (title, subject, level).")
    return meta, raw[m.end():]


def _has_javascript(reader) -> bool:
    """Whether the PDF carries scripts (document-level names, an open action, or additional actions).
    SmartLearn only reads text and never runs them, but a file with scripts is not a plain handout and
    is kept out of the knowledge base that every learner is taught from."""
    root = reader.trailer["/Root"]
    names = root.get("/Names")
    if names is not None and "/JavaScript" in names.get_object():
        return True
    action = root.get("/OpenAction")
    if action is not None:
        action = action.get_object()
        if hasattr(action, "get") and action.get("/S") == "/JavaScript":
            return True
    return "/AA" in root


def _pdf_pages(path: Path, name: str, data: bytes = b"", max_pages: int = MAX_PDF_PAGES) -> tuple[str, ...]:
    from pypdf import PdfReader  # imported here: only PDF ingestion needs it
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(str(path))
        if reader.is_encrypted:
            try:
                opened = reader.decrypt("")  # many PDFs are "encrypted" with an empty user password
            except Exception as e:  # pypdf raises several types (and needs a crypto library for AES)
                raise DocumentError(f"{name} is an encrypted PDF that could not be opened ({e}).") from e
            if not opened:
                raise DocumentError(f"{name} is a password-protected PDF.")
        # Scripts hidden in page annotations are found by their name in the uncompressed bytes.
        if _has_javascript(reader) or b"/JavaScript" in data:
            raise DocumentError(f"{name} contains JavaScript, which course documents may not carry. "
                                "Print it to a new PDF (or export it without scripts) and add that file.")
        # The page tree's /Count is read first (no page is loaded); the real count is checked as well,
        # since /Count is only what the file claims.
        claimed = reader.trailer["/Root"]["/Pages"].get("/Count", 0)
        n_pages = claimed if isinstance(claimed, int) and claimed > max_pages else len(reader.pages)
        if n_pages > max_pages:
            raise DocumentError(f"{name} has {n_pages:,} pages; the limit is {max_pages:,}. "
                                "Split it into parts (e.g. one file per chapter) and add those.")
        pages = tuple((page.extract_text() or "").strip() for page in reader.pages)
    except DocumentError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, OSError, AttributeError) as e:
        # pypdf reports damaged files with a mix of its own and builtin errors.
        raise DocumentError(f"{name} is not a readable PDF ({type(e).__name__}: {e}).") from e
    if not any(pages):
        raise DocumentError(
            f"{name} has no extractable text (a scanned PDF needs OCR first)."
        )
    return pages


def load_document(path: str | Path, kb_dir: str | Path) -> Document:
    """Read one file of the knowledge base. Raises DocumentError with the reason it is unusable."""
    path = Path(path)
    kb_dir = Path(kb_dir)
    doc_id = doc_id_for(path, kb_dir)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise DocumentError(
            f"{doc_id}: '{suffix or 'no extension'}' files are not supported; use .md, .txt or .pdf."
        )
    try:
        data = path.read_bytes()
    except OSError as e:
        raise DocumentError(f"{doc_id} could not be read ({e.strerror or e}).") from e

    subject = _subject_from_folder(doc_id)
    title: str | None = None
    level = DEFAULT_LEVEL
    pages: tuple[str, ...] = ()
    if suffix == ".pdf":
        kind = "pdf"
        if not data.startswith(b"%PDF-"):
            raise DocumentError(f"{doc_id} is not a PDF file (it does not start with %PDF-).")
        pages = _pdf_pages(path, doc_id, data)
        body = "\n\n".join(p for p in pages if p)
    elif suffix == ".txt":
        kind = "txt"
        body = _decode(data, doc_id)
    else:
        kind = "md"
        meta, body = parse_markdown(_decode(data, doc_id), doc_id)
        title = _clean_str(meta.get("title"), "title", doc_id)
        subject = _clean_str(meta.get("subject"), "subject", doc_id) or subject
        level = (_clean_str(meta.get("level"), "level", doc_id) or DEFAULT_LEVEL).lower()
        if title is None:
            h1 = _H1.search(body)
            title = h1.group(1).strip() if h1 else None

    if not body.strip():
        raise DocumentError(f"{doc_id} is empty (no text after the front matter).")
    long_run = _LONG_WORD.search(body)
    if long_run:
        line = body.count("\n", 0, long_run.start()) + 1
        raise DocumentError(f"{doc_id} has more than {MAX_WORD_CHARS:,} characters without a space (from line {line} "
                            "of the text); that is not readable prose. Remove embedded data such as base64 "
                            "images, or break the text into words, and add it again.")
    if title is None:
        title = path.stem.replace("_", " ").replace("-", " ").strip() or path.stem
    return Document(
        doc_id=doc_id, title=title, subject=subject, level=level, text=body, path=path, kind=kind, pages=pages
    )
