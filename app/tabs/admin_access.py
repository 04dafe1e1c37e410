"""Who may see admin data, and the guard every admin handler runs behind.

A hidden tab's events can still be called through the Gradio API, so each admin handler checks the caller's
role from the request itself (`request.username`, set by Gradio's login) before touching admin data; the
sections of the Admin tab (app/tabs/admin.py, app/tabs/admin_data.py) share these helpers.
"""
from __future__ import annotations

import logging

import gradio as gr

from tutor.metrics import MetricsError
from tutor.services import Services

logger = logging.getLogger("app.tabs.admin")

NOT_ADMIN = "This view is for admins. Log in with an admin account to see it."


class NotAdmin(Exception):
    pass


def require_admin(services: Services, username: str | None) -> None:
    if not services.users.is_admin(username):
        raise NotAdmin(NOT_ADMIN)


def safe_view(fn, n_out: int, quiet: bool, request: gr.Request | None, *args):
    """Run a view for the requesting user: a non-admin gets the sentence and no data (`quiet`:
    not even the sentence, for page-load refreshes), a database problem a readable message,
    never a stack trace."""
    try:
        return fn(getattr(request, "username", None), *args)
    except NotAdmin as e:
        if not quiet:
            gr.Warning(str(e))
    except MetricsError as e:
        gr.Warning(str(e))
    except Exception:  # noqa: BLE001 - UI edge
        logger.exception("admin view failed")
        gr.Warning("The admin view could not be refreshed; see the server log.")
    return gr.skip() if n_out == 1 else tuple(gr.skip() for _ in range(n_out))
