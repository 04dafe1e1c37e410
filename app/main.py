"""Builds the SmartLearn Blocks app: status banner, tabs, and the JSON `ask` API endpoint.

No `from __future__ import annotations` here: gr.api builds its schema from real type hints.
"""
import dataclasses
import logging
import uuid
from typing import Any, Iterator

import gradio as gr

from app.tabs import chat, library
from tutor.errors import TutorError
from tutor.service import Tutor
from tutor.types import Answer, Delta

logger = logging.getLogger(__name__)

TITLE = "SmartLearn — your open AI tutor"


def resolve_user(request: gr.Request | None, browser_id: str | None) -> str:
    """The login name when auth is on, else an anonymous id kept in this browser's localStorage."""
    name = getattr(request, "username", None) if request is not None else None
    if name:
        return str(name)
    return browser_id or f"anon-{uuid.uuid4().hex[:12]}"


def ask_api(tutor: Tutor, question: str, subject: str = "", socratic: bool = False) -> Iterator[dict[str, Any]]:
    """Streaming JSON endpoint for programs (gradio_client): partial text, then the full answer
    with its sources and the citation numbers it used."""
    text = ""
    try:
        for event in tutor.ask(question, (), subject=subject or None, socratic=socratic, user="api"):
            if isinstance(event, Delta):
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


def build_app(tutor: Tutor) -> gr.Blocks:
    with gr.Blocks(title=TITLE) as demo:
        gr.Markdown(f"# {TITLE}\nAnswers come from the course documents, with numbered sources you can check.")
        status = gr.Markdown(tutor.status().message, elem_id="status")
        browser_id = gr.BrowserState("", storage_key="smartlearn-user")
        user_id = gr.State("")
        with gr.Tabs():
            with gr.Tab("Chat", id="chat"):
                subject = chat.build(tutor, user_id)
            with gr.Tab("Library", id="library"):
                table = library.build(tutor)

        def _on_load(bid: str, request: gr.Request):
            uid = resolve_user(request, bid)
            return uid, (bid or uid), gr.update(choices=chat.subject_choices(tutor)), tutor.status().message

        demo.load(_on_load, [browser_id], [user_id, browser_id, subject, status], api_name=False)
        demo.load(lambda: library.document_table(tutor) if tutor.status().index_report else [], None, table,
                  api_name=False)

        # Poll the start-up status until the model is ready, then stop polling.
        timer = gr.Timer(2.0)

        def _tick():
            st = tutor.status()
            return st.message, gr.update(active=st.state not in ("ready", "error")), \
                gr.update(choices=chat.subject_choices(tutor))

        timer.tick(_tick, None, [status, timer, subject], api_name=False)

        # gr.api reads the (real, not stringified) hints: the yielded value is one JSON dict.
        def _ask(question: str, subject: str = "", socratic: bool = False) -> dict:
            yield from ask_api(tutor, question, subject, socratic)

        gr.api(_ask, api_name="ask")

        def _status() -> dict:
            st = tutor.status()
            return {"state": st.state, "message": st.message, "ready": st.ready}

        gr.api(_status, api_name="status")
    return demo
