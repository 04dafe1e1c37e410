"""make_backend: auto resolution, construction without loading, light imports."""
from __future__ import annotations

import dataclasses
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
    with pytest.raises(ConfigError, match="model.backend"):
        resolve_backend_kind("llamacpp")


def test_make_backend_auto_picks_transformers_here_without_loading():
    from tutor.backends.hf import TransformersBackend

    b = make_backend(AppConfig())
    assert isinstance(b, TransformersBackend) and isinstance(b, LLMBackend)
    assert b._state is None and b.info().detail == "not loaded yet"
    assert b.cache_dir == AppConfig().paths.model_cache_dir


def test_make_backend_mlx_constructs_anywhere():
    from tutor.backends.mlx import MLXBackend

    cfg = AppConfig()
    cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, backend="mlx"))
    assert isinstance(make_backend(cfg), MLXBackend)


def test_reexports():
    fake = FakeBackend(["four"])
    assert isinstance(fake, LLMBackend)
    from tutor.types import GenerationRequest, Message

    assert generate(fake, GenerationRequest((Message("user", "2+2?"),))).text == "four"


def test_importing_backends_does_not_import_torch():
    code = (
        "import sys, tutor.backends, tutor.backends.hf, tutor.backends.mlx; "
        "heavy = [m for m in ('torch', 'transformers', 'peft', 'mlx_lm') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60)
