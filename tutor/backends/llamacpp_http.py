"""llama.cpp's OpenAI-compatible HTTP server (llama-server) from the xllamacpp wheel, on a loopback port.

Why: the OpenAI-compatible backend is tested, and benchmarked, against a real server speaking the
same protocol as llama-server (`/v1/chat/completions` streaming, `/v1/models`, `/lora-adapters`,
`/tokenize`), without compiling llama.cpp: xllamacpp's `Server` is llama-server in-process, and its
HTTP side answers other processes too. Adapters are loaded at scale 0 and picked per request (`lora`).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from tutor.errors import BackendUnavailable, ModelLoadError


@dataclass
class RunningServer:
    server: Any  # xllamacpp.Server; the HTTP server stops when the last reference goes
    url: str  # http://127.0.0.1:<port>

    def close(self) -> None:
        server, self.server = self.server, None
        if server is not None:
            release_in_background(server, "llama-server-close")
            del server


def release_in_background(owner: Any, name: str) -> None:
    """Drop the last reference to an xllamacpp Server (or what holds it) on a daemon thread.

    The Server stops when its last reference goes, and stopping joins llama.cpp's own threads: on a loaded
    machine that was seen to block the caller for over 15 minutes (a test run hung there). The caller must
    not keep its own reference (``del`` it after this call)."""
    threading.Thread(target=_hold_until_done, args=(owner,), name=name, daemon=True).start()


def _hold_until_done(owner: Any) -> None:
    del owner  # the thread's args tuple goes when run() ends: the last reference dies on this thread


def start_http_server(model: Path, adapters: Sequence[Path] = (), *, slots: int = 2, slot_tokens: int = 2048,
                      threads: int = 1, api_key: str = "", poll: int | None = None) -> RunningServer:
    """Start llama-server in this process on a free loopback port and return its address."""
    try:
        import xllamacpp
    except ImportError as e:
        raise BackendUnavailable("xllamacpp is not installed: pip install xllamacpp==2026.10.11549") from e
    params = xllamacpp.CommonParams()
    params.model.path = str(model)
    params.n_parallel = slots
    params.n_ctx = slots * slot_tokens
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    if poll is not None:  # 0 = threads sleep while waiting (a shared machine; tutor/backends/llamacpp.py)
        params.cpuparams.poll = poll
        params.cpuparams_batch.poll = poll
    params.cache_prompt = True
    params.verbosity = 0
    params.port = 0  # a free port
    if api_key:
        params.api_keys = [api_key]
    params.lora_adapters = [xllamacpp.CommonAdapterLoraInfo(str(p), 0.0) for p in adapters]
    params.lora_init_without_apply = True
    try:
        server = xllamacpp.Server(params)
    except RuntimeError as e:
        raise ModelLoadError(f"llama.cpp could not start a server for {model}: {e}") from e
    return RunningServer(server=server, url=server.listening_address)
