"""A scripted backend for feature and tab tests (after simonw/llm's MockModel).

`enqueue(["text", ...])` queues whole replies; each request pops one and streams it word by
word. With an empty queue it echoes a fixed reply, so tests that do not care still run.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from typing import Iterator

from tutor.backends.stopping import StopScanner
from tutor.errors import GenerationError
from tutor.types import BackendInfo, Completion, GenerationRequest, StreamItem, Usage


class FakeBackend:
    def __init__(self, replies: list[str] | None = None, default: str = "This is a scripted answer.",
                 adapters: tuple[str, ...] = (), fail_with: Exception | None = None,
                 strict_json: bool = True, slots: int | None = None,
                 hold: threading.Event | None = None) -> None:
        self._queue: deque[str] = deque(replies or [])
        self._lock = threading.Lock()
        self.default = default
        self._adapters = adapters
        self.fail_with = fail_with
        self.strict_json = strict_json  # False: let tests script invalid JSON (a model without constraints)
        self.requests: list[GenerationRequest] = []  # what was asked, for assertions
        # Engine slots for the app's admission gate (tutor/serving); None = no gate, requests never wait.
        self.slots = slots
        # A threading.Event the stream waits on before its first word: a test holds answers "running".
        self.hold = hold

    def enqueue(self, replies: list[str]) -> None:
        with self._lock:
            self._queue.extend(replies)

    def load(self) -> BackendInfo:
        return self.info()

    def info(self) -> BackendInfo:
        return BackendInfo("fake", "fake", "cpu", "none", self._adapters)

    def adapters(self) -> tuple[str, ...]:
        return self._adapters

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def stream(self, request: GenerationRequest) -> Iterator[StreamItem]:
        t0 = time.perf_counter()
        with self._lock:
            self.requests.append(request)
            reply = self._queue.popleft() if self._queue else self.default
        if self.fail_with is not None:
            raise self.fail_with
        if request.json_schema is not None and self.strict_json:
            from tutor.backends.json_schema import parse

            # A real backend cannot emit a reply outside the schema; a scripted one that does is a
            # broken test, so say so instead of letting the feature code see impossible text.
            _, why = parse(reply, request.json_schema)
            if why is not None:
                raise GenerationError(f"FakeBackend: scripted reply does not match the request's schema: {why}")
        if self.hold is not None:
            self.hold.wait()
        words = reply.split(" ")[: request.params.max_new_tokens]
        ttft = None
        # Stop strings are not applied (scripted replies are what the test wants shown); the repetition
        # guard is, as in every real backend, so the tutor's handling of a looping model can be tested.
        scanner = StopScanner((), guard=request.params.stop_on_repetition, context=request.params.repetition_context,
                              soft_words=request.params.stop_after_words)
        n = 0
        for i, w in enumerate(words):
            n += 1
            if ttft is None:
                ttft = time.perf_counter() - t0
            out, stopped = scanner.feed(w if i == 0 else " " + w)
            if out:
                yield out
            if stopped:
                break
        tail = scanner.flush()
        if tail:
            yield tail
        prompt_tokens = sum(self.count_tokens(m.content) for m in request.messages)
        finish = "length" if len(words) < len(reply.split(" ")) and not scanner.stopped else "stop"
        yield Completion(
            text=scanner.text, model="fake", adapter=request.adapter,
            usage=Usage(prompt_tokens, n), ttft_s=ttft or 0.0,
            latency_s=time.perf_counter() - t0,
            finish_reason="repetition" if scanner.degenerate else finish,
        )
