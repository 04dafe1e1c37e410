"""The admin Data section's handlers (app/tabs/admin_data.py) called directly, and a run started from them: a
real OS process (the training CLI around a fake model, tests/training/qa/run_worker.py) whose status the
handlers read back, one at a time, interrupted by kill -9 and resumed by starting the same settings again."""
import json
import os
import signal
import sys
import time

import pytest

from app.tabs import admin, admin_data
from tests.app.admin_fixtures import ADMIN, LEARNER, admin_setup
from tests.training.qa.fixtures import small_kb
from tests.training.qa.test_runs import old_report
from training.qa.status import write_json_atomic


@pytest.fixture
def setup(tmp_path):
    return admin_setup(tmp_path)


def source(tmp_path, delay: float = 0.0) -> admin_data.DataSource:
    root = tmp_path / "qa-root"  # apart from the admin setup's own knowledge base
    small_kb(root, broken=False)
    entry = (sys.executable, "-m", "tests.training.qa.run_worker", str(root), str(delay))
    return admin_data.DataSource(out_dir=tmp_path / "qa", entry=entry)


def test_every_data_handler_refuses_non_admins(setup, tmp_path):
    src = source(tmp_path)
    views = [lambda u: admin_data.runs_view(setup.services, u, src),
             lambda u: admin_data.detail_view(setup.services, u, src, "qa-kb-v1"),
             lambda u: admin_data.status_view(setup.services, u, src),
             lambda u: admin_data.start_view(setup.services, u, src, 1, False)]
    for view in views:
        for who in (LEARNER, None):
            with pytest.raises(admin.NotAdmin):
                view(who)
    assert not (tmp_path / "qa" / "work").exists(), "nothing was started"


def test_no_runs_yet_is_a_sentence(setup, tmp_path):
    src = source(tmp_path)
    v = admin_data.runs_view(setup.services, ADMIN, src)
    assert "No Q&A runs exported yet" in v.note and v.table == [] and v.selected is None
    assert admin_data.status_view(setup.services, ADMIN, src).html == "<p>No run in progress.</p>"
    d = admin_data.detail_view(setup.services, ADMIN, src, v.selected)
    assert d.lowest == [] and len(d.histogram.data) == 1


def test_runs_with_a_corrupt_report_and_the_detail_charts(setup, tmp_path):
    src = source(tmp_path)
    src.out_dir.mkdir()
    old_report(src.out_dir)
    (src.out_dir / "qa-kb-v2.report.json").write_text("[1, 2")
    v = admin_data.runs_view(setup.services, ADMIN, src)
    assert "qa-kb-v2.report.json cannot be read" in v.note and "No Q&A runs" not in v.note
    assert v.choices == ["qa-kb-v1"] and v.selected == "qa-kb-v1"
    row = dict(zip(admin_data.RUN_HEADERS, v.table[0]))
    assert row["Kept"] == 3 and row["Docs/s"] == "–" and row["Pass %"] == "33.3"
    d = admin_data.detail_view(setup.services, ADMIN, src, v.selected)
    (bars,) = d.histogram.data
    assert sum(bars.y) == 3 and "kept pairs only" in d.summary and "distinct question patterns 100.0%" in d.summary
    (checks,) = d.checks.data
    assert dict(zip(checks.x, checks.y))["topic"] == 50.0
    assert d.lowest[0][0] == 7.0 and d.lowest[0][3] == "topic"
    bad = admin_data.detail_view(setup.services, ADMIN, src, "qa-kb-v2")
    assert "cannot be read" in bad.summary and bad.lowest == []


def test_a_killed_run_shows_as_interrupted_with_the_resume_command(setup, tmp_path):
    src = source(tmp_path)
    folder = src.out_dir / "work" / "ui-3docs-model"
    write_json_atomic(folder / "status.json", {
        "run_name": "ui-3docs-model", "state": "running", "stage": "generate", "done": 12, "total": 40,
        "pid": 999_999_999, "started_at": time.time(), "updated_at": time.time(),
        "command": ["python", "-m", "training", "qa", "all", "--limit-docs", "3"]})
    st = admin_data.status_view(setup.services, ADMIN, src)
    assert not st.active and "interrupted while generating pairs (12 of 40" in st.html
    assert "python -m training qa all --limit-docs 3" in st.html and "resume" in st.html


def wait_until(pred, timeout: float = 120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = pred()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError("timed out")


def test_start_spawns_a_process_whose_status_the_handlers_read_back(setup, tmp_path):
    src = source(tmp_path)
    msg = admin_data.start_view(setup.services, ADMIN, src, 1, False)
    assert msg.startswith("Started run ui-1docs-templates")
    assert "one run at a time" in admin_data.start_view(setup.services, ADMIN, src, 2, False)
    assert admin_data.status_view(setup.services, ADMIN, src).active
    final = wait_until(lambda: (s := admin_data.status_view(setup.services, ADMIN, src)) and not s.active and s)
    assert "finished" in final.html and "qa-ui-1docs-templates-v1.report.json" in final.html, final.html
    v = admin_data.runs_view(setup.services, ADMIN, src)
    assert v.choices == ["qa-ui-1docs-templates-v1"]
    row = dict(zip(admin_data.RUN_HEADERS, v.table[0]))
    assert row["Documents"] == 1 and row["Kept"] > 10 and row["Docs/s"] != "–"
    d = admin_data.detail_view(setup.services, ADMIN, src, v.selected)
    assert sum(d.histogram.data[0].y) == row["Pairs"] and "all pairs" in d.histogram.layout.title.text
    assert len(d.lowest) > 0 and d.lowest[0][0] <= d.lowest[-1][0]


def test_kill_9_then_the_same_settings_resume(setup, tmp_path):
    src = source(tmp_path, delay=0.2)
    assert admin_data.start_view(setup.services, ADMIN, src, 1, True).startswith("Started")
    folder = src.out_dir / "work" / "ui-1docs-model"

    def generating():
        path = folder / "status.json"
        row = json.loads(path.read_text()) if path.is_file() else {}
        return row if row.get("stage") == "generate" and row.get("done", 0) > 0 else None

    row = wait_until(generating)
    os.kill(row["pid"], signal.SIGKILL)
    st = wait_until(lambda: (s := admin_data.status_view(setup.services, ADMIN, src)) and not s.active and s)
    assert "interrupted" in st.html, st.html
    before = [json.loads(x)["key"] for x in (folder / "pairs.jsonl").read_text().splitlines() if x.strip()]
    assert admin_data.start_view(setup.services, ADMIN, src, 1, True).startswith("Started run ui-1docs-model")
    final = wait_until(lambda: (s := admin_data.status_view(setup.services, ADMIN, src)) and not s.active and s)
    assert "finished" in final.html, final.html
    after = [json.loads(x)["key"] for x in (folder / "pairs.jsonl").read_text().splitlines() if x.strip()]
    assert len(after) == len(set(after)) and set(before) <= set(after) and len(after) > len(before)


def test_learner_login_cannot_call_the_data_events(setup):
    """Through the real server: the Data section's events (the start button included) refuse a learner."""
    import httpx

    from tests.app.admin_fixtures import ADMIN_PW, LEARNER_PW, running_server
    from tests.app.test_admin_tab import _call_raw
    from training.qa.config import QAConfig

    work = QAConfig().out_dir / "work"
    before = sorted(p.name for p in work.iterdir()) if work.is_dir() else []
    with running_server(setup.services) as (url, demo):
        data_fns = [i for i, d in demo.fns.items()
                    if any(getattr(o, "elem_id", None) in ("admin-data-status", "admin-data-summary")
                           for o in d.outputs)]
        assert len(data_fns) >= 4, "the Data section's events were found"
        with httpx.Client() as http:
            assert http.post(url + "login", data={"username": LEARNER, "password": LEARNER_PW}).status_code == 200
            replies = [_call_raw(http, url, i, len(demo.fns[i].inputs)) for i in data_fns]
        # The same views answer an admin through Gradio's own output handling (the start button is left out).
        views = [i for i in data_fns if not any(getattr(o, "elem_id", None) == "admin-data-message"
                                                for o in demo.fns[i].outputs)]
        with httpx.Client() as http:
            assert http.post(url + "login", data={"username": ADMIN, "password": ADMIN_PW}).status_code == 200
            admin_text = "\n".join(_call_raw(http, url, i, len(demo.fns[i].inputs)) for i in views)
    assert any("for admins" in text for text in replies), "the learner is told why"
    for text in replies:
        assert "qa-kb-v" not in text and "Started run" not in text and "<progress" not in text, text[:300]
    assert (sorted(p.name for p in work.iterdir()) if work.is_dir() else []) == before, "nothing was started"
    assert "qa-kb-v1" in admin_text and admin_text.count('"success": true') == len(views), admin_text[-500:]
