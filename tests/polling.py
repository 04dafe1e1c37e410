"""Waiting for another thread in a test: poll a condition, fail with a sentence after a bound."""
from __future__ import annotations

import time

WAIT = 10.0  # seconds a test waits for a thread at most before it fails


def until(cond, what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)
