"""The llama.cpp backend: a GGUF chat model served in-process by xllamacpp, several requests at once.

Why: on a 2-core AVX2 CPU the transformers fp32 path decodes the embedded 135M model at ~15 tok/s,
one request at a time behind a lock; llama.cpp decodes the same GGUF 4-6x faster and serves
`model.slots` requests concurrently (continuous batching), so one learner's long answer no longer
holds every other learner's first token (MODELS.md, "Engines measured on the embedded GGUF").

Design:
- One `xllamacpp.Server` per backend, started lazily on the first `load()` / `stream()`, with
  `n_ctx = slots x per-slot context`, threads = the cores this process may run on that no other
  process keeps busy at that moment (`free_cores`), prompt cache on.
- Every `<adapters_dir>/<name>/adapter.gguf` (written by `python -m training export-gguf`) is loaded
  once at start with scale 0 (`lora_init_without_apply`). Each request sends the FULL adapter list
  with explicit scales (1 for its adapter, 0 for the rest, all 0 for the base model): a request that
  named no adapter would otherwise reuse a cached prompt computed with another request's adapter
  (llama.cpp#26207). Requests with different adapters are not batched together by llama.cpp
  (#10994) but still never mix.
- `handle_chat_completions` blocks and releases the GIL; it runs on a worker thread and its
  streaming callback hands chunks to the consumer through a queue. A consumer that stops early
  sets a flag the callback returns, which makes llama.cpp cancel that request.
"""
from __future__ import annotations

import concurrent.futures
import json
import logging
import os
import queue
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from tutor.backends.gguf_cpu_copy import cpu_copy
from tutor.backends.gguf_files import (ADAPTER_FILE, EXPORT_HINT, GGUFSummary, adapter_problem, check_model,
                                       read_gguf)
from tutor.backends.llamacpp_http import release_in_background
from tutor.backends.stopping import StopScanner
from tutor.config import EMBEDDED, ModelConfig
from tutor.errors import BackendUnavailable, GenerationError, ModelLoadError, UnknownAdapter
from tutor.types import BackendInfo, Completion, GenerationRequest, StreamItem, Usage

logger = logging.getLogger(__name__)

INSTALL_HINT = "xllamacpp is not installed: pip install xllamacpp==2026.10.11549"
DEFAULT_SLOT_TOKENS = 3072  # prompt budget (model.max_context_tokens 2048) + room for a long answer
_DONE = object()  # queue sentinel: the worker's request finished (after any error item)


@dataclass(frozen=True)
class _Failed:
    error: BaseException


@dataclass
class _Running:
    server: Any  # xllamacpp.Server
    address: str  # its loopback HTTP address, used for /tokenize
    adapters: tuple[str, ...]  # index = llama.cpp adapter id
    model_path: Path


@dataclass
class _StreamState:
    """What one request has seen so far; owned by its consumer."""

    t0: float
    first_at: float | None = None
    finish: str | None = None
    usage: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)  # the latest chunk's running counts (timings_per_token)


def busy_elsewhere(window_s: float = 0.5) -> float:
    """Cores other processes keep busy right now: machine-wide CPU time over `window_s`, minus ours.

    Why not the 1-minute load average (the first version): it lags. An app started a minute after a
    test run or a benchmark read load 1.9 on 2 cores, took 1 thread and kept it all day (first token
    2.6 s instead of 1.5 s). And our own start-up work (building the index) counted as "busy" too.
    """
    import psutil

    me = psutil.Process()
    m0, p0 = psutil.cpu_times(), me.cpu_times()
    time.sleep(window_s)
    m1, p1 = psutil.cpu_times(), me.cpu_times()

    def busy(t) -> float:
        return sum(t) - t.idle - getattr(t, "iowait", 0.0) - getattr(t, "guest", 0.0) - getattr(t, "guest_nice", 0.0)

    ours = (p1.user + p1.system) - (p0.user + p0.system)
    return max(0.0, (busy(m1) - busy(m0) - ours) / window_s)


def free_cores(busy: float | None = None) -> tuple[int, int]:
    """(threads to use, cores this process may run on).

    Cores = the affinity mask (cgroup/taskset aware), not the machine's count; threads = those cores
    minus the ones other processes keep busy (`busy_elsewhere`, measured now unless given), at least 1.
    llama.cpp threads wait for each other at every layer, so one thread sharing a core with another
    process stalls all of them: with another process busy on one of 2 cores, 2 threads fell from 82 to
    18 tok/s while 1 thread held 43 (MODELS.md); at load 13 on 2 cores, 2 threads ran 0.6 tok/s, 1 thread 11.
    """
    try:
        cores = max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        cores = max(1, os.cpu_count() or 1)
    if busy is None:
        try:
            busy = busy_elsewhere()
        except (ImportError, OSError, AttributeError):  # no psutil or no /proc: assume a quiet machine
            busy = 0.0
    # busy is machine-wide; count the share of it that falls on our cores. A core counts as busy from
    # 0.5 of it in use (round): a process using 30 % of a core leaves room for a thread.
    taken = round(busy * cores / max(1, os.cpu_count() or cores))
    return max(1, cores - taken), cores


def resolve_gguf(base_model: str) -> Path:
    """The GGUF file for `model.base_model`: 'embedded', a .gguf file, or a folder holding one."""
    if base_model == EMBEDDED:
        from tutor.backends.embedded import embedded_gguf

        return embedded_gguf()
    p = Path(base_model).expanduser()
    if p.is_dir():
        found = sorted(p.glob("*.gguf"))
        if len(found) == 1:
            return found[0]
        raise ModelLoadError(
            f"The llama.cpp backend needs one .gguf model file; {p} holds {len(found)}. Set "
            "SMARTLEARN_MODEL_BASE_MODEL to the .gguf file itself, or SMARTLEARN_MODEL_BACKEND=transformers.")
    if p.suffix.lower() != ".gguf":
        raise ModelLoadError(
            f"The llama.cpp backend needs a GGUF model, not {base_model!r}; set SMARTLEARN_MODEL_BASE_MODEL to "
            "'embedded' or a .gguf file, or SMARTLEARN_MODEL_BACKEND=transformers for Hugging Face models.")
    return p


def served_gguf(model_cfg: ModelConfig, source: Path) -> Path:
    """The file llama.cpp serves for `source`: its Q8_0 CPU copy when `model.cpu_copy` asks for one."""
    return cpu_copy(source, model_cfg.cpu_copy_dir) if getattr(model_cfg, "cpu_copy", "off") == "q8_0" else source


def is_gguf_model(base_model: str) -> bool:
    """True when `model.base_model` names a GGUF (the embedded model included), without loading it."""
    if base_model == EMBEDDED:
        return True
    p = Path(base_model).expanduser()
    return p.suffix.lower() == ".gguf" or (p.is_dir() and any(p.glob("*.gguf")) and
                                           not (p / "config.json").is_file())


class LlamaCppBackend:
    """LLMBackend on llama.cpp (xllamacpp); see the module docstring for the design."""

    backend_name = "llamacpp"

    def __init__(self, model_cfg: ModelConfig, slot_tokens: int = DEFAULT_SLOT_TOKENS) -> None:
        self.cfg = model_cfg
        self.slots = max(1, int(getattr(model_cfg, "slots", 4)))
        self.slot_tokens = int(slot_tokens)
        self._load_lock = threading.Lock()
        self._state: _Running | None = None
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._info = BackendInfo(
            backend=self.backend_name, model=model_cfg.base_model, device="cpu", dtype="gguf",
            adapters=(), load_s=0.0, detail="not loaded yet",
        )

    # ------------------------------------------------------------------ loading

    def load(self) -> BackendInfo:
        self._ensure_loaded()
        return self._info

    def _ensure_loaded(self) -> _Running:
        state = self._state
        if state is not None:
            return state
        with self._load_lock:
            if self._state is None:
                self._state = self._start()
            return self._state

    def _start(self) -> _Running:
        try:
            import xllamacpp
        except ImportError as e:
            raise BackendUnavailable(f"{INSTALL_HINT} (or set SMARTLEARN_MODEL_BACKEND=transformers).") from e
        t0 = time.perf_counter()
        model_path = resolve_gguf(self.cfg.base_model)
        model = read_gguf(model_path)
        check_model(model)
        adapters, skipped = self._find_adapters(model)
        source, model_path = model_path, served_gguf(self.cfg, model_path)
        if self.cfg.threads > 0:
            threads, cores = self.cfg.threads, free_cores(0.0)[1]
        else:
            threads, cores = free_cores()
        params = xllamacpp.CommonParams()
        params.model.path = str(model_path)
        params.n_parallel = self.slots
        params.n_ctx = self.slots * self.slot_tokens  # llama.cpp splits n_ctx evenly between the slots
        # llama.cpp decodes a single token with cpuparams and any batch (a prompt, or several slots at once)
        # with cpuparams_batch
        decode_threads = min(threads, self.cfg.decode_threads) if getattr(self.cfg, "decode_threads", 0) else threads
        params.cpuparams.n_threads = decode_threads
        params.cpuparams_batch.n_threads = threads
        if threads < cores:
            # a shared machine: threads sleep instead of spinning while they wait for each other, so they
            # do not steal the cores the other processes are using (poll 50, the default, spins)
            params.cpuparams.poll = 0
            params.cpuparams_batch.poll = 0
        params.cache_prompt = True
        params.cache_ram_mib = int(getattr(self.cfg, "prompt_cache_mib", 64))  # bounded: see ModelConfig
        params.verbosity = 0
        params.lora_adapters = [xllamacpp.CommonAdapterLoraInfo(str(p), 0.0) for _, p in adapters]
        params.lora_init_without_apply = True
        try:
            server = xllamacpp.Server(params)
        except RuntimeError as e:
            raise ModelLoadError(
                f"llama.cpp could not load the chat model {model_path} ({e}); check that it is a complete GGUF "
                "chat model, or set SMARTLEARN_MODEL_BACKEND=transformers.") from e
        names = tuple(name for name, _ in adapters)
        load_s = time.perf_counter() - t0
        detail = [f"{self.slots} slots x {self.slot_tokens} tokens",
                  f"{threads} threads" + (f" ({decode_threads} decoding)" if decode_threads != threads else ""),
                  f"file {model_path.name}" + (f" (Q8_0 copy of {source.name})" if model_path != source else "")
                  ] + [f"skipped adapter {s}" for s in skipped]
        self._info = BackendInfo(backend=self.backend_name, model=self.cfg.base_model, device="cpu",
                                 dtype="gguf", adapters=names, load_s=load_s, detail="; ".join(detail))
        logger.info("llama.cpp loaded %s in %.1f s (%s), adapters: %s", model_path.name, load_s,
                    self._info.detail, ", ".join(names) or "none")
        return _Running(server, server.listening_address, names, model_path)

    def _find_adapters(self, model: GGUFSummary) -> tuple[list[tuple[str, Path]], list[str]]:
        """(name, adapter.gguf) pairs that fit `model`, and "name: why" for the folders skipped."""
        found: list[tuple[str, Path]] = []
        skipped: list[str] = []
        adir = Path(self.cfg.adapters_dir)
        if not adir.is_dir():
            return found, skipped
        for folder in sorted(p for p in adir.iterdir() if p.is_dir()):
            gguf_path = folder / ADAPTER_FILE
            if not gguf_path.is_file():
                if (folder / "adapter_config.json").is_file():
                    skipped.append(f"{folder.name}: it has no {ADAPTER_FILE}; convert it with {EXPORT_HINT}")
                continue
            try:
                why = adapter_problem(read_gguf(gguf_path), model)
            except ModelLoadError as e:
                why = str(e)
            if why:
                skipped.append(f"{folder.name}: {why}")
            else:
                found.append((folder.name, gguf_path))
        for s in skipped:
            logger.warning("Skipping adapter %s", s)
        return found, skipped

    def close(self) -> None:
        """Stop the llama.cpp server (tests, shutdown); a later call starts it again."""
        with self._load_lock:
            state, self._state = self._state, None
            if self._executor is not None:
                self._executor.shutdown(wait=False)
                self._executor = None
        if state is not None:
            release_in_background(state, "llamacpp-close")  # stopping can block for minutes: see there
            del state

    # ------------------------------------------------------------------ queries

    def info(self) -> BackendInfo:
        return self._info

    def adapters(self) -> tuple[str, ...]:
        return self._ensure_loaded().adapters

    def count_tokens(self, text: str) -> int:
        """llama.cpp's own tokenizer, through the server's loopback /tokenize endpoint."""
        state = self._ensure_loaded()
        data = json.dumps({"content": text, "add_special": False}).encode("utf-8")
        req = urllib.request.Request(f"{state.address}/tokenize", data=data,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return len(json.loads(resp.read())["tokens"])
        except (OSError, ValueError, KeyError) as e:
            raise GenerationError(f"llama.cpp could not count the tokens of a text: {e}") from e

    # ------------------------------------------------------------------ generation

    def stream(self, request: GenerationRequest) -> Iterator[StreamItem]:
        """Validate now (UnknownAdapter, a bad schema raise at the call), generate on iteration."""
        state = self._ensure_loaded()
        if request.adapter is not None and request.adapter not in state.adapters:
            available = ", ".join(state.adapters) or "none"
            raise UnknownAdapter(
                f"The adapter {request.adapter!r} is not loaded (available: {available}). Put its peft folder "
                f"under {self.cfg.adapters_dir} and run {EXPORT_HINT}, or pick an available one.")
        return self._stream(state, request, self.request_body(state.adapters, request))

    @staticmethod
    def request_body(adapters: tuple[str, ...], request: GenerationRequest) -> dict:
        """The chat-completions body for `request` (sampling, stop, seed, schema, adapter scales)."""
        p = request.params
        body: dict[str, Any] = {
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_tokens": max(1, int(p.max_new_tokens)),
            "temperature": max(0.0, float(p.temperature)),  # 0: llama.cpp samples greedily
            "top_p": float(p.top_p),
            "repeat_penalty": float(p.repetition_penalty or 1.0),
            "cache_prompt": True,
            "timings_per_token": True,  # running token counts in every chunk: usage of a request we stop early
            # every adapter with an explicit scale, every time: see the module docstring (llama.cpp#26207)
            "lora": [{"id": i, "scale": 1.0 if name == request.adapter else 0.0} for i, name in enumerate(adapters)],
        }
        if p.seed is not None:
            body["seed"] = int(p.seed)
        stops = [s for s in p.stop if s]
        if stops:
            body["stop"] = stops
        if request.json_schema is not None:
            from tutor.backends.json_schema import llguidance_grammar

            body["grammar"] = llguidance_grammar(request.json_schema)
        return body

    def _pool(self) -> concurrent.futures.ThreadPoolExecutor:
        with self._load_lock:
            if self._executor is None:
                # one thread per slot: more would only queue inside llama.cpp
                self._executor = concurrent.futures.ThreadPoolExecutor(
                    max_workers=self.slots, thread_name_prefix="smartlearn-llamacpp")
            return self._executor

    def _stream(self, state: _Running, request: GenerationRequest, body: dict) -> Iterator[StreamItem]:
        st = _StreamState(t0=time.perf_counter())
        chunks: queue.Queue = queue.Queue()
        cancel = threading.Event()

        def on_chunk(chunk: Any) -> bool:
            chunks.put(chunk)
            return cancel.is_set()  # True tells llama.cpp to stop this request

        def work() -> None:
            try:
                state.server.handle_chat_completions(body, on_chunk)
            except BaseException as e:  # noqa: BLE001 - handed to the consumer as GenerationError
                chunks.put(_Failed(e))
            finally:
                chunks.put(_DONE)

        self._pool().submit(work)
        scanner = StopScanner.for_params(request.params)
        try:
            while (item := chunks.get()) is not _DONE:
                for piece in self._pieces(item, st):
                    out, stopped = scanner.feed(piece)
                    if out:
                        yield out
                    if stopped:
                        cancel.set()
                        st.finish = "repetition" if scanner.degenerate else "stop"
            tail = scanner.flush()
            if tail:
                yield tail
            yield self._completion(request, scanner.text, st)
        finally:
            cancel.set()  # early close: the next callback stops llama.cpp

    @staticmethod
    def _pieces(item: Any, st: _StreamState) -> list[str]:
        """Text deltas in one streamed chunk; records finish reason, usage and first-token time."""
        if isinstance(item, _Failed):
            e = item.error
            if isinstance(e, ValueError):  # llama.cpp rejected the request itself (e.g. its format)
                raise GenerationError(f"llama.cpp refused the request: {e}") from e
            raise GenerationError(f"The model failed while writing the answer: {e}") from e
        if not isinstance(item, dict):
            return []
        if "error" in item:
            err = item["error"]
            msg = err.get("message", err) if isinstance(err, dict) else err
            raise GenerationError(f"The model failed while writing the answer: {msg}")
        if item.get("usage"):
            st.usage = item["usage"]
        if item.get("timings"):
            st.timings = item["timings"]
        out = []
        for choice in item.get("choices") or ():
            text = (choice.get("delta") or {}).get("content")
            if text:
                if st.first_at is None:
                    st.first_at = time.perf_counter()
                out.append(text)
            if choice.get("finish_reason"):
                st.finish = st.finish or choice["finish_reason"]
        return out

    def _usage(self, st: _StreamState) -> Usage:
        """The server's usage chunk; a request we stopped early (stop string, soft length, repetition guard:
        most chat answers) never gets one, so then the running counts every chunk carries
        (timings_per_token): prompt tokens = those computed + those reused from the cache."""
        if st.usage:
            return Usage(prompt_tokens=int(st.usage.get("prompt_tokens", 0)),
                         completion_tokens=int(st.usage.get("completion_tokens", 0)))
        t = st.timings
        return Usage(prompt_tokens=int(t.get("prompt_n", 0)) + int(t.get("cache_n", 0)),
                     completion_tokens=int(t.get("predicted_n", 0)))

    def _completion(self, request: GenerationRequest, text: str, st: _StreamState) -> Completion:
        t_end = time.perf_counter()
        finish = st.finish if st.finish in ("length", "repetition") else "stop"
        return Completion(
            text=text, model=self.cfg.base_model, adapter=request.adapter,
            usage=self._usage(st),
            ttft_s=(st.first_at if st.first_at is not None else t_end) - st.t0,
            latency_s=t_end - st.t0, finish_reason=finish,
        )
