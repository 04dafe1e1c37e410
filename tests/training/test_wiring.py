"""The training commands' wiring: tutor-side parts are built in one place (training/wiring.py), not by the
trainer or the evaluation."""
from __future__ import annotations

import ast
from pathlib import Path

TRAINING = Path(__file__).resolve().parents[2] / "training"
# the entry point that builds tutor-side parts: the composition root
BUILDERS = {"wiring.py"}


def _imported_names(path: Path) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            out |= {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
    return out


def test_only_the_composition_root_reads_the_app_config_or_opens_the_metrics_store():
    builders = {"tutor.config.load_config", "tutor.metrics.MetricsStore", "tutor.metrics"}
    offenders = {p.name: sorted(_imported_names(p) & builders) for p in TRAINING.glob("*.py")
                 if p.name not in BUILDERS and _imported_names(p) & builders}
    assert offenders == {}
    assert "tutor.config.load_config" in _imported_names(TRAINING / "wiring.py")


def test_parts_without_a_metrics_store(monkeypatch, tmp_path):
    from training.wiring import build_parts

    monkeypatch.setenv("SMARTLEARN_PATHS_DATA_DIR", str(tmp_path / "appdata"))
    parts = build_parts(metrics_store=False)
    assert parts.metrics_store is None and parts.embedding_model
    assert not (tmp_path / "appdata" / "metrics.sqlite3").exists()
