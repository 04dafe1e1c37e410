"""The llama.cpp backend: request building and file checks (unit), and streaming, stop strings, seeds,
JSON schemas, concurrent adapters and errors on the real embedded GGUF (integration)."""
from __future__ import annotations

import concurrent.futures
import json
import time
from pathlib import Path

import pytest

from tutor.backends.gguf_files import adapter_problem, check_model, read_gguf
from tutor.backends.llamacpp import LlamaCppBackend, free_cores, resolve_gguf
from tutor.config import EMBEDDED, ModelConfig
from tutor.errors import GenerationError, ModelLoadError, UnknownAdapter
from tests.tutor.backends.requests import one_message
from tutor.types import Completion

ROOT = Path(__file__).resolve().parents[3]
SHIPPED = ROOT / "adapters"


_req = one_message


# ---------------------------------------------------------------- unit


def test_every_request_sends_every_adapter_with_an_explicit_scale():
    names = ("interview", "tutor")
    body = LlamaCppBackend.request_body(names, _req("hi", adapter="tutor", stop=("END",), seed=7))
    assert body["lora"] == [{"id": 0, "scale": 0.0}, {"id": 1, "scale": 1.0}]
    assert body["stop"] == ["END"] and body["seed"] == 7 and body["temperature"] == 0.0 and body["stream"]
    base = LlamaCppBackend.request_body(names, _req("hi"))
    assert base["lora"] == [{"id": 0, "scale": 0.0}, {"id": 1, "scale": 0.0}]  # llama.cpp#26207
    assert "seed" not in base and "stop" not in base and "grammar" not in base


def test_json_schema_becomes_a_validated_compact_grammar():
    body = LlamaCppBackend.request_body((), _req("q", schema={"type": "object"}))
    assert body["grammar"].startswith("%llguidance") and '"whitespace_flexible": false' in body["grammar"]
    with pytest.raises(GenerationError, match="JSON schema"):
        LlamaCppBackend.request_body((), _req("q", schema={"type": "objectx"}))


def test_free_cores_leaves_busy_cores_alone():
    threads, cores = free_cores(0.0)
    assert threads == cores >= 1
    assert free_cores(1000.0)[0] == 1


def test_busy_elsewhere_sees_another_process_spinning_now():
    # the measure is of this moment (not a lagging load average): a child spinning on one core reads as
    # at least half a core busy while it runs
    import subprocess
    import sys

    from tutor.backends.llamacpp import busy_elsewhere

    child = subprocess.Popen([sys.executable, "-c", "import time\nt=time.time()\nwhile time.time()-t<20: pass"])
    try:
        time.sleep(0.3)
        assert busy_elsewhere(0.5) >= 0.5
    finally:
        child.kill()
        child.wait()


def test_model_paths_and_files_give_sentences(tmp_path):
    with pytest.raises(ModelLoadError, match="needs a GGUF"):
        resolve_gguf("HuggingFaceTB/SmolLM2-135M-Instruct")
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a gguf at all" * 10)
    with pytest.raises(ModelLoadError, match="not a readable GGUF"):
        read_gguf(junk)
    with pytest.raises(ModelLoadError, match="does not exist"):
        read_gguf(tmp_path / "missing.gguf")


def test_an_adapter_is_not_a_model_and_must_fit_the_model():
    tutor = read_gguf(SHIPPED / "tutor" / "adapter.gguf")
    with pytest.raises(ModelLoadError, match="not a model"):
        check_model(tutor)
    from dataclasses import replace

    model = replace(tutor, kind="model", shapes={n.rsplit(".", 1)[0]: (576, 576) for n in tutor.shapes})
    assert "different model" in adapter_problem(tutor, model)  # k/v project to 192 in SmolLM2, not 576
    assert "made for" in adapter_problem(tutor, replace(model, architecture="qwen2"))


def test_a_bad_gguf_path_fails_on_load_with_a_sentence(tmp_path):
    junk = tmp_path / "model.gguf"
    junk.write_bytes(b"x" * 100)
    b = LlamaCppBackend(ModelConfig(base_model=str(junk), adapters_dir=tmp_path))
    with pytest.raises(ModelLoadError, match="not a readable GGUF"):
        b.load()
    adapter_as_model = LlamaCppBackend(ModelConfig(base_model=str(SHIPPED / "tutor" / "adapter.gguf")))
    with pytest.raises(ModelLoadError, match="not a model"):
        adapter_as_model.load()


# ---------------------------------------------------------------- integration (the embedded GGUF)


@pytest.fixture(scope="module")
def backend():
    b = LlamaCppBackend(ModelConfig(base_model=EMBEDDED, adapters_dir=SHIPPED, slots=3), 1024)
    b.load()
    yield b
    b.close()


def _run(b, req) -> tuple[list[str], Completion]:
    items = list(b.stream(req))
    return [i for i in items if isinstance(i, str)], items[-1]


@pytest.mark.integration
def test_streams_deltas_then_a_completion_with_usage(backend):
    assert set(backend.adapters()) == {"tutor", "interview"}
    # the embedded GGUF is Q4_1: served from its Q8_0 copy (tutor/backends/gguf_cpu_copy.py)
    assert "Q8_0 copy of SmolLM2-135M-Instruct.Q4_1.gguf" in backend.info().detail
    deltas, done = _run(backend, _req("What is gradient descent?", max_new_tokens=16))
    assert isinstance(done, Completion) and len(deltas) > 1 and "".join(deltas) == done.text
    assert done.usage.completion_tokens == 16 and done.finish_reason == "length"
    assert done.usage.prompt_tokens > 5 and 0 < done.ttft_s <= done.latency_s
    assert backend.count_tokens("Hello world") == 2


@pytest.mark.integration
def test_stop_strings_end_the_answer_before_them(backend):
    _, free = _run(backend, _req("Count from 1 to 10, one number per line.", max_new_tokens=40))
    assert "4" in free.text
    _, stopped = _run(backend, _req("Count from 1 to 10, one number per line.", max_new_tokens=40, stop=("4",)))
    assert "4" not in stopped.text and free.text.startswith(stopped.text) and stopped.finish_reason == "stop"
    # stopped early, llama.cpp sends no usage chunk: the tokens are still counted (the admin's tokens/s)
    assert 0 < stopped.usage.completion_tokens < free.usage.completion_tokens and stopped.usage.prompt_tokens > 5


@pytest.mark.integration
def test_greedy_and_seeded_sampling_are_repeatable(backend):
    q = "Tell me a short story about a robot."
    assert _run(backend, _req(q))[1].text == _run(backend, _req(q))[1].text
    a = _run(backend, _req(q, temperature=1.0, seed=3))[1].text
    assert a == _run(backend, _req(q, temperature=1.0, seed=3))[1].text


@pytest.mark.integration
def test_json_schema_output_parses_and_validates(backend):
    from tutor.backends.json_schema import parse

    schema = {"type": "object", "properties": {"question": {"type": "string", "maxLength": 80},
                                               "answer": {"type": "boolean"}},
              "required": ["question", "answer"], "additionalProperties": False}
    _, done = _run(backend, _req("Write one true/false quiz question about Python as JSON.", schema=schema,
                                 max_new_tokens=60))
    value, why = parse(done.text, schema)
    assert why is None, done.text
    assert set(value) == {"question", "answer"}


@pytest.mark.integration
def test_concurrent_requests_with_different_adapters_do_not_cross_talk(backend):
    q = ("Answer from the notes. [1] The learning rate scales each gradient descent step. "
         "What does the learning rate do?")
    reqs = [_req(q, adapter=a, max_new_tokens=20) for a in ("tutor", None, "interview", "tutor", None)]
    alone = [_run(backend, r)[1].text for r in reqs[:3]]
    assert len(set(alone)) >= 2, alone  # the adapters really change the answer
    with concurrent.futures.ThreadPoolExecutor(len(reqs)) as pool:
        together = list(pool.map(lambda r: _run(backend, r)[1].text, reqs))
    assert together == alone + alone[:2]
    assert _run(backend, reqs[1])[1].text == alone[1]  # the base model after an adapter: no leak


@pytest.mark.integration
def test_unknown_adapter_is_refused_with_the_fix(backend):
    with pytest.raises(UnknownAdapter, match="export-gguf"):
        backend.stream(_req("hi", adapter="nope"))


@pytest.mark.integration
def test_adapters_that_do_not_fit_are_skipped_with_a_reason(tmp_path):
    (tmp_path / "peft_only").mkdir()
    (tmp_path / "peft_only" / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA"}))
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "adapter.gguf").write_bytes(b"nope")
    b = LlamaCppBackend(ModelConfig(base_model=EMBEDDED, adapters_dir=tmp_path, slots=1), 512)
    try:
        info = b.load()
        assert b.adapters() == ()
        assert "peft_only: it has no adapter.gguf" in info.detail and "broken:" in info.detail
    finally:
        b.close()
