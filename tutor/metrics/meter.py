"""The one place where model calls are recorded: every LLM request, every transcription, OCR read
and caption, successes and failures alike.

Two entry points, one recorder:
- ``MeteredBackend`` wraps the configured ``LLMBackend``. Every feature gets the wrapped backend
  from the composition root (tutor/services.py), so no feature can forget to record, record
  differently, or skip a failure. Who asked and for what travels on the request (``CallMeta``);
  a feature that judges the output (the quiz checks a phrased question, the coach scores a model
  answer) passes a ``judge`` that turns the finished text into the call's quality.
- ``Meter.timed`` wraps the non-LLM models (speech, OCR, captions), which return whole results.

Recording never breaks a learner's request: the store's write policy is best effort (a failed write
is logged and shown in the admin's health, the answer still goes out).
"""
from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any, Callable, Iterator, Protocol, TypeVar

from tutor.backends.wrapper import BackendWrapper
from tutor.errors import InputError
from tutor.metrics.records import ModelCall
from tutor.types import CallMeta, Completion, GenerationRequest, StreamItem

logger = logging.getLogger(__name__)

T = TypeVar("T")


class CallRecorder(Protocol):
    def record_call(self, call: ModelCall) -> int | None: ...


class Meter:
    """Turns finished or failed calls into ``ModelCall`` rows in the metrics store."""

    def __init__(self, recorder: CallRecorder | None) -> None:
        self.recorder = recorder  # None: record nothing (a tool run without a metrics database)

    def record(self, call: ModelCall) -> int | None:
        """Store one call; its id (for thumbs up/down), or None when nothing was stored."""
        if self.recorder is None:
            return None
        call_id = self.recorder.record_call(call)
        return call_id if (call_id or 0) > 0 else None

    def completed(self, completion: Completion, meta: CallMeta, started_at: float) -> int | None:
        quality = None
        if meta.judge is not None:
            try:
                quality = meta.judge(completion.text)
            except Exception:  # noqa: BLE001 - a judge that fails leaves the call unscored, not unrecorded
                logger.exception("quality judge failed for a %s call", meta.operation)
        return self.record(ModelCall.from_completion(completion, meta.operation, meta.user, started_at,
                                                     quality=quality))

    def failed(self, model: str, adapter: str | None, meta: CallMeta, started_at: float,
               error: BaseException) -> None:
        self.record(ModelCall.failure(model, adapter, meta.operation, meta.user, started_at,
                                      time.time() - started_at, error))

    def timed(self, model: str, operation: str, user: str, run: Callable[[], T],
              words: Callable[[T], int]) -> tuple[T, float]:
        """run() timed and recorded (speech, OCR, captions); returns its result and its seconds.

        The learner's own bad input (``InputError``, e.g. an unsupported language) is not a model
        failure and is not recorded."""
        started, t0 = time.time(), time.perf_counter()
        try:
            out = run()
        except InputError:
            raise
        except Exception as e:
            self.record(ModelCall.failure(model, None, operation, user, started, time.perf_counter() - t0, e))
            raise
        latency = time.perf_counter() - t0
        # Not streamed: the first text is there when the whole result is.
        self.record(ModelCall(
            model=model, adapter=None, operation=operation, user=user, started_at=started, ttft_s=latency,
            latency_s=latency, prompt_tokens=0, completion_tokens=words(out), tokens_per_s=None, success=True))
        return out, latency


class MeteredBackend(BackendWrapper):
    """An ``LLMBackend`` that records every request it streams, through one ``Meter``.

    The final ``Completion`` comes back with ``call_id`` set (the chat's thumbs up/down need it).
    Anything else (``enqueue`` on a test's FakeBackend, a backend's own extras) is the wrapped
    backend's, reached through attribute delegation (tutor/backends/wrapper.py). A request the
    admission gate turns away (``ServerBusy``, tutor/serving) fails inside the wrapped backend, so it
    is recorded here like any failure, under its class name: the admin sees refusals."""

    _OWN = ("inner", "meter")

    def __init__(self, backend: Any, meter: Meter) -> None:
        super().__init__(backend)
        object.__setattr__(self, "meter", meter)

    def stream(self, request: GenerationRequest) -> Iterator[StreamItem]:
        meta = request.meta
        started = time.time()
        try:
            for item in self.inner.stream(request):
                if isinstance(item, Completion):
                    call_id = self.meter.completed(item, meta, started)
                    item = dataclasses.replace(item, call_id=call_id)
                yield item
        except GeneratorExit:
            raise  # the consumer stopped reading (a closed browser tab): not a model failure
        except Exception as e:
            self.meter.failed(self._model_name(), request.adapter, meta, started, e)
            raise

    def _model_name(self) -> str:
        try:
            return self.inner.info().model
        except Exception:  # noqa: BLE001 - the failure itself is what must be recorded
            return "unknown"
