"""The CPU a bench ran on, for its JSON line: model name, vendor and the feature flags that change
speed or numerics of the embedded models.

Why each flag matters here: avx2 / avx512f pick the SIMD kernels of CTranslate2 (faster-whisper) and
torch; avx512_vnni / amx_int8 the int8 GEMM kernels of faster-whisper's int8 compute type;
avx512_bf16 / amx_bf16 make the app choose bf16 for the chat model and bulk embeddings
(tutor/backends/device.py); the vendor decides CTranslate2's GEMM library (Intel MKL on GenuineIntel,
oneDNN elsewhere, CT2_USE_MKL overrides). Figures measured on one set of flags can differ on another.
"""
from __future__ import annotations

import platform
from pathlib import Path

from tutor.backends.device import parse_cpu_flags

FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_int8", "amx_bf16")


def cpu_flags(cpuinfo_path: str | Path = "/proc/cpuinfo") -> dict[str, str | bool]:
    """{"model": ..., "vendor": ..., "avx2": bool, ...} for FLAGS; model and vendor fall back to
    platform.processor() and "" where /proc/cpuinfo is missing (macOS), with every flag False."""
    try:
        text = Path(cpuinfo_path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip(), value.strip())
    present = parse_cpu_flags(text)
    return {"model": fields.get("model name") or platform.processor() or platform.machine(),
            "vendor": fields.get("vendor_id", ""), **{f: f in present for f in FLAGS}}


def describe(flags: dict[str, str | bool]) -> str:
    """One line for logs and the README: the model and the flags it has."""
    have = [f for f in FLAGS if flags.get(f)]
    return f"{flags['model']} ({', '.join(have) or 'none of ' + '/'.join(FLAGS)})"


if __name__ == "__main__":
    print(describe(cpu_flags()))
