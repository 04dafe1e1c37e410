"""Builds the SmartLearn Blocks app: status banner, tabs, and the JSON `ask` API endpoint.

No `from __future__ import annotations` here: gr.api builds its schema from real type hints.
"""
import dataclasses
import logging
from typing import Any, Iterator

import gradio as gr

from app.downloads import Downloads
from app.identity import API_PREFIX, ClientIds, bind_user_events, resolve_user
from app.tabs import admin, chat, library
from app.tabs import interview as interview_tab
from app.tabs import multimodal as voice_photo
from app.tabs import progress as progress_tab
from app.tabs import quiz as quiz_tab
from app.tabs import study_plan as plan_tab
from tutor.errors import TutorError
from tutor.features.delivery import spoken_answer
from tutor.service import Tutor
from tutor.services import Services
from tutor.types import Answer, Delta, QueuePosition

logger = logging.getLogger(__name__)

TITLE = "SmartLearn — your open AI tutor"


__all__ = ["ask_api", "build_app", "resolve_user"]


def ask_api(tutor: Tutor, question: str, subject: str = "", socratic: bool = False,
            user: str = "api") -> Iterator[dict[str, Any]]:
    """Streaming JSON endpoint for programs (gradio_client): partial text, then the full answer
    with its sources and the citation numbers it used. ``user``: the caller (app/identity.py)."""
    text = ""
    try:
        for event in tutor.ask(question, (), subject=subject or None, socratic=socratic, user=user):
            if isinstance(event, QueuePosition):  # the model is busy: the caller's place in line (1 = next)
                yield {"text": text, "done": False, "queue_position": event.position}
            elif isinstance(event, Delta):
                text += event.text
                yield {"text": text, "done": False}
            elif isinstance(event, Answer):
                yield {
                    "text": event.text, "done": True, "grounded": event.grounded,
                    "citations": list(event.citations), "notice": event.notice,
                    "sources": [dataclasses.asdict(s) for s in event.sources],
                    "ttft_s": event.completion.ttft_s if event.completion else None,
                }
    except TutorError as e:
        yield {"text": "", "done": True, "error": str(e)}


def build_app(services: Services) -> gr.Blocks:
    """The Blocks app over one set of services (tutor/services.py); each tab gets only what it uses.
    Its `Downloads` (owned, short-lived files) rides on the Blocks for app/server.py to serve."""
    tutor, learners, users = services.tutor, services.learners, services.users
    ids = ClientIds()
    downloads = Downloads(services.cfg.server.download_ttl_s)
    with gr.Blocks(title=TITLE) as demo:
        gr.Markdown(f"# {TITLE}\nAnswers come from the course documents, with numbered sources you can check.")
        status = gr.Markdown(tutor.status().message, elem_id="status")
        browser_id = gr.BrowserState("", storage_key="smartlearn-user")
        user_id = gr.State("")
        with gr.Tabs():
            with gr.Tab("Chat", id="chat"):
                subject = chat.build(tutor, user_id)
            with gr.Tab("Study plan", id="study-plan"):
                plan_subject, saved_plans = plan_tab.build(tutor, services.plans, user_id, learners, downloads)
            with gr.Tab("Quiz", id="quiz"):
                quiz_subject = quiz_tab.build(tutor, services.quizzes, services.quiz_answers, user_id, learners)
            with gr.Tab("My progress", id="progress") as progress_tab_item:
                _, show_progress, progress_outputs = progress_tab.build(user_id, learners)
            progress_tab_item.select(show_progress, [user_id], progress_outputs, api_name=False)
            with gr.Tab("Interview coach", id="interview"):
                # Voice answers go through the same media service (one speech engine) as the Voice & photo tab.
                media = services.media
                interview_tab.build(
                    services.interviews, user_id,
                    transcribe=lambda path, user: spoken_answer(media.transcribe(path, user=user or "anonymous")))
            with gr.Tab("Voice & photo", id="voice-photo"):
                voice_photo.build(tutor, services.media, user_id)
            with gr.Tab("Library", id="library"):
                table = library.build(tutor, users)
            # Hidden until the page-load handler sees an admin; every admin handler checks the role
            # again on the server, because hidden events can still be called through the API.
            with gr.Tab("Admin", id="admin", visible=False) as admin_tab:
                admin_view = admin.build(services, downloads)

        def _on_load(bid: str, request: gr.Request):
            uid = resolve_user(request, bid)
            return uid, (bid if bid and not bid.startswith(API_PREFIX) else uid), gr.update(choices=chat.subject_choices(tutor)), tutor.status().message

        def _admin_visibility(request: gr.Request):
            is_admin = users.is_admin(getattr(request, "username", None))
            return gr.update(visible=is_admin), gr.update(active=is_admin)

        def _learning_choices(uid: str):
            subjects = tutor.subjects()
            return (gr.update(choices=[plan_tab.ANY_SUBJECT, *subjects]), gr.update(choices=subjects),
                    gr.update(choices=plan_tab.saved_choices(learners, uid)))

        demo.load(_on_load, [browser_id], [user_id, browser_id, subject, status], api_name=False).then(
            _learning_choices, [user_id], [plan_subject, quiz_subject, saved_plans], api_name=False)
        demo.load(_admin_visibility, None, [admin_tab, admin_view.timer], api_name=False).then(
            admin_view.refresh, admin_view.refresh_inputs, admin_view.refresh_outputs, api_name=False)
        demo.load(lambda: library.document_table(tutor) if tutor.status().index_report else [], None, table,
                  api_name=False)

        # Poll the start-up status until the model is ready, then stop polling.
        timer = gr.Timer(2.0)

        def _tick():
            st = tutor.status()
            subjects = tutor.subjects()  # the index may finish after the page loaded
            return st.message, gr.update(active=st.state not in ("ready", "error")), \
                gr.update(choices=chat.subject_choices(tutor)), \
                gr.update(choices=[plan_tab.ANY_SUBJECT, *subjects]), gr.update(choices=subjects)

        timer.tick(_tick, None, [status, timer, subject, plan_subject, quiz_subject], api_name=False)

        _register_api(services, ids)
    # Every event that takes user_id acts for the caller's real identity, even when called raw.
    bind_user_events(demo, user_id, ids)
    demo.smartlearn_downloads = downloads
    return demo


def _register_api(services: Services, ids: ClientIds) -> None:
    """The JSON endpoints for programs (gradio_client), inside the Blocks being built. The caller is
    `ids.api_user(request, ...)`: the login name when login is on (one record with the browser), else an
    id of this client's session that no other client can choose."""
    tutor, learners = services.tutor, services.learners

    # gr.api reads the (real, not stringified) hints: the yielded value is one JSON dict.
    def _ask(question: str, subject: str = "", socratic: bool = False, request: gr.Request = None) -> dict:
        yield from ask_api(tutor, question, subject, socratic, user=ids.api_user(request))

    gr.api(_ask, api_name="ask")

    def _status() -> dict:
        st = tutor.status()
        return {"state": st.state, "message": st.message, "ready": st.ready}

    gr.api(_status, api_name="status")

    # `learner`: with login off, a label for one of this client's own learners; ignored with login on.
    def _quiz(subject: str, count: int = 5, kind: str = "mixed", topic: str = "", learner: str = "",
              request: gr.Request = None) -> dict:
        user = ids.api_user(request, learner)
        yield from quiz_tab.quiz_api(services.quizzes, learners, user, subject, topic, count, kind)

    gr.api(_quiz, api_name="quiz")

    def _quiz_answer(quiz_id: str, item_id: str, answer: str, learner: str = "",
                     request: gr.Request = None) -> dict:
        return quiz_tab.answer_api(services.quiz_answers, ids.api_user(request, learner), quiz_id, item_id, answer)

    gr.api(_quiz_answer, api_name="quiz_answer")

    def _plan(subject: str = "", goal: str = "", level: str = "beginner", hours: float = 4, weeks: int = 4,
              request: gr.Request = None) -> dict:
        yield from plan_tab.plan_api(services.plans, ids.api_user(request), subject, goal, level, hours, weeks)

    gr.api(_plan, api_name="plan")
