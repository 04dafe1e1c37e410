"""Incremental ingestion with a manifest, self-healing index, and the upload path."""
from __future__ import annotations

import json
import shutil

import pytest

from tests.tutor.retrieval.conftest import CountingEmbedder, make_pdf, write_md
from tutor.errors import ConfigError
from tutor.retrieval.hybrid import Retriever
from tutor.retrieval.ingest import Ingestor, ensure_index, safe_filename
from tutor.retrieval.store import ChromaStore


def _doc_ids(store: ChromaStore) -> set[str]:
    return set(store.doc_chunk_counts())


def test_first_run_then_nothing_to_do(stack, embedder) -> None:
    _, ingestor, store = stack
    calls: list[tuple[int, int, str]] = []
    report = ingestor.run(progress=lambda d, t, name: calls.append((d, t, name)))
    assert report.rebuilt and sorted(report.added) == [
        "calculus/derivatives.md", "python/lists.md", "statistics/probability.md"]
    assert report.total_chunks == report.chunks_written == store.count() > 3
    assert calls[0] == (0, 3, "") and calls[-1][:2] == (3, 3)
    manifest = json.loads(ingestor.manifest_path.read_text())
    assert ingestor.manifest_path == store.path.parent / "chroma_manifest.json"
    assert set(manifest["files"]) == set(report.added)

    embedder.reset_counts()
    again = ingestor.run()
    assert not again.changed and not again.rebuilt and again.unchanged == 3 and embedder.calls == 0


def test_only_changed_file_is_reembedded(stack, embedder, kb) -> None:
    _, ingestor, store = stack
    ingestor.run()
    before = {c.id for c in store.all_chunks()[0] if c.doc_id == "python/lists.md"}
    embedder.reset_counts()
    write_md(kb / "python" / "lists.md", "Python lists", "Python", "# Lists\n\nTuples are immutable; lists are not.\n")
    report = ingestor.run()
    assert report.updated == ("python/lists.md",) and not report.added and not report.removed
    assert report.unchanged == 2 and not report.rebuilt
    assert embedder.texts and all(t.startswith("Python lists") for t in embedder.texts)
    after = {c.id for c in store.all_chunks()[0] if c.doc_id == "python/lists.md"}
    assert after and not (after & before)  # old chunks replaced, not left behind
    assert report.total_chunks == store.count()


def test_touched_but_identical_file_is_not_reembedded(stack, embedder, kb) -> None:
    _, ingestor, _ = stack
    ingestor.run()
    p = kb / "python" / "lists.md"
    p.write_bytes(p.read_bytes())  # new mtime, same content
    embedder.reset_counts()
    report = ingestor.run()
    assert not report.changed and embedder.calls == 0


def test_removed_and_added_files(stack, kb) -> None:
    retriever, ingestor, store = stack
    ingestor.run()
    (kb / "statistics" / "probability.md").unlink()
    write_md(kb / "python" / "dicts.md", "Dicts", "Python", "# Dicts\n\nA dict maps keys to values.\n")
    report = ingestor.run()
    assert report.removed == ("statistics/probability.md",) and report.added == ("python/dicts.md",)
    assert _doc_ids(store) == {"calculus/derivatives.md", "python/lists.md", "python/dicts.md"}
    assert "Statistics" not in retriever.subjects()
    assert retriever.search("dict keys values").hits[0].chunk.doc_id == "python/dicts.md"


def test_unparseable_files_are_skipped_with_reason(stack, kb) -> None:
    _, ingestor, store = stack
    (kb / "python" / "bad.md").write_text("---\ntitle: [oops\n---\nbody\n")
    (kb / "python" / "latin1.txt").write_bytes(b"caf\xe9")
    (kb / "python" / "image.png").write_bytes(b"\x89PNG")
    (kb / ".hidden.md").write_text("ignored")
    report = ingestor.run()
    reasons = {s.path: s.reason for s in report.skipped}
    assert set(reasons) == {"python/bad.md", "python/latin1.txt", "python/image.png"}
    assert "YAML" in reasons["python/bad.md"] and "UTF-8" in reasons["python/latin1.txt"]
    assert "not supported" in reasons["python/image.png"]
    assert len(report.added) == 3 and _doc_ids(store) == set(report.added)

    # a good file that turns bad loses its old chunks (they describe text no longer there)
    (kb / "python" / "lists.md").write_text("---\ntitle: [broken\n---\n")
    report = ingestor.run()
    assert "python/lists.md" in {s.path for s in report.skipped}
    assert "python/lists.md" not in _doc_ids(store)
    assert report.total_chunks == store.count()


def test_pdf_in_kb_is_ingested_and_cited_by_page(stack, kb) -> None:
    retriever, ingestor, _ = stack
    (kb / "statistics" / "handout.pdf").write_bytes(make_pdf(["Intro page.", "The median is the middle value."]))
    (kb / "statistics" / "broken.pdf").write_bytes(b"%PDF-1.4\n not really")
    report = ingestor.run()
    assert "statistics/handout.pdf" in report.added
    assert [s.path for s in report.skipped] == ["statistics/broken.pdf"]
    hit = retriever.search("median middle value", k=1).hits[0]
    assert hit.chunk.doc_id == "statistics/handout.pdf" and hit.chunk.section == "Page 2"
    assert hit.chunk.subject == "statistics"


def test_changed_chunking_or_embedder_forces_rebuild(tmp_path, kb, rcfg) -> None:
    emb = CountingEmbedder(64)
    path = tmp_path / "chroma"
    with ChromaStore(path, "test_kb", emb) as store:
        Ingestor(kb, store, emb, rcfg).run()
    with ChromaStore(path, "test_kb", emb) as store:
        report = Ingestor(kb, store, emb, rcfg.replace(chunk_words=30)).run()
        assert report.rebuilt and len(report.added) == 3
    other = CountingEmbedder(32)
    with ChromaStore(path, "test_kb", other) as store:
        report = Ingestor(kb, store, other, rcfg.replace(chunk_words=30)).run()
        assert report.rebuilt and len(report.added) == 3 and store.count() == report.total_chunks


def test_missing_manifest_or_store_forces_rebuild(tmp_path, kb, rcfg) -> None:
    emb = CountingEmbedder(64)
    path = tmp_path / "data" / "chroma"
    with ChromaStore(path, "test_kb", emb) as store:
        ing = Ingestor(kb, store, emb, rcfg)
        n = ing.run().total_chunks
        ing.manifest_path.unlink()
    with ChromaStore(path, "test_kb", emb) as store:
        report = Ingestor(kb, store, emb, rcfg).run()
        assert report.rebuilt and report.total_chunks == n
    shutil.rmtree(path)
    with ChromaStore(path, "test_kb", emb) as store:
        report = ensure_index(Ingestor(kb, store, emb, rcfg))
        assert report.rebuilt and report.total_chunks == n and len(report.added) == 3


def test_corrupt_index_is_rebuilt_by_ensure_index(tmp_path, kb, rcfg) -> None:
    emb = CountingEmbedder(64)
    path = tmp_path / "data" / "chroma"
    with ChromaStore(path, "test_kb", emb) as store:
        n = ensure_index(Ingestor(kb, store, emb, rcfg)).total_chunks
    (path / "chroma.sqlite3").write_bytes(b"\x00garbage" * 4096)
    with ChromaStore(path, "test_kb", emb) as store:
        report = ensure_index(Ingestor(kb, store, emb, rcfg))
        assert report.rebuilt and report.total_chunks == n
        res = Retriever(store, emb, rcfg).search("chain rule derivative")
        assert res.hits and res.hits[0].chunk.doc_id == "calculus/derivatives.md"


# ---------------------------------------------------------------- uploads


def test_add_documents_on_empty_index_builds_everything(stack, tmp_path) -> None:
    _, ingestor, _ = stack
    (tmp_path / "n.txt").write_text("Uploaded before the first ingest.\n")
    report = ingestor.add_documents([tmp_path / "n.txt"])
    assert report.rebuilt and "uploads/n.txt" in report.added and len(report.added) == 4


def test_add_documents_copies_and_ingests(stack, kb, tmp_path) -> None:
    retriever, ingestor, _ = stack
    ingestor.run()
    src = tmp_path / "incoming"
    src.mkdir()
    (src / "My Notes (v2).md").write_text("# Photosynthesis\n\nPlants turn light into chemical energy.\n")
    (src / "notes.txt").write_text("Mitochondria are the powerhouse of the cell.\n")
    (src / "slides.pdf").write_bytes(make_pdf(["Osmosis moves water across a membrane."]))
    report = ingestor.add_documents([src / "My Notes (v2).md", src / "notes.txt", src / "slides.pdf"])
    assert sorted(report.added) == ["uploads/My-Notes-v2.md", "uploads/notes.txt", "uploads/slides.pdf"]
    assert not report.skipped and not report.removed
    assert (kb / "uploads" / "My-Notes-v2.md").is_file()
    hit = retriever.search("powerhouse of the cell", k=1).hits[0]
    assert hit.chunk.doc_id == "uploads/notes.txt" and hit.chunk.subject == "General"
    assert not any(p.name.startswith(".") for p in (kb / "uploads").iterdir())  # no temp files left


def test_add_documents_rejects_bad_files(stack, tmp_path) -> None:
    _, ingestor, store = stack
    src = tmp_path / "incoming"
    src.mkdir()
    cases = {
        "image.png": (b"\x89PNG\r\n", "not supported"),
        "fake.pdf": (b"just text pretending", "not a PDF"),
        "real-pdf.md": (make_pdf(["hello"]), "is a PDF"),
        "binary.txt": (b"ab\x00\x01cd", "binary"),
        "latin1.txt": (b"caf\xe9 cr\xe8me", "not UTF-8"),
        "empty.md": (b"", "empty"),
        "big.txt": (b"word " * 400, "limit"),
        "scanned.pdf": (make_pdf([""]), "no extractable text"),
        "badyaml.md": (b"---\ntitle: [x\n---\nbody", "YAML"),
    }
    for name, (data, _) in cases.items():
        (src / name).write_bytes(data)
    report = ingestor.add_documents([src / n for n in cases] + [src / "missing.md"], max_bytes=1000)
    reasons = {s.path: s.reason for s in report.skipped}
    for name, (_, why) in cases.items():
        assert why in reasons[name], (name, reasons[name])
    assert "missing.md" in reasons
    assert not report.added and store.count() == 0
    uploads = ingestor.kb_dir / "uploads"
    assert not uploads.exists() or not any(uploads.iterdir())  # nothing rejected landed in the KB


def test_add_documents_same_name_never_overwrites(stack, tmp_path) -> None:
    _, ingestor, _ = stack
    ingestor.run()
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    (a / "notes.md").write_text("# One\n\nFirst file about rivers.\n")
    (b / "notes.md").write_text("# Two\n\nSecond file about mountains.\n")
    r1 = ingestor.add_documents([a / "notes.md"])
    r2 = ingestor.add_documents([b / "notes.md"])
    r3 = ingestor.add_documents([a / "notes.md"])  # the same file again: no copy, nothing new
    assert r1.added == ("uploads/notes.md",) and r2.added == ("uploads/notes-1.md",)
    assert not r3.added and r3.unchanged == 1
    up = ingestor.kb_dir / "uploads"
    assert "rivers" in (up / "notes.md").read_text() and "mountains" in (up / "notes-1.md").read_text()
    assert sorted(p.name for p in up.iterdir()) == ["notes-1.md", "notes.md"]


@pytest.mark.parametrize(
    "name, expected",
    [
        ("../../etc/passwd.md", "passwd.md"),
        ("..\\..\\windows\\evil.TXT", "evil.txt"),
        ("/abs/path/x.pdf", "x.pdf"),
        ("..md", "document.md"),
        (".bashrc", "document.bashrc"),
        ("Résumé été.md", "Resume-ete.md"),
        ("a b/c d.md", "c-d.md"),
        ("x" * 300 + ".md", "x" * 90 + ".md"),
    ],
)
def test_safe_filename(name: str, expected: str) -> None:
    assert safe_filename(name) == expected


def test_upload_name_with_traversal_stays_in_uploads(stack, tmp_path) -> None:
    _, ingestor, _ = stack
    ingestor.run()
    weird = tmp_path / "..md"
    weird.write_text("Some text about traversal.\n")
    report = ingestor.add_documents([weird])
    assert report.added == ("uploads/document.md",)
    assert (ingestor.kb_dir / "uploads" / "document.md").is_file()


def test_missing_kb_folder_is_an_error_not_an_empty_index(stack, kb) -> None:
    _, ingestor, store = stack
    n = ingestor.run().total_chunks
    shutil.rmtree(kb)
    with pytest.raises(ConfigError, match="does not exist"):
        ingestor.run()
    assert store.count() == n
