"""`python -m app [--share] [--port N] [--host H] [--config FILE]`: start SmartLearn."""
from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

from app.memory import limit_malloc_arenas, start_malloc_trimmer

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")  # chromadb: never phone home
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


def main(argv: list[str] | None = None) -> int:
    limit_malloc_arenas()  # before any thread starts (app/memory.py)
    t0 = time.perf_counter()
    parser = argparse.ArgumentParser(prog="python -m app", description="Start the SmartLearn tutor.")
    parser.add_argument("--share", action="store_true", help="also create a public Gradio share link")
    parser.add_argument("--host", help="bind address (default 127.0.0.1; 0.0.0.0 in Docker)")
    parser.add_argument("--port", type=int, help="port (default 7860)")
    parser.add_argument("--config", help="YAML config file (or SMARTLEARN_CONFIG)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=os.environ.get("SMARTLEARN_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log = logging.getLogger("smartlearn")

    from tutor.config import load_config
    from tutor.errors import ConfigError

    try:
        cfg = load_config(args.config)
        server = cfg.server.replace(  # command-line flags win, and are validated like every other setting
            share=cfg.server.share or args.share,
            host=args.host or cfg.server.host,
            port=args.port or cfg.server.port,
        )
        cfg = cfg.replace(server=server)
    except ConfigError as e:
        print(f"SmartLearn cannot start: {e}", file=sys.stderr)
        return 2
    if args.config:  # processes the app starts (the admin view's Q&A runs) read the same config file
        os.environ["SMARTLEARN_CONFIG"] = str(Path(args.config).resolve())

    from app.main import build_app
    from tutor.services import build_services

    try:
        services = build_services(cfg)
    except ConfigError as e:  # e.g. a malformed users file
        print(f"SmartLearn cannot start: {e}", file=sys.stderr)
        return 2
    services.tutor.warm_up_in_background()  # index + model load; the UI is usable meanwhile
    demo = build_app(services)
    demo.queue(default_concurrency_limit=handler_limit(services))
    log.info("UI built in %.1f s; starting server on http://%s:%d (login %s; admin API at /docs)",
             time.perf_counter() - t0, server.host, server.port, "on" if services.users.enabled else "off")
    from app.server import serve

    start_malloc_trimmer()
    serve(services, demo, share=server.share)
    return 0


def handler_limit(services) -> int:
    """Gradio workers per event: one for every engine slot and every place in the tutor's line (tutor/serving),
    plus a few to turn the next arrivals away politely. With fewer, learners would wait in Gradio's own queue
    instead, unseen by the tutor's line, its "you are 3rd in line" and its busy answer."""
    gate = services.gate
    if gate is None:  # an OpenAI-compatible server queues for itself
        return 16
    return gate.slots + (gate.max_waiting or 0) + 4


if __name__ == "__main__":
    sys.exit(main())
