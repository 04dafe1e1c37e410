"""Who is calling: the one rule for every UI event, gr.api route and download.

Login on: the login name from Gradio's session (gr.Request.username), whatever a client sends.
Login off: a browser keeps its anonymous id (localStorage); a program (gradio_client) or a fresh
session without one gets an id derived from its Gradio session hash with a per-process secret, so
no client can pick a string that equals another client's or a browser learner's id.
"""
from __future__ import annotations

import hashlib
import hmac
import inspect
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

import gradio as gr

API_PREFIX = "api:"  # ids made here; a browser id with this prefix is refused (it would pose as a client)


def login_name(request: gr.Request | None) -> str | None:
    name = getattr(request, "username", None) if request is not None else None
    return str(name) if name else None


def resolve_user(request: gr.Request | None, browser_id: str | None) -> str:
    """The login name when auth is on, else the anonymous id kept in this browser's localStorage."""
    name = login_name(request)
    if name:
        return name
    if browser_id and not browser_id.startswith(API_PREFIX):
        return browser_id
    return f"anon-{uuid.uuid4().hex[:12]}"


@dataclass(frozen=True)
class ClientIds:
    """Per-client ids for login-off sessions; one per app (build_app), its secret never leaves the process."""

    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)

    def session_id(self, request: gr.Request | None) -> str:
        session = getattr(request, "session_hash", None) or ""
        if not session:  # no session at all (a direct call): a one-off id nobody can reuse
            return f"{API_PREFIX}{uuid.uuid4().hex[:16]}"
        digest = hmac.new(self.secret, session.encode(), hashlib.sha256).hexdigest()[:16]
        return f"{API_PREFIX}{digest}"

    def api_user(self, request: gr.Request | None, label: str = "") -> str:
        """The learner an API call acts for. Login on: the login name (``label`` ignored, so a learner's API and
        browser records are one). Login off: this client's session id, with ``label`` as a sub-learner
        inside it (one program may run several learners; it can never reach another client's)."""
        name = login_name(request)
        if name:
            return name
        base = self.session_id(request)
        label = "".join(c for c in (label or "") if c.isalnum() or c in "-_.")[:40]
        return f"{base}:{label}" if label else base

    def event_user(self, request: gr.Request | None, state_value: str | None) -> str:
        """The learner a UI event acts for: the login name, else the page's id (set on load), else this session's."""
        name = login_name(request)
        if name:
            return name
        if state_value and not state_value.startswith(API_PREFIX):
            return state_value
        return self.session_id(request)


_REQUEST = "_smartlearn_request"


def _is_special(param: inspect.Parameter, hints: dict[str, Any]) -> bool:
    """Parameters Gradio fills itself (helpers.special_args), not from the event's inputs."""
    hint = hints.get(param.name)
    return isinstance(param.default, gr.Progress) or hint in (gr.Request, gr.Request | None) or (
        inspect.isclass(hint) and issubclass(hint, gr.EventData))


def with_user(fn: Callable, input_index: int, ids: ClientIds) -> Callable:
    """``fn`` with its ``input_index``-th input (the user_id State) replaced by `ClientIds.event_user`, so a
    raw queue call in a fresh session, or one that skipped the page load, still acts as the logged-in user."""
    if inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn):
        raise TypeError(f"{getattr(fn, '__name__', fn)!r} is async: with_user wraps plain functions and generators")
    sig = inspect.signature(fn)
    try:
        hints = inspect.get_annotations(fn, eval_str=True)
    except (NameError, TypeError):
        hints = {}
    params = list(sig.parameters.values())
    regular = [i for i, p in enumerate(params) if not _is_special(p, hints)
               and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    pos = regular[input_index]
    extra = inspect.Parameter(_REQUEST, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None, annotation=gr.Request)

    def _swap(args: tuple) -> list:
        *call, request = args
        call[pos] = ids.event_user(request, call[pos])
        return call

    if inspect.isgeneratorfunction(fn):
        def wrapper(*args):
            yield from fn(*_swap(args))
    else:
        def wrapper(*args):
            return fn(*_swap(args))
    wrapper.__signature__ = sig.replace(parameters=[*params, extra])  # type: ignore[attr-defined]
    wrapper.__annotations__ = {**hints, _REQUEST: gr.Request}
    wrapper.__name__ = getattr(fn, "__name__", "handler")
    wrapper.__wrapped_user_fn__ = fn  # type: ignore[attr-defined]
    return wrapper


def bind_user_events(demo: gr.Blocks, user_state: gr.State, ids: ClientIds) -> int:
    """Make every event of ``demo`` that takes ``user_state`` act for the caller's real identity (see
    `with_user`). Done once over the built Blocks, so a tab added later cannot forget it. Returns how many."""
    bound = 0
    for block_fn in demo.fns.values():
        ids_in = [getattr(c, "_id", None) for c in block_fn.inputs]
        if block_fn.fn is None or user_state._id not in ids_in or getattr(block_fn.fn, "__wrapped_user_fn__", None):
            continue
        block_fn.fn = with_user(block_fn.fn, ids_in.index(user_state._id), ids)
        bound += 1
    return bound
