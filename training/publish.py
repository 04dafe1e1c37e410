"""A run's adapter on disk: saved in peft format with a portable config, and published atomically to adapters/."""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

EMBEDDED_HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"  # what the embedded GGUF is a quantization of


def save_adapter(model: Any, target: Path, base_model: str) -> None:
    """The trained LoRA (peft's save_pretrained) into `target`, replacing what was there."""
    if target.exists():
        shutil.rmtree(target)
    model.save_pretrained(str(target))
    portable_adapter_config(target, base_model)


def portable_adapter_config(folder: Path, base_model: str) -> None:
    """peft records the base model's load path (here a cache folder on this machine); a committed adapter
    names the model instead: the hub id the embedded weights come from, or the configured base_model."""
    f = Path(folder) / "adapter_config.json"
    cfg = json.loads(f.read_text(encoding="utf-8"))
    cfg["base_model_name_or_path"] = EMBEDDED_HUB_ID if base_model == "embedded" else base_model
    f.write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def publish_adapter(src: Path, target: Path) -> Path:
    """Copy a saved adapter folder into adapters/<name> atomically (temp folder + rename)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{target.name}-", dir=target.parent))
    try:
        for f in src.iterdir():
            if f.is_file():
                shutil.copy2(f, tmp / f.name)
        old = target.with_name(f".old-{target.name}")
        if target.exists():
            if old.exists():
                shutil.rmtree(old)
            os.rename(target, old)
        # mkdtemp makes a 0700 folder and safetensors writes 0600 files: the app may run as another user
        os.chmod(tmp, 0o755)
        for f in tmp.iterdir():
            os.chmod(f, 0o644)
        os.rename(tmp, target)
        if old.exists():
            shutil.rmtree(old)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target
