"""Document loading: front matter, fallbacks, txt, pdf, and every way a file can be unusable."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.tutor.retrieval.conftest import make_pdf
from tutor.errors import DocumentError
from tutor.retrieval.documents import load_document


def test_front_matter_fields(tmp_path: Path) -> None:
    p = tmp_path / "calculus" / "chain.md"
    p.parent.mkdir()
    p.write_text("---\ntitle: The chain rule\nsubject: Calculus for ML\nlevel: Intermediate\n---\n\n"
                 "# Ignored\n\nBody text.\n")
    d = load_document(p, tmp_path)
    assert (d.doc_id, d.title, d.subject, d.level, d.kind) == (
        "calculus/chain.md", "The chain rule", "Calculus for ML", "intermediate", "md")
    assert d.text.strip().startswith("# Ignored") and "---" not in d.text


def test_missing_fields_fall_back(tmp_path: Path) -> None:
    p = tmp_path / "algebra" / "notes.md"
    p.parent.mkdir()
    p.write_text("---\nlevel: advanced\n---\nIntro line.\n\n# Eigen things\n\nText.\n")
    d = load_document(p, tmp_path)
    assert (d.title, d.subject, d.level) == ("Eigen things", "algebra", "advanced")

    q = tmp_path / "my_plain-notes.md"  # no front matter, no heading, top level
    q.write_text("Just some words.\n")
    d = load_document(q, tmp_path)
    assert (d.title, d.subject, d.level) == ("my plain notes", "General", "general")


def test_uploads_folder_is_not_a_subject(tmp_path: Path) -> None:
    p = tmp_path / "uploads" / "x.txt"
    p.parent.mkdir()
    p.write_text("Some uploaded text.")
    d = load_document(p, tmp_path)
    assert (d.subject, d.title, d.kind) == ("General", "x", "txt")


def test_txt_title_from_stem(tmp_path: Path) -> None:
    p = tmp_path / "physics" / "newton-laws.txt"
    p.parent.mkdir()
    p.write_text("# not a heading in txt\nForce equals mass times acceleration.\n", encoding="utf-8")
    d = load_document(p, tmp_path)
    assert (d.title, d.subject, d.kind) == ("newton laws", "physics", "txt")
    assert "Force equals" in d.text


def test_pdf_pages(tmp_path: Path) -> None:
    p = tmp_path / "stats" / "handout.pdf"
    p.parent.mkdir()
    p.write_bytes(make_pdf(["The mean is the average value.", "", "The median is the middle value."]))
    d = load_document(p, tmp_path)
    assert d.kind == "pdf" and d.title == "handout" and d.subject == "stats"
    assert d.pages == ("The mean is the average value.", "", "The median is the middle value.")
    assert "median" in d.text


@pytest.mark.parametrize(
    "name, content, reason",
    [
        ("a.docx", b"hello", "not supported"),
        ("b.md", b"caf\xe9 au lait", "UTF-8"),
        ("c.md", b"---\ntitle: [unclosed\n---\nbody\n", "not valid YAML"),
        ("d.md", b"---\ntitle: x\nno closing line\n", "never closed"),
        ("e.md", b"---\n- a\n- b\n---\nbody\n", "key: value"),
        ("f.md", b"---\ntitle: Only front matter\n---\n\n  \n", "empty"),
        ("g.txt", b"   \n\n", "empty"),
        ("h.txt", b"abc\x00def", "binary"),
        ("i.pdf", b"%PDF-1.4\ngarbage that is not a pdf", "not a readable PDF"),
        ("j.pdf", b"hello, I am text", "not a PDF"),
        ("k.md", b"---\ntitle: {a: 1}\n---\nbody", "must be text"),
    ],
)
def test_unusable_files_raise_document_error(tmp_path: Path, name: str, content: bytes, reason: str) -> None:
    p = tmp_path / name
    p.write_bytes(content)
    with pytest.raises(DocumentError, match=reason):
        load_document(p, tmp_path)


def test_pdf_without_text_is_an_error(tmp_path: Path) -> None:
    p = tmp_path / "scan.pdf"
    p.write_bytes(make_pdf(["", ""]))
    with pytest.raises(DocumentError, match="no extractable text"):
        load_document(p, tmp_path)


def test_file_outside_kb_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "kb").mkdir()
    outside = tmp_path / "x.md"
    outside.write_text("hi")
    with pytest.raises(DocumentError, match="not inside"):
        load_document(outside, tmp_path / "kb")


def test_encrypted_pdfs(tmp_path: Path) -> None:
    import io

    from pypdf import PdfReader, PdfWriter

    def encrypted(text: str, user_password: str) -> bytes:
        w = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf([text]))))
        w.encrypt(user_password=user_password, owner_password="owner", algorithm="RC4-128")
        buf = io.BytesIO()
        w.write(buf)
        return buf.getvalue()

    (tmp_path / "locked.pdf").write_bytes(encrypted("Secret.", "secret"))
    with pytest.raises(DocumentError, match="password-protected"):
        load_document(tmp_path / "locked.pdf", tmp_path)
    (tmp_path / "open.pdf").write_bytes(encrypted("Readable text.", ""))  # empty user password opens
    assert load_document(tmp_path / "open.pdf", tmp_path).text == "Readable text."
