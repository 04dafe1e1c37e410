"""LLM backends behind one Protocol, and the registry that picks one from the config.

`make_backend(cfg)` only constructs: weights load on the first `load()` / `stream()`. Heavy
libraries (torch, transformers, peft, mlx-lm) are imported inside the backends, never here.
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


def resolve_backend_kind(requested: str, *, system: str | None = None, machine: str | None = None,
                         has_mlx: bool | None = None) -> tuple[str, str]:
    """("transformers" | "mlx", reason). auto = mlx on darwin-arm64 when mlx-lm is installed."""
    if requested in ("transformers", "mlx"):
        return requested, f"{requested}: set by model.backend"
    if requested != "auto":
        raise ConfigError(
            f"Invalid setting model.backend (env SMARTLEARN_MODEL_BACKEND): {requested!r} is not one of "
            "auto, transformers, mlx."
        )
    system = sys.platform if system is None else system
    machine = platform.machine() if machine is None else machine
    if system == "darwin" and machine == "arm64":
        if has_mlx is None:
            has_mlx = importlib.util.find_spec("mlx_lm") is not None
        if has_mlx:
            return "mlx", "mlx: Apple Silicon with mlx-lm installed"
        return "transformers", "transformers: Apple Silicon without mlx-lm (pip install mlx-lm to use it)"
    return "transformers", f"transformers: {system}/{machine} is not Apple Silicon"


def make_backend(cfg: AppConfig) -> LLMBackend:
    """The configured backend, constructed but not loaded."""
    kind, reason = resolve_backend_kind(cfg.model.backend)
    logger.info("LLM backend %s", reason)
    if kind == "mlx":
        from tutor.backends.mlx import MLXBackend

        return MLXBackend(cfg.model, cfg.paths.model_cache_dir)
    from tutor.backends.hf import TransformersBackend

    return TransformersBackend(cfg.model, cfg.paths.model_cache_dir)
