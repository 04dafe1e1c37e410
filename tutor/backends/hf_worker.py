"""The transformers backend's generation thread: one long-lived worker that runs `generate` for one request at
a time, with the request's adapter (or none) and seed, and gives the generation slot back when it ends.

peft's `set_adapter` and `disable_adapter` mutate modules shared by every request, so one request holds the
model for a whole `generate`: requests with different adapters are served one after the other (on 2 CPU cores
serial decoding costs no throughput). The slot is a one-slot FIFO gate (tutor/serving/queue.py), not a
`threading.Lock`, which promises no order: waiting requests get the model in arrival order. In the app the
admission gate in front of the backend (slots=1, `TransformersBackend.slots`) already lines requests up and tells
each learner its place; this one keeps the order for direct callers (benches, training evaluation) and covers
the moment an abandoned stream's `generate` is still stopping. The consumer takes the slot and hands it to the
worker, which gives it back when `generate` ends; a consumer that stops early only signals the worker to stop,
so an abandoned stream can never block the next request.
"""
from __future__ import annotations

import concurrent.futures
import logging
import threading
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

from tutor.backends.hf_load import LoadedModel
from tutor.serving.queue import AdmissionGate, Ticket
from tutor.types import GenerationParams

logger = logging.getLogger(__name__)


@dataclass
class WorkerResult:
    """Set by the worker: the exception `generate` raised, handed to the consumer (None: it ended normally)."""

    error: BaseException | None = None


class GenerationWorker:
    """Runs one `generate` at a time on one reused thread; `submit` waits, in arrival order, for the previous
    ones to end."""

    def __init__(self) -> None:
        self._gate = AdmissionGate(1)
        # One long-lived generation thread, not a new one per request: on CUDA a fresh thread per
        # request made decoding 3.4x slower than plain generate (per-thread CUDA state set up every
        # time); a reused thread costs ~nothing (scripts/profile_stream.py, measured on an H100).
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._executor_lock = threading.Lock()

    def submit(self, state: LoadedModel, adapter: str | None, params: GenerationParams, gen_kwargs: dict,
               streamer: Any) -> tuple[concurrent.futures.Future, WorkerResult]:
        """Take the generation slot (waiting, in arrival order, for running requests) and start `generate` on the
        worker thread, which gives the slot back when it ends. The worker catches its own errors into the
        WorkerResult."""
        result = WorkerResult()
        ticket = self._gate.join()  # given back by the worker when generate ends
        try:
            self._gate.wait(ticket)
            future = self._thread().submit(self._run, state, adapter, params, gen_kwargs, streamer, result, ticket)
        except BaseException:
            self._gate.leave(ticket)
            raise
        return future, result

    def _thread(self) -> concurrent.futures.ThreadPoolExecutor:
        with self._executor_lock:
            if self._executor is None:
                self._executor = concurrent.futures.ThreadPoolExecutor(
                    max_workers=1, thread_name_prefix="smartlearn-generate")
            return self._executor

    def _run(self, state: LoadedModel, adapter: str | None, params: GenerationParams,
             gen_kwargs: dict, streamer: Any, result: WorkerResult, ticket: Ticket) -> None:
        try:
            import torch

            seeded = params.temperature > 0 and params.seed is not None
            rng_ctx = _forked_rng(torch, state.device) if seeded else nullcontext()
            # inference_mode, not generate's own no_grad: ~10% faster decoding on CPU (same script).
            with _adapter_context(state, adapter), rng_ctx, torch.inference_mode():
                if seeded:
                    torch.manual_seed(params.seed)
                state.model.generate(**gen_kwargs)
        except BaseException as e:  # noqa: BLE001 - handed to the consumer as GenerationError
            logger.exception("generation failed")
            result.error = e
            try:
                streamer.end()  # wake the consumer
            except Exception:  # noqa: BLE001
                streamer.text_queue.put(streamer.stop_signal)
        finally:
            self._gate.leave(ticket)


def _adapter_context(state: LoadedModel, adapter: str | None) -> Any:
    """The request's adapter made active (or, for None, every adapter disabled) for the whole generate."""
    model = state.model
    if not state.adapters:  # a plain model, not a PeftModel
        return nullcontext()
    if adapter is None:
        return model.disable_adapter()
    model.set_adapter(adapter, inference_mode=True)
    return nullcontext()


def _forked_rng(torch: Any, device: str):
    """Seed per request without leaving the process-wide RNG changed."""
    if device.startswith("cuda"):
        index = torch.device(device).index
        return torch.random.fork_rng(devices=[index if index is not None else torch.cuda.current_device()],
                                     device_type="cuda")
    return torch.random.fork_rng(devices=[])
