"""The transformers backend's generation thread: one long-lived worker that runs `generate` for one request at
a time, with the request's adapter (or none) and seed, and releases the generation lock when it ends.

peft's `set_adapter` and `disable_adapter` mutate modules shared by every request, so one lock is held for a
whole `generate`: requests with different adapters are served one after the other (on 2 CPU cores serial
decoding costs no throughput). The consumer takes the lock and hands it to the worker, which releases it when
`generate` ends; a consumer that stops early only signals the worker to stop, so an abandoned stream can never
block the next request.
"""
from __future__ import annotations

import concurrent.futures
import logging
import threading
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

from tutor.backends.hf_load import LoadedModel
from tutor.types import GenerationParams

logger = logging.getLogger(__name__)


@dataclass
class WorkerResult:
    """Set by the worker: the exception `generate` raised, handed to the consumer (None: it ended normally)."""

    error: BaseException | None = None


class GenerationWorker:
    """Runs one `generate` at a time on one reused thread; `submit` waits for the previous one to end."""

    def __init__(self) -> None:
        self._gen_lock = threading.Lock()
        # One long-lived generation thread, not a new one per request: on CUDA a fresh thread per
        # request made decoding 3.4x slower than plain generate (per-thread CUDA state set up every
        # time); a reused thread costs ~nothing (scripts/profile_stream.py, measured on an H100).
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._executor_lock = threading.Lock()

    def submit(self, state: LoadedModel, adapter: str | None, params: GenerationParams, gen_kwargs: dict,
               streamer: Any) -> tuple[concurrent.futures.Future, WorkerResult]:
        """Take the generation lock (waiting for a running request) and start `generate` on the worker thread,
        which releases the lock when it ends. The worker catches its own errors into the WorkerResult."""
        result = WorkerResult()
        self._gen_lock.acquire()  # released by the worker when generate ends
        try:
            future = self._thread().submit(self._run, state, adapter, params, gen_kwargs, streamer, result)
        except BaseException:
            self._gen_lock.release()
            raise
        return future, result

    def _thread(self) -> concurrent.futures.ThreadPoolExecutor:
        with self._executor_lock:
            if self._executor is None:
                self._executor = concurrent.futures.ThreadPoolExecutor(
                    max_workers=1, thread_name_prefix="smartlearn-generate")
            return self._executor

    def _run(self, state: LoadedModel, adapter: str | None, params: GenerationParams,
             gen_kwargs: dict, streamer: Any, result: WorkerResult) -> None:
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
            self._gen_lock.release()


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
