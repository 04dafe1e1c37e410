"""Library tab: the list of course documents, and the admin upload that adds new ones.

Adding documents is an admin action (it changes what every learner is taught from), so it
checks the caller's role (tutor/auth.py) on every call, also behind a public share link.
"""
from __future__ import annotations

import logging
from pathlib import Path

import gradio as gr

from app import render
from tutor.auth import UserDirectory
from tutor.errors import TutorError
from tutor.retrieval.documents import SUPPORTED_SUFFIXES
from tutor.service import Tutor

logger = logging.getLogger(__name__)



def check_admin(users: UserDirectory, login: str | None, user: str, password: str) -> str | None:
    """None when the caller is an admin — logged in as one, or typing an admin's name and
    password (for apps without login) — else the sentence to show."""
    if users.is_admin(login):
        return None
    if not users.enabled:
        return ("Document upload is turned off: add an admin with `python -m tutor user add NAME --role admin` "
                "(or set SMARTLEARN_SERVER_ADMIN_USER and SMARTLEARN_SERVER_ADMIN_PASSWORD) and restart.")
    if user and users.is_admin(user) and users.authenticate(user, password or ""):
        return None
    return "Wrong admin name or password."


def add_documents(tutor: Tutor, users: UserDirectory, files: list | None, user: str, password: str,
                  login: str | None = None) -> str:
    problem = check_admin(users, login, user, password)
    if problem:
        return f"Warning: {problem}"
    paths = [Path(getattr(f, "name", f)) for f in (files or [])]
    if not paths:
        return "Warning: Choose one or more .md, .txt or .pdf files first."
    # Type (extension and content) and size are checked once, by the ingestor; refused files come
    # back in report.skipped with the reason, and render shows them.
    try:
        report = tutor.add_documents(paths)
    except TutorError as e:
        return f"Warning: {e}"
    except Exception:  # noqa: BLE001 - UI edge
        logger.exception("document upload failed")
        return "Warning: The documents could not be added; the existing knowledge base is unchanged."
    return render.ingest_markdown(report)


def reindex(tutor: Tutor, users: UserDirectory, user: str, password: str, progress=None,
            login: str | None = None) -> str:
    """Admin: bring the index in step with the knowledge-base folder (edited, added, removed files)."""
    problem = check_admin(users, login, user, password)
    if problem:
        return f"Warning: {problem}"

    def _progress(done: int, total: int, what: str) -> None:
        if progress is not None:
            progress((done, max(total, 1)), desc=f"Indexing {what}")

    try:
        report = tutor.ingest(progress=_progress)
    except TutorError as e:
        return f"Warning: {e}"
    except Exception:  # noqa: BLE001 - UI edge
        logger.exception("re-index failed")
        return "Warning: Re-indexing failed; the previous index is still in use."
    return render.ingest_markdown(report)


def document_table(tutor: Tutor) -> list[list[str]]:
    return [[d.title, d.subject, d.level, d.doc_id + (f" Warning: {d.problem}" if d.problem else "")]
            for d in tutor.documents()]


def build(tutor: Tutor, users: UserDirectory) -> gr.Dataframe:
    """Lays out the library tab; returns the document table so the app can fill it on load."""
    gr.Markdown("### Course documents\nThe tutor answers from these documents and cites them.")
    table = gr.Dataframe(headers=["Title", "Subject", "Level", "File"], value=None, interactive=False,
                         elem_id="documents")
    refresh = gr.Button("Refresh list")
    with gr.Accordion("Add documents (admin)", open=False):
        gr.Markdown(f"Markdown (with optional front matter: title, subject, level), plain text or PDF; "
                    f"at most {tutor.cfg.server.max_upload_mb:g} MB each.")
        files = gr.File(file_count="multiple", file_types=list(SUPPORTED_SUFFIXES), label="Documents")
        with gr.Row():
            admin_user = gr.Textbox(label="Admin name (not needed when logged in as an admin)")
            admin_pass = gr.Textbox(label="Admin password", type="password")
        with gr.Row():
            add = gr.Button("Add to knowledge base", variant="primary")
            reindex_btn = gr.Button("Re-index the knowledge-base folder")
        result = gr.Markdown()

    def _add(f, u, p, request: gr.Request, progress=gr.Progress()):
        progress(0, desc="Indexing the new documents…")  # a spinner while chunks are embedded
        return add_documents(tutor, users, f, u, p, login=getattr(request, "username", None))

    def _table():
        try:
            return document_table(tutor)
        except Exception:  # noqa: BLE001 - an index still building shows an empty list
            logger.exception("document list failed")
            return []

    add.click(_add, [files, admin_user, admin_pass], result, api_name=False).then(_table, None, table)
    refresh.click(_table, None, table, api_name=False)

    def _reindex(u, p, request: gr.Request, progress=gr.Progress()):
        return reindex(tutor, users, u, p, progress, login=getattr(request, "username", None))

    reindex_btn.click(_reindex, [admin_user, admin_pass], result, api_name=False).then(_table, None, table)
    return table
