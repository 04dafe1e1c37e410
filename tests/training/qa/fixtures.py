"""Shared helpers for the Q&A pipeline tests: real KB text, the app's parts built with fakes."""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from tutor.backends.fake import FakeBackend
from tutor.config import AppConfig, PathsConfig
from tutor.retrieval import HashEmbedder

REPO = Path(__file__).resolve().parents[3]
KB = REPO / "knowledge_base"
DOCS = ("calculus/derivatives.md", "machine-learning/supervised-learning-linear-regression.md")


def small_kb(root: Path, broken: bool = True) -> Path:
    """Two real KB documents, plus (optionally) a file that cannot be parsed."""
    kb = root / "kb"
    for rel in DOCS:
        (kb / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(KB / rel, kb / rel)
    if broken:
        (kb / "uploads").mkdir(parents=True, exist_ok=True)
        (kb / "uploads" / "broken.md").write_text("---\ntitle: [unclosed\n---\nSome text.\n", encoding="utf-8")
        (kb / "uploads" / "scan.pdf").write_bytes(b"not a pdf at all")
    return kb


def app_cfg(root: Path, kb: Path) -> AppConfig:
    return AppConfig(paths=PathsConfig(knowledge_base_dir=kb, data_dir=root / "data"))


class SlowFake(FakeBackend):
    """A FakeBackend that takes `delay_s` per request and answers every request with a valid JSON question."""

    def __init__(self, delay_s: float = 0.0, question: str = "What is it?", **kw) -> None:
        super().__init__(default=json.dumps({"question": question}), **kw)
        self.delay_s = delay_s

    def stream(self, request):
        time.sleep(self.delay_s)
        yield from super().stream(request)


def hash_embedder() -> HashEmbedder:
    return HashEmbedder(dim=256)
