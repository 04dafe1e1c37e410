"""Whether a LoRA adapter folder fits the loaded model, read from its config and tensor shapes only, so a
mismatched adapter is rejected before peft touches (and half-patches) the model."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

_LORA_KEY = re.compile(r"^(?:base_model\.model\.)?(?P<module>.+)\.lora_(?P<ab>[AB])(?:\.[^.]+)?\.weight$")


def check_adapter(folder: Path, model: Any) -> str | None:
    """Why the adapter in `folder` cannot be used with `model`, or None if it fits.

    Reads only the config and the tensor shapes, so a mismatched adapter is rejected before peft
    touches the model. LoRA A/B shapes are compared with the base model's layers.
    """
    name = folder.name
    if "." in name or not name.strip():
        return "its folder name must not contain '.' (peft uses it as a module name)"
    try:
        cfg = json.loads((folder / "adapter_config.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        return f"adapter_config.json is not valid JSON ({e})"
    if not isinstance(cfg, dict) or "peft_type" not in cfg:
        return "adapter_config.json has no peft_type; it is not a peft adapter"
    weights = folder / "adapter_model.safetensors"
    if not weights.is_file():
        if (folder / "adapter_model.bin").is_file():
            return None  # legacy pickle format: leave the checks to peft
        return "it has no adapter_model.safetensors"
    try:
        from safetensors import safe_open

        with safe_open(str(weights), framework="pt") as f:
            shapes = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except Exception as e:  # noqa: BLE001 - truncated or not a safetensors file
        return f"adapter_model.safetensors is unreadable ({e})"
    if not shapes:
        return "adapter_model.safetensors holds no weights"
    if str(cfg.get("peft_type", "")).upper() != "LORA":
        return None
    if not any(".lora_" in k for k in shapes):
        return "adapter_model.safetensors holds no LoRA weights"
    return _lora_shape_problem(shapes, dict(model.named_modules()))


def _lora_shape_problem(shapes: dict[str, tuple[int, ...]], modules: dict[str, Any]) -> str | None:
    """The first LoRA A/B matrix whose layer is missing from the model or has other dimensions."""
    for key, shape in shapes.items():
        m = _LORA_KEY.match(key)  # linear-layer A/B matrices; embedding LoRA etc. is left to peft
        if not m:
            continue
        path = m.group("module")
        module = modules.get(path)
        if module is None:
            return f"it was trained for a different model (layer {path} does not exist in this one)"
        in_f, out_f = getattr(module, "in_features", None), getattr(module, "out_features", None)
        if in_f is None or out_f is None or len(shape) != 2:
            continue
        expected = in_f if m.group("ab") == "A" else out_f
        got = shape[1] if m.group("ab") == "A" else shape[0]
        if got != expected:
            return (f"it was trained for a different model (layer {path} has {expected} features here, "
                    f"the adapter expects {got})")
    return None
