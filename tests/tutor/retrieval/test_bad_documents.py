"""Bad documents through the CLI (`python -m tutor add-doc` and `ingest`, issue 14 part 5): each is
refused with a sentence (exit 1 for add-doc), and nothing else is lost: the index and its manifest
are as they were and the other documents are still found."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.tutor.bad_uploads import DOCUMENT_CASES, ONE_LINE_WORDS, BadFile, make
from tutor.__main__ import main
from tutor.config import load_config
from tutor.retrieval import build_retrieval


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, kb: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    monkeypatch.setenv("SMARTLEARN_PATHS_KNOWLEDGE_BASE_DIR", str(kb))
    monkeypatch.setenv("SMARTLEARN_PATHS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SMARTLEARN_RETRIEVAL_EMBEDDING_MODEL", "hash:64")
    assert main(["ingest"]) == 0
    capsys.readouterr()
    return kb


def index_state() -> tuple[int, str, list[str]]:
    """(chunks in the store, the manifest's text, the doc ids that the top hits for 'chain rule' come from)."""
    retriever, ingestor = build_retrieval(load_config(None))
    try:
        hits = retriever.search("chain rule derivative", k=2).hits
        return ingestor.store.count(), ingestor.manifest_path.read_text(), sorted({h.chunk.doc_id for h in hits})
    finally:
        ingestor.store.close()


@pytest.mark.parametrize("case", DOCUMENT_CASES, ids=lambda c: c.id)
def test_add_doc_refuses_with_a_sentence(env: Path, tmp_path: Path, capsys, case: BadFile) -> None:
    before = index_state()
    assert main(["add-doc", str(make(case, tmp_path / "up"))]) == 1
    captured = capsys.readouterr()
    assert case.expect in captured.out and "Traceback" not in captured.out + captured.err
    assert index_state() == before
    assert not (env / "uploads" / case.name).exists(), "a refused file never lands in the knowledge base"


def test_ingest_skips_every_bad_file_and_keeps_the_rest(env: Path, capsys) -> None:
    before = index_state()
    for case in DOCUMENT_CASES:
        make(case, env / "dropped")  # copied into the folder by hand, past the upload checks
    assert main(["ingest"]) == 0
    out = capsys.readouterr().out
    assert f"{len(DOCUMENT_CASES)} skipped" in out and "0 added" in out and "Traceback" not in out
    for case in DOCUMENT_CASES:
        line = next(x for x in out.splitlines() if f"dropped/{case.name}" in x)
        assert line.lstrip().startswith("skipped") and case.expect in line, line
    count, _, hits = index_state()
    assert (count, hits) == (before[0], before[2])


def test_five_megabytes_of_words_on_one_line_is_just_a_long_document(env: Path, tmp_path: Path, capsys) -> None:
    count, _, hits = index_state()
    assert main(["add-doc", str(make(ONE_LINE_WORDS, tmp_path / "up"))]) == 0
    out = capsys.readouterr().out
    assert "1 added" in out and "uploads/wall.md" in out
    after, _, hits_after = index_state()
    assert after > count + 1000 and hits_after == hits  # chunked into many passages; the others untouched
