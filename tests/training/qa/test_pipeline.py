"""The stages end to end on real KB documents with the app's parts built around fakes; the durable log."""
import json
from dataclasses import replace

from tests.training.qa.fixtures import SlowFake, app_cfg, hash_embedder, small_kb
from tutor.metrics import MetricsStore
from tutor.metrics.meter import MeteredBackend
from training.qa.checkpoint import JsonlLog
from training.qa.config import QAConfig
from training.qa.pipeline import generate, load_problems, run_dir, score_run
from training.qa.report import export
from training.wiring import build_qa_parts


def test_generate_score_export(tmp_path):
    kb = small_kb(tmp_path)
    parts = build_qa_parts(app_cfg(tmp_path, kb), backend=SlowFake(), embedder=hash_embedder())
    assert isinstance(parts.backend, MeteredBackend)  # every request is recorded by the app's meter
    cfg = replace(QAConfig(), out_dir=tmp_path / "out")
    stats = generate(cfg, parts.backend, parts.kb_dir, parts.chunking, workers=3)
    assert stats.documents == 4 and stats.new_pairs == stats.total_pairs > 40
    problems = load_problems(cfg)
    reasons = {p.where: p.reason for p in problems if p.stage == "document"}
    assert set(reasons) == {"uploads/broken.md", "uploads/scan.pdf"}
    assert "front matter" in reasons["uploads/broken.md"] and "PDF" in reasons["uploads/scan.pdf"]
    again = generate(cfg, parts.backend, parts.kb_dir, parts.chunking, workers=3)
    assert again.new_pairs == 0 and again.total_pairs == stats.total_pairs
    calls = MetricsStore(tmp_path / "data" / "metrics.sqlite3").recent_calls(1000, operation="qa")
    assert calls and all(c.user == "qa-pipeline" for c in calls)  # the app's meter recorded every request
    lines = (run_dir(cfg) / "pairs.jsonl").read_text().splitlines()
    assert len(lines) == stats.total_pairs

    pairs = score_run(cfg, parts.embed)
    data, report = export(pairs, load_problems(cfg), cfg, documents=stats.documents)
    assert data.name == "qa-kb-v1.jsonl"
    rows = [json.loads(x) for x in data.read_text().splitlines()]
    wanted = {"source_chunk_id", "kind", "difficulty", "score", "generated_by", "question", "answer"}
    assert rows and wanted <= set(rows[0])
    assert all(r["score"] >= cfg.min_score for r in rows)
    rep = json.loads(report.read_text())
    assert rep["kept"] == len(rows) and 0 < rep["pass_rate"] <= 1 and len(rep["problems"]) >= 2
    assert export(pairs, [], cfg, documents=stats.documents)[0].name == "qa-kb-v2.jsonl"


def test_log_drops_a_torn_last_line_and_refuses_duplicates(tmp_path):
    path = tmp_path / "log.jsonl"
    log = JsonlLog(path)
    assert log.append({"key": "a", "v": 1}) and not log.append({"key": "a", "v": 2})
    log.close()
    with open(path, "a") as fh:
        fh.write('{"key": "b", "v"')  # what a kill -9 during a write can leave
    log = JsonlLog(path)
    assert set(log.rows) == {"a"}
    assert log.append({"key": "b", "v": 3})
    log.close()
    assert [json.loads(x)["key"] for x in path.read_text().splitlines()] == ["a", "b"]
