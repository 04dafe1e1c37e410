"""Loading for the transformers backend: the configured causal LM on the device/dtype picked by `device.py`,
then every adapter folder under `model.adapters_dir` as a named peft adapter. A broken or mismatched adapter
is skipped with a warning, never a crash."""
from __future__ import annotations

import logging
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tutor.backends.device import choose_device, choose_dtype, dtype_name
from tutor.backends.embedded import resolve_model_dir
from tutor.backends.hf_adapter_check import check_adapter
from tutor.config import ModelConfig
from tutor.errors import ModelLoadError
from tutor.types import BackendInfo

logger = logging.getLogger(__name__)

SET_MODEL_HINT = (
    "Set SMARTLEARN_MODEL_BASE_MODEL (model.base_model) to 'embedded', a local model folder, "
    "or a Hugging Face model id that is available offline."
)


@dataclass
class LoadedModel:
    model: Any  # a transformers PreTrainedModel, or a peft PeftModel wrapping it
    tokenizer: Any
    device: str
    dtype: Any
    adapters: tuple[str, ...]
    eos_ids: tuple[int, ...]
    pad_id: int | None


@dataclass
class AdapterReport:
    loaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "name: why" sentences


def load_model(cfg: ModelConfig, cache_dir: Path, backend_name: str) -> tuple[LoadedModel, BackendInfo]:
    """The model, tokenizer and adapters, and the BackendInfo that says where and how they were loaded."""
    import torch

    t0 = time.perf_counter()
    device, device_reason = choose_device(cfg.device)
    dtype, dtype_reason = choose_dtype(cfg.dtype, device)
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    source = resolve_model_dir(cfg.base_model, cache_dir)
    model, tokenizer = load_base(cfg.base_model, source, dtype, device)
    model, report = load_adapters(model, cfg, source, dtype, device)
    eos_ids = _eos_ids(model, tokenizer)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (eos_ids[0] if eos_ids else None)
    load_s = time.perf_counter() - t0
    detail = [f"device {device_reason}", f"dtype {dtype_reason}"]
    if cfg.threads > 0:
        detail.append(f"{cfg.threads} torch threads")
    detail += [f"skipped adapter {s}" for s in report.skipped]
    info = BackendInfo(
        backend=backend_name, model=cfg.base_model, device=device, dtype=dtype_name(dtype),
        adapters=tuple(report.loaded), load_s=load_s, detail="; ".join(detail),
    )
    logger.info("Loaded %s on %s/%s in %.1f s, adapters: %s", cfg.base_model, device,
                dtype_name(dtype), load_s, ", ".join(report.loaded) or "none")
    return LoadedModel(model, tokenizer, device, dtype, tuple(report.loaded), eos_ids, pad_id), info


def load_base(name: str, source: Path | str, dtype: Any, device: str) -> tuple[Any, Any]:
    """The base model (eval mode, on `device`) and its tokenizer; `name` is the configured model.base_model."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if isinstance(source, str) and _looks_like_path(source):
        raise ModelLoadError(f"Could not load the chat model: folder {source} does not exist. {SET_MODEL_HINT}")
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype)
    except Exception as e:  # noqa: BLE001 - OSError, ValueError, safetensors errors all mean "unusable"
        raise ModelLoadError(f"Could not load the chat model {name!r} ({source}): {e}. {SET_MODEL_HINT}") from e
    if not getattr(tokenizer, "chat_template", None):
        raise ModelLoadError(
            f"The model {name!r} has no chat template, so it cannot hold a conversation; use an "
            f"instruct/chat model. {SET_MODEL_HINT}"
        )
    model.to(device)
    model.eval()
    return model, tokenizer


def load_adapters(model: Any, cfg: ModelConfig, source: Path | str, dtype: Any,
                  device: str) -> tuple[Any, AdapterReport]:
    """`model` wrapped in a PeftModel holding every usable adapter folder (unchanged if there is none)."""
    report = AdapterReport()
    adir = Path(cfg.adapters_dir)
    if not adir.is_dir():
        return model, report
    folders = sorted(p for p in adir.iterdir() if p.is_dir() and (p / "adapter_config.json").is_file())
    if not folders:
        return model, report
    from peft import PeftModel

    base = model  # peft injects LoRA layers into this module tree in place
    peft_model = None

    def skip(name: str, why: str) -> None:
        logger.warning("Skipping adapter %s: %s", name, why)
        report.skipped.append(f"{name}: {why}")

    for folder in folders:
        name = folder.name
        problem = check_adapter(folder, base)
        if problem:
            skip(name, problem)
            continue
        try:
            with warnings.catch_warnings():
                # peft 0.21 calls a transformers method that 5.x deprecated; not ours to fix
                warnings.filterwarnings("ignore", ".*is_gradient_checkpointing", FutureWarning)
                peft_model = _attach_adapter(PeftModel, base, peft_model, folder, name)
        except Exception as e:  # noqa: BLE001 - a bad adapter must not take the tutor down
            skip(name, f"peft could not load it ({type(e).__name__}: {e})")
            if peft_model is not None:
                if name in peft_model.peft_config:
                    peft_model.delete_adapter(name)
            elif _has_tuner_layers(base):
                # the failed first load left LoRA layers in the base model: start from clean weights
                base, _ = load_base(cfg.base_model, source, dtype, device)
            continue
        report.loaded.append(name)
    if peft_model is None:
        return base, report
    peft_model.to(device)
    peft_model.eval()
    return peft_model, report


def _attach_adapter(peft_cls: Any, base: Any, peft_model: Any, folder: Path, name: str) -> Any:
    """Wrap `base` with its first adapter, or add one more; returns the PeftModel."""
    # autocast_adapter_dtype=False: keep LoRA weights in the base dtype (bf16 stays bf16)
    if peft_model is None:
        return peft_cls.from_pretrained(base, folder, adapter_name=name, autocast_adapter_dtype=False)
    peft_model.load_adapter(folder, adapter_name=name, autocast_adapter_dtype=False)
    return peft_model


def _has_tuner_layers(model: Any) -> bool:
    from peft.tuners.tuners_utils import BaseTunerLayer

    return any(isinstance(m, BaseTunerLayer) for m in model.modules())


def _eos_ids(model: Any, tokenizer: Any) -> tuple[int, ...]:
    """Token ids that end an answer: the generation config's, the tokenizer's, and ChatML's <|im_end|>."""
    ids: list[int] = []
    gen_eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if isinstance(gen_eos, int):
        ids.append(gen_eos)
    elif isinstance(gen_eos, (list, tuple)):
        ids.extend(int(i) for i in gen_eos)
    if tokenizer.eos_token_id is not None:
        ids.append(int(tokenizer.eos_token_id))
    template = getattr(tokenizer, "chat_template", None) or ""
    if isinstance(template, str) and "<|im_end|>" in template:
        im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
        if isinstance(im_end, int) and im_end != tokenizer.unk_token_id:
            ids.append(im_end)
    return tuple(dict.fromkeys(ids))


def _looks_like_path(s: str) -> bool:
    """True for a folder-like string (absolute, ./, ~, or more than one '/'), not a hub id 'org/name'."""
    return s.startswith(("/", ".", "~", "\\")) or s.count("/") > 1 or "\\" in s or (len(s) > 1 and s[1] == ":")
