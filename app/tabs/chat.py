"""Chat tab: streaming, grounded tutoring with a sources panel, subject filter, Socratic mode,
thumbs up/down and clear. Handlers are plain generator functions (tests call them directly)."""
from __future__ import annotations

import logging
from typing import Any, Iterator

import gradio as gr

from app import render
from tutor.errors import InputError, TutorError
from tutor.service import Tutor
from tutor.types import Answer, Delta, Message, QueuePosition

logger = logging.getLogger(__name__)

ALL_SUBJECTS = "All subjects"
THINKING = "…"
ERROR_PREFIX = "**Could not answer:** "  # such turns are not sent back to the model as history

ChatHistory = list[dict[str, Any]]


def _text_of(content: Any) -> str:
    """Gradio may hand message content back as a string or as a list of typed parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    if isinstance(content, dict):
        return str(content.get("text", ""))
    return ""


def to_history(chat: ChatHistory) -> tuple[Message, ...]:
    out = []
    for m in chat or []:
        role = m.get("role")
        text = _text_of(m.get("content"))
        if role in ("user", "assistant") and text and text != THINKING and not text.startswith(ERROR_PREFIX):
            out.append(Message(role, text))
    return tuple(out)


def respond(
    tutor: Tutor,
    message: str,
    chat: ChatHistory | None,
    subject: str | None,
    socratic: bool,
    call_ids: dict | None,
    user: str,
) -> Iterator[tuple[ChatHistory, str, str, dict]]:
    """Yields (chat, sources markdown, textbox value, call ids) as the answer streams.

    The learner's message is echoed at once (first yield), then the answer grows in place. While the model
    is busy with other learners, the learner's place in line shows under it and updates as the line moves;
    the model's first words replace it.
    """
    chat = list(chat or [])
    call_ids = dict(call_ids or {})
    if not (message or "").strip():
        gr.Warning("Please type a question first — for example: “What does the chain rule say?”")
        yield chat, gr.skip(), "", call_ids
        return
    history = to_history(chat)
    chat.append({"role": "user", "content": message})
    chat.append({"role": "assistant", "content": THINKING})
    yield list(chat), "_Searching the course material…_", "", dict(call_ids)

    subject = None if subject in (None, "", ALL_SUBJECTS) else subject
    text = ""
    try:
        for event in tutor.ask(message, history, subject=subject, socratic=bool(socratic), user=user):
            if isinstance(event, QueuePosition):
                chat[-1] = {"role": "assistant", "content": render.waiting_markdown(text, event.position)}
                yield list(chat), gr.skip(), gr.skip(), call_ids
            elif isinstance(event, Delta):
                text += event.text
                chat[-1] = {"role": "assistant", "content": text or THINKING}
                yield list(chat), gr.skip(), gr.skip(), call_ids
            elif isinstance(event, Answer):
                chat[-1] = {"role": "assistant", "content": event.text + render.answer_footer(event)}
                if event.call_id is not None:
                    call_ids[str(len(chat) - 1)] = event.call_id
                yield list(chat), render.sources_markdown(event.sources, event.citations), gr.skip(), dict(call_ids)
    except InputError as e:
        chat = chat[:-2]
        gr.Warning(str(e))
        yield chat, gr.skip(), message, call_ids
    except TutorError as e:
        logger.warning("chat failed: %s", e)
        chat[-1] = {"role": "assistant", "content": f"{ERROR_PREFIX}{e}"}
        yield chat, "_No sources: the answer could not be generated._", message, call_ids
    except Exception:  # noqa: BLE001 - UI edge: log the trace, show a sentence
        logger.exception("unexpected chat failure")
        chat[-1] = {"role": "assistant",
                    "content": ERROR_PREFIX + "Something went wrong while answering. Please try again; "
                               "if it keeps happening, tell your administrator."}
        yield chat, gr.skip(), message, call_ids


def record_feedback(tutor: Tutor, call_ids: dict | None, user: str, index: Any, liked: Any) -> str:
    """Thumbs up/down on an assistant message; returns a short status line."""
    idx = index[0] if isinstance(index, (list, tuple)) else index
    call_id = (call_ids or {}).get(str(idx))
    if call_id is None:
        return "Feedback can only be given on a tutor answer."
    if liked is None:  # un-liking: nothing to store
        return ""
    try:
        tutor.feedback(int(call_id), 1 if liked else -1, user=user)
    except (TutorError, ValueError) as e:
        return f"Feedback not saved: {e}"
    return "Thanks — your feedback was saved." if liked else "Thanks — we'll use this to improve."


def subject_choices(tutor: Tutor) -> list[str]:
    return [ALL_SUBJECTS, *tutor.subjects()]


def build(tutor: Tutor, user_id: gr.State) -> gr.Dropdown:
    """Lays out the chat tab; returns the subject dropdown so the app can refresh it on load."""
    with gr.Row():
        with gr.Column(scale=3):
            chatbot = gr.Chatbot(label="Tutor", height=520, elem_id="chatbot",
                                 feedback_options=("Like", "Dislike"))
            with gr.Row():
                box = gr.Textbox(placeholder="Ask about Python, statistics, ML, deep learning, NLP…",
                                 show_label=False, scale=5, elem_id="chat-input", max_lines=6)
                send = gr.Button("Send", variant="primary", scale=1, elem_id="chat-send")
            with gr.Row():
                subject = gr.Dropdown(choices=[ALL_SUBJECTS], value=ALL_SUBJECTS, label="Subject",
                                      elem_id="subject", allow_custom_value=False)
                socratic = gr.Checkbox(label="Socratic mode (hints first, answer after you try)",
                                       value=False, elem_id="socratic")
                clear = gr.Button("Clear", elem_id="chat-clear")
            feedback_note = gr.Markdown("")
        with gr.Column(scale=2):
            sources = gr.Markdown("_Sources for each answer appear here._", elem_id="sources")
    call_ids = gr.State({})

    def _respond(message, chat, subj, soc, ids, uid):
        yield from respond(tutor, message, chat, subj, soc, ids, uid)

    outputs = [chatbot, sources, box, call_ids]
    inputs = [box, chatbot, subject, socratic, call_ids, user_id]
    box.submit(_respond, inputs, outputs, api_name="chat")
    send.click(_respond, inputs, outputs, api_name=False)

    def _like(ids, uid, data: gr.LikeData):
        return record_feedback(tutor, ids, uid, data.index, data.liked)

    chatbot.like(_like, [call_ids, user_id], feedback_note, api_name=False)
    clear.click(lambda: ([], "_Sources for each answer appear here._", {}, ""),
                None, [chatbot, sources, call_ids, feedback_note], api_name=False)

    def _refresh_subjects():
        return gr.update(choices=subject_choices(tutor))

    # Subjects come from the index, which may still be building when the page first loads.
    subject.focus(_refresh_subjects, None, subject, api_name=False)
    return subject  # the caller refreshes it on load
