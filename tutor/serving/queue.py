"""The FIFO admission gate: at most ``slots`` model requests run at once, the rest wait in arrival order.

Why not a lock or a semaphore: neither ``threading.Lock`` nor ``threading.Semaphore`` promises an order, so
under load a learner who arrived first can be overtaken again and again (starved). Here every request takes
a ``Ticket`` on arrival; a slot that frees is handed to the oldest waiting ticket at once, inside the same
critical section, so a newcomer can never slip past someone already waiting.

Back-pressure: when ``max_waiting`` tickets already wait, a new one is refused at once (``ServerBusy``),
and a ticket that waited ``max_wait_s`` leaves the line and is refused too: a polite "busy, try again"
beats an unbounded wait.

Waiting is event driven (``threading.Condition``): a waiter sleeps until the line moves (or its deadline),
then reports its new position through ``updates()``, which is how the chat streams "you are 3rd in line".
Tickets are released by whoever holds them (any thread): the transformers backend frees its slot from its
worker thread.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from tutor.errors import ServerBusy


@dataclass(eq=False)  # identity, not value: two tickets are never the same place in line
class Ticket:
    """One request's place: waiting (``admitted`` False), holding a slot, or gone (``left``)."""

    arrived: float
    admitted: bool = False
    left: bool = False


@dataclass(frozen=True)
class GateState:
    """A snapshot for the admin and the tests."""

    slots: int
    running: int
    waiting: int
    admitted: int  # tickets that got a slot, since start
    refused_full: int  # turned away on arrival: the line was full
    refused_timeout: int  # left the line after max_wait_s

    def summary(self) -> str:
        """One line for the admin's health view."""
        return (f"Model line: {self.running} of {self.slots} slot(s) busy, {self.waiting} waiting; since start "
                f"{self.admitted} admitted, {self.refused_full} turned away (line full), {self.refused_timeout} "
                "waited too long.")


class AdmissionGate:
    """FIFO admission to ``slots`` concurrent model requests; see the module docstring."""

    def __init__(self, slots: int, max_waiting: int | None = None, max_wait_s: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if slots < 1:
            raise ValueError("an admission gate needs at least one slot")
        self.slots = slots
        self.max_waiting = max_waiting  # None = no limit on the line's length
        self.max_wait_s = max_wait_s  # None = wait as long as it takes
        self._clock = clock
        self._cond = threading.Condition()
        self._waiting: deque[Ticket] = deque()
        self._running = 0
        self._admitted = self._refused_full = self._refused_timeout = 0

    # ------------------------------------------------------------ the line

    def join(self) -> Ticket:
        """Take a place: admitted at once when a slot is free and nobody waits, else at the end of the line.
        Raises ServerBusy when the line is full."""
        with self._cond:
            ticket = Ticket(arrived=self._clock())
            if self._running < self.slots and not self._waiting:
                self._admit(ticket)
            elif self.max_waiting is not None and len(self._waiting) >= self.max_waiting:
                self._refused_full += 1
                raise ServerBusy("full")
            else:
                self._waiting.append(ticket)
            return ticket

    def updates(self, ticket: Ticket) -> Iterator[int]:
        """Yield the ticket's 1-based place among the waiting each time it changes; return once admitted.

        Raises ServerBusy (and leaves the line) after ``max_wait_s``. Nothing is yielded while the gate's
        lock is held, so a slow consumer never stalls the line."""
        deadline = None if self.max_wait_s is None else ticket.arrived + self.max_wait_s
        last: int | None = None
        while True:
            with self._cond:
                position = self._next_position(ticket, last, deadline)
            if position is None:
                return
            last = position
            yield position

    def wait(self, ticket: Ticket) -> None:
        """Block until admitted (no position reports)."""
        for _ in self.updates(ticket):
            pass

    def leave(self, ticket: Ticket) -> None:
        """Free the ticket's slot, or its place in line. Idempotent; any thread may call it."""
        with self._cond:
            if ticket.left:
                return
            ticket.left = True
            if ticket.admitted:
                self._running -= 1
            else:
                self._waiting.remove(ticket)
            self._promote()
            self._cond.notify_all()  # every waiter's position moved (or one was admitted)

    @contextmanager
    def slot(self) -> Iterator[Ticket]:
        """``with gate.slot():`` join, wait and always leave; for callers that do not report a position."""
        ticket = self.join()
        try:
            self.wait(ticket)
            yield ticket
        finally:
            self.leave(ticket)

    def state(self) -> GateState:
        with self._cond:
            return GateState(self.slots, self._running, len(self._waiting), self._admitted,
                             self._refused_full, self._refused_timeout)

    # ------------------------------------------------------------ inside the lock

    def _admit(self, ticket: Ticket) -> None:
        ticket.admitted = True
        self._running += 1
        self._admitted += 1

    def _promote(self) -> None:
        while self._running < self.slots and self._waiting:
            self._admit(self._waiting.popleft())

    def _next_position(self, ticket: Ticket, last: int | None, deadline: float | None) -> int | None:
        """Sleep until the ticket is admitted (None) or its place differs from ``last`` (the place)."""
        while True:
            if ticket.admitted:
                return None
            if ticket.left:  # left from another thread while this one waited
                raise ServerBusy("left")
            position = self._waiting.index(ticket) + 1
            if position != last:
                return position
            remaining = None if deadline is None else deadline - self._clock()
            if remaining is not None and remaining <= 0:
                self._waiting.remove(ticket)
                ticket.left = True
                self._refused_timeout += 1
                self._cond.notify_all()
                raise ServerBusy("timeout")
            self._cond.wait(remaining)


def make_gate(serving: Any, backend: Any) -> AdmissionGate | None:
    """The gate for this backend: ``serving.slots`` when set, else the engine's own ``slots`` attribute
    (llama.cpp: model.slots; transformers and mlx: 1). None when neither says (an OpenAI-compatible server
    queues for itself): requests then pass straight through."""
    slots = serving.slots or getattr(backend, "slots", None)
    if not slots:
        return None
    return AdmissionGate(int(slots), max_waiting=serving.max_waiting,
                         max_wait_s=serving.max_wait_s or None)


def ordinal(n: int) -> str:
    """1 -> '1st', 2 -> '2nd', 3 -> '3rd', 11 -> '11th', 22 -> '22nd'."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def waiting_notice(position: int) -> str:
    """What a learner waiting for the model is told, e.g. "You are 3rd in line …"."""
    place = "next in line" if position == 1 else f"{ordinal(position)} in line"
    return (f"You are {place}: the tutor is answering other learners. Your answer starts as soon as it is "
            "your turn.")
