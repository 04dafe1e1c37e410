"""Heading-aware chunking: section paths, packing with overlap, code fences, stable ids."""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

from tutor.retrieval.chunking import chunk_document, context_text, word_count
from tutor.retrieval.documents import Document


def _doc(text: str, kind: str = "md", pages: tuple[str, ...] = ()) -> Document:
    return Document(doc_id="s/d.md", title="Doc", subject="S", level="general", text=text,
                    path=Path("s/d.md"), kind=kind, pages=pages)


def _sentences(prefix: str, n: int, words: int = 8) -> str:
    """n sentences of `words` words each, like "P0 sentence 3 word word word word end." (capitalized)."""
    filler = " ".join(["word"] * (words - 4))
    return " ".join(f"{prefix.capitalize()} sentence {i} {filler} end." for i in range(n))


def test_heading_paths() -> None:
    text = ("Preamble text.\n\n# Top\n\nIntro.\n\n## Mid\n\nMid text.\n\n### Low\n\nLow text.\n\n"
            "## Mid two\n\nMore.\n\n# Other\n\nLast.\n")
    chunks = chunk_document(_doc(text), 50, 10)
    assert [(c.section, c.text) for c in chunks] == [
        ("", "Preamble text."),
        ("Top", "Intro."),
        ("Top > Mid", "Mid text."),
        ("Top > Mid > Low", "Low text."),
        ("Top > Mid two", "More."),
        ("Other", "Last."),
    ]
    assert [c.ordinal for c in chunks] == list(range(6))
    assert all((c.doc_id, c.title, c.subject, c.level) == ("s/d.md", "Doc", "S", "general") for c in chunks)


def test_packing_sizes_and_overlap() -> None:
    paras = "\n\n".join(_sentences(f"p{j}", 3) for j in range(6))  # 6 paragraphs x 24 words
    chunks = chunk_document(_doc("# H\n\n" + paras), chunk_words=60, overlap_words=10)
    assert len(chunks) >= 3
    for c in chunks:
        assert word_count(c.text) <= 60
    for a, b in zip(chunks, chunks[1:]):
        # the next chunk starts with the last sentence of the previous one (8 words <= 10)
        last_sentence = re.split(r"(?<=\.)\s+", a.text)[-1]
        assert b.text.startswith(last_sentence), (a.text, b.text)
    # every paragraph's content is present somewhere
    joined = " ".join(c.text for c in chunks)
    for j in range(6):
        assert f"P{j} sentence 2" in joined


def test_no_overlap_across_sections() -> None:
    text = "# A\n\n" + _sentences("a", 10) + "\n\n# B\n\n" + _sentences("b", 2)
    chunks = chunk_document(_doc(text), 40, 10)
    b_chunks = [c for c in chunks if c.section == "B"]
    assert len(b_chunks) == 1 and "A sentence" not in b_chunks[0].text


def test_long_paragraph_is_split_by_sentences() -> None:
    para = _sentences("x", 20)  # one paragraph of 160 words
    chunks = chunk_document(_doc(para), chunk_words=50, overlap_words=0)
    assert len(chunks) >= 4
    for c in chunks:
        assert word_count(c.text) <= 50
        assert c.text.startswith("X sentence") and c.text.endswith("end.")  # whole sentences


def test_code_fence_kept_whole_and_headings_inside_ignored() -> None:
    code = "```python\n# not a heading\ndef f(x):\n\n    return x * 2\n```"
    text = "# Code\n\n" + _sentences("intro", 4) + "\n\n" + code + "\n\n" + _sentences("after", 4)
    chunks = chunk_document(_doc(text), chunk_words=40, overlap_words=5)
    assert all(c.section == "Code" for c in chunks)
    holders = [c for c in chunks if "def f(x):" in c.text]
    assert len(holders) == 1 and code in holders[0].text
    for c in chunks:
        assert c.text.count("```") % 2 == 0


def test_huge_code_block_is_split_with_fences_reopened() -> None:
    code = "```\n" + "\n".join(f"line_{i} = {i}" for i in range(100)) + "\n```"
    chunks = chunk_document(_doc(code), chunk_words=40, overlap_words=5)
    assert len(chunks) > 1
    for c in chunks:
        assert c.text.startswith("```") and c.text.endswith("```")
    assert sum(c.text.count("line_") for c in chunks) == 100


def test_ids_stable_and_content_derived() -> None:
    text = "# A\n\n" + _sentences("a", 12)
    one = chunk_document(_doc(text), 40, 8)
    two = chunk_document(_doc(text), 40, 8)
    assert [c.id for c in one] == [c.id for c in two]
    for c in one:
        assert c.id == f"s/d.md::{c.ordinal}:{hashlib.sha1(c.text.encode()).hexdigest()[:8]}"
    changed = chunk_document(_doc(text.replace("A sentence 11", "A sentence eleven")), 40, 8)
    assert one[0].id == changed[0].id and one[-1].id != changed[-1].id


def test_pdf_pages_are_sections_and_txt_has_no_headings() -> None:
    pdf = _doc("p1\n\np2", kind="pdf", pages=("First page.", "", "Third page."))
    assert [(c.section, c.text) for c in chunk_document(pdf, 40, 5)] == [
        ("Page 1", "First page."), ("Page 3", "Third page.")]
    txt = _doc("# comment\nplain text", kind="txt")
    (c,) = chunk_document(txt, 40, 5)
    assert c.section == "" and c.text.startswith("# comment")


def test_context_text() -> None:
    assert context_text("Doc", "Doc > Limits", "body") == "Doc — Limits\nbody"
    assert context_text("Doc", "Other > X", "body") == "Doc — Other > X\nbody"
    assert context_text("Doc", "", "body") == "Doc\nbody"
