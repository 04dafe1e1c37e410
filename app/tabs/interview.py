"""Interview coach tab: pick a track, topic, difficulty and length; answer held-out interview
questions; see the 0-10 rubric score, covered and missed key points, feedback, a follow-up and a
model answer; end with a per-topic summary (plotly chart, course reading) and the learner's history.

Handlers are plain functions (tests call them directly). The running interview is an immutable
InterviewSession kept in a per-browser gr.State; history is in the coach's SQLite store.

Voice answers: ``build(..., transcribe=fn)`` adds a microphone input whose transcript fills the
answer box and whose delivery (speaking pace, filler words) shows beside it (fn: audio file path ->
SpokenAnswer). main.py passes the multimodal feature's transcriber; without one the tab is text only.
Nothing here imports speech code.
"""
from __future__ import annotations

import dataclasses
import logging
import time
import uuid
from typing import Any, Callable, Iterator, Sequence

import gradio as gr

from tutor.errors import InputError, TutorError
from tutor.features import interview as iv
from tutor.features.delivery import SpokenAnswer, delivery_markdown
from tutor.features.interview_bank import DIFFICULTIES
from tutor.features.interview_store import InterviewStoreError
from tutor.service import Tutor

logger = logging.getLogger(__name__)

ANY = iv.ANY
NO_SESSION = "_Choose a track and press **Start interview**._"
Transcriber = Callable[[str, str], SpokenAnswer]  # (audio file path, user) -> transcript and its delivery


# ---------------------------------------------------------------- rendering


def _points(title: str, points: Sequence[str]) -> str:
    if not points:
        return ""
    return f"**{title}**\n" + "\n".join(f"- {p}" for p in points) + "\n"


def question_markdown(session: iv.InterviewSession | None) -> str:
    if session is None:
        return NO_SESSION
    p = session.prompt()
    if p is None:
        return "### Interview complete\nSee your summary below, or start a new interview."
    label = "Follow-up" if p.kind == "follow-up" else "Question"
    text = p.text.removeprefix("Follow-up: ")
    return f"### {label} {p.number} of {p.total}\n*{p.topic} · {p.difficulty}*\n\n{text[:1].upper()}{text[1:]}"


def feedback_markdown(fb: iv.AnswerFeedback) -> str:
    parts = []
    if fb.question_done and fb.result is not None:
        parts.append(f"## Score: {fb.result.score:g} / 10\n*{fb.result.question.question}*")
        parts.append(_points("Covered", fb.result.covered))
        parts.append(_points("Missed", fb.result.missed))
    else:
        parts.append(f"## Score so far: {fb.rubric.score:g} / 10")
        parts.append(_points("Covered", fb.rubric.covered))
    parts.append(fb.feedback)
    parts.extend(f"> **Note:** {n}" for n in fb.notices)
    return "\n\n".join(p for p in parts if p)


def model_answer_markdown(fb: iv.AnswerFeedback) -> str:
    ma = fb.model_answer
    if ma is None:
        return "_The model answer appears after the follow-up._"
    out = [f"**Reference answer**\n\n{ma.reference}"]
    if ma.generated and ma.matches_reference:
        cov = "" if ma.generated_coverage is None else f" (covers {ma.generated_coverage:.0%} of the key points)"
        out.append(f"**Model answer{cov}**\n\n{ma.generated}")
    elif ma.generated:  # the rubric judged it like a candidate's answer and it failed: not shown as a model
        out.append("**Model answer:** not shown.")
    if ma.note:
        out.append(f"_{ma.note}_")
    return "\n\n".join(out)


def summary_markdown(summary: iv.SessionSummary) -> str:
    lines = [f"## Interview summary: {summary.overall:g} / 10", "",
             "| Topic | Mean score | Questions |", "|---|---|---|"]
    lines += [f"| {t.topic} | {t.mean_score:g} | {t.questions} |" for t in summary.per_topic]
    if summary.weakest:
        lines += ["", f"**Weakest topic{'s' if len(summary.weakest) > 1 else ''}:** " + ", ".join(summary.weakest)]
    else:
        lines += ["", "**No weak topic this time** (every topic averaged 7 or more)."]
    if summary.reading:
        lines += ["", "**Reading from the course**"]
        lines += [f"- *{r.topic}*: **{r.title}** — {r.section} (`{r.doc_id}`)\n  > {r.snippet}" for r in summary.reading]
    lines += [f"\n_{n}_" for n in summary.notices]
    return "\n".join(lines)


def topic_chart(per_topic: Sequence[Any], title: str):
    """Plotly bar chart of mean score per topic (0-10), weak topics in a warning colour."""
    import plotly.graph_objects as go

    topics = [t.topic for t in per_topic]
    scores = [t.mean_score for t in per_topic]
    colours = ["#d9534f" if s < iv.WEAK_BELOW else "#2a9d8f" for s in scores]
    fig = go.Figure(go.Bar(x=topics, y=scores, marker_color=colours, text=[f"{s:.1f}" for s in scores],
                           textposition="outside"))
    fig.update_layout(title=title, yaxis={"range": [0, 10.5], "title": "mean score (0-10)"},
                      height=320, margin={"l": 40, "r": 20, "t": 50, "b": 40})
    return fig


def history_markdown(sessions: Sequence[Any]) -> str:
    if not sessions:
        return "_No interviews yet._"
    lines = ["| Started (UTC) | Track | Topic | Difficulty | Answered | Score |", "|---|---|---|---|---|---|"]
    for s in sessions:
        when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(s.started_at))
        score = "in progress" if s.score is None else f"{s.score:g} / 10"
        lines.append(f"| {when} | {s.track} | {s.topic or ANY} | {s.difficulty or ANY} | "
                     f"{s.answered} / {s.n_questions} | {score} |")
    return "\n".join(lines)


# ---------------------------------------------------------------- handlers


def _user(user: str | None) -> str:
    # Programs calling the API have no login or browser id: a per-session anonymous id keeps
    # their history apart (main.py sets the real id on page load).
    return user or f"anon-{uuid.uuid4().hex[:12]}"


def topic_choices(coach: iv.InterviewCoach, track: str) -> list[str]:
    return [ANY, *coach.topics(track)]


def start(coach: iv.InterviewCoach, user: str | None, track: str, topic: str | None, difficulty: str | None,
          num_questions: Any, seed: int | None = None) -> tuple:
    """-> (session, user, question md, notes md, feedback md, model answer md, summary md, chart, answer box)."""
    user = _user(user)
    try:
        n = int(num_questions)
    except (TypeError, ValueError):
        n = 0
    settings = iv.InterviewSettings(track=track, topic=None if topic in (None, "", ANY) else topic,
                                    difficulty=None if difficulty in (None, "", ANY) else difficulty, num_questions=n)
    try:
        session = coach.start(user, settings, seed=seed)
    except InputError as e:
        gr.Warning(str(e))
        return (gr.skip(), user, gr.skip(), f"_{e}_", gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip())
    notes = "\n".join(f"_{n}_" for n in session.notes)
    return (session, user, question_markdown(session), notes, "", "", "", None, "")


def submit(coach: iv.InterviewCoach, session: iv.InterviewSession | None, user: str | None, answer: str | None,
           with_model_answer: bool = True) -> Iterator[tuple]:
    """Yields (session, question md, feedback md, model answer md, summary md, chart, answer box):
    first the score and reference answer at once, then again with the generated model answer
    (a few seconds on CPU) when one is wanted.

    The answer box keeps the learner's text whenever the answer could not be scored."""
    keep = (session, gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip(), answer)
    if session is None or session.finished:
        gr.Warning("Start an interview first: choose a track and press Start interview.")
        yield keep
        return
    try:
        session, fb = coach.answer(session, answer or "", model_answer=False)
    except InputError as e:
        gr.Warning(str(e))
        yield keep
        return
    except Exception:  # noqa: BLE001 - UI edge: log the trace, keep the answer, say a sentence
        logger.exception("interview answer failed")
        gr.Warning("Your answer could not be scored because of an internal error. It is still in the box: "
                   "please try again.")
        yield keep
        return
    summary_md, chart = "", None
    if session.finished:
        summary = coach.summary(session)
        summary_md = summary_markdown(summary)
        chart = topic_chart(summary.per_topic, "This interview: mean score per topic")
    qmd, fb_md = question_markdown(session), feedback_markdown(fb)
    generate = bool(with_model_answer) and fb.question_done and fb.result is not None
    pending = "\n\n_Generating a model answer…_" if generate else ""
    yield (session, qmd, fb_md, model_answer_markdown(fb) + pending, summary_md, chart, "")
    if generate:
        try:
            model = coach.model_answer(fb.result.question, session.user)
        except Exception:  # noqa: BLE001 - the reference answer is already shown
            logger.exception("interview model answer failed")
            model = dataclasses.replace(fb.model_answer, note="The model answer could not be generated.")
        fb = dataclasses.replace(fb, model_answer=model)
        yield (session, qmd, fb_md, model_answer_markdown(fb), summary_md, chart, "")


def history(coach: iv.InterviewCoach, user: str | None) -> tuple[str, Any]:
    """-> (sessions table md, per-topic chart over all of this user's interviews)."""
    if not user:
        return "_No interviews yet._", None
    try:
        sessions, topics = coach.history(user)
    except InterviewStoreError as e:
        return f"_{e}_", None
    if not topics:
        return history_markdown(sessions), None
    per_topic = [iv.TopicScore(t.topic, round(t.mean_score, 1), t.answers) for t in topics]
    return history_markdown(sessions), topic_chart(per_topic, "All your interviews: mean score per topic")


def transcribe_into_box(transcribe: Transcriber, audio_path: str | None, current: str | None,
                        user: str | None = None) -> tuple[str, str]:
    """Voice hook: append the transcript of a recorded answer to what is already typed; the second value
    is the delivery note (pace, filler words) of that recording, or "" when nothing was transcribed."""
    if not audio_path:
        return current or "", ""
    try:
        spoken = transcribe(audio_path, _user(user))
    except (TutorError, OSError, ValueError) as e:
        gr.Warning(f"The recording could not be transcribed: {e}")
        return current or "", ""
    text = spoken.text.strip()
    box = f"{current.rstrip()} {text}".strip() if current else text
    return box, delivery_markdown(spoken.delivery)


# ---------------------------------------------------------------- layout


def build(coach: iv.InterviewCoach, user_id: gr.State, transcribe: Transcriber | None = None) -> None:
    """Lays out and wires the tab."""
    tracks = list(iv.TRACKS)
    with gr.Row():
        track = gr.Dropdown(tracks, value=tracks[0], label="Track", elem_id="interview-track")
        topic = gr.Dropdown(topic_choices(coach, tracks[0]), value=ANY, label="Topic", elem_id="interview-topic")
        difficulty = gr.Dropdown([ANY, *DIFFICULTIES], value=ANY, label="Difficulty",
                                 elem_id="interview-difficulty")
        count = gr.Slider(1, iv.MAX_QUESTIONS, value=5, step=1, label="Questions", elem_id="interview-count")
    with gr.Row():
        with_model = gr.Checkbox(value=True, label="Also generate a model answer (interview adapter)",
                                 elem_id="interview-with-model")
        start_btn = gr.Button("Start interview", variant="primary", elem_id="interview-start")
    notes = gr.Markdown("")
    if coach.bank.problems and coach.bank.questions:
        gr.Markdown(f"_The question bank skipped {len(coach.bank.problems)} malformed row(s); see the log._")
    with gr.Row():
        with gr.Column(scale=3):
            question = gr.Markdown(NO_SESSION, elem_id="interview-question")
            answer = gr.Textbox(label="Your answer", lines=6, max_lines=16, elem_id="interview-answer",
                                placeholder="Answer as you would in the interview: the idea, how it works, "
                                            "when to use it.")
            if transcribe is not None:
                audio = gr.Audio(sources=["microphone", "upload"], type="filepath", label="…or answer by voice",
                                 elem_id="interview-voice")
                delivery = gr.Markdown("", elem_id="interview-delivery")
                audio.stop_recording(lambda a, cur, uid: transcribe_into_box(transcribe, a, cur, uid),
                                     [audio, answer, user_id], [answer, delivery], api_name=False)
                audio.upload(lambda a, cur, uid: transcribe_into_box(transcribe, a, cur, uid),
                             [audio, answer, user_id], [answer, delivery], api_name=False)
            with gr.Row():
                submit_btn = gr.Button("Submit answer", variant="primary", elem_id="interview-submit")
                skip_btn = gr.Button("Skip question", elem_id="interview-skip")
        with gr.Column(scale=2):
            feedback = gr.Markdown("", elem_id="interview-feedback")
            model_answer = gr.Markdown("", elem_id="interview-model-answer")
    summary = gr.Markdown("", elem_id="interview-summary")
    chart = gr.Plot(label="Per-topic scores", elem_id="interview-chart")
    with gr.Accordion("Your interview history", open=False):
        history_btn = gr.Button("Refresh history", size="sm", elem_id="interview-history-refresh")
        history_md = gr.Markdown("_No interviews yet._", elem_id="interview-history")
        history_chart = gr.Plot(label="All interviews", elem_id="interview-history-chart")
    session = gr.State(None)

    track.change(lambda t: gr.update(choices=topic_choices(coach, t), value=ANY), track, topic, api_name=False)

    def _start(uid, tr, tp, df, n):
        return start(coach, uid, tr, tp, df, n)

    start_btn.click(_start, [user_id, track, topic, difficulty, count],
                    [session, user_id, question, notes, feedback, model_answer, summary, chart, answer],
                    api_name="interview_start")

    def _submit(sess, uid, text, wm):
        yield from submit(coach, sess, uid, text, wm)

    def _skip(sess, uid, wm):
        yield from submit(coach, sess, uid, "", wm)

    outs = [session, question, feedback, model_answer, summary, chart, answer]

    def _history(uid):
        return history(coach, uid)

    hist_outs = [history_md, history_chart]
    submit_btn.click(_submit, [session, user_id, answer, with_model], outs, api_name="interview_answer") \
        .then(_history, user_id, hist_outs, api_name=False)
    answer.submit(_submit, [session, user_id, answer, with_model], outs, api_name=False) \
        .then(_history, user_id, hist_outs, api_name=False)
    skip_btn.click(_skip, [session, user_id, with_model], outs, api_name=False) \
        .then(_history, user_id, hist_outs, api_name=False)
    history_btn.click(_history, user_id, hist_outs, api_name=False)
