"""Per-user downloads (admin metric exports, study-plan .md/.ics) served only to their owner, for a short time.

Why not gr.File: Gradio copies every file a handler returns into its shared file cache, and any
logged-in user who has the URL can fetch it from there. Here a handler hands its files to
`Downloads.offer(owner, paths)`, which moves them into this process's private folder under an
unguessable token and returns links to `/downloads/<token>/<name>`; that route (app/server.py) serves a
file only to the login name that owns it, and every offer is deleted after `server.download_ttl_s`.
With login off there are no names: the unguessable, short-lived link is the only key (owner None).
"""
from __future__ import annotations

import atexit
import html
import logging
import secrets
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

logger = logging.getLogger(__name__)

ROUTE = "/downloads"


@dataclass(frozen=True)
class Offer:
    owner: str | None  # the login name allowed to fetch; None = login off (the link is the key)
    folder: Path
    expires_at: float


@dataclass(frozen=True)
class Link:
    name: str
    url: str


class Downloads:
    """Owned files behind tokens; one instance per app (built in app/main.py::build_app)."""

    def __init__(self, ttl_s: float, root: Path | None = None, clock=time.time, sweep_every_s: float = 30.0) -> None:
        self.ttl_s = float(ttl_s)
        if root is None:
            root = Path(tempfile.mkdtemp(prefix="smartlearn-downloads-"))
            atexit.register(shutil.rmtree, root, True)  # a private temp folder: nothing outlives the process
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._clock = clock
        self._offers: dict[str, Offer] = {}
        self._lock = threading.Lock()  # handlers run on several worker threads
        self._sweep_every_s = min(sweep_every_s, self.ttl_s)
        self._sweeper: threading.Thread | None = None

    def offer(self, owner: str | None, paths: list[str]) -> list[Link]:
        """Move ``paths`` under a fresh token for ``owner``; returns their links (relative to the app root)."""
        self.sweep()
        token = secrets.token_urlsafe(24)
        folder = self.root / token
        folder.mkdir()
        links = []
        for p in paths:
            src = Path(p)
            shutil.move(str(src), folder / src.name)
            links.append(Link(src.name, f"{ROUTE}/{token}/{quote(src.name)}"))
            if src.parent != folder and not any(src.parent.iterdir()):
                src.parent.rmdir()  # the handler's temporary folder, now empty
        with self._lock:
            self._offers[token] = Offer(owner, folder, self._clock() + self.ttl_s)
            if self._sweeper is None or not self._sweeper.is_alive():
                # Expired files go even when nobody asks for a download again; the thread ends with the offers.
                self._sweeper = threading.Thread(target=self._sweep_while_offers, name="downloads-ttl", daemon=True)
                self._sweeper.start()
        return links

    def _sweep_while_offers(self) -> None:
        while True:
            time.sleep(self._sweep_every_s)
            self.sweep()
            with self._lock:
                if not self._offers:
                    self._sweeper = None
                    return

    def lookup(self, token: str, name: str, caller: str | None) -> Path | None:
        """The file, when ``caller`` owns the offer and it has not expired; else None (the route answers 404,
        so a stranger cannot even learn that the token exists)."""
        self.sweep()
        with self._lock:
            offer = self._offers.get(token)
        if offer is None or offer.owner != caller:
            return None
        path = offer.folder / name
        if path.parent != offer.folder or not path.is_file():  # no "../" or sub-folder tricks
            return None
        return path

    def sweep(self) -> int:
        """Delete expired offers; returns how many went."""
        now = self._clock()
        with self._lock:
            gone = [t for t, o in self._offers.items() if o.expires_at <= now]
            folders = [self._offers.pop(t).folder for t in gone]
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)
        return len(folders)


def links_markdown(links: list[Link], ttl_s: float) -> str:
    """Download links for a gr.Markdown (the browser sends its login cookie with them)."""
    if not links:
        return ""
    items = " · ".join(f'<a href="{html.escape(ln.url)}" download="{html.escape(ln.name)}">{html.escape(ln.name)}</a>'
                       for ln in links)
    minutes = max(1, round(ttl_s / 60))
    return f"**Download:** {items}  \n_Links work for about {minutes} minute(s); make the file again for a new one._"
