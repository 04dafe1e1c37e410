"""LLM backends behind one Protocol, and the registry that picks one from the config.

`make_backend(cfg)` only constructs: weights load on the first `load()` / `stream()`. Heavy
libraries (torch, transformers, peft, mlx-lm, xllamacpp) are imported inside the backends, never here.
"""
from __future__ import annotations

import importlib.util
import logging
import platform
import sys

from tutor.backends.base import LLMBackend, generate
from tutor.backends.fake import FakeBackend
from tutor.config import AppConfig
from tutor.errors import ConfigError

logger = logging.getLogger(__name__)

__all__ = ["LLMBackend", "generate", "FakeBackend", "make_backend", "resolve_backend_kind"]


KINDS = ("transformers", "mlx", "llamacpp", "openai")  # openai is never picked by auto: it needs a server


def resolve_backend_kind(requested: str, *, system: str | None = None, machine: str | None = None,
                         has_mlx: bool | None = None, base_model: str | None = None,
                         has_llamacpp: bool | None = None) -> tuple[str, str]:
    """(kind, reason). auto = llamacpp for a GGUF `base_model` when xllamacpp is installed, else mlx on
    darwin-arm64 when mlx-lm is installed, else transformers. `base_model=None` = not a GGUF."""
    if requested in KINDS:
        return requested, f"{requested}: set by model.backend"
    if requested != "auto":
        raise ConfigError(
            f"Invalid setting model.backend (env SMARTLEARN_MODEL_BACKEND): {requested!r} is not one of "
            f"auto, {', '.join(KINDS)}."
        )
    if base_model is not None:
        from tutor.backends.llamacpp import is_gguf_model

        if is_gguf_model(base_model):
            if has_llamacpp is None:
                has_llamacpp = importlib.util.find_spec("xllamacpp") is not None
            if has_llamacpp:
                return "llamacpp", "llamacpp: the model is a GGUF and xllamacpp is installed"
            logger.info("The model is a GGUF; pip install xllamacpp==2026.10.11549 to serve it 4-6x faster")
    system = sys.platform if system is None else system
    machine = platform.machine() if machine is None else machine
    if system == "darwin" and machine == "arm64":
        if has_mlx is None:
            has_mlx = importlib.util.find_spec("mlx_lm") is not None
        if has_mlx:
            return "mlx", "mlx: Apple Silicon with mlx-lm installed"
        return "transformers", ("transformers: Apple Silicon without mlx-lm (pip install mlx-lm==0.32.2, or rerun "
                                "scripts/setup.sh, to use it)")
    return "transformers", f"transformers: {system}/{machine} is not Apple Silicon"


def make_backend(cfg: AppConfig) -> LLMBackend:
    """The configured backend, constructed but not loaded."""
    kind, reason = resolve_backend_kind(cfg.model.backend, base_model=cfg.model.base_model)
    logger.info("LLM backend %s", reason)
    if kind == "openai":
        if not cfg.openai.base_url.strip():
            raise ConfigError("Invalid setting openai.base_url (env SMARTLEARN_OPENAI_BASE_URL): model.backend is "
                              "openai, so set the model server's address, e.g. http://127.0.0.1:8000/v1.")
        from tutor.backends.openai_compat import OpenAICompatBackend

        return OpenAICompatBackend(cfg.openai)
    if kind == "llamacpp":
        from tutor.backends.llamacpp import LlamaCppBackend

        # per slot: the prompt budget plus the longest answer a request may ask for
        return LlamaCppBackend(cfg.model, slot_tokens=cfg.model.max_context_tokens + max(
            1024, cfg.generation.max_new_tokens))
    if kind == "mlx":
        from tutor.backends.mlx import MLXBackend

        return MLXBackend(cfg.model, cfg.paths.model_cache_dir)
    from tutor.backends.hf import TransformersBackend

    return TransformersBackend(cfg.model, cfg.paths.model_cache_dir)
