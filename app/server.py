"""The one HTTP server: FastAPI (admin REST API, Prometheus) with the Gradio UI mounted at "/".

Login: when users are configured (tutor/auth.py), Gradio's login page guards the UI and every
Gradio API call, so the same rule holds behind a public share link (the link only forwards to
this server). The REST routes check their own admin token. Per-user files (exports, study plans)
are served by `/downloads/...` to their owner only (app/downloads.py), never from Gradio's shared cache.
"""
from __future__ import annotations

import inspect
import logging
import secrets

import gradio as gr
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse
from starlette.routing import Mount

from app.api import build_api
from app.downloads import ROUTE, Downloads
from tutor.services import Services

logger = logging.getLogger(__name__)


def create_server(services: Services, demo: gr.Blocks) -> FastAPI:
    api = build_api(services)  # REST routes first: the mount at "/" matches everything after them
    users = services.users
    auth = users.authenticate if users.enabled else None
    app = gr.mount_gradio_app(
        api, demo, path="/", auth=auth,
        auth_message="SmartLearn: log in with the name and password your teacher or admin gave you.",
        max_file_size=f"{int(services.cfg.server.max_upload_mb)}mb", show_error=False,
        server_name=services.cfg.server.host, server_port=services.cfg.server.port,
    )
    downloads = getattr(demo, "smartlearn_downloads", None)  # set by app/main.py::build_app
    if downloads is not None:
        _add_download_route(app, downloads, _gradio_user(app), login=users.enabled)
    return app


def _gradio_user(app: FastAPI):
    """The login name of a request, read as Gradio's own `/gradio_api/user` route reads it (gradio/routes.py
    get_current_user: the access-token cookie set at login, looked up in the mounted app's token table).
    None when logged out or when login is off. tests/app/test_entry_points.py checks both agree."""
    gradio_app = next(r.app for r in app.routes if isinstance(r, Mount))

    async def current_user(request: Request) -> str | None:
        if gradio_app.auth_dependency is not None:
            user = gradio_app.auth_dependency(request)
            return await user if inspect.isawaitable(user) else user
        cookie = gradio_app.cookie_id
        token = request.cookies.get(f"access-token-{cookie}") or request.cookies.get(f"access-token-unsecure-{cookie}")
        return gradio_app.tokens.get(token)

    return current_user


def _add_download_route(app: FastAPI, downloads: Downloads, current_user, *, login: bool) -> None:
    async def download(token: str, name: str, request: Request) -> FileResponse:
        caller = await current_user(request)
        if login and caller is None:  # like every Gradio route with login on
            raise HTTPException(401, "Log in first.")
        path = downloads.lookup(token, name, caller)
        if path is None:  # unknown, expired, or someone else's: the same answer, so nothing leaks
            raise HTTPException(404, "This download does not exist or has expired; make the file again.")
        return FileResponse(path, filename=path.name, headers={"Cache-Control": "private, no-store"})

    app.add_api_route(ROUTE + "/{token}/{name}", download, methods=["GET"], include_in_schema=False)
    # The Gradio mount at "/" was added first and matches everything: move this route before it.
    app.router.routes.insert(0, app.router.routes.pop())


def open_share_link(host: str, port: int) -> str | None:
    """A public *.gradio.live link to this server, as demo.launch(share=True) makes one. Gradio's
    launch() cannot serve our FastAPI app, so its tunnel helper is called directly."""
    from gradio import networking

    try:
        return networking.setup_tunnel(local_host=host if host != "0.0.0.0" else "127.0.0.1", local_port=port,
                                       share_token=secrets.token_urlsafe(32), share_server_address=None,
                                       share_server_tls_certificate=None)
    except Exception as e:  # noqa: BLE001 - no network: the app still runs locally
        logger.warning("Could not create a share link (%s: %s); the app runs locally only.", type(e).__name__, e)
        return None


def serve(services: Services, demo: gr.Blocks, *, share: bool = False) -> None:
    import threading

    import uvicorn

    cfg = services.cfg.server
    app = create_server(services, demo)
    config = uvicorn.Config(app, host=cfg.host, port=cfg.port, log_level="warning")
    server = uvicorn.Server(config)
    if share:
        def _tunnel() -> None:
            import time

            while not server.started:
                time.sleep(0.1)
            url = open_share_link(cfg.host, cfg.port)
            if url:
                logger.info("Public link: %s (login applies there too)", url)

        threading.Thread(target=_tunnel, name="share-link", daemon=True).start()
    services.monitor.start()
    try:
        server.run()
    finally:
        services.monitor.stop()
