"""What a GGUF file is, read from its header: a model or a LoRA adapter, which architecture, which
tensor shapes. Owns the checks that turn llama.cpp's one opaque start-up failure ("Failed to init
server") into a sentence naming the file and the fix, before llama.cpp ever sees the file.

Reads only metadata and tensor descriptors (the `gguf` package memory-maps the file), so a check
costs milliseconds even for large models.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tutor.errors import ModelLoadError

ADAPTER_FILE = "adapter.gguf"  # what `python -m training export-gguf` writes beside each peft adapter
EXPORT_HINT = "python -m training export-gguf"


@dataclass(frozen=True)
class GGUFSummary:
    path: Path
    kind: str  # general.type: "model" or "adapter"
    architecture: str  # general.architecture, e.g. "llama"
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)  # ggml order: (in, out) for a matrix
    lora_alpha: float | None = None


def read_gguf(path: Path) -> GGUFSummary:
    """The file's header. Raises ModelLoadError with a sentence when it is not a readable GGUF."""
    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(f"The GGUF file {path} does not exist.")
    try:
        import gguf

        reader = gguf.GGUFReader(str(path))
    except Exception as e:  # noqa: BLE001 - bad magic, truncated file: all mean "not a GGUF"
        raise ModelLoadError(f"{path} is not a readable GGUF file ({e}).") from e

    def field_value(key: str):
        f = reader.fields.get(key)
        return None if f is None else f.contents()

    kind = field_value("general.type") or "model"  # files from older converters have no general.type
    arch = field_value("general.architecture") or ""
    alpha = field_value("adapter.lora.alpha")
    shapes = {t.name: tuple(int(d) for d in t.shape) for t in reader.tensors}
    return GGUFSummary(path, str(kind), str(arch), shapes, float(alpha) if alpha is not None else None)


def check_model(summary: GGUFSummary) -> None:
    """Raise ModelLoadError unless the file is a model llama.cpp can load as the chat model."""
    if summary.kind != "model":
        raise ModelLoadError(
            f"{summary.path} is a GGUF {summary.kind}, not a model; set SMARTLEARN_MODEL_BASE_MODEL "
            "(model.base_model) to a model .gguf file (or 'embedded'), and put adapters under model.adapters_dir."
        )
    if not summary.architecture or not summary.shapes:
        raise ModelLoadError(f"{summary.path} has no model architecture or weights; it is not a chat model GGUF.")


def adapter_problem(adapter: GGUFSummary, model: GGUFSummary) -> str | None:
    """Why `adapter` cannot be applied to `model`, or None when it fits (same tensors, same sizes)."""
    if adapter.kind != "adapter":
        return f"{adapter.path.name} is a GGUF {adapter.kind}, not a LoRA adapter"
    if adapter.architecture != model.architecture:
        return (f"it was made for a {adapter.architecture!r} model, the chat model is {model.architecture!r}; "
                f"re-export it against this model ({EXPORT_HINT})")
    for name, shape in adapter.shapes.items():
        base, _, part = name.rpartition(".")
        if part not in ("lora_a", "lora_b"):
            continue
        target = model.shapes.get(base)
        if target is None:
            return f"it was trained for a different model (tensor {base} does not exist in this one)"
        # ggml order: model (in, out), lora_a (in, r), lora_b (r, out)
        want, got = (target[0], shape[0]) if part == "lora_a" else (target[-1], shape[-1])
        if want != got:
            return (f"it was trained for a different model ({base} has {want} features here, "
                    f"the adapter expects {got})")
    return None
