"""A small thread-safe circuit breaker for calls to a remote model server.

Why our own and not pybreaker 1.4.1: pybreaker's `CircuitBreaker.call` holds one lock for the whole
wrapped call (`with self._lock: return self.state.call(func, ...)`), so every request through a shared
breaker would wait for the one before it: the concurrent answers a scale-out server exists for would be
served one at a time, and a stream cannot be wrapped at all. This one takes its lock only to read or
change the state; calls themselves run in parallel.

States: closed (calls pass; `failures` failures in a row open it) -> open (calls fail at once for
`reset_s`) -> half-open (one trial call passes; success closes, failure opens again).
"""
from __future__ import annotations

import threading
import time
from typing import Callable


class CircuitOpen(Exception):
    """Raised by `before_call` while the breaker is open; `retry_in_s` says when the next trial is allowed."""

    def __init__(self, retry_in_s: float) -> None:
        super().__init__(f"circuit open, next trial in {retry_in_s:.0f} s")
        self.retry_in_s = retry_in_s


class CircuitBreaker:
    def __init__(self, failures: int = 5, reset_s: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.failures = max(1, int(failures))
        self.reset_s = float(reset_s)
        self._clock = clock
        self._lock = threading.Lock()
        self._in_a_row = 0
        self._opened_at: float | None = None  # None = closed
        self._trial_running = False

    @property
    def state(self) -> str:
        with self._lock:
            if self._opened_at is None:
                return "closed"
            return "half-open" if self._clock() - self._opened_at >= self.reset_s else "open"

    def before_call(self) -> None:
        """Let a call through, or raise CircuitOpen. In half-open, only one trial at a time passes."""
        with self._lock:
            if self._opened_at is None:
                return
            waited = self._clock() - self._opened_at
            if waited < self.reset_s or self._trial_running:
                raise CircuitOpen(max(0.0, self.reset_s - waited))
            self._trial_running = True

    def success(self) -> None:
        with self._lock:
            self._in_a_row = 0
            self._opened_at = None
            self._trial_running = False

    def failure(self) -> None:
        with self._lock:
            self._in_a_row += 1
            if self._trial_running or self._in_a_row >= self.failures:
                self._opened_at = self._clock()
            self._trial_running = False
