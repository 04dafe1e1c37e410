"""MLXBackend: the pure request/response mappings, and a clean refusal where mlx-lm is missing."""
from __future__ import annotations

import importlib.util
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.tiny_models import build_tokenizer
from tutor.backends.mlx import (
    MLXBackend,
    build_generate_kwargs,
    completion_from_responses,
    find_mlx_adapters,
    prompt_token_ids,
)
from tutor.config import ModelConfig
from tutor.errors import BackendUnavailable
from tutor.types import GenerationParams, GenerationRequest, Message

HAS_MLX = importlib.util.find_spec("mlx_lm") is not None


def test_greedy_kwargs():
    kw = build_generate_kwargs(GenerationParams(max_new_tokens=64, temperature=0.0, top_p=0.9, seed=3))
    assert kw == {"max_tokens": 64, "sampler": {"temp": 0.0, "top_p": 1.0}, "repetition_penalty": None, "seed": None}


def test_sampling_kwargs():
    kw = build_generate_kwargs(GenerationParams(max_new_tokens=8, temperature=0.7, top_p=0.9, seed=5,
                                                repetition_penalty=1.15))
    assert kw == {"max_tokens": 8, "sampler": {"temp": 0.7, "top_p": 0.9}, "repetition_penalty": 1.15, "seed": 5}


def response(**kw):
    base = dict(text="", token=0, prompt_tokens=12, generation_tokens=0, finish_reason=None)
    base.update(kw)
    return SimpleNamespace(**base)


def test_completion_from_final_response():
    c = completion_from_responses(
        "Four.", response(generation_tokens=3, finish_reason="stop"), model="embedded", adapter="math",
        t_start=10.0, t_first=10.25, t_end=11.0, max_tokens=64,
    )
    assert c.text == "Four." and c.adapter == "math" and c.model == "embedded"
    assert (c.usage.prompt_tokens, c.usage.completion_tokens) == (12, 3)
    assert c.ttft_s == pytest.approx(0.25) and c.latency_s == pytest.approx(1.0)
    assert c.finish_reason == "stop"


@pytest.mark.parametrize("last,stopped,expected", [
    (response(generation_tokens=8, finish_reason="length"), False, "length"),
    (response(generation_tokens=8, finish_reason=None), False, "length"),  # stream cut at max_tokens
    (response(generation_tokens=3, finish_reason=None), True, "stop"),  # a stop string hit
    (response(generation_tokens=3, finish_reason=None), False, "stop"),
])
def test_finish_reason(last, stopped, expected):
    c = completion_from_responses("x", last, model="m", adapter=None, t_start=0, t_first=0.1, t_end=1,
                                  max_tokens=8, stopped_by_string=stopped)
    assert c.finish_reason == expected


def test_completion_without_any_response():
    c = completion_from_responses("", None, model="m", adapter=None, t_start=1.0, t_first=None, t_end=1.5,
                                  max_tokens=8)
    assert c.usage.completion_tokens == 0 and c.ttft_s == pytest.approx(0.5) and c.finish_reason == "stop"


def test_find_mlx_adapters(tmp_path):
    (tmp_path / "mlx_one").mkdir()
    (tmp_path / "mlx_one" / "adapter_config.json").write_text("{}")
    (tmp_path / "mlx_one" / "adapters.safetensors").write_bytes(b"")
    (tmp_path / "peft_one").mkdir()
    (tmp_path / "peft_one" / "adapter_config.json").write_text("{}")
    (tmp_path / "peft_one" / "adapter_model.safetensors").write_bytes(b"")
    (tmp_path / "readme_only").mkdir()
    found, skipped = find_mlx_adapters(tmp_path)
    assert found == {"mlx_one": tmp_path / "mlx_one"}
    assert len(skipped) == 1 and skipped[0].startswith("peft_one: a peft adapter")
    assert find_mlx_adapters(tmp_path / "missing") == ({}, [])


def test_prompt_token_ids_apply_template_without_double_bos():
    tok = build_tokenizer()
    ids = prompt_token_ids(tok, [Message("user", "what is 2 + 2 ?")])
    start = tok.convert_tokens_to_ids("<|im_start|>")
    assert ids[0] == start and ids[1] != start
    assert tok.decode(ids[-2:]) == "<|im_start|> assistant"


@pytest.mark.skipif(HAS_MLX, reason="mlx-lm is installed here")
def test_without_mlx_lm_load_and_stream_raise_backend_unavailable(tmp_path):
    b = MLXBackend(ModelConfig(backend="mlx"), Path(tmp_path))
    assert b.info().backend == "mlx"  # constructing is fine
    with pytest.raises(BackendUnavailable, match="pip install mlx-lm"):
        b.load()
    with pytest.raises(BackendUnavailable, match="mlx-lm is not installed"):
        b.stream(GenerationRequest((Message("user", "hi"),)))
