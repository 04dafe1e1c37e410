"""The OpenAI-compatible backend: wire format, breaker and settings (unit); a server that is down, answers
garbage or fails once, served by real loopback sockets; and streaming, adapters, stop strings, seeds,
JSON schemas, usage and concurrency against a real llama.cpp HTTP server on the embedded GGUF
(integration)."""
from __future__ import annotations

import concurrent.futures
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tutor.backends import make_backend, openai_wire as wire
from tutor.backends.breaker import CircuitBreaker, CircuitOpen
from tutor.backends.openai_compat import OpenAICompatBackend
from tutor.config import OpenAIConfig, describe, load_config
from tutor.errors import ConfigError, GenerationError, ModelLoadError, TutorError, UnknownAdapter
from tests.tutor.backends.requests import one_message
from tutor.types import Completion

ROOT = Path(__file__).resolve().parents[3]
SHIPPED = ROOT / "adapters"


_req = one_message


def _run(backend, request) -> tuple[str, Completion]:
    deltas, final = [], None
    for item in backend.stream(request):
        if isinstance(item, Completion):
            final = item
        else:
            deltas.append(item)
    assert final is not None and "".join(deltas) == final.text
    return final.text, final


# ---------------------------------------------------------------- unit: wire format


def test_the_adapter_is_the_model_name_or_a_lora_list_by_mode():
    r = _req("hi", adapter="tutor", stop=("END",), seed=7, repetition_penalty=1.2)
    vllm = wire.request_body(r, "base", "model", {"tutor": 0})
    assert vllm["model"] == "tutor" and "lora" not in vllm
    assert vllm["stop"] == ["END"] and vllm["seed"] == 7 and vllm["stream"] is True
    assert vllm["stream_options"] == {"include_usage": True} and vllm["repetition_penalty"] == 1.2
    assert wire.request_body(_req("hi"), "base", "model", {"tutor": 0})["model"] == "base"
    llama = wire.request_body(r, "base", "lora", {"interview": 1, "tutor": 0})
    assert llama["model"] == "base" and llama["lora"] == [{"id": 0, "scale": 1.0}, {"id": 1, "scale": 0.0}]
    base = wire.request_body(_req("hi"), "base", "lora", {"interview": 1, "tutor": 0})
    assert base["lora"] == [{"id": 0, "scale": 0.0}, {"id": 1, "scale": 0.0}]  # llama.cpp#26207
    assert "seed" not in base and "stop" not in base and "repeat_penalty" not in base


def test_a_json_schema_becomes_response_format_and_a_bad_one_fails_first():
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    body = wire.request_body(_req("q", schema=schema), "m", "none", {})
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["schema"] == schema
    with pytest.raises(GenerationError, match="JSON schema"):
        wire.request_body(_req("q", schema={"type": "objectx"}), "m", "none", {})


def test_addresses_adapter_names_and_model_lists():
    assert wire.endpoints("http://h:8000/v1/") == wire.endpoints("http://h:8000")
    assert wire.endpoints("http://h:8000/v1").api == "http://h:8000/v1"
    assert wire.adapters_from_lora_list([{"id": 0, "path": "adapters/tutor/adapter.gguf"},
                                         {"id": 1, "path": "/x/interview-q8.gguf"}]) == {"tutor": 0, "interview-q8": 1}
    vllm = [{"id": "/m/smol", "parent": None}, {"id": "tutor", "parent": "/m/smol"}, {"id": "interview",
                                                                                     "parent": "/m/smol"}]
    assert wire.pick_model(wire.model_ids({"data": vllm}), "") == "/m/smol"
    assert list(wire.adapters_from_models(vllm, "/m/smol")) == ["tutor", "interview"]
    with pytest.raises(ValueError):
        wire.model_ids({"models": []})
    assert wire.parse_event("data: [DONE]") is wire.DONE and wire.parse_event(": ping") is None
    with pytest.raises(ValueError):
        wire.parse_event("data: <html>")


def test_breaker_opens_after_failures_in_a_row_and_lets_one_trial_through():
    now = [0.0]
    b = CircuitBreaker(failures=2, reset_s=10, clock=lambda: now[0])
    b.failure()
    b.success()
    b.failure()
    assert b.state == "closed"  # not two in a row
    b.failure()
    assert b.state == "open"
    with pytest.raises(CircuitOpen):
        b.before_call()
    now[0] = 11.0
    b.before_call()  # the trial
    with pytest.raises(CircuitOpen):
        b.before_call()  # only one trial at a time
    b.failure()
    assert b.state == "open"  # the trial failed: open again for reset_s
    now[0] = 22.0
    b.before_call()
    b.success()
    assert b.state == "closed"


def test_settings_need_an_address_and_hide_the_key():
    with pytest.raises(ConfigError, match="openai.base_url"):
        make_backend(load_config(env={"SMARTLEARN_MODEL_BACKEND": "openai"}))
    with pytest.raises(ConfigError, match="openai.base_url"):
        load_config(env={"SMARTLEARN_OPENAI_BASE_URL": "gpu-host:8000"})
    with pytest.raises(ConfigError, match="adapter_mode"):
        load_config(env={"SMARTLEARN_OPENAI_ADAPTER_MODE": "path"})
    cfg = load_config(env={"SMARTLEARN_MODEL_BACKEND": "openai", "SMARTLEARN_OPENAI_BASE_URL": "http://h:8000/v1",
                           "SMARTLEARN_OPENAI_API_KEY": "sk-secret", "SMARTLEARN_OPENAI_TIMEOUT_S": "5"})
    assert cfg.openai.timeout_s == 5.0
    assert dict((k, v) for k, v, _ in describe(cfg))["openai.api_key"] == "***"
    backend = make_backend(cfg)
    assert isinstance(backend, OpenAICompatBackend) and backend.info().backend == "openai"


# ---------------------------------------------------------------- unit: real sockets, bad servers


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_server_that_is_down_gives_a_sentence_then_the_breaker_answers_at_once():
    b = OpenAICompatBackend(OpenAIConfig(base_url=f"http://127.0.0.1:{_closed_port()}/v1", retries=1,
                                         breaker_failures=2, breaker_reset_s=60, timeout_s=2))
    for _ in range(2):
        with pytest.raises(ModelLoadError, match="cannot be reached.*SMARTLEARN_OPENAI_BASE_URL"):
            b.load()
    with pytest.raises(ModelLoadError, match="waits \\d+ s before trying it again"):
        list(b.stream(_req("hi")))
    assert b.count_tokens("twelve chars") == 3  # estimated: history trimming keeps working


class _Scripted(BaseHTTPRequestHandler):
    """A real HTTP server whose answers are scripted per path (a broken or flaky server)."""

    script: dict[str, list[tuple[int, str, str]]] = {}

    def _answer(self) -> None:
        if self.command == "POST":
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
        queue = self.script.get(self.path.split("?")[0]) or [(404, "text/plain", "not found")]
        status, ctype, text = queue.pop(0) if len(queue) > 1 else queue[0]
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _answer

    def log_message(self, *args) -> None:  # keep test output clean
        pass


@pytest.fixture
def scripted():
    def start(script):
        handler = type("H", (_Scripted,), {"script": script})
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        servers.append(httpd)
        return f"http://127.0.0.1:{httpd.server_address[1]}"

    servers: list = []
    yield start
    for s in servers:
        s.shutdown()


MODELS = (200, "application/json", json.dumps({"data": [{"id": "smol"}]}))


def _sse(*texts: str) -> str:
    chunks = [{"choices": [{"index": 0, "delta": {"content": t}, "finish_reason": None}]} for t in texts]
    chunks.append({"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": len(texts)}})
    return "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"


def test_a_server_answering_garbage_gives_a_sentence(scripted):
    url = scripted({"/v1/models": [(200, "text/html", "<html>welcome to nginx</html>")]})
    b = OpenAICompatBackend(OpenAIConfig(base_url=url, retries=0))
    with pytest.raises(ModelLoadError, match="not an OpenAI-compatible response.*SMARTLEARN_OPENAI_BASE_URL"):
        b.load()
    url = scripted({"/v1/models": [MODELS], "/v1/chat/completions": [(200, "text/event-stream", "<html>oops")]})
    b = OpenAICompatBackend(OpenAIConfig(base_url=url, retries=0))
    with pytest.raises(GenerationError, match="not an OpenAI-compatible"):
        list(b.stream(_req("hi")))


def test_a_busy_server_is_retried_and_the_stream_is_read(scripted):
    url = scripted({"/v1/models": [MODELS], "/v1/chat/completions": [
        (503, "application/json", '{"error": {"message": "loading"}}'),
        (200, "text/event-stream", _sse("Hel", "lo"))]})
    b = OpenAICompatBackend(OpenAIConfig(base_url=url, retries=2, adapter_mode="none"))
    text, done = _run(b, _req("hi"))
    assert text == "Hello" and done.usage.prompt_tokens == 9 and done.usage.completion_tokens == 2
    with pytest.raises(UnknownAdapter, match="ADAPTER_MODE"):
        b.stream(_req("hi", adapter="tutor"))


def test_a_refusal_names_the_fix_and_does_not_open_the_breaker(scripted):
    url = scripted({"/v1/models": [(401, "application/json", '{"error": {"message": "bad key"}}')]})
    b = OpenAICompatBackend(OpenAIConfig(base_url=url, breaker_failures=1))
    for _ in range(2):
        with pytest.raises(ModelLoadError, match="SMARTLEARN_OPENAI_API_KEY"):
            b.load()


# ---------------------------------------------------------------- integration: a real llama.cpp server


@pytest.fixture(scope="module")
def llama_server():
    pytest.importorskip("xllamacpp")
    from tutor.backends.embedded import embedded_gguf
    from tutor.backends.llamacpp_http import start_http_server

    running = start_http_server(embedded_gguf(), [SHIPPED / "tutor" / "adapter.gguf",
                                                  SHIPPED / "interview" / "adapter.gguf"],
                                slots=2, slot_tokens=1024, threads=1, api_key="test-key")
    yield running.url
    running.close()


@pytest.fixture(scope="module")
def remote(llama_server):
    b = OpenAICompatBackend(OpenAIConfig(base_url=llama_server, api_key="test-key", adapter_mode="lora",
                                         timeout_s=120))
    yield b
    b.close()


@pytest.mark.integration
def test_real_server_lists_adapters_streams_and_counts(remote):
    info = remote.load()
    assert set(info.adapters) == {"tutor", "interview"} and info.backend == "openai"
    text, done = _run(remote, _req("What is a vector? Answer in one sentence.", max_new_tokens=12))
    assert text.strip() and done.finish_reason == "length"
    assert done.usage.completion_tokens == 12 and done.usage.prompt_tokens > 5 and done.ttft_s <= done.latency_s
    assert remote.count_tokens("hello world") == 2  # the server's own tokenizer


@pytest.mark.integration
def test_real_server_adapters_are_per_request_and_do_not_leak(remote):
    q = "Explain what a derivative measures."
    base = _run(remote, _req(q))[0]
    tutor = _run(remote, _req(q, adapter="tutor"))[0]
    assert tutor != base  # the adapter changes greedy output
    assert _run(remote, _req(q))[0] == base  # and does not leak into the next base request (llama.cpp#26207)
    with pytest.raises(UnknownAdapter, match="available: .*tutor.*--lora adapters/nope"):
        remote.stream(_req(q, adapter="nope"))
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        mixed = list(pool.map(lambda a: _run(remote, _req(q, adapter=a))[0], ["tutor", None, "tutor", None]))
    assert mixed == [tutor, base, tutor, base]


@pytest.mark.integration
def test_real_server_stop_seed_and_json_schema(remote):
    text, _ = _run(remote, _req("Count from one to ten in words, separated by commas.", stop=("four",),
                                max_new_tokens=40))
    assert "four" not in text
    sampled = [_run(remote, _req("Name a colour.", temperature=1.0, seed=s, max_new_tokens=8))[0] for s in (3, 3)]
    assert sampled[0] == sampled[1]
    schema = {"type": "object", "properties": {"answer": {"type": "integer"}}, "required": ["answer"],
              "additionalProperties": False}
    text, _ = _run(remote, _req("What is 2 + 2? Reply in JSON.", schema=schema, max_new_tokens=30))
    assert isinstance(json.loads(text)["answer"], int)


@pytest.mark.integration
def test_real_server_wrong_key_and_vllm_mode_give_sentences(llama_server):
    with pytest.raises(ModelLoadError, match="API key"):
        OpenAICompatBackend(OpenAIConfig(base_url=llama_server, api_key="wrong")).load()
    vllm_style = OpenAICompatBackend(OpenAIConfig(base_url=llama_server, api_key="test-key", adapter_mode="model"))
    assert vllm_style.adapters() == ()  # llama-server names no adapters in /v1/models
    with pytest.raises(UnknownAdapter, match="--lora-modules tutor=adapters/tutor"):
        vllm_style.stream(_req("hi", adapter="tutor"))


@pytest.mark.integration
def test_the_tutor_answers_through_the_server_with_config_alone(llama_server, tmp_path):
    """The composition root builds the backend from the openai.* settings; nothing else changes."""
    from tests.tutor.test_service import make_cfg
    from tutor.retrieval import HashEmbedder
    from tutor.service import build_tutor
    from tutor.types import Answer

    base = make_cfg(tmp_path)
    cfg = base.replace(model=base.model.replace(backend="openai"),
                       openai=OpenAIConfig(base_url=llama_server, api_key="test-key", adapter_mode="lora"),
                       generation=base.generation.replace(max_new_tokens=24))
    tutor = build_tutor(cfg, embedder=HashEmbedder())
    assert tutor.warm_up().ready
    answer = list(tutor.ask("What does the chain rule say?", user="ann"))[-1]
    assert isinstance(answer, Answer) and answer.grounded and answer.completion.adapter == "tutor"
    call = tutor.metrics.recent_calls()[0]
    assert call.success and call.user == "ann" and call.completion_tokens == answer.completion.usage.completion_tokens > 0

    down = build_tutor(cfg.replace(openai=cfg.openai.replace(base_url=f"http://127.0.0.1:{_closed_port()}",
                                                              retries=0)), embedder=HashEmbedder())
    status = down.warm_up()
    assert not status.ready and "cannot be reached" in status.message
    with pytest.raises(TutorError, match="cannot be reached"):
        list(down.ask("What does the chain rule say?"))
