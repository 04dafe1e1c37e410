"""Where a run trains: the device and precision the Trainer will use, with the reason (logged, and written to
the model card)."""
from __future__ import annotations

from dataclasses import dataclass

from training.config import TrainConfig
from training.errors import TrainingError


@dataclass(frozen=True)
class Placement:
    device: str  # cpu | cuda | mps (as the Trainer will use it)
    precision: str  # fp32 | bf16 | fp16
    reason: str


def choose_placement(cfg: TrainConfig) -> Placement:
    """device and precision, with the reason (logged and written to the model card)."""
    import torch

    device, why = _choose_device(cfg.run.device)
    prec = cfg.run.precision
    if prec == "auto":
        prec, prec_why = _auto_precision(device)
        why += prec_why
    if prec == "bf16" and device == "cuda" and not torch.cuda.is_bf16_supported():
        raise TrainingError("run.precision is bf16 but this GPU lacks bf16; use fp16 or auto.")
    if prec == "fp16" and device == "cpu":
        raise TrainingError("run.precision fp16 is not supported on CPU; use bf16, fp32 or auto.")
    return Placement(device, prec, why)


def _choose_device(want: str) -> tuple[str, str]:
    import torch

    if want == "auto":
        if torch.cuda.is_available():
            return "cuda", f"CUDA ({torch.cuda.get_device_name(0)})"
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return "mps", "Apple MPS"
        return "cpu", "no CUDA or MPS device"
    if want == "cuda" and not torch.cuda.is_available():
        raise TrainingError("run.device is cuda but no CUDA device is available; use auto or cpu.")
    if want == "mps" and not torch.backends.mps.is_available():
        raise TrainingError("run.device is mps but Apple MPS is not available; use auto or cpu.")
    return want, "set by run.device"


def _auto_precision(device: str) -> tuple[str, str]:
    import torch

    from tutor.backends.device import CPU_BF16_FLAGS, read_cpu_flags

    if device == "cuda":
        prec = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return prec, f"; {prec}: what the GPU supports"
    if device == "cpu" and any(f in read_cpu_flags() for f in CPU_BF16_FLAGS):
        return "bf16", "; bf16 autocast: the CPU has native bf16"
    return "fp32", "; fp32"
