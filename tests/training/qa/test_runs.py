"""Reading Q&A runs back (training/qa/runs.py, training/qa/status.py): fixture reports and status files."""
import json
import os
import subprocess
import sys
import time

import pytest

from training.qa.config import QAConfig
from training.qa.records import Pair
from training.qa.report import export
from training.qa.runs import list_runs, run_detail, run_status
from training.qa.status import RunStatus, StatusError, StatusWriter, read_status, write_json_atomic

CHECKS = ["supported", "terms", "topic", "length", "novel"]


def old_report(out, name="qa-kb-v1", kept_scores=(10.0, 7.0, 8.5)):
    """A report as the first pipeline version wrote it (no throughput, histogram or lowest pairs) + its dataset."""
    rows = [{"id": f"k{i}", "source_chunk_id": f"doc.md::{i}", "doc_id": "doc.md", "kind": "definition",
             "difficulty": "easy", "question": f"What is term {i}?", "answer": f"Term {i} is a thing we study.",
             "score": s, "checks": {c: not (s < 10 and c == "topic") for c in CHECKS}, "generated_by": "template"}
            for i, s in enumerate(kept_scores)]
    (out / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    report = {"version": 1, "dataset": f"{name}.jsonl", "config": {"checks": CHECKS}, "pairs": 4, "kept": 3,
              "documents": 2, "pairs_per_doc": 1.5, "pass_rate": 0.3333, "distinct_pattern_share": 1.0,
              "max_first_word_share": 1.0, "top_first_words": [["what", 3]],
              "check_failures_all_pairs": {"supported": 0, "terms": 0, "topic": 2, "length": 0, "novel": 1},
              "mean_score_kept": 8.5, "problems": [{"key": "p", "stage": "document", "where": "x.pdf",
                                                    "reason": "not a PDF"}]}
    (out / f"{name}.report.json").write_text(json.dumps(report))


def pair(i, score, checks):
    return Pair(key=f"p{i}", chunk_id=f"doc.md::{i}", doc_id="doc.md", kind="why", focus="term",
                question=f"Why does term {i} matter here?", answer=f"Term {i} matters because it is used.",
                difficulty="medium", generated_by="template", checks=checks, score=score)


def test_no_runs_yet(tmp_path):
    listing = list_runs(tmp_path / "missing")
    assert listing.reports == () and listing.statuses == () and listing.problems == () and listing.active is None


def test_exported_report_reads_back_with_throughput_histogram_and_lowest_pairs(tmp_path):
    cfg = QAConfig(out_dir=tmp_path, run_name="kb")
    good = {c: True for c in CHECKS}
    pairs = [pair(i, 10.0, good) for i in range(5)] + [pair(9, 4.0, {**good, "supported": False, "terms": False})]
    _, report = export(pairs, [], cfg, documents=2,
                       throughput={"documents_per_s": 0.5, "pairs_per_min": 90.0, "resumed": False})
    (r,) = list_runs(tmp_path).reports
    assert (r.name, r.run_name, r.version, r.pairs, r.kept, r.documents) == ("qa-kb-v1", "kb", 1, 6, 5, 2)
    assert (r.docs_per_s, r.pairs_per_min, r.resumed) == (0.5, 90.0, False)
    assert r.check_pass_rates["supported"] == round(5 / 6, 4) and r.check_pass_rates["length"] == 1.0
    d = run_detail(report)
    assert d.histogram_of == "all pairs"
    assert d.score_histogram["9-10"] == 5 and d.score_histogram["4-5"] == 1 and sum(d.score_histogram.values()) == 6
    worst = d.lowest[0]
    assert (worst.score, worst.failed_checks, worst.source, worst.kept) == (4.0, ("supported", "terms"),
                                                                            "doc.md::9", False)
    assert [p.score for p in d.lowest] == sorted(p.score for p in d.lowest)


def test_older_report_falls_back_to_its_dataset_and_a_corrupt_one_is_a_sentence(tmp_path):
    old_report(tmp_path)
    (tmp_path / "qa-kb-v2.report.json").write_text("{ not json")
    listing = list_runs(tmp_path)
    assert [r.name for r in listing.reports] == ["qa-kb-v1"]
    (problem,) = listing.problems
    assert "qa-kb-v2.report.json cannot be read" in problem and "other runs are listed" in problem
    r = listing.reports[0]
    assert r.docs_per_s is None and r.problems == 1 and r.check_pass_rates["topic"] == 0.5
    d = run_detail(r.report_path)
    assert d.histogram_of == "kept pairs only" and sum(d.score_histogram.values()) == 3
    assert d.score_histogram["7-8"] == 1 and d.score_histogram["9-10"] == 1
    assert d.lowest[0].score == 7.0 and d.lowest[0].failed_checks == ("topic",) and d.lowest[0].kept
    with pytest.raises(ValueError, match="qa-kb-v2.report.json"):
        run_detail(tmp_path / "qa-kb-v2.report.json")


def test_status_writer_and_a_killed_run_reads_as_interrupted(tmp_path):
    path = tmp_path / "work" / "kb" / "status.json"
    w = StatusWriter(path, "kb", ["python", "-m", "training", "qa", "all"])
    w.stage("generate")
    w.progress(3, 10)
    w.progress(7, 10)  # the last pair is always written, throttle or not
    st = read_status(path)
    assert (st.state, st.stage, st.done, st.total, st.pid) == ("running", "generate", 10, 10, os.getpid())
    # A dead process (a real one, already reaped) left "running" behind: interrupted.
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    write_json_atomic(path, {**st.to_json(), "pid": int(proc.stdout), "started_at": time.time()})
    st = read_status(path)
    assert st.state == "interrupted" and "stopped without finishing" in st.error and st.command[:3] == (
        "python", "-m", "training")
    # A live pid that started after the status was written is another process (pid reuse), not the run.
    write_json_atomic(path, {**st.to_json(), "state": "running", "pid": os.getpid(), "started_at": 1000.0})
    assert read_status(path).state == "interrupted"


def test_corrupt_status_is_a_sentence_and_a_failed_launch_shows_the_log(tmp_path):
    bad = tmp_path / "work" / "broken"
    bad.mkdir(parents=True)
    (bad / "status.json").write_text('{"run_name": "broken", "state": "exploded"}')
    with pytest.raises(StatusError, match="broken"):
        read_status(bad / "status.json")
    launched = tmp_path / "work" / "ui-1docs-templates"
    launched.mkdir()
    (launched / "run.log").write_text("loading\nerror: Invalid Q&A setting min_score: 11 is not between 0 and 10.\n")
    write_json_atomic(launched / "launch.json", {"pid": 999_999_999, "started_at": time.time(), "command": ["x"]})
    st = run_status(launched)
    assert st.state == "failed" and st.error == "Invalid Q&A setting min_score: 11 is not between 0 and 10."
    listing = list_runs(tmp_path)
    assert [s.run_name for s in listing.statuses] == ["ui-1docs-templates"]
    assert any("broken" in p for p in listing.problems)


def test_status_fraction():
    assert RunStatus("r", "running", done=5, total=20).fraction == 0.25
    assert RunStatus("r", "done").fraction == 1.0 and RunStatus("r", "starting").fraction == 0.0
