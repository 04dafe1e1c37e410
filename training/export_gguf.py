"""peft LoRA adapter -> GGUF LoRA adapter for llama.cpp (`python -m training export-gguf`), offline.

Writes `<adapter folder>/adapter.gguf` beside `adapter_config.json` + `adapter_model.safetensors`,
which is where the llama.cpp backend (tutor/backends/llamacpp.py) looks for it. The layout follows
llama.cpp's own `convert_lora_to_gguf.py` (written here over `gguf` + `safetensors`, without torch
and without llama.cpp's scripts):
- tensor names: `base_model.model.model.layers.N.self_attn.q_proj.lora_A.weight` ->
  `blk.N.attn_q.weight.lora_a` (B -> `.lora_b`), A kept as (r, in), B as (out, r), float32;
- the q/k projections: llama.cpp stores the BASE q/k weights with their rows permuted for its rope
  layout (convert_hf_to_gguf's `LlamaModel.permute`), so the delta B @ A must be permuted the same
  way; the permutation acts on output rows, i.e. on the rows of B only;
- metadata: general.type=adapter, adapter.type=lora, adapter.lora.alpha (llama.cpp scales by
  alpha / rank, like peft).
Head counts and the architecture come from the base GGUF the adapter will be applied to, or, at the end of a
training run (training/trainer.py), from the config of the model just trained: llama.cpp's converter writes
the GGUF's head counts from that same config, so the rows are permuted the same way.
"""
from __future__ import annotations

import json
import logging
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

OUT_NAME = "adapter.gguf"
_KEY = re.compile(r"^base_model\.model\.model\.layers\.(?P<layer>\d+)\.(?:self_attn|mlp)\."
                  r"(?P<module>\w+)\.lora_(?P<ab>[AB])(?:\.[^.]+)?\.weight$")
_MODULES = {
    "q_proj": "attn_q", "k_proj": "attn_k", "v_proj": "attn_v", "o_proj": "attn_output",
    "gate_proj": "ffn_gate", "up_proj": "ffn_up", "down_proj": "ffn_down",
}
SUPPORTED_ARCHS = ("llama",)  # the q/k row permutation below is llama's


class ExportError(Exception):
    """The adapter cannot be converted; the message says why and what to do."""


@dataclass(frozen=True)
class BaseInfo:
    architecture: str
    n_head: int
    n_head_kv: int


def base_info(base_gguf: Path) -> BaseInfo:
    import gguf

    reader = gguf.GGUFReader(str(base_gguf))

    def get(key: str):
        f = reader.fields.get(key)
        return None if f is None else f.contents()

    arch = str(get("general.architecture") or "")
    if arch not in SUPPORTED_ARCHS:
        raise ExportError(f"base model {base_gguf} is a {arch!r} model; export-gguf supports {SUPPORTED_ARCHS}.")
    n_head = int(get(f"{arch}.attention.head_count"))
    return BaseInfo(arch, n_head, int(get(f"{arch}.attention.head_count_kv") or n_head))


def base_info_from_config(config) -> BaseInfo:
    """BaseInfo from a transformers model config (`model_type`, `num_attention_heads`, `num_key_value_heads`)."""
    arch = str(getattr(config, "model_type", "") or "")
    if arch not in SUPPORTED_ARCHS:
        raise ExportError(f"the base model is a {arch!r} model; export-gguf supports {SUPPORTED_ARCHS}.")
    n_head = int(config.num_attention_heads)
    return BaseInfo(arch, n_head, int(getattr(config, "num_key_value_heads", None) or n_head))


def permute_rows(w, n_head: int):
    """convert_hf_to_gguf's llama q/k permutation of output rows: per head, interleaved halves -> split."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def lora_alpha(cfg: dict) -> float:
    """The alpha that makes llama.cpp's alpha / r scaling equal peft's scaling."""
    if cfg.get("use_dora"):
        raise ExportError("DoRA adapters have no llama.cpp equivalent; train a plain LoRA (use_dora: false).")
    if cfg.get("rank_pattern") or cfg.get("alpha_pattern"):
        raise ExportError("adapters with per-layer rank_pattern / alpha_pattern are not supported.")
    alpha, r = float(cfg["lora_alpha"]), int(cfg["r"])
    return alpha * math.sqrt(r) if cfg.get("use_rslora") else alpha  # rsLoRA scales by alpha / sqrt(r)


def convert_tensors(tensors: dict, base: BaseInfo) -> dict:
    """peft name -> array to GGUF name -> float32 array (B of q/k permuted)."""
    import numpy as np

    out = {}
    for key, value in tensors.items():
        m = _KEY.match(key)
        if not m or m.group("module") not in _MODULES:
            raise ExportError(f"tensor {key} is not a LoRA A/B of a llama linear layer; it cannot be exported.")
        module, ab = m.group("module"), m.group("ab")
        w = np.asarray(value, dtype=np.float32)
        if ab == "B" and module in ("q_proj", "k_proj"):
            w = permute_rows(w, base.n_head if module == "q_proj" else base.n_head_kv)
        name = f"blk.{m.group('layer')}.{_MODULES[module]}.weight.lora_{ab.lower()}"
        out[name] = np.ascontiguousarray(w)
    return out


def export_adapter(folder: Path, base_gguf: Path | BaseInfo, out: Path | None = None) -> Path:
    """Convert one peft adapter folder for the base GGUF `base_gguf` (or a BaseInfo already read); returns the
    written GGUF path (atomically replaced)."""
    import gguf
    from safetensors.numpy import load_file

    folder, out = Path(folder), Path(out) if out else Path(folder) / OUT_NAME
    try:
        cfg = json.loads((folder / "adapter_config.json").read_text(encoding="utf-8"))
        tensors = load_file(str(folder / "adapter_model.safetensors"))
    except (OSError, ValueError) as e:
        raise ExportError(f"{folder} is not a readable peft adapter ({e}).") from e
    if str(cfg.get("peft_type", "")).upper() != "LORA":
        raise ExportError(f"{folder} is a {cfg.get('peft_type')!r} adapter; only LoRA can be exported.")
    base = base_gguf if isinstance(base_gguf, BaseInfo) else base_info(base_gguf)
    converted = convert_tensors(tensors, base)
    tmp = out.with_name(f".{out.name}.tmp")
    writer = gguf.GGUFWriter(str(tmp), base.architecture)
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, lora_alpha(cfg))
    writer.add_name(folder.name)
    for name, w in sorted(converted.items()):
        writer.add_tensor(name, w)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    os.replace(tmp, out)
    logger.info("exported %s -> %s (%d tensors)", folder, out, len(converted))
    return out


def export_all(adapters_dir: Path, base_gguf: Path) -> list[Path]:
    """Every peft LoRA sub-folder of `adapters_dir`; raises ExportError for the first that fails."""
    folders = sorted(p for p in Path(adapters_dir).iterdir() if (p / "adapter_config.json").is_file())
    if not folders:
        raise ExportError(f"no peft adapters (folders with adapter_config.json) under {adapters_dir}.")
    return [export_adapter(f, base_gguf) for f in folders]
