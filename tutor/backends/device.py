"""Device and dtype choice for torch backends, each returned with the reason it was picked.

auto device: cuda > mps > cpu. auto dtype: bf16 on CUDA with bf16 support, fp16 on mps, bf16 on
CPUs whose flags show native bf16 (avx512_bf16 / amx_bf16: MODELS.md measured the 135M model at
~41 tok/s in bf16 vs ~15.7 in fp32 on such AMD EPYC cores), else fp32. torch is imported inside
the functions so importing this module stays cheap.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from tutor.errors import ConfigError

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

DTYPES = ("float32", "bfloat16", "float16")
CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def _device_error(why: str) -> ConfigError:
    return ConfigError(f"Invalid setting model.device (env SMARTLEARN_MODEL_DEVICE): {why}")


def choose_device(requested: str) -> tuple[str, str]:
    """Return (device, reason). Raises ConfigError naming model.device when it cannot be used."""
    import torch

    req = (requested or "auto").strip().lower()
    if req == "auto":
        if torch.cuda.is_available():
            device, reason = "cuda", f"cuda: {torch.cuda.get_device_name(0)} available"
        elif _mps_available():
            device, reason = "mps", "mps: Apple GPU (Metal) available"
        else:
            device, reason = "cpu", "cpu: no CUDA or MPS device found"
    elif req == "cpu":
        device, reason = "cpu", "cpu: set by model.device"
    elif req == "cuda" or req.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise _device_error(f"{requested!r} was requested but no CUDA device is available; use auto or cpu.")
        index = int(req.split(":", 1)[1]) if ":" in req else 0
        count = torch.cuda.device_count()
        if index >= count:
            raise _device_error(f"{requested!r} was requested but only {count} CUDA device(s) exist.")
        device, reason = req, f"{req}: {torch.cuda.get_device_name(index)}, set by model.device"
    elif req == "mps":
        if not _mps_available():
            raise _device_error("'mps' was requested but Apple's MPS is not available here; use auto or cpu.")
        device, reason = "mps", "mps: set by model.device"
    else:
        raise _device_error(f"{requested!r} is not one of auto, cpu, cuda, cuda:N, mps.")
    logger.info("model device %s (%s)", device, reason)
    return device, reason


def _mps_available() -> bool:
    import torch

    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def read_cpu_flags(cpuinfo_path: str | Path = "/proc/cpuinfo") -> set[str]:
    """CPU feature flags from /proc/cpuinfo (empty on systems without it, e.g. macOS)."""
    try:
        text = Path(cpuinfo_path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return set()
    return parse_cpu_flags(text)


def parse_cpu_flags(cpuinfo_text: str) -> set[str]:
    flags: set[str] = set()
    for line in cpuinfo_text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() in {"flags", "Features"}:
            flags.update(value.split())
    return flags


def choose_dtype(requested: str, device: str, cpu_flags: set[str] | None = None) -> tuple["torch.dtype", str]:
    """Return (torch dtype, reason). `cpu_flags` defaults to the flags in /proc/cpuinfo."""
    import torch

    req = (requested or "auto").strip().lower()
    if req != "auto":
        if req not in DTYPES:
            raise ConfigError(
                f"Invalid setting model.dtype (env SMARTLEARN_MODEL_DTYPE): {requested!r} is not one of "
                "auto, float32, bfloat16, float16."
            )
        dtype, reason = getattr(torch, req), f"{req}: set by model.dtype"
    elif device.startswith("cuda"):
        if torch.cuda.is_bf16_supported():
            dtype, reason = torch.bfloat16, "bfloat16: the CUDA device supports bf16"
        else:
            dtype, reason = torch.float32, "float32: the CUDA device lacks bf16 support"
    elif device == "mps":
        dtype, reason = torch.float16, "float16: usual precision on Apple MPS"
    else:
        flags = read_cpu_flags() if cpu_flags is None else cpu_flags
        native = [f for f in CPU_BF16_FLAGS if f in flags]
        if native:
            dtype, reason = torch.bfloat16, f"bfloat16: the CPU has native bf16 ({', '.join(native)})"
        else:
            dtype, reason = torch.float32, "float32: the CPU has no native bf16 (avx512_bf16/amx_bf16)"
    logger.info("model dtype %s (%s)", dtype, reason)
    return dtype, reason


def dtype_name(dtype: "torch.dtype") -> str:
    """'bfloat16' for torch.bfloat16, etc."""
    return str(dtype).removeprefix("torch.")
