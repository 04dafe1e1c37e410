"""Shared fixtures: one tiny Llama folder with two LoRA adapters (and some broken ones), built once."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.tiny_models import build_lora_adapter, build_tiny_llama
from tutor.config import ModelConfig


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("tiny_llama"))


@pytest.fixture(scope="session")
def adapters_dir(tmp_path_factory, tiny_model_dir) -> Path:
    """a1 and a2 fit the tiny model; the rest must be skipped with a reason."""
    root = tmp_path_factory.mktemp("adapters")
    build_lora_adapter(tiny_model_dir, root / "a1", seed=1)
    build_lora_adapter(tiny_model_dir, root / "a2", seed=2)
    (root / "broken_json").mkdir()
    (root / "broken_json" / "adapter_config.json").write_text("{not json", encoding="utf-8")
    (root / "no_weights").mkdir()
    (root / "no_weights" / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA"}), encoding="utf-8")
    other = build_tiny_llama(tmp_path_factory.mktemp("other_arch_model"), hidden_size=32)
    build_lora_adapter(other, root / "other_arch", seed=3)
    (root / "notes").mkdir()  # no adapter_config.json: not an adapter, silently ignored
    return root


def model_cfg(model_dir: Path, adapters: Path | None = None, **kw) -> ModelConfig:
    """fp32 on CPU so results do not depend on the machine's bf16 support."""
    return ModelConfig(
        base_model=str(model_dir), device="cpu", dtype="float32",
        adapters_dir=adapters if adapters is not None else model_dir / "no-adapters-here", **kw,
    )


@pytest.fixture(scope="session")
def make_model_cfg():
    return model_cfg


@pytest.fixture(scope="module")
def backend(tiny_model_dir, adapters_dir, tmp_path_factory):
    from tutor.backends.hf import TransformersBackend

    b = TransformersBackend(model_cfg(tiny_model_dir, adapters_dir), tmp_path_factory.mktemp("cache"))
    b.load()
    return b
