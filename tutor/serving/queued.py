"""``QueuedBackend``: the admission gate (queue.py) applied once around a backend's generation.

The composition root (tutor/services.py) wraps the engine in it, inside the metered backend, so every
feature's model call (chat, quizzes, plans, the interview coach, the API) waits in the same FIFO line and a
refusal is recorded like any failed call. A request with ``report_queue`` gets its place in line as
``QueuePosition`` items before the model's first words (the chat shows "you are 3rd in line"); other
requests just wait.
"""
from __future__ import annotations

from typing import Any, Iterator

from tutor.backends.wrapper import BackendWrapper
from tutor.serving.queue import AdmissionGate
from tutor.types import GenerationRequest, QueuePosition, StreamItem


class QueuedBackend(BackendWrapper):
    """An ``LLMBackend`` whose streams take a slot of ``gate`` first and always give it back."""

    _OWN = ("inner", "gate")

    def __init__(self, backend: Any, gate: AdmissionGate) -> None:
        super().__init__(backend)
        object.__setattr__(self, "gate", gate)

    def stream(self, request: GenerationRequest) -> Iterator[StreamItem]:
        # The place is taken on the first next(), not at the call: a stream that is never read then never
        # holds a place. ServerBusy comes from there when the line is full.
        ticket = self.gate.join()
        # The slot (or the place in line) is freed however the stream ends: finished, failed, timed out in
        # line, or closed by a consumer that stopped reading (a closed browser tab).
        try:
            for position in self.gate.updates(ticket):
                if request.report_queue:
                    yield QueuePosition(position)
            yield from self.inner.stream(request)
        finally:
            self.gate.leave(ticket)
