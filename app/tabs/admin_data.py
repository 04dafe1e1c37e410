"""Admin "Data" section: the documents-to-Q&A runs (training/qa/) and starting one.

Shows every exported run (throughput, quality-score distribution, pass rate per check, diversity, the
lowest-scored pairs to inspect) and the latest run's live status. A run started here is its own OS process
(training/qa/launch.py), so it goes on when the browser tab closes; reopening the Data section reads its
status file back and a timer polls it while it runs (and stops polling once it has ended). Reading runs is
training/qa/runs.py; this module only lays out, formats and wires. Every handler checks the admin role first
(app/tabs/admin_access.py).
"""
from __future__ import annotations

import html
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr

from app.tabs.admin_access import require_admin, safe_view
from training.qa.config import QAConfig
from training.qa.launch import DEFAULT_ENTRY, RunBusy, RunRequest, start_run
from training.qa.runs import RunDetail, RunListing, RunSummary, list_runs, list_statuses, run_detail
from training.qa.status import RunStatus
from tutor.services import Services

RUN_HEADERS = ["Run", "Finished", "Documents", "Docs/s", "Pairs/min", "Pairs", "Kept", "Pairs/doc", "Pass %",
               "Mean score", "Distinct patterns %", "Max first word %"]
LOW_HEADERS = ["Score", "Question", "Answer", "Failed checks", "Source", "Kind", "Kept"]
STAGES = {"start": "starting", "load": "loading the model and documents", "generate": "generating pairs",
          "score": "scoring and removing near-duplicates", "export": "writing the dataset and report"}
POLL_S = 2.0


@dataclass(frozen=True)
class DataSource:
    """Where the runs live and the command that starts one (tests pass a worker with a fake model)."""

    out_dir: Path = field(default_factory=lambda: QAConfig().out_dir)
    entry: tuple[str, ...] = DEFAULT_ENTRY


@dataclass(frozen=True)
class RunsView:
    note: str  # markdown: "no runs yet", unreadable files
    table: list[list[Any]]
    choices: list[str]  # report names, newest first
    selected: str | None


@dataclass(frozen=True)
class DetailView:
    summary: str  # markdown: diversity figures and what the histogram covers
    histogram: Any  # plotly figures
    checks: Any
    lowest: list[list[Any]]


@dataclass(frozen=True)
class StatusView:
    html: str
    active: bool  # keep polling


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{100 * v:.1f}"


def _num(v: float | None, digits: int = 2) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def _when(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(t)) if t else "–"


def _row(r: RunSummary) -> list[Any]:
    pairs_min = _num(r.pairs_per_min, 1) + (" (resumed)" if r.resumed and r.pairs_per_min is not None else "")
    return [r.name, _when(r.finished_at), r.documents, _num(r.docs_per_s, 3), pairs_min, r.pairs, r.kept,
            _num(r.pairs_per_doc, 1), _pct(r.pass_rate), _num(r.mean_score_kept), _pct(r.distinct_pattern_share),
            _pct(r.max_first_word_share)]


def runs_view(services: Services, username: str | None, source: DataSource, selected: str | None = None) -> RunsView:
    require_admin(services, username)
    listing: RunListing = list_runs(source.out_dir)
    lines = [f"- {p}" for p in listing.problems]
    if not listing.reports:
        lines.insert(0, "No Q&A runs exported yet: start one below, or run `python -m training qa all` "
                        "(add `--limit-docs 3` for a quick one).")
    choices = [r.name for r in listing.reports]
    chosen = selected if selected in choices else (choices[0] if choices else None)
    return RunsView("\n".join(lines), [_row(r) for r in listing.reports], choices, chosen)


def _bar(x: list[str], y: list[float], title: str, y_title: str, y_range: list[float] | None = None) -> Any:
    import plotly.graph_objects as go

    fig = go.Figure()
    fig.add_bar(x=x, y=y, text=[f"{v:g}" for v in y], textposition="outside")
    fig.update_layout(title=title, height=300, yaxis=dict(title=y_title, range=y_range),
                      margin=dict(l=40, r=20, t=50, b=40))
    return fig


def detail_view(services: Services, username: str | None, source: DataSource, name: str | None) -> DetailView:
    require_admin(services, username)
    if not name:
        return DetailView("", _bar([], [], "Quality score distribution (no run yet)", "pairs"),
                          _bar([], [], "Pass rate per check (no run yet)", "%"), [])
    try:
        d: RunDetail = run_detail(Path(source.out_dir) / f"{name}.report.json")
    except ValueError as e:
        return DetailView(str(e), _bar([], [], "Quality score distribution", "pairs"),
                          _bar([], [], "Pass rate per check", "%"), [])
    s = d.summary
    hist = _bar(list(d.score_histogram), [float(v) for v in d.score_histogram.values()],
                f"Quality score distribution ({d.histogram_of}, score 0-10)", "pairs")
    checks = _bar(list(s.check_pass_rates), [round(100 * v, 1) for v in s.check_pass_rates.values()],
                  "Pass rate per check (all pairs)", "%", [0, 105])
    words = ", ".join(f"{w} {c}" for w, c in d.top_first_words) or "–"
    md = (f"**{s.name}** — {s.kept} kept of {s.pairs} pairs from {s.documents} documents; "
          f"{_pct(s.pass_rate)}% of kept pairs pass every check; mean score {_num(s.mean_score_kept)}.\n\n"
          f"**Diversity:** distinct question patterns {_pct(s.distinct_pattern_share)}% (target ≥ 85%) · "
          f"most common first word on {_pct(s.max_first_word_share)}% of questions (target < 12%) · "
          f"top first words: {words}.\n\n"
          f"**Throughput:** {_num(s.docs_per_s, 3)} documents/s, {_num(s.pairs_per_min, 1)} pairs/min"
          + (" (the last generate resumed a run: only its part)" if s.resumed else "")
          + (" (not recorded in this older report)" if s.docs_per_s is None else "") + f" · problems: {s.problems}."
          + ("\n\n_This report predates the full distribution: the chart and the table below show its kept "
             "pairs only._" if d.histogram_of != "all pairs" else ""))
    lowest = [[p.score, p.question, p.answer, ", ".join(p.failed_checks) or "–", p.source, p.kind,
               "yes" if p.kept else "no"] for p in d.lowest]
    return DetailView(md, hist, checks, lowest)


def _status_html(st: RunStatus) -> str:
    name = html.escape(st.run_name)
    stage = STAGES.get(st.stage, st.stage or "starting")
    resume = ("Start it again with the same settings to resume from its checkpoint"
              + (f", or run <code>{html.escape(' '.join(st.command))}</code>" if st.command else "") + ".")
    if st.state in ("starting", "running"):
        count = f": {st.done} of {st.total} pairs" if st.stage == "generate" and st.total else ""
        pct = round(100 * st.fraction)
        return (f"<p><b>Run {name}</b> — {html.escape(stage)}{count} ({pct}%), started {_when(st.started_at)}.</p>"
                f'<progress value="{pct}" max="100" style="width:100%"></progress>')
    if st.state == "done":
        return (f"<p><b>Run {name}</b> finished {_when(st.updated_at)}: report {html.escape(st.report) or '–'} "
                f"({_num(st.docs_per_s, 3)} documents/s, {_num(st.pairs_per_min, 1)} pairs/min).</p>")
    if st.state == "interrupted":
        return (f"<p><b>Run {name}</b> was interrupted while {html.escape(stage)} ({st.done} of {st.total} pairs "
                f"this time): {html.escape(st.error)} {resume}</p>")
    return f"<p><b>Run {name}</b> failed while {html.escape(stage)}: {html.escape(st.error)}</p>"


def status_view(services: Services, username: str | None, source: DataSource) -> StatusView:
    """The active run's progress, else how the latest run ended."""
    require_admin(services, username)
    statuses, _ = list_statuses(source.out_dir)  # unreadable ones are named in the runs list
    st = next((s for s in statuses if s.active), statuses[0] if statuses else None)
    if st is None:
        return StatusView("<p>No run in progress.</p>", False)
    return StatusView(_status_html(st), st.active)


def start_view(services: Services, username: str | None, source: DataSource, limit_docs: float | None,
               use_model: bool) -> str:
    """Start a run with the UI's settings; returns the sentence to show."""
    require_admin(services, username)
    if limit_docs is not None and limit_docs < 0:
        return "Give a number of documents of 0 (all) or more."
    request = RunRequest(limit_docs=int(limit_docs) if limit_docs else None, use_model=bool(use_model))
    try:
        st = start_run(request, source.out_dir, source.entry)
    except RunBusy as e:
        return str(e)
    except OSError as e:
        return f"The run could not be started: {e}."
    return f"Started run {st.run_name}; its progress shows above, also after you close and reopen this page."


# ---------------------------------------------------------------- layout and wiring


@dataclass
class _Components:
    status: gr.HTML
    timer: gr.Timer
    limit: gr.Number
    use_model: gr.Checkbox
    start: gr.Button
    message: gr.Markdown
    note: gr.Markdown
    runs: gr.Dataframe
    run: gr.Dropdown
    summary: gr.Markdown
    histogram: gr.Plot
    checks: gr.Plot
    lowest: gr.Dataframe
    refresh: gr.Button


def _layout() -> tuple[gr.Tab, _Components]:
    with gr.Tab("Data") as tab:
        gr.Markdown("Course documents → scored question/answer pairs (`python -m training qa`). A run started "
                    "here keeps going when you close the page; come back to see where it is.")
        status = gr.HTML(elem_id="admin-data-status")
        timer = gr.Timer(POLL_S, active=False)  # on while a run is active and this section was opened
        with gr.Row():
            limit = gr.Number(value=3, minimum=0, precision=0, label="Documents (0 = the whole knowledge base)")
            use_model = gr.Checkbox(value=False, label="Phrase questions with the model (slower; off: templates)")
            start = gr.Button("Start a run", variant="primary")
        message = gr.Markdown(elem_id="admin-data-message")
        note = gr.Markdown(elem_id="admin-data-note")
        runs = gr.Dataframe(headers=RUN_HEADERS, interactive=False, elem_id="admin-data-runs")
        with gr.Row():
            run = gr.Dropdown([], label="Run to inspect")
            refresh = gr.Button("Refresh")
        summary = gr.Markdown(elem_id="admin-data-summary")
        with gr.Row():
            histogram = gr.Plot(label="Quality scores")
            checks = gr.Plot(label="Checks")
        gr.Markdown("**Lowest-scored pairs** (inspect these first):")
        lowest = gr.Dataframe(headers=LOW_HEADERS, interactive=False, wrap=True, elem_id="admin-data-lowest")
    return tab, _Components(status, timer, limit, use_model, start, message, note, runs, run, summary, histogram,
                            checks, lowest, refresh)


def build(services: Services, source: DataSource) -> None:
    """Lays out the Data section inside the admin tab's Tabs and wires its events."""
    tab, c = _layout()
    listing = [c.note, c.runs, c.run, c.summary, c.histogram, c.checks, c.lowest]
    opened = [c.status, c.timer, *listing]

    def _runs_and_detail(u, selected):
        v = runs_view(services, u, source, selected)
        d = detail_view(services, u, source, v.selected)
        return (v.note, v.table, gr.update(choices=v.choices, value=v.selected), d.summary, d.histogram,
                d.checks, d.lowest)

    def _open(u, selected):
        st = status_view(services, u, source)
        return (st.html, gr.update(active=st.active), *_runs_and_detail(u, selected))

    def _tick(u, selected):
        st = status_view(services, u, source)
        # The last tick of a run (it just ended) also lists its report; ticks while it runs touch the status only.
        rest = tuple(gr.skip() for _ in listing) if st.active else _runs_and_detail(u, selected)
        return (st.html, gr.update(active=st.active), *rest)

    def _detail(u, name):
        d = detail_view(services, u, source, name)
        return d.summary, d.histogram, d.checks, d.lowest

    def _start(u, limit, model, selected):
        msg = start_view(services, u, source, limit, model)
        return (msg, *_open(u, selected))

    def open_fn(selected, request: gr.Request):
        return safe_view(_open, len(opened), True, request, selected)

    def refresh_fn(selected, request: gr.Request):
        return safe_view(_open, len(opened), False, request, selected)

    def tick_fn(selected, request: gr.Request):
        return safe_view(_tick, len(opened), True, request, selected)

    def detail_fn(name, request: gr.Request):
        return safe_view(_detail, 4, False, request, name)

    def start_fn(limit, model, selected, request: gr.Request):
        return safe_view(_start, 1 + len(opened), False, request, limit, model, selected)

    tab.select(open_fn, [c.run], opened, api_name=False)
    c.refresh.click(refresh_fn, [c.run], opened, api_name=False)
    c.timer.tick(tick_fn, [c.run], opened, api_name=False, show_progress="hidden")
    c.run.input(detail_fn, [c.run], [c.summary, c.histogram, c.checks, c.lowest], api_name=False)
    c.start.click(start_fn, [c.limit, c.use_model, c.run], [c.message, *opened], api_name=False)
