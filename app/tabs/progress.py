"""My progress tab: accuracy by subject and difficulty over time (plotly), mastery per topic, reviews
due and streak, for the signed-in (or this browser's anonymous) learner only."""
from __future__ import annotations

import datetime as dt
from typing import Any

import gradio as gr

from tutor.learners import LearnerStore, ProgressSummary


def accuracy_figure(summary: ProgressSummary):
    """Accuracy per day, one line per subject and difficulty (marker size = answers that day)."""
    import plotly.graph_objects as go

    fig = go.Figure()
    series: dict[str, list] = {}
    for b in summary.by_time:
        series.setdefault(f"{b.subject} · {b.difficulty}", []).append(b)
    for name, buckets in sorted(series.items()):
        fig.add_trace(go.Scatter(
            x=[dt.datetime.fromtimestamp(b.bucket_start, dt.timezone.utc).date().isoformat() for b in buckets],
            y=[round(100 * b.accuracy, 1) for b in buckets], mode="lines+markers", name=name,
            marker={"size": [6 + min(14, b.answered) for b in buckets]},
            text=[f"{b.correct}/{b.answered} correct" for b in buckets], hovertemplate="%{x}: %{y}% (%{text})",
        ))
    fig.update_layout(title="Accuracy by subject and difficulty", yaxis={"title": "% correct", "range": [0, 105]},
                      xaxis={"title": "day (UTC)", "type": "category"}, height=360, margin={"t": 50, "b": 40},
                      showlegend=True)  # plotly hides a single trace's legend: the subject must show
    return fig


def mastery_rows(summary: ProgressSummary) -> list[list[Any]]:
    return [[m.subject, m.topic, m.answered, m.correct, f"{100 * m.mastery:.0f}%"] for m in summary.mastery]


def headline(summary: ProgressSummary) -> str:
    if not summary.answered:
        return "No answers yet: take a quiz and your progress shows up here."
    pct = 100 * summary.correct / summary.answered
    return (f"**{summary.answered}** answers, **{pct:.0f}%** correct · streak: **{summary.streak_days}** "
            f"day(s) · 🔁 reviews due: **{summary.reviews_due}**")


def show_progress(store: LearnerStore, user: str) -> tuple[str, Any, list[list[Any]]]:
    summary = store.progress(user)
    return headline(summary), accuracy_figure(summary), mastery_rows(summary)


def build(user_id: gr.State, store: LearnerStore) -> tuple[gr.Button, Any, list]:
    """Returns (refresh button, handler, outputs) so main can refresh it on tab select too."""
    refresh = gr.Button("Refresh", elem_id="progress-refresh")
    head = gr.Markdown(elem_id="progress-headline")
    plot = gr.Plot(label="Accuracy over time", elem_id="progress-chart")
    table = gr.Dataframe(headers=["Subject", "Topic", "Answered", "Correct", "Mastery"], interactive=False,
                         label="Mastery per topic (recent answers count most)")

    def handler(user):
        return show_progress(store, user)

    refresh.click(handler, [user_id], [head, plot, table], api_name=False)
    return refresh, handler, [head, plot, table]
