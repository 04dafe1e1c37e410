"""The one HTTP server: FastAPI (admin REST API, Prometheus) with the Gradio UI mounted at "/".

Login: when users are configured (tutor/auth.py), Gradio's login page guards the UI and every
Gradio API call, so the same rule holds behind a public share link (the link only forwards to
this server). The REST routes check their own admin token.
"""
from __future__ import annotations

import logging
import secrets

import gradio as gr
from fastapi import FastAPI

from app.api import build_api
from tutor.services import Services

logger = logging.getLogger(__name__)


def create_server(services: Services, demo: gr.Blocks) -> FastAPI:
    api = build_api(services)  # REST routes first: the mount at "/" matches everything after them
    users = services.users
    auth = users.authenticate if users.enabled else None
    return gr.mount_gradio_app(
        api, demo, path="/", auth=auth,
        auth_message="SmartLearn: log in with the name and password your teacher or admin gave you.",
        max_file_size=f"{int(services.cfg.server.max_upload_mb)}mb", show_error=False,
        server_name=services.cfg.server.host, server_port=services.cfg.server.port,
    )


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
