"""`python -m tutor` commands, run in-process on a temp knowledge base with the hash embedder."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tutor.__main__ import main


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, kb: Path) -> Path:
    monkeypatch.setenv("SMARTLEARN_PATHS_KNOWLEDGE_BASE_DIR", str(kb))
    monkeypatch.setenv("SMARTLEARN_PATHS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SMARTLEARN_RETRIEVAL_EMBEDDING_MODEL", "hash:64")
    return kb


def test_ingest_search_add_doc(env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ingest"]) == 0
    out = capsys.readouterr().out
    assert "Full rebuild" in out and "3 added" in out and "chunks in the index" in out
    assert main(["ingest"]) == 0
    assert "Incremental ingest" in capsys.readouterr().out

    assert main(["search", "chain rule derivative", "-k", "2"]) == 0
    out = capsys.readouterr().out
    assert "#1" in out and "#2" in out and "#3" not in out and "calculus/derivatives.md" in out and "rrf=" in out

    assert main(["search", "list", "--subject", "python"]) == 0
    out = capsys.readouterr().out
    assert "in Python" in out and "calculus/" not in out

    note = tmp_path / "note.txt"
    note.write_text("Gradient descent takes small steps downhill.\n")
    assert main(["add-doc", str(note)]) == 0
    assert "uploads/note.txt" in capsys.readouterr().out

    assert main(["ingest", "--rebuild"]) == 0
    assert "Full rebuild" in capsys.readouterr().out


def test_errors_are_one_sentence_and_exit_1(env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    assert main(["search", "x", "--subject", "Astronomy"]) == 1
    err = capsys.readouterr().err
    assert "Unknown subject 'Astronomy'" in err and "Traceback" not in err

    assert main(["add-doc", str(tmp_path / "nope.md")]) == 1
    assert "nope.md" in capsys.readouterr().out

    monkeypatch.setenv("SMARTLEARN_RETRIEVAL_TOP_K", "zero")
    assert main(["config"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Error: ") and "retrieval.top_k" in err


def test_config_prints_rows(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config"]) == 0
    out = capsys.readouterr().out
    assert "retrieval.relevance_floor" in out and "hash:64" in out


def test_module_entry_point(env: Path) -> None:
    import os

    proc = subprocess.run([sys.executable, "-m", "tutor", "search", "   "], capture_output=True, text=True,
                          env=os.environ.copy(), cwd=Path(__file__).resolve().parents[3], timeout=60)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr and "question" in proc.stderr
