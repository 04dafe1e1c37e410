"""The FIFO admission gate (tutor/serving/queue.py) and the queued backend (tutor/serving/queued.py).

Threads are ordered without sleeps: each test waits on the gate's own state (how many wait, how many run),
so the order of arrival is the order the test chose."""
from __future__ import annotations

import threading
import time

import pytest

from tests.polling import WAIT, until
from tutor.backends.base import generate
from tutor.backends.fake import FakeBackend
from tutor.errors import ServerBusy
from tutor.serving import AdmissionGate, QueuedBackend, make_gate, ordinal, waiting_notice
from tutor.types import Completion, GenerationRequest, Message, QueuePosition





class Waiter(threading.Thread):
    """Joins the gate, records every position it is told and the moment it got in, then holds its slot
    until ``release`` is set."""

    def __init__(self, gate: AdmissionGate, name: str, admitted: list[str]) -> None:
        super().__init__(name=name, daemon=True)
        self.gate, self.admitted = gate, admitted
        self.positions: list[int] = []
        self.release = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            ticket = self.gate.join()
            try:
                for p in self.gate.updates(ticket):
                    self.positions.append(p)
                self.admitted.append(self.name)
                self.release.wait(WAIT)
            finally:
                self.gate.leave(ticket)
        except BaseException as e:  # noqa: BLE001 - checked by the test
            self.error = e


def start_in_order(gate: AdmissionGate, names: list[str], admitted: list[str]) -> list[Waiter]:
    """Start one thread per name, each only once the previous one is admitted or waiting."""
    threads = []
    for name in names:
        before = gate.state()
        t = Waiter(gate, name, admitted)
        t.start()
        until(lambda: gate.state().running + gate.state().waiting == before.running + before.waiting + 1,
              f"{name} to join")
        threads.append(t)
    return threads


def test_threads_are_admitted_in_arrival_order():
    gate = AdmissionGate(slots=2)
    admitted: list[str] = []
    names = [f"r{i}" for i in range(8)]
    threads = start_in_order(gate, names, admitted)
    until(lambda: len(admitted) == 2, "the first two to get in")
    assert admitted == ["r0", "r1"] and gate.state().waiting == 6
    for i, t in enumerate(threads):  # each finished request lets the oldest waiting one in, never a later one
        t.release.set()
        t.join(WAIT)
        # the one let in has recorded itself before the next slot frees: the list is the admission order
        until(lambda: len(admitted) == min(i + 3, len(names)), "the next request to get in")
    assert admitted == names
    assert all(t.error is None for t in threads)
    assert gate.state().running == 0 and gate.state().admitted == 8


def test_waiters_are_told_their_place_as_the_line_moves():
    gate = AdmissionGate(slots=1)
    admitted: list[str] = []
    first, second, third = start_in_order(gate, ["a", "b", "c"], admitted)
    until(lambda: third.positions == [2], "c to be told it is 2nd")
    until(lambda: second.positions == [1], "b to be told it is next")
    assert first.positions == []  # a got in at once: never told a place
    first.release.set()
    until(lambda: third.positions == [2, 1], "c to move up to next in line")
    until(lambda: len(admitted) == 2, "b to get in")
    assert admitted == ["a", "b"]
    second.release.set()
    third.release.set()
    for t in (first, second, third):
        t.join(WAIT)
    assert admitted == ["a", "b", "c"]


def test_a_full_line_refuses_at_once_and_counts_it():
    gate = AdmissionGate(slots=1, max_waiting=1)
    admitted: list[str] = []
    running, waiting = start_in_order(gate, ["run", "wait"], admitted)
    with pytest.raises(ServerBusy) as e:
        gate.join()
    assert str(e.value) == "The tutor is busy right now — please try again in a moment."
    assert e.value.reason == "full"
    state = gate.state()
    assert (state.running, state.waiting, state.refused_full) == (1, 1, 1)
    running.release.set()
    waiting.release.set()
    running.join(WAIT)
    waiting.join(WAIT)
    assert admitted == ["run", "wait"]


def test_max_waiting_zero_never_queues():
    gate = AdmissionGate(slots=1, max_waiting=0)
    held = gate.join()
    with pytest.raises(ServerBusy):
        gate.join()
    gate.leave(held)
    gate.leave(gate.join())  # free again: admitted at once


def test_a_request_that_waits_too_long_is_refused_and_frees_its_place():
    gate = AdmissionGate(slots=1, max_wait_s=0.2)
    held = gate.join()
    late = gate.join()
    t0 = time.monotonic()
    with pytest.raises(ServerBusy) as e:
        gate.wait(late)
    assert e.value.reason == "timeout" and 0.15 <= time.monotonic() - t0 < WAIT
    state = gate.state()
    assert (state.waiting, state.refused_timeout) == (0, 1), "the timed-out request left the line"
    gate.leave(late)  # leaving twice (the caller's finally) is harmless
    gate.leave(held)
    assert gate.state().running == 0


def test_leaving_the_line_moves_everyone_behind_up():
    gate = AdmissionGate(slots=1)
    held, a, b = gate.join(), gate.join(), gate.join()
    assert [next(iter(gate.updates(t))) for t in (a, b)] == [1, 2]
    gate.leave(a)  # a learner closed the tab while waiting
    assert next(iter(gate.updates(b))) == 1
    gate.leave(held)
    assert b.admitted and gate.state().running == 1
    gate.leave(b)


def test_engine_slots_and_settings_make_the_gate():
    class Serving:
        slots, max_waiting, max_wait_s = 0, 5, 0.0

    gate = make_gate(Serving, FakeBackend(slots=3))
    assert (gate.slots, gate.max_waiting, gate.max_wait_s) == (3, 5, None)
    assert make_gate(Serving, FakeBackend()) is None  # an engine that queues for itself
    Serving.slots = 2
    assert make_gate(Serving, FakeBackend(slots=8)).slots == 2  # the setting wins over the engine


def test_ordinals_and_notice():
    assert [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 101, 111)] == [
        "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "23rd", "101st", "111th"]
    assert waiting_notice(3).startswith("You are 3rd in line")
    assert waiting_notice(1).startswith("You are next in line")


# ---------------------------------------------------------------- the queued backend

def _request(report: bool) -> GenerationRequest:
    return GenerationRequest(messages=(Message("user", "hi"),), report_queue=report)


def test_queued_backend_reports_the_place_then_streams():
    hold = threading.Event()
    fake = FakeBackend(default="first answer", slots=1, hold=hold)
    backend = QueuedBackend(fake, AdmissionGate(1))
    first = backend.stream(_request(False))
    got_first: list = []
    runner = threading.Thread(target=lambda: got_first.extend(first), daemon=True)
    runner.start()
    until(lambda: backend.gate.state().running == 1, "the first request to run")
    second = backend.stream(_request(True))
    assert next(second) == QueuePosition(1)
    hold.set()
    rest = list(second)
    runner.join(WAIT)
    assert "".join(x for x in rest if isinstance(x, str)) == "first answer"
    assert isinstance(rest[-1], Completion)
    assert not any(isinstance(x, QueuePosition) for x in got_first), "not asked for, not reported"
    assert backend.gate.state().running == 0


def test_a_failed_or_abandoned_request_frees_its_slot():
    gate = AdmissionGate(1)
    fake = FakeBackend(default="one two three", slots=1)
    backend = QueuedBackend(fake, gate)
    fake.fail_with = RuntimeError("boom")
    with pytest.raises(RuntimeError):
        generate(backend, _request(False))
    assert gate.state().running == 0
    fake.fail_with = None
    stream = backend.stream(_request(False))
    assert next(stream) == "one"
    assert gate.state().running == 1
    stream.close()  # the learner closed the tab mid-answer
    assert gate.state().running == 0
    assert generate(backend, _request(False)).text == "one two three"


def test_settings_reach_the_wrapped_backend():
    fake = FakeBackend(slots=1)
    backend = QueuedBackend(fake, AdmissionGate(1))
    backend.fail_with = ValueError("x")  # as tests script a MeteredBackend
    assert fake.fail_with is not None and backend.slots == 1 and isinstance(backend.gate, AdmissionGate)


def test_a_learner_who_leaves_while_in_line_frees_the_place():
    gate = AdmissionGate(1)
    backend = QueuedBackend(FakeBackend(slots=1), gate)
    held = gate.join()  # another learner's answer is running
    waiting = backend.stream(_request(True))
    assert next(waiting) == QueuePosition(1)
    assert gate.state().waiting == 1
    waiting.close()  # the browser tab closed while waiting
    assert gate.state().waiting == 0
    gate.leave(held)
    assert generate(backend, _request(False)).text == "This is a scripted answer."


def test_the_admin_summary_counts_the_line():
    gate = AdmissionGate(2, max_waiting=0)
    a, b = gate.join(), gate.join()
    with pytest.raises(ServerBusy):
        gate.join()
    assert gate.state().summary() == ("Model line: 2 of 2 slot(s) busy, 0 waiting; since start 2 admitted, "
                                      "1 turned away (line full), 0 waited too long.")
    gate.leave(a)
    gate.leave(b)
