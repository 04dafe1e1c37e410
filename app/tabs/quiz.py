"""Quiz tab: make a grounded quiz (items stream in as they pass their checks), answer one question at
a time with immediate feedback and source, finish for a score with a per-topic breakdown.

The database is the record: which items a quiz has and which were answered are read back from the
LearnerStore, so a double click, a late answer or the still-streaming generator can never corrupt
it. gr.State holds only this browser's quiz id, the question shown and when it was shown.
Handlers are plain functions (tests call them without a server).
"""
from __future__ import annotations

import logging
import time
from typing import Any, Callable, Iterator

import gradio as gr

from tutor.errors import TutorError
from tutor.features.grading import score_markdown
from tutor.features.quiz import AUTO, ItemReady, QuizFinished, QuizInputError, QuizMaker, QuizRequest, QuizStarted
from tutor.features.quiz_answer import BlankAnswer, QuizAnswers, UnknownQuizItem
from tutor.features.quiz_answer import finish_quiz as close_quiz
from tutor.features.schemas import DIFFICULTIES, MIXED, QUIZ_KINDS, QuizItem
from tutor.learners import LearnerStore
from tutor.service import Tutor

logger = logging.getLogger(__name__)

REVIEW = "Review my weak spots"
KIND_BY_LABEL = {v: k for k, v in QUIZ_KINDS.items()}
NO_CHANGE = object()  # placeholder: the handler leaves this output as it is

QuizView = tuple[Any, ...]  # (quiz_id, position, shown_at, status, question, options, answer_box, feedback, score)


def _u(value: Any) -> Any:
    return gr.update() if value is NO_CHANGE else value


def _question_md(item: QuizItem, position: int, total: int) -> str:
    kind = f" · {QUIZ_KINDS[item.question_kind]}" if item.question_kind in QUIZ_KINDS else ""
    return f"**Question {position + 1} of {total}** · {item.topic} · {item.difficulty}{kind}\n\n{item.question}"


def _show(item: QuizItem, position: int, total: int) -> tuple[str, Any, Any]:
    """(question markdown, options radio update, answer textbox update) for one item."""
    if item.kind == "short_answer":
        return (_question_md(item, position, total), gr.update(choices=[], value=None, visible=False),
                gr.update(value="", visible=True))
    return (_question_md(item, position, total), gr.update(choices=list(item.options), value=None, visible=True),
            gr.update(value="", visible=False))


def start_quiz(quizzes: QuizMaker, store: LearnerStore, user: str, subject: str | None, topic: str, difficulty: str,
               count: Any, kind_label: str, review: bool,
               progress: Callable[..., Any] | None = None) -> Iterator[QuizView]:
    """Streams the quiz as its items pass their checks. The first item is shown as soon as it exists."""
    kind = KIND_BY_LABEL.get(kind_label, kind_label)
    req = QuizRequest(learner=user, subject=subject, topic=topic or "", difficulty=difficulty or AUTO,
                      count=count, kind=kind, review=bool(review))
    quiz_id, total, shown, notices = "", 0, False, []
    try:
        for event in quizzes.generate(req):
            if isinstance(event, QuizStarted):
                quiz_id, total = event.quiz_id, event.count
                notices = list(event.notices)
                for n in notices:
                    gr.Info(n)
                # Clear the previous quiz's answer widgets without hiding them: a hide here followed
                # at once by the first item's show was sometimes lost by the browser (the options
                # stayed hidden in the end-to-end test).
                yield (quiz_id, 0, None, _status(0, total, notices), "Preparing questions from the course…",
                       gr.update(choices=[], value=None), gr.update(value=""), "", "")
            elif isinstance(event, ItemReady):
                if progress is not None:
                    progress((event.position + 1) / max(1, total), desc="Checking questions against the course")
                if not shown:
                    shown = True
                    q, opts, box = _show(event.item, 0, total)
                    yield (quiz_id, 0, time.time(), _status(event.position + 1, total, notices), q, opts, box, "", "")
                else:
                    yield (NO_CHANGE, NO_CHANGE, NO_CHANGE, _status(event.position + 1, total, notices),
                           NO_CHANGE, NO_CHANGE, NO_CHANGE, NO_CHANGE, NO_CHANGE)
            elif isinstance(event, QuizFinished):
                if event.notice:
                    gr.Warning(event.notice)
                    notices.append(event.notice)
                yield (NO_CHANGE, NO_CHANGE, NO_CHANGE, _status(event.delivered, event.delivered, notices),
                       NO_CHANGE if shown else "No questions this time.", NO_CHANGE, NO_CHANGE, NO_CHANGE, NO_CHANGE)
    except QuizInputError as e:
        gr.Warning(str(e))
        yield ("", 0, None, f"⚠️ {e}", "", gr.update(visible=False), gr.update(visible=False), "", "")
    except TutorError as e:
        logger.exception("quiz generation failed")
        yield ("", 0, None, f"⚠️ {e}", "", gr.update(visible=False), gr.update(visible=False), "", "")


def _status(ready: int, total: int, notices: list[str]) -> str:
    head = f"{ready} of {total} questions ready" if ready < total else f"All {total} questions ready"
    return "\n\n".join([head, *(f"ℹ️ {n}" for n in notices)])


def submit_answer(answers: QuizAnswers, store: LearnerStore, user: str, quiz_id: str, position: int,
                  shown_at: float | None, choice: str | None, text: str) -> tuple[str, str]:
    """(feedback markdown, score markdown). Grades and records the answer once; a repeat or late
    answer only gets a message."""
    if not quiz_id:
        gr.Warning("Start a quiz first.")
        return gr.update(), gr.update()
    quiz = store.quiz(user, quiz_id)
    kind = quiz.items[position].kind if quiz is not None and 0 <= position < len(quiz.items) else None
    given = text if kind == "short_answer" else choice
    response_s = (time.time() - shown_at) if shown_at else None
    try:
        result = answers.answer(user, quiz_id, given, position=position, response_s=response_s)
    except (UnknownQuizItem, BlankAnswer) as e:  # the learner's own mistake: a warning, not an error
        gr.Warning(str(e))
        return gr.update(), gr.update()
    if not result.recorded:
        gr.Warning(result.message)
        return gr.update(), gr.update()
    if result.finished and result.score is not None:
        return result.feedback, score_markdown(result.score)
    return result.feedback, gr.update()


def next_question(store: LearnerStore, user: str, quiz_id: str, position: int) -> tuple[Any, ...]:
    """(position, shown_at, question, options, answer box, feedback) for the next ready question."""
    quiz = store.quiz(user, quiz_id) if quiz_id else None
    if quiz is None:
        gr.Warning("Start a quiz first.")
        return (position, None, gr.update(), gr.update(), gr.update(), gr.update())
    nxt = position + 1
    if nxt >= len(quiz.items):
        gr.Info("That was the last question ready so far." if quiz.finished_at is None else "The quiz has ended.")
        return (position, None, gr.update(), gr.update(), gr.update(), gr.update())
    q, opts, box = _show(quiz.items[nxt], nxt, len(quiz.items))
    return (nxt, time.time(), q, opts, box, "")


def finish_quiz(store: LearnerStore, user: str, quiz_id: str) -> str:
    """Close the quiz (later answers are ignored) and return the score with its per-topic breakdown."""
    try:
        return score_markdown(close_quiz(store, user, quiz_id))
    except UnknownQuizItem:
        gr.Warning("Start a quiz first.")
        return ""


def subject_choices(tutor: Tutor) -> list[str]:
    return tutor.subjects()


def kind_choices(quizzes: QuizMaker) -> list[str]:
    """The labels of the kinds the quiz can make now: mixed, the question bank's kinds, the course-text ones."""
    return [QUIZ_KINDS[k] for k in quizzes.kinds()]


def build(tutor: Tutor, quizzes: QuizMaker, answers: QuizAnswers, user_id: gr.State,
          store: LearnerStore) -> gr.Dropdown:
    """Lay out and wire the tab; returns the subject dropdown (main refreshes its choices)."""
    with gr.Row():
        with gr.Column(scale=1):
            # Custom values allowed: on a first start the index (and so the subject list) may not exist
            # yet when the page loads; a typed subject is still matched case-insensitively.
            subject = gr.Dropdown(subject_choices(tutor), label="Subject", elem_id="quiz-subject",
                                  allow_custom_value=True)
            topic = gr.Textbox(label="Topic (optional)", placeholder="e.g. binary search", elem_id="quiz-topic")
            difficulty = gr.Radio([AUTO, *DIFFICULTIES], value=AUTO, label="Difficulty (auto follows your accuracy)")
            count = gr.Number(value=5, precision=0, label="Number of questions (1-20)", elem_id="quiz-count")
            kind = gr.Radio(kind_choices(quizzes), value=QUIZ_KINDS[MIXED], label="Question type",
                            info="Mixed: several kinds from the question bank, over all of the subject's documents; "
                            "Multiple choice: a key term of a course sentence")
            review = gr.Checkbox(label=REVIEW, value=False)
            start = gr.Button("Start quiz", variant="primary", elem_id="quiz-start")
        with gr.Column(scale=2):
            status = gr.Markdown(elem_id="quiz-status")
            question = gr.Markdown(elem_id="quiz-question")
            options = gr.Radio([], label="Your answer", visible=False, elem_id="quiz-options")
            answer_box = gr.Textbox(label="Your answer", visible=False, elem_id="quiz-answer")
            with gr.Row():
                submit = gr.Button("Submit answer", elem_id="quiz-submit")
                nxt = gr.Button("Next question", elem_id="quiz-next")
                finish = gr.Button("Finish quiz", elem_id="quiz-finish")
            feedback = gr.Markdown(elem_id="quiz-feedback")
            score = gr.Markdown(elem_id="quiz-score")
    quiz_id = gr.State("")
    position = gr.State(0)
    shown_at = gr.State(None)

    def _start(user, subj, top, diff, n, k, rev, progress=gr.Progress()):
        for view in start_quiz(quizzes, store, user, subj, top, diff, n, k, rev, progress):
            yield tuple(_u(v) for v in view)

    start.click(_start, [user_id, subject, topic, difficulty, count, kind, review],
                [quiz_id, position, shown_at, status, question, options, answer_box, feedback, score],
                api_name=False)
    submit.click(lambda user, qid, pos, at, ch, tx: submit_answer(answers, store, user, qid, pos, at, ch, tx),
                 [user_id, quiz_id, position, shown_at, options, answer_box], [feedback, score], api_name=False)
    nxt.click(lambda user, qid, pos: next_question(store, user, qid, pos), [user_id, quiz_id, position],
              [position, shown_at, question, options, answer_box, feedback], api_name=False)
    finish.click(lambda user, qid: finish_quiz(store, user, qid), [user_id, quiz_id], [score], api_name=False)
    return subject


# ---------------------------------------------------------------- JSON API (gradio_client)

# ``user`` below is the caller as app/identity.py resolved it (the login name, or a per-client id when login
# is off), never a string the client sent.


def quiz_api(quizzes: QuizMaker, store: LearnerStore, user: str, subject: str, topic: str = "", count: Any = 5,
             kind: str = MIXED, difficulty: str = AUTO) -> Iterator[dict]:
    """Streams {"quiz_id", "items": [...so far], "done", "notices"}; items carry their source chunk id."""
    out: dict[str, Any] = {"quiz_id": "", "items": [], "done": False, "notices": []}
    try:
        for ev in quizzes.generate(QuizRequest(user, subject, topic or "", difficulty or AUTO,
                                                               count, kind)):
            if isinstance(ev, QuizStarted):
                out.update(quiz_id=ev.quiz_id, notices=list(ev.notices), difficulty=ev.difficulty)
            elif isinstance(ev, ItemReady):
                it = ev.item
                out["items"].append({"item_id": it.item_id, "kind": it.kind, "question_kind": it.question_kind,
                                     "question": it.question,
                                     "options": list(it.options), "chunk_id": it.chunk_id, "doc_id": it.doc_id,
                                     "topic": it.topic, "elapsed_s": round(ev.elapsed_s, 3)})
            elif isinstance(ev, QuizFinished):
                out["done"] = True
                if ev.notice:
                    out["notices"].append(ev.notice)
            yield dict(out)
    except TutorError as e:
        yield {**out, "done": True, "error": str(e)}


def answer_api(answers: QuizAnswers, user: str, quiz_id: str, item_id: str, answer: str) -> dict:
    """Grade and record one answer: {"recorded", "reason", "correct", "feedback", "finished", "score"}."""
    refused: dict[str, Any] = {"recorded": False, "correct": None, "feedback": "", "finished": False, "score": None}
    try:
        r = answers.answer(user, quiz_id, answer, item_id=item_id or "")
    except UnknownQuizItem as e:
        return {**refused, "reason": "unknown quiz or item", "error": str(e)}
    except BlankAnswer as e:
        return {**refused, "reason": "blank answer", "error": str(e)}
    if not r.recorded:
        return {**refused, "reason": r.reason, "error": r.message}
    score = {"correct": r.score.correct, "answered": r.score.answered, "total": r.score.total} if r.score else None
    return {"recorded": True, "reason": r.reason, "correct": r.correct, "feedback": r.feedback,
            "finished": r.finished, "score": score}
