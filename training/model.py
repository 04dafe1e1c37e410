"""The model a run trains: the base model and tokenizer (never a download for "embedded"), with LoRA on top."""
from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from training.config import TrainConfig
from training.errors import TrainingError
from training.placement import Placement

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PreparedModel:
    model: Any  # the peft model the Trainer trains
    tokenizer: Any
    source: Path | str  # where the base model was loaded from (written to the model card)
    trainable_params: int
    total_params: int


def base_model_source(base_model: str, model_cache_dir: Path) -> Path | str:
    """The embedded model's safetensors cache (never a download), a local folder, or a hub id."""
    from tutor.backends.embedded import resolve_model_dir

    return resolve_model_dir(base_model, model_cache_dir)


def load_base(base_model: str, model_cache_dir: Path, *, bf16: bool = False) -> tuple[Any, Any, Path | str]:
    """Tokenizer and model. bf16=False: fp32 weights (autocast casts them on every step); True: bf16 weights."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = base_model_source(base_model, model_cache_dir)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        model = AutoModelForCausalLM.from_pretrained(source, dtype=torch.bfloat16 if bf16 else torch.float32)
    except Exception as e:  # noqa: BLE001 - any loader failure means the same to the user
        raise TrainingError(f"Could not load base_model {base_model!r} ({source}): {e}") from e
    if not getattr(tokenizer, "chat_template", None):
        raise TrainingError(f"base_model {base_model!r} has no chat template; use an instruct/chat model.")
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer, source


def add_lora(model: Any, cfg: TrainConfig) -> Any:
    from peft import LoraConfig, get_peft_model

    names = {n.rsplit(".", 1)[-1] for n, _ in model.named_modules()}
    missing = [m for m in cfg.lora.target_modules if m not in names]
    if missing:
        raise TrainingError(f"lora.target_modules {missing} are not layers of {cfg.base_model!r}.")
    lcfg = LoraConfig(r=cfg.lora.r, lora_alpha=cfg.lora.alpha, lora_dropout=cfg.lora.dropout,
                      target_modules=list(cfg.lora.target_modules), task_type="CAUSAL_LM")
    with warnings.catch_warnings():  # peft 0.21 calls a method transformers 5.x deprecated
        warnings.filterwarnings("ignore", ".*is_gradient_checkpointing", FutureWarning)
        return get_peft_model(model, lcfg)


def count_params(model: Any) -> tuple[int, int]:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total


def prepare_model(cfg: TrainConfig, placement: Placement, model_cache_dir: Path) -> PreparedModel:
    """The base model (bf16 weights when run.bf16_base under bf16), gradient checkpointing if set, LoRA."""
    model, tokenizer, source = load_base(cfg.base_model, model_cache_dir,
                                         bf16=placement.precision == "bf16" and cfg.run.bf16_base)
    if cfg.run.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    model.config.use_cache = False  # see Collator: packed rows need the cache off
    model = add_lora(model, cfg)
    trainable, total = count_params(model)
    logger.info("trainable parameters: %d of %d (%.3f%%)", trainable, total, 100 * trainable / total)
    return PreparedModel(model, tokenizer, source, trainable, total)
