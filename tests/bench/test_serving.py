"""bench/serving.py helpers on scripted backends: crosstalk counting catches interference, the decode rate
leaves prefill out, summaries take percentiles of what was measured."""
from __future__ import annotations

import threading
import time

from bench.serving import _rate, _summary, bench_crosstalk, interleaved
from tutor.backends import FakeBackend
from tutor.types import GenerationParams, GenerationRequest, Message


class _Leaky(FakeBackend):
    """Answers with the adapter of whichever request is running beside it: the bug crosstalk must catch."""

    def __init__(self) -> None:
        super().__init__()
        self._running: list[str | None] = []
        self._guard = threading.Lock()

    def stream(self, request):
        with self._guard:
            self._running.append(request.adapter)
        time.sleep(0.05)
        with self._guard:
            others = sorted(str(a) for a in self._running if a != request.adapter)
        used = others[0] if others else str(request.adapter)  # another request's adapter, when one runs beside it
        self.enqueue([f"{used}: " + f"what the {used} adapter would say " * 4])
        yield from super().stream(request)
        with self._guard:
            self._running.remove(request.adapter)


def _requests():
    return [GenerationRequest((Message("user", "q"),), GenerationParams(max_new_tokens=20), adapter=a)
            for a in (None, "tutor", "interview")]  # one prompt under three adapters


def test_crosstalk_is_zero_for_independent_requests_and_counted_otherwise():
    clean = bench_crosstalk(FakeBackend(), _requests(), waves=1)
    assert clean["differ"] == 0 and clean["crosstalk"] == 0
    leaky = bench_crosstalk(_Leaky(), _requests(), waves=2)
    assert leaky["crosstalk"] > 0 and leaky["differ"] > 0 and leaky["requests"] == 6


class _Scripted(FakeBackend):
    """Answers `answer(adapter, solo)`: solo for the first three calls (bench_crosstalk runs each request
    alone first), then the all-at-once wave."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0
        self._guard = threading.Lock()

    def answer(self, adapter: str | None, solo: bool) -> str:
        raise NotImplementedError

    def stream(self, request):
        with self._guard:
            self.calls += 1
            self.enqueue([self.answer(request.adapter, self.calls <= 3)])
            items = list(super().stream(request))
        yield from items


class _Drifting(_Scripted):
    """Its own adapter's answer, with the tail changed in the all-at-once wave: batching drift, not crosstalk."""

    def answer(self, adapter, solo):
        return f"answer under {adapter} then {'alone' if solo else 'drifted'}"


class _SharedOpening(_Scripted):
    """Two adapters whose solo answers open alike (the base model and the interview adapter did); in the
    all-at-once wave the base answer drifts right where they part and happens to match the other's next
    few characters: drift again, not crosstalk."""

    OPEN = "The chain rule says that "

    def answer(self, adapter, solo):
        if not solo and adapter is None:
            return self.OPEN + "for any layer"  # shares "for any " with the interview answer, then parts
        return self.OPEN + {"None": "when you have layers", "interview": "for any function f(g(x))",
                            "tutor": "Consider y = (3x^2 + 1)^4"}[str(adapter)]


def test_batching_drift_differs_but_is_not_crosstalk():
    shared = bench_crosstalk(_SharedOpening(), _requests(), waves=1)
    assert shared["differ"] == 1 and shared["crosstalk"] == 0

    drift = bench_crosstalk(_Drifting(), _requests(), waves=1)
    assert drift["differ"] == 3 and drift["crosstalk"] == 0


def test_decode_rate_excludes_the_first_token_and_summaries_use_percentiles():
    assert _rate(ttft=1.0, total=2.0, tokens=11) == 10.0
    assert _rate(ttft=1.0, total=1.0, tokens=1) != _rate(ttft=1.0, total=1.0, tokens=1)  # nan: nothing decoded
    rows = [{"first_token_s": t, "first_text_s": 0.1, "answer_s": 10 * t, "tokens": 5} for t in (1.0, 2.0, 3.0)]
    s = _summary(rows)
    assert s["first_token_p50_s"] == 2.0 and s["answer_p50_s"] == 20.0 and s["answer_p95_s"] == 29.0


def test_interleaved_runs_every_path_alike():
    calls: list[str] = []
    rates = interleaved({"a": lambda: calls.append("a") or 10.0, "b": lambda: calls.append("b") or 20.0}, repeats=2)
    assert rates == {"a": 10.0, "b": 20.0} and calls == ["a", "b", "a", "b", "b", "a"]
