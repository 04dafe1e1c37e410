"""make_backend: auto resolution, construction without loading, light imports."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tutor.backends import FakeBackend, LLMBackend, generate, make_backend, resolve_backend_kind
from tutor.config import AppConfig
from tutor.errors import ConfigError

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("system,machine,has_mlx,expected", [
    ("darwin", "arm64", True, "mlx"),
    ("darwin", "arm64", False, "transformers"),
    ("darwin", "x86_64", True, "transformers"),
    ("linux", "x86_64", True, "transformers"),
    ("win32", "AMD64", False, "transformers"),
])
def test_auto_resolution(system, machine, has_mlx, expected):
    kind, reason = resolve_backend_kind("auto", system=system, machine=machine, has_mlx=has_mlx)
    assert kind == expected and reason.startswith(expected)


def test_explicit_and_invalid_kinds():
    assert resolve_backend_kind("mlx")[0] == "mlx"
    assert resolve_backend_kind("transformers")[0] == "transformers"
    assert resolve_backend_kind("llamacpp")[0] == "llamacpp"
    with pytest.raises(ConfigError, match="model.backend"):
        resolve_backend_kind("vllm")


@pytest.mark.parametrize("base_model,has_llamacpp,expected", [
    ("embedded", True, "llamacpp"),
    ("/models/smol.Q4_K_M.gguf", True, "llamacpp"),
    ("embedded", False, "transformers"),
    ("HuggingFaceTB/SmolLM2-135M-Instruct", True, "transformers"),
])
def test_auto_picks_llamacpp_for_a_gguf(base_model, has_llamacpp, expected):
    kind, _ = resolve_backend_kind("auto", system="linux", machine="x86_64", base_model=base_model,
                                   has_llamacpp=has_llamacpp)
    assert kind == expected


def test_make_backend_transformers_constructs_without_loading():
    from tutor.backends.hf import TransformersBackend

    cfg = AppConfig()
    b = make_backend(cfg.replace(model=cfg.model.replace(backend="transformers")))
    assert isinstance(b, TransformersBackend) and isinstance(b, LLMBackend)
    assert b._state is None and b.info().detail == "not loaded yet"
    assert b.cache_dir == AppConfig().paths.model_cache_dir


def test_make_backend_mlx_constructs_anywhere():
    from tutor.backends.mlx import MLXBackend

    cfg = AppConfig()
    cfg = cfg.replace(model=cfg.model.replace(backend="mlx"))
    assert isinstance(make_backend(cfg), MLXBackend)


def test_make_backend_llamacpp_constructs_without_loading():
    from tutor.backends.llamacpp import LlamaCppBackend

    cfg = AppConfig()
    b = make_backend(cfg.replace(model=cfg.model.replace(backend="llamacpp", slots=3)))
    assert isinstance(b, LlamaCppBackend) and isinstance(b, LLMBackend)
    assert b._state is None and b.info().detail == "not loaded yet" and b.slots == 3


def test_reexports():
    fake = FakeBackend(["four"])
    assert isinstance(fake, LLMBackend)
    from tutor.types import GenerationRequest, Message

    assert generate(fake, GenerationRequest((Message("user", "2+2?"),))).text == "four"


def test_importing_backends_does_not_import_torch():
    code = (
        "import sys, tutor.backends, tutor.backends.hf, tutor.backends.mlx, tutor.backends.llamacpp; "
        "heavy = [m for m in ('torch', 'transformers', 'peft', 'mlx_lm', 'xllamacpp') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60)
