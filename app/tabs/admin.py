"""Admin tab: live resources and health, per-model statistics with comparison and
recommendation, training curves, learner analytics and knowledge gaps, the Q&A data runs
(app/tabs/admin_data.py), export and clears.

Access: the tab is shown only to admins (made visible on page load), and because a hidden tab's
events can still be called through the Gradio API, EVERY handler checks the caller's role from
the request itself (`request.username`, set by Gradio's login) before touching admin data
(app/tabs/admin_access.py).
Handlers are plain functions over (services, username, inputs) so tests call them directly.
"""
from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from app.downloads import Downloads, links_markdown
from app.tabs import admin_data
from app.tabs.admin_access import NotAdmin, require_admin  # noqa: F401 - NotAdmin re-exported (admin.NotAdmin)
from app.tabs.admin_access import safe_view as _safe
from tutor.learners import LearnerStore
from tutor.metrics import MetricsError
from tutor.metrics.stats import PRIORITIES, TREND_METRICS, ModelStats
from tutor.services import Services

WINDOWS = {"Last hour": 3600.0, "Last 24 hours": 86400.0, "Last 7 days": 7 * 86400.0, "All time": None}
STATS_HEADERS = ["Model", "Operation", "Calls", "Success %", "Latency p50 (s)", "p95 (s)", "p99 (s)",
                 "TTFT p50 (s)", "TTFT p95 (s)", "Tokens/s", "Quality", "Thumbs up/down"]


def _since(window: str) -> float | None:
    span = WINDOWS.get(window, 86400.0)
    return None if span is None else time.time() - span


def _fmt(v: float | None, digits: int = 2) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


# ---------------------------------------------------------------- system


def system_view(services: Services, username: str | None) -> tuple[str, Any]:
    """(health markdown, resource chart) for the last hour."""
    require_admin(services, username)
    import plotly.graph_objects as go

    mon = services.monitor
    health = mon.health()
    lines = [f"### Health {health.score}/100 — {health.label}"]
    if not health.alerts:
        lines.append("No alerts: CPU, memory, GPU memory and response times are under their thresholds.")
    for a in health.alerts:
        lines.append(f"- **{a.level.upper()}** {a.message}")
    if services.gate is not None:  # refusals are also in the call records, as ServerBusy failures
        lines.append(services.gate.state().summary())
    try:
        samples = mon.resources()
    except MetricsError as e:
        lines.append(f"- **Metrics database problem:** {e}")
        samples = []
    if samples:
        last = samples[-1]
        gpu = ("no GPU" if last.gpu_memory_total_mb is None else
               f"GPU memory {last.gpu_memory_used_mb:.0f}/{last.gpu_memory_total_mb:.0f} MB")
        lines.append(f"\nLatest: CPU {last.cpu_percent:.0f}% · memory {last.memory_percent:.0f}% · app RSS "
                     f"{last.process_rss_mb:.0f} MB · disk {last.disk_percent:.0f}% · {gpu}")
    fig = go.Figure()
    xs = [time.strftime("%H:%M:%S", time.localtime(s.sampled_at)) for s in samples]
    fig.add_scatter(x=xs, y=[s.cpu_percent for s in samples], name="CPU %")
    fig.add_scatter(x=xs, y=[s.memory_percent for s in samples], name="Memory %")
    if any(s.gpu_memory_total_mb for s in samples):
        fig.add_scatter(x=xs, y=[100 * (s.gpu_memory_used_mb or 0) / s.gpu_memory_total_mb if s.gpu_memory_total_mb
                                 else None for s in samples], name="GPU memory %")
    cfg = mon.cfg
    fig.add_hline(y=cfg.cpu_warn, line_dash="dot", line_color="orange", annotation_text="CPU warn")
    fig.add_hline(y=cfg.memory_critical, line_dash="dot", line_color="red", annotation_text="memory critical")
    fig.update_layout(title="Resources, last hour" + ("" if samples else " (no samples yet)"),
                      yaxis=dict(range=[0, 100], title="%"), height=340, margin=dict(l=40, r=20, t=50, b=40))
    return "\n".join(lines), fig


# ---------------------------------------------------------------- AI performance


@dataclass(frozen=True)
class PerformanceView:
    table: list[list[Any]]
    comparison: Any  # plotly figure
    recommendation: str  # markdown
    trend: Any  # plotly figure


def stats_rows(rows: list[ModelStats]) -> list[list[Any]]:
    return [[s.label, s.operation or "all", s.calls, round(100 * s.success_rate, 1), _fmt(s.latency_p50_s),
             _fmt(s.latency_p95_s), _fmt(s.latency_p99_s), _fmt(s.ttft_p50_s), _fmt(s.ttft_p95_s),
             _fmt(s.tokens_per_s, 1), _fmt(s.quality), f"{s.thumbs_up}/{s.thumbs_down}"] for s in rows]


def performance_view(services: Services, username: str | None, window: str, priority: str, metric: str) -> PerformanceView:
    require_admin(services, username)
    import plotly.graph_objects as go

    stats = services.monitor.stats
    since = _since(window)
    per_op = stats.statistics(since)
    comparison = stats.compare(since)
    rec = stats.recommend(priority if priority in PRIORITIES else "balanced", since)

    fig = go.Figure()
    labels = [m.label for m in comparison.models]
    fig.add_bar(x=labels, y=[m.latency_p50_s for m in comparison.models], name="p50 latency (s)")
    fig.add_bar(x=labels, y=[m.latency_p95_s for m in comparison.models], name="p95 latency (s)")
    fig.add_scatter(x=labels, y=[100 * m.success_rate for m in comparison.models], name="success %", yaxis="y2",
                    mode="markers", marker=dict(size=12))
    fig.update_layout(title="Models compared", barmode="group", height=340, yaxis=dict(title="seconds"),
                      yaxis2=dict(title="success %", overlaying="y", side="right", range=[0, 105]),
                      margin=dict(l=40, r=40, t=50, b=40))

    r = comparison.ranking
    md = [f"**Recommended for '{rec.priority}':** {rec.model or 'none yet'}. {rec.reason}",
          f"\nRankings — fastest: {r.fastest or '–'} · most reliable: {r.most_reliable or '–'} · "
          f"best quality: {r.best_quality or '–'} · best overall: {r.best_overall or '–'}",
          "\n_Balanced = 0.3 speed + 0.4 quality + 0.3 reliability; speed = fastest p50 / this p50; quality = "
          "mean recorded quality (quiz item pass rate, interview score / 10), else the thumbs-up share, "
          "else 0.5._"]
    bucket = {"Last hour": 300.0, "Last 24 hours": 3600.0}.get(window, 86400.0)
    m = metric if metric in TREND_METRICS else "latency_p50"
    tfig = go.Figure()
    for row in comparison.models:
        pts = stats.trend(m, bucket, since, model=row.model, adapter=row.adapter)  # adapter None = base only
        label = row.label
        tfig.add_scatter(x=[time.strftime("%m-%d %H:%M", time.localtime(p.start)) for p in pts],
                         y=[p.value for p in pts], name=label, mode="lines+markers", connectgaps=False)
    tfig.update_layout(title=f"Trend: {m}", height=320, margin=dict(l=40, r=20, t=50, b=40))
    return PerformanceView(stats_rows(per_op), fig, "\n".join(md), tfig)


# ---------------------------------------------------------------- training and learners


def training_view(services: Services, username: str | None) -> tuple[Any, Any, str]:
    require_admin(services, username)
    import plotly.graph_objects as go

    runs = services.monitor.training_runs()
    loss, lr = go.Figure(), go.Figure()
    for run in runs:
        steps = run.steps
        loss.add_scatter(x=[s.step for s in steps if s.train_loss is not None],
                         y=[s.train_loss for s in steps if s.train_loss is not None], name=f"{run.run_name} train")
        val = [s for s in steps if s.val_loss is not None]
        if val:
            loss.add_scatter(x=[s.step for s in val], y=[s.val_loss for s in val], name=f"{run.run_name} val",
                             line=dict(dash="dash"))
            best = min(val, key=lambda s: s.val_loss)
            loss.add_scatter(x=[best.step], y=[best.val_loss], mode="markers", marker=dict(size=12, symbol="star"),
                             name=f"{run.run_name} best", showlegend=False)
        lr.add_scatter(x=[s.step for s in steps if s.learning_rate is not None],
                       y=[s.learning_rate for s in steps if s.learning_rate is not None], name=run.run_name)
    loss.update_layout(title="Train (solid) and validation (dashed) loss; ★ = best checkpoint", height=340,
                       xaxis_title="step", margin=dict(l=40, r=20, t=50, b=40))
    lr.update_layout(title="Learning rate", height=260, xaxis_title="step", margin=dict(l=40, r=20, t=50, b=40))
    note = (f"{len(runs)} run(s) recorded." if runs else
            "No training runs recorded yet: `python -m training train --config training/configs/run_a.yaml` "
            "logs every step here.")
    return loss, lr, note


@dataclass(frozen=True)
class LearnersView:
    engagement: Any  # plotly figures
    subjects: Any
    accuracy: Any
    missed: list[list[Any]]
    gaps: list[list[Any]]


def learners_view(services: Services, username: str | None, window: str,
                  learners: LearnerStore | None = None) -> LearnersView:
    require_admin(services, username)
    import plotly.graph_objects as go

    since = _since(window)
    mon = services.monitor
    eng = mon.engagement(since)
    efig = go.Figure()
    days = [time.strftime("%Y-%m-%d", time.gmtime(p.day_start)) for p in eng]
    efig.add_bar(x=days, y=[p.actions for p in eng], name="actions", yaxis="y2", opacity=0.35)
    efig.add_scatter(x=days, y=[p.engagement for p in eng], name="engagement (0-100)", mode="lines+markers")
    efig.update_layout(title="Engagement per day (mean over active learners)", height=320,
                       yaxis=dict(range=[0, 100]), yaxis2=dict(overlaying="y", side="right", title="actions"),
                       margin=dict(l=40, r=40, t=50, b=40))
    subj = mon.popular_subjects(since)
    sfig = go.Figure()
    sfig.add_bar(x=[s.subject for s in subj], y=[s.actions for s in subj], name="actions")
    sfig.update_layout(title="Popular subjects (all tabs)", height=300, margin=dict(l=40, r=20, t=50, b=80))
    afig = go.Figure()
    missed: list[list[Any]] = []
    if learners is not None:
        cells: dict[tuple[str, str], list[int]] = {}
        for b in learners.accuracy_over_time(since=since):
            c = cells.setdefault((b.subject, b.difficulty), [0, 0])
            c[0] += b.answered
            c[1] += b.correct
        for difficulty in ("beginner", "intermediate", "advanced"):
            keys = sorted(k for k in cells if k[1] == difficulty)
            if keys:
                afig.add_bar(x=[k[0] for k in keys], y=[100 * cells[k][1] / cells[k][0] for k in keys],
                             name=difficulty, text=[f"n={cells[k][0]}" for k in keys])
        missed = [[m.question, m.subject, m.topic, m.attempts, m.misses]
                  for m in learners.most_missed(20, since=since)]
    afig.update_layout(title="Quiz accuracy by subject and difficulty", barmode="group", height=320,
                       yaxis=dict(range=[0, 100], title="% correct"), margin=dict(l=40, r=20, t=50, b=80))
    gaps = [[time.strftime("%Y-%m-%d %H:%M", time.localtime(g.created_at)), g.subject or "–", g.question,
             _fmt(g.best_similarity)] for g in mon.knowledge_gaps(100, since=since)]
    return LearnersView(efig, sfig, afig, missed, gaps)


# ---------------------------------------------------------------- actions


def export_files(services: Services, username: str | None, window: str) -> list[str]:
    require_admin(services, username)
    bundle = services.monitor.export(_since(window))
    out = Path(tempfile.mkdtemp(prefix="smartlearn-export-"))
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (out / f"smartlearn-metrics-{stamp}.json").write_text(bundle.to_json())
    (out / f"smartlearn-metrics-{stamp}.zip").write_bytes(bundle.to_csv_zip())
    return [str(p) for p in sorted(out.iterdir())]


def clear_model(services: Services, username: str | None, model: str | None, confirm: bool) -> str:
    require_admin(services, username)
    if not model:
        return "Choose a model first."
    if not confirm:
        return "Tick the confirmation box first: clearing deletes this model's records for good."
    if model not in services.monitor.stats.models():
        return f"No records for {model!r}."
    cleared = services.monitor.clear_model(model)
    return f"Deleted {cleared.total} call record(s) of {model}."


def clear_old(services: Services, username: str | None, days: float | None, confirm: bool) -> str:
    require_admin(services, username)
    if not days or days <= 0:
        return "Give a number of days greater than 0."
    if not confirm:
        return "Tick the confirmation box first: clearing deletes records for good."
    cleared = services.monitor.clear_older_than(float(days))
    parts = ", ".join(f"{n} {t}" for t, n in cleared.rows.items() if n) or "nothing"
    return f"Deleted records older than {days:g} days: {parts}."


# ---------------------------------------------------------------- layout


@dataclass
class AdminTab:
    timer: gr.Timer
    refresh_inputs: list
    refresh_outputs: list
    refresh: Any  # quiet handler filling every view; main.py runs it on load for admins


@dataclass
class _System:
    health: gr.Markdown
    resources: gr.Plot
    timer: gr.Timer


@dataclass
class _Performance:
    window: gr.Dropdown
    priority: gr.Dropdown
    metric: gr.Dropdown
    refresh: gr.Button
    recommendation: gr.Markdown
    stats: gr.Dataframe
    comparison: gr.Plot
    trend: gr.Plot


@dataclass
class _Training:
    note: gr.Markdown
    loss: gr.Plot
    lr: gr.Plot
    refresh: gr.Button


@dataclass
class _Learners:
    window: gr.Dropdown
    engagement: gr.Plot
    subjects: gr.Plot
    accuracy: gr.Plot
    missed: gr.Dataframe
    gaps: gr.Dataframe
    refresh: gr.Button


@dataclass
class _Export:
    window: gr.Dropdown
    export: gr.Button
    files: gr.Markdown
    model: gr.Dropdown
    confirm_model: gr.Checkbox
    clear_model: gr.Button
    days: gr.Number
    confirm_old: gr.Checkbox
    clear_old: gr.Button
    message: gr.Markdown


def _system_section(services: Services) -> _System:
    with gr.Tab("System"):
        health = gr.Markdown(elem_id="admin-health")
        resources = gr.Plot(label="Resources")
        # Off until main.py's page-load handler sees an admin: learners' pages never poll it.
        timer = gr.Timer(max(services.cfg.monitoring.sample_interval_s, 5.0), active=False)
    return _System(health, resources, timer)


def _performance_section() -> _Performance:
    with gr.Tab("AI performance"):
        with gr.Row():
            window = gr.Dropdown(list(WINDOWS), value="Last 24 hours", label="Window")
            priority = gr.Dropdown(list(PRIORITIES), value="balanced", label="Recommend for")
            metric = gr.Dropdown(list(TREND_METRICS), value="latency_p50", label="Trend metric")
            refresh = gr.Button("Refresh")
        recommendation = gr.Markdown(elem_id="admin-recommendation")
        stats = gr.Dataframe(headers=STATS_HEADERS, interactive=False, elem_id="admin-stats")
        comparison = gr.Plot(label="Comparison")
        trend = gr.Plot(label="Trend")
    return _Performance(window, priority, metric, refresh, recommendation, stats, comparison, trend)


def _training_section() -> _Training:
    with gr.Tab("Training"):
        note = gr.Markdown()
        loss = gr.Plot(label="Loss")
        lr = gr.Plot(label="Learning rate")
        refresh = gr.Button("Refresh")
    return _Training(note, loss, lr, refresh)


def _learners_section() -> _Learners:
    with gr.Tab("Learners"):
        window = gr.Dropdown(list(WINDOWS), value="Last 7 days", label="Window")
        engagement = gr.Plot(label="Engagement")
        with gr.Row():
            subjects = gr.Plot(label="Popular subjects")
            accuracy = gr.Plot(label="Accuracy")
        gr.Markdown("**Most-missed quiz items:**")
        missed = gr.Dataframe(headers=["Question", "Subject", "Topic", "Attempts", "Missed"], interactive=False,
                              elem_id="admin-missed")
        gr.Markdown("**Knowledge-base gaps** — questions the course documents could not answer "
                    "(add material on these):")
        gaps = gr.Dataframe(headers=["When", "Subject", "Question", "Best similarity"], interactive=False,
                            elem_id="admin-gaps")
        refresh = gr.Button("Refresh")
    return _Learners(window, engagement, subjects, accuracy, missed, gaps, refresh)


def _export_section() -> _Export:
    with gr.Tab("Export & clear"):
        window = gr.Dropdown(list(WINDOWS), value="All time", label="Export window")
        export = gr.Button("Export (JSON + CSV zip)")
        files = gr.Markdown(elem_id="admin-exports")  # owner-only links (app/downloads.py), not gr.File
        with gr.Row():
            model = gr.Dropdown([], label="Model to clear")
            confirm_model = gr.Checkbox(label="Yes, delete this model's records")
            clear_model_btn = gr.Button("Clear model", variant="stop")
        with gr.Row():
            days = gr.Number(value=30, label="Delete data older than (days)", minimum=0)
            confirm_old = gr.Checkbox(label="Yes, delete old records")
            clear_old_btn = gr.Button("Clear old data", variant="stop")
        message = gr.Markdown()
    return _Export(window, export, files, model, confirm_model, clear_model_btn, days, confirm_old, clear_old_btn,
                   message)


def build(services: Services, downloads: Downloads, data: admin_data.DataSource | None = None) -> AdminTab:
    """Lays out the admin tab's content (main.py creates the Tab and controls its visibility).
    `data`: where the Q&A runs live and how one is started (the Data section's defaults when None)."""
    with gr.Tabs():
        system = _system_section(services)
        perf = _performance_section()
        training = _training_section()
        learn = _learners_section()
        admin_data.build(services, data or admin_data.DataSource())
        export = _export_section()
    tab = _wire_views(services, system, perf, training, learn, export.model)
    _wire_export(services, export, downloads)
    return tab


def _wire_export(services: Services, export: _Export, downloads: Downloads) -> None:
    # Explicit signatures: Gradio injects gr.Request by parameter, which *args would hide.
    def export_fn(w, request: gr.Request):
        def _offer(u, w):
            return links_markdown(downloads.offer(u, export_files(services, u, w)), downloads.ttl_s)
        return _safe(_offer, 1, False, request, w)

    def clear_model_fn(m, c, request: gr.Request):
        return _safe(lambda u, m, c: clear_model(services, u, m, c), 1, False, request, m, c)

    def clear_old_fn(d, c, request: gr.Request):
        return _safe(lambda u, d, c: clear_old(services, u, d, c), 1, False, request, d, c)

    export.export.click(export_fn, [export.window], export.files, api_name=False)
    export.clear_model.click(clear_model_fn, [export.model, export.confirm_model], export.message, api_name=False)
    export.clear_old.click(clear_old_fn, [export.days, export.confirm_old], export.message, api_name=False)


def _wire_views(services: Services, system: _System, perf: _Performance, training: _Training, learn: _Learners,
                model_dd: gr.Dropdown) -> AdminTab:
    """The refreshable views: system, AI performance (which also lists the models to clear), training
    and learners, each on its own buttons, plus the quiet all-views refresh main.py runs for admins."""

    def _system_view(u):
        return system_view(services, u)

    def _perf_view(u, w, p, m):
        v = performance_view(services, u, w, p, m)
        return v.table, v.comparison, v.recommendation, v.trend, gr.update(choices=services.monitor.stats.models())

    def _learners_view(u, w):
        v = learners_view(services, u, w, services.learners)
        return v.engagement, v.subjects, v.accuracy, v.missed, v.gaps

    def _all_views(u, w, p, m, lw):
        return (*_system_view(u), *_perf_view(u, w, p, m), *training_view(services, u), *_learners_view(u, lw))

    perf_inputs = [perf.window, perf.priority, perf.metric]
    perf_outputs = [perf.stats, perf.comparison, perf.recommendation, perf.trend, model_dd]
    train_outputs = [training.loss, training.lr, training.note]
    learn_outputs = [learn.engagement, learn.subjects, learn.accuracy, learn.missed, learn.gaps]
    outputs = [system.health, system.resources, *perf_outputs, *train_outputs, *learn_outputs]

    def sys_fn(request: gr.Request):
        return _safe(_system_view, 2, True, request)

    def perf_fn(w, p, m, request: gr.Request):
        return _safe(_perf_view, 5, False, request, w, p, m)

    def train_fn(request: gr.Request):
        return _safe(lambda u: training_view(services, u), 3, False, request)

    def learn_fn(w, request: gr.Request):
        return _safe(_learners_view, len(learn_outputs), False, request, w)

    def refresh_fn(w, p, m, lw, request: gr.Request):
        return _safe(_all_views, len(outputs), True, request, w, p, m, lw)

    system.timer.tick(sys_fn, None, [system.health, system.resources], api_name=False, show_progress="hidden")
    perf.refresh.click(perf_fn, perf_inputs, perf_outputs, api_name=False)
    for dd in perf_inputs:
        dd.change(perf_fn, perf_inputs, perf_outputs, api_name=False)
    training.refresh.click(train_fn, None, train_outputs, api_name=False)
    learn.refresh.click(learn_fn, [learn.window], learn_outputs, api_name=False)
    learn.window.change(learn_fn, [learn.window], learn_outputs, api_name=False)
    return AdminTab(system.timer, [*perf_inputs, learn.window], outputs, refresh_fn)
