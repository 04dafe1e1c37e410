"""Process memory hygiene for the long-running server (glibc only; elsewhere every call is a no-op).

Why: the app's threads (Gradio workers, llama.cpp, torch, onnxruntime) free memory that glibc keeps in its
arenas. After a burst of concurrent requests (eight photos read at once, four answers streaming) RSS stays
at the burst's high-water mark, and each new, larger burst raises it: the soak's RSS climbed in steps.
Two arenas (as MALLOC_ARENA_MAX=2) bound the scatter; a periodic malloc_trim(0) hands freed pages back.
"""
from __future__ import annotations

import ctypes
import logging
import os
import sys
import threading

logger = logging.getLogger(__name__)

TRIM_ENV = "SMARTLEARN_MALLOC_TRIM_S"
DEFAULT_TRIM_S = 60.0  # one trim a minute: ~1-20 ms of one core (it walks the arenas' free lists)


def _glibc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc (musl): no per-thread arenas, no malloc_trim
        return None


def limit_malloc_arenas(arenas: int = 2) -> bool:
    """Two malloc arenas, before any thread starts (the soak: +550 MB in 17 minutes with glibc's default of
    eight per core, still rising). An explicit MALLOC_ARENA_MAX is the operator's choice and wins."""
    libc = _glibc()
    if libc is None or "MALLOC_ARENA_MAX" in os.environ:
        return False
    M_ARENA_MAX = -8  # malloc.h
    return bool(libc.mallopt(M_ARENA_MAX, int(arenas)))


def trim_interval_s() -> float:
    """SMARTLEARN_MALLOC_TRIM_S seconds between trims (0 turns them off); a bad value keeps the default."""
    raw = os.environ.get(TRIM_ENV, "")
    try:
        value = float(raw) if raw.strip() else DEFAULT_TRIM_S
    except ValueError:
        logger.warning("%s=%r is not a number of seconds; trimming every %.0f s", TRIM_ENV, raw, DEFAULT_TRIM_S)
        return DEFAULT_TRIM_S
    return max(value, 0.0)


def start_malloc_trimmer(stop: threading.Event | None = None) -> threading.Thread | None:
    """A daemon thread that calls malloc_trim(0) every trim_interval_s(); None where there is nothing to do."""
    libc, every = _glibc(), trim_interval_s()
    if libc is None or every <= 0:
        return None
    stop = stop or threading.Event()

    def loop() -> None:
        while not stop.wait(every):
            try:
                libc.malloc_trim(0)
            except Exception:  # noqa: BLE001 - hygiene: never take the server down
                logger.exception("malloc_trim failed; no more trims")
                return

    t = threading.Thread(target=loop, name="malloc-trim", daemon=True)
    t.start()
    return t
