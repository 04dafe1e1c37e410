"""The OpenAI-compatible backend: the chat model runs in a separate server (vLLM, llama.cpp's
llama-server, SGLang, TGI, Ollama) and SmartLearn streams answers from its /v1/chat/completions.

Why: one in-process llama.cpp serves a classroom on a small CPU; a school needs a GPU server that
batches many learners (and mixed LoRA adapters) together. Nothing else in the app changes: this is
one more `LLMBackend`, picked by `model.backend = openai` (README, "Serving a whole school").

Design:
- One pooled `httpx.Client` per backend (thread-safe), `openai.timeout_s` for connecting and for
  each wait for the next streamed token.
- Opening a request is retried with exponential backoff and jitter (tenacity) only when nothing can
  have been generated yet: the server could not be reached, closed the connection, or answered
  429 or 5xx. A read timeout is not retried (the server is busy; a retry would queue behind it).
- A circuit breaker (tutor/backends/breaker.py) stops calling a server that failed
  `breaker_failures` times in a row, so a dead server costs learners one sentence, not a timeout
  each; after `breaker_reset_s` one trial call goes through.
- The model list and adapters are read from the server on first use; a failed start is not
  remembered, so the app picks the server up as soon as it comes back.
- Every failure is a TutorError whose message names the fix; the Tutor shows it and keeps serving.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, TypeVar

from tutor.backends import openai_wire as wire
from tutor.backends.breaker import CircuitBreaker, CircuitOpen
from tutor.backends.stopping import StopScanner
from tutor.config import OpenAIConfig
from tutor.errors import GenerationError, ModelLoadError, TutorError, UnknownAdapter
from tutor.types import BackendInfo, Completion, GenerationRequest, StreamItem, Usage

logger = logging.getLogger(__name__)

T = TypeVar("T")
RETRY_STATUS = {429, 502, 503, 504}  # overloaded or restarting (any other 5xx is retried too): nothing was generated
ADAPTER_REFRESH_S = 10.0  # a request naming an unknown adapter re-reads the server's list at most this often
SERVE_HINT = "see README, \"Serving a whole school\""


class ServerGarbage(GenerationError):
    """The server answered with something that is not the OpenAI wire format (counts against the breaker)."""


class _Transient(Exception):
    """The server answered, but with a status worth retrying (RETRY_STATUS)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


@dataclass(frozen=True)
class _Served:
    model: str  # the name sent as the request's model
    adapters: dict[str, int]  # adapter name -> llama-server id (mode lora) or list index
    listed_at: float = field(default_factory=time.monotonic)


@dataclass
class _StreamState:
    t0: float
    first_at: float | None = None
    finish: str | None = None
    usage: dict = field(default_factory=dict)
    chunks: int = 0  # content chunks, the completion-token estimate when the server sends no usage


class OpenAICompatBackend:
    """LLMBackend over an OpenAI-compatible chat-completions server; see the module docstring."""

    backend_name = "openai"

    def __init__(self, cfg: OpenAIConfig, transport: Any = None) -> None:
        import httpx  # a dependency of the app (requirements.txt); imported here like every engine library

        self.cfg = cfg
        self.mode = cfg.adapter_mode
        self.urls = wire.endpoints(cfg.base_url)
        headers = {"Authorization": f"Bearer {cfg.api_key}"} if cfg.api_key else {}
        self._client = httpx.Client(
            headers=headers, transport=transport,
            timeout=httpx.Timeout(cfg.timeout_s, connect=min(5.0, cfg.timeout_s)),
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=16))
        self._breaker = CircuitBreaker(cfg.breaker_failures, cfg.breaker_reset_s)
        self._lock = threading.Lock()
        self._served: _Served | None = None
        self._no_tokenizer = False
        self._info = BackendInfo(backend=self.backend_name, model=cfg.model or "(the server's first model)",
                                 device=self.urls.root, dtype="remote", adapters=(), detail="not connected yet")

    # ------------------------------------------------------------------ calls guarded by the breaker

    def _guarded(self, call: Callable[[], T]) -> T:
        """Run one call to the server under the circuit breaker: unreachable / 5xx counts as a failure,
        any other answer (even a refusal) shows the server is up."""
        import httpx

        try:
            self._breaker.before_call()
        except CircuitOpen as e:
            raise GenerationError(
                f"The model server at {self.urls.root} failed {self.cfg.breaker_failures} times in a row, so "
                f"SmartLearn waits {e.retry_in_s:.0f} s before trying it again; check that it is running "
                f"({SERVE_HINT}).") from e
        try:
            result = call()
        except (httpx.TransportError, _Transient) as e:
            self._breaker.failure()
            raise self._unreachable(e) from e
        except ServerGarbage:
            self._breaker.failure()
            raise
        except BaseException:  # a refusal (401, 404, 400...) or our own error: the server itself is up
            self._breaker.success()
            raise
        self._breaker.success()
        return result

    def _unreachable(self, e: Exception) -> GenerationError:
        import httpx

        if isinstance(e, httpx.TimeoutException) and not isinstance(e, httpx.ConnectTimeout):
            return GenerationError(
                f"The model server at {self.urls.root} did not answer within {self.cfg.timeout_s:.0f} s; it may "
                "be overloaded. Try again, or raise SMARTLEARN_OPENAI_TIMEOUT_S.")
        if isinstance(e, _Transient):
            return GenerationError(
                f"The model server at {self.urls.root} is busy or failing ({e}); try again in a moment.")
        return GenerationError(
            f"The model server at {self.urls.root} cannot be reached ({type(e).__name__}); start it or fix "
            f"SMARTLEARN_OPENAI_BASE_URL ({SERVE_HINT}).")

    def _retrying(self, call: Callable[[], T]) -> T:
        """`call` again with exponential backoff while the server cannot have started generating."""
        import httpx
        import tenacity

        retryable = (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError, _Transient)
        return tenacity.Retrying(
            stop=tenacity.stop_after_attempt(1 + self.cfg.retries),
            wait=tenacity.wait_exponential_jitter(initial=0.5, max=8.0),
            retry=tenacity.retry_if_exception_type(retryable),
            before_sleep=lambda rs: logger.warning("Model server call failed (%s); retry %d", rs.outcome.exception(),
                                                   rs.attempt_number),
            reraise=True,
        )(call)

    def _get_json(self, path: str) -> Any:
        """GET a JSON document from the server; raises for transport errors, _Transient, HTTP errors."""
        resp = self._client.get(path)
        if resp.status_code in RETRY_STATUS or resp.status_code >= 500:
            raise _Transient(resp.status_code, resp.text[:200])
        self._raise_for_refusal(resp.status_code, resp.text, path)
        try:
            return resp.json()
        except ValueError as e:
            raise self._garbage(path, resp.text) from e

    def _garbage(self, what: str, text: str) -> ServerGarbage:
        return ServerGarbage(
            f"The server at {self.urls.root} answered {what} with something that is not an OpenAI-compatible "
            f"response ({text[:80]!r}); point SMARTLEARN_OPENAI_BASE_URL at a chat-completions server "
            f"({SERVE_HINT}).")

    def _raise_for_refusal(self, status: int, text: str, what: str) -> None:
        if status < 400:
            return
        try:
            msg = wire.error_text(json.loads(text))
        except ValueError:
            msg = text[:200]
        if status in (401, 403):
            raise ModelLoadError(f"The model server at {self.urls.root} refused the API key (HTTP {status}); "
                                 "set SMARTLEARN_OPENAI_API_KEY to the key it expects.")
        if status == 404 and "/chat/completions" not in what:
            raise GenerationError(f"The server at {self.urls.root} has no {what} (HTTP 404); check "
                                  "SMARTLEARN_OPENAI_BASE_URL and SMARTLEARN_OPENAI_ADAPTER_MODE.")
        if status == 404:
            raise GenerationError(f"The model server does not serve the model asked for ({msg}); set "
                                  "SMARTLEARN_OPENAI_MODEL to a model it serves, or check its --lora-modules.")
        raise GenerationError(f"The model server refused the request (HTTP {status}): {msg}")

    # ------------------------------------------------------------------ loading

    def load(self) -> BackendInfo:
        self._ensure_served()
        return self._info

    def _ensure_served(self, refresh: bool = False) -> _Served:
        served = self._served
        if served is not None and not refresh:
            return served
        with self._lock:
            if self._served is None or refresh:
                self._served = self._connect()
            return self._served

    def _connect(self) -> _Served:
        """Read the served model and adapters; on failure nothing is kept, so the next call tries again."""
        t0 = time.perf_counter()
        try:
            listing = self._guarded(lambda: self._retrying(lambda: self._get_json(f"{self.urls.api}/models")))
            entries = wire.model_ids(listing)
            model = wire.pick_model(entries, self.cfg.model)
        except ValueError as e:
            raise ModelLoadError(f"The server at {self.urls.root} gave no usable model list at /v1/models ({e}); "
                                 f"point SMARTLEARN_OPENAI_BASE_URL at a chat-completions server ({SERVE_HINT}).") from e
        except GenerationError as e:
            raise ModelLoadError(str(e)) from e
        listed = [d["id"] for d in entries]
        if self.cfg.model and model not in listed:
            if self.mode == "model":
                raise ModelLoadError(f"The model server does not serve {model!r} (it serves: {', '.join(listed)}); "
                                     "set SMARTLEARN_OPENAI_MODEL to one of them.")
            logger.warning("The model server lists %s, not %r; sending %r anyway", listed, model, model)
        adapters = self._list_adapters(entries, model)
        self._info = BackendInfo(
            backend=self.backend_name, model=model, device=self.urls.root, dtype="remote",
            adapters=tuple(adapters), load_s=time.perf_counter() - t0,
            detail=f"OpenAI-compatible server {self.urls.root}; adapters named by {self.mode}")
        logger.info("Model server %s: model %s, adapters: %s", self.urls.root, model, ", ".join(adapters) or "none")
        return _Served(model=model, adapters=adapters)

    def _list_adapters(self, entries: list[dict], model: str) -> dict[str, int]:
        if self.mode == "none":
            return {}
        if self.mode == "model":
            return wire.adapters_from_models(entries, model)
        try:
            listing = self._guarded(lambda: self._get_json(f"{self.urls.root}/lora-adapters"))
            return wire.adapters_from_lora_list(listing)
        except (ValueError, GenerationError) as e:
            raise ModelLoadError(
                f"openai.adapter_mode is lora, but the server gave no adapter list at /lora-adapters ({e}); "
                "use llama-server with --lora, or set SMARTLEARN_OPENAI_ADAPTER_MODE to model (vLLM) or none.") from e

    def close(self) -> None:
        self._client.close()

    # ------------------------------------------------------------------ queries

    def info(self) -> BackendInfo:
        return self._info

    def adapters(self) -> tuple[str, ...]:
        return tuple(self._ensure_served().adapters)

    def count_tokens(self, text: str) -> int:
        """The server's own tokenizer (/tokenize: llama-server and vLLM); servers without one (Ollama,
        TGI) or a failed call fall back to ~4 characters a token, which only sizes the history budget."""
        import httpx

        if not self._no_tokenizer and text:
            try:
                return self._server_count(text)
            except (httpx.HTTPError, ModelLoadError):
                pass  # the server is down: estimate now, ask it again next time (stream() says what is wrong)
            except (TutorError, ValueError, KeyError, TypeError) as e:
                logger.warning("The model server cannot count tokens (%s); estimating 4 characters a token", e)
                self._no_tokenizer = True
        return max(1, len(text) // 4) if text else 0

    def _server_count(self, text: str) -> int:
        model = self._ensure_served().model
        body = {"model": model, "prompt": text, "content": text, "add_special": False, "add_special_tokens": False}
        resp = self._client.post(f"{self.urls.root}/tokenize", json=body)
        self._raise_for_refusal(resp.status_code, resp.text, "/tokenize")
        data = resp.json()
        return int(data["count"]) if "count" in data else len(data["tokens"])

    # ------------------------------------------------------------------ generation

    def stream(self, request: GenerationRequest) -> Iterator[StreamItem]:
        """Validate now (an unreachable server at first use, UnknownAdapter, a bad schema raise at the
        call); the request is sent on the first iteration."""
        served = self._ensure_served()
        if request.adapter is not None and request.adapter not in served.adapters:
            served = self._unknown_adapter(request.adapter, served)
        body = wire.request_body(request, served.model, self.mode, served.adapters)
        return self._stream(request, body)

    def _unknown_adapter(self, name: str, served: _Served) -> _Served:
        """Re-read the server's adapters once in a while (vLLM can load adapters at run time), then refuse."""
        if self.mode != "none" and time.monotonic() - served.listed_at > ADAPTER_REFRESH_S:
            served = self._ensure_served(refresh=True)
            if name in served.adapters:
                return served
        available = ", ".join(served.adapters) or "none"
        how = {"model": f"start vLLM with --enable-lora --lora-modules {name}=adapters/{name}",
               "lora": f"start llama-server with --lora adapters/{name}/adapter.gguf",
               "none": "set SMARTLEARN_OPENAI_ADAPTER_MODE to model (vLLM) or lora (llama-server)"}[self.mode]
        raise UnknownAdapter(f"The model server has no adapter {name!r} (available: {available}); {how}, "
                             "or pick an available one.")

    def _open(self, body: dict) -> Any:
        """POST the request and return the streaming response once the server accepted it."""

        def send() -> Any:
            req = self._client.build_request("POST", f"{self.urls.api}/chat/completions", json=body)
            resp = self._client.send(req, stream=True)
            if resp.status_code == 200:
                return resp
            text = resp.read().decode("utf-8", "replace")
            resp.close()
            if resp.status_code in RETRY_STATUS or resp.status_code >= 500:
                raise _Transient(resp.status_code, text[:200])
            self._raise_for_refusal(resp.status_code, text, "/v1/chat/completions")
            raise self._garbage("/v1/chat/completions", text)

        return self._guarded(lambda: self._retrying(send))

    def _stream(self, request: GenerationRequest, body: dict) -> Iterator[StreamItem]:
        import httpx

        st = _StreamState(t0=time.perf_counter())
        resp = self._open(body)
        scanner = StopScanner.for_params(request.params)
        try:
            for piece in self._pieces(resp, st):
                out, stopped = scanner.feed(piece)
                if out:
                    yield out
                if stopped:
                    st.finish = "repetition" if scanner.degenerate else "stop"
                    break
            tail = scanner.flush()
            if tail:
                yield tail
        except httpx.TransportError as e:
            self._breaker.failure()
            raise GenerationError(f"The model server at {self.urls.root} stopped streaming mid-answer "
                                  f"({type(e).__name__}); please ask again.") from e
        except GenerationError:
            self._breaker.failure()
            raise
        finally:
            resp.close()  # an early stop closes the connection, which makes the server cancel the request
        yield self._completion(request, scanner.text, st)

    def _pieces(self, resp: Any, st: _StreamState) -> Iterator[str]:
        """Text deltas of the stream; records usage, finish reason and the first token's time. A server
        that ignored `stream` and sent one JSON reply is read as a one-chunk stream."""
        if "application/json" in resp.headers.get("content-type", ""):
            raw = resp.read().decode("utf-8", "replace")
            try:
                reply = json.loads(raw)
                msg = reply["choices"][0]["message"]
                reply["choices"][0]["delta"] = msg
            except (ValueError, KeyError, IndexError, TypeError) as e:
                raise self._garbage("/v1/chat/completions", raw) from e
            yield from self._chunk_text(reply, st)
            return
        seen_data = False
        for line in resp.iter_lines():
            try:
                event = wire.parse_event(line)
            except ValueError as e:
                raise self._garbage("/v1/chat/completions", line) from e
            if event is wire.DONE:
                return
            if event is None:
                if line.strip() and not seen_data and not line.startswith((":", "event:", "id:", "retry:")):
                    raise self._garbage("/v1/chat/completions", line)
                continue
            seen_data = True
            yield from self._chunk_text(event, st)
        if not seen_data:
            raise self._garbage("/v1/chat/completions", "an empty stream")

    def _chunk_text(self, chunk: dict, st: _StreamState) -> Iterator[str]:
        if "error" in chunk:
            raise GenerationError(f"The model failed while writing the answer: {wire.error_text(chunk)}")
        if chunk.get("usage"):
            st.usage = chunk["usage"]
        for choice in chunk.get("choices") or ():
            text = (choice.get("delta") or {}).get("content")
            if text:
                if st.first_at is None:
                    st.first_at = time.perf_counter()
                st.chunks += 1
                yield text
            if choice.get("finish_reason"):
                st.finish = st.finish or choice["finish_reason"]

    def _completion(self, request: GenerationRequest, text: str, st: _StreamState) -> Completion:
        t_end = time.perf_counter()
        return Completion(
            text=text, model=self._info.model, adapter=request.adapter,
            usage=Usage(prompt_tokens=int(st.usage.get("prompt_tokens", 0)),
                        completion_tokens=int(st.usage.get("completion_tokens", st.chunks))),
            ttft_s=(st.first_at if st.first_at is not None else t_end) - st.t0,
            latency_s=t_end - st.t0, finish_reason=st.finish if st.finish in ("length", "repetition") else "stop",
        )
