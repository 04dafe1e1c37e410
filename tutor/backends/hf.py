"""The transformers (+ peft) backend: one causal LM, its LoRA adapters, streaming generation.

Loading is lazy and happens once (hf_load.py): the configured model (the embedded GGUF via its safetensors
cache, a local folder or a hub id) on the device/dtype picked by `device.py`, then every sub-folder of
`model.adapters_dir` with an `adapter_config.json` as a named peft adapter. A broken or mismatched adapter
(hf_adapter_check.py) is skipped with a warning, never a crash.

Generation runs on the backend's one long-lived worker thread (hf_worker.py, which also explains the FIFO
slot that serialises requests), feeding a `TextIteratorStreamer` that this module's consumer reads through the
stop-string scanner (hf_stream.py).
"""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Iterator

from tutor.backends.hf_load import LoadedModel, load_model
from tutor.backends.hf_stream import finish_reason, prepare_generation, relay
from tutor.backends.hf_worker import GenerationWorker
from tutor.backends.stopping import StopScanner
from tutor.config import ModelConfig
from tutor.errors import GenerationError, UnknownAdapter
from tutor.types import BackendInfo, Completion, GenerationRequest, StreamItem, Usage


class TransformersBackend:
    """LLMBackend on transformers; see the module docstring for the threading design."""

    backend_name = "transformers"
    # One generation at a time (hf_worker.py): the app's admission gate (tutor/serving) lets one request in and
    # tells the others their place in line, instead of a silent wait on the worker.
    slots = 1

    def __init__(self, model_cfg: ModelConfig, cache_dir: Path) -> None:
        self.cfg = model_cfg
        self.cache_dir = Path(cache_dir)
        self._load_lock = threading.Lock()
        self._worker = GenerationWorker()
        self._state: LoadedModel | None = None
        self._info = BackendInfo(
            backend=self.backend_name, model=model_cfg.base_model, device=model_cfg.device,
            dtype=model_cfg.dtype, adapters=(), load_s=0.0, detail="not loaded yet",
        )

    # ------------------------------------------------------------------ loading

    def load(self) -> BackendInfo:
        self._ensure_loaded()
        return self._info

    def _ensure_loaded(self) -> LoadedModel:
        state = self._state
        if state is not None:
            return state
        with self._load_lock:
            if self._state is None:
                self._state, self._info = load_model(self.cfg, self.cache_dir, self.backend_name)
            return self._state

    # ------------------------------------------------------------------ queries

    def info(self) -> BackendInfo:
        return self._info

    def adapters(self) -> tuple[str, ...]:
        """Loads the model (adapters are only known once peft accepted them)."""
        return self._ensure_loaded().adapters

    def count_tokens(self, text: str) -> int:
        tok = self._ensure_loaded().tokenizer
        return len(tok(text, add_special_tokens=False)["input_ids"])

    # ------------------------------------------------------------------ generation

    def stream(self, request: GenerationRequest) -> Iterator[StreamItem]:
        """Validate now (UnknownAdapter raises at the call), generate lazily on iteration."""
        state = self._ensure_loaded()
        if request.adapter is not None and request.adapter not in state.adapters:
            available = ", ".join(state.adapters) or "none"
            raise UnknownAdapter(f"The adapter {request.adapter!r} is not loaded (available: {available}).")
        return self._stream(state, request)

    def _stream(self, state: LoadedModel, request: GenerationRequest) -> Iterator[StreamItem]:
        t0 = time.perf_counter()
        params = request.params
        job = prepare_generation(state, request)
        scanner = StopScanner.for_params(params)
        worker, result = self._worker.submit(state, request.adapter, params, job.gen_kwargs, job.streamer)
        try:
            yield from relay(job, worker, scanner)
            worker.result()  # the worker catches its own errors into `result`
            if result.error is not None:
                raise GenerationError(f"The model failed while writing the answer: {result.error}") from result.error
            tail = scanner.flush()
            if tail:
                yield tail
            t_end = time.perf_counter()
            first = job.streamer.first_token_at
            yield Completion(
                text=scanner.text,
                model=self.cfg.base_model,
                adapter=request.adapter,
                usage=Usage(prompt_tokens=job.prompt_len, completion_tokens=job.streamer.n_generated),
                ttft_s=(first - t0) if first is not None else t_end - t0,
                latency_s=t_end - t0,
                finish_reason=finish_reason(job, scanner, state.eos_ids, params.max_new_tokens),
            )
        finally:
            # On early close (GeneratorExit) or an error, stop the worker at its next token; it
            # releases the lock itself, so nothing here waits on it.
            job.cancel.set()
