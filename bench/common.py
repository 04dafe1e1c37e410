"""Shared helpers for the bench scripts: timing, percentiles, the JSON result line."""
from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def pct(values: list[float], q: float) -> float:
    """q-th percentile (0-100), numpy's default linear method (the one tutor/metrics/stats.py uses);
    nan for no values, so a bench with an empty series still prints its JSON line."""
    import numpy as np

    return float(np.percentile(values, q)) if len(values) else float("nan")


def summary_ms(seconds: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in seconds]
    return {"n": len(ms), "p50_ms": round(pct(ms, 50), 2), "p95_ms": round(pct(ms, 95), 2),
            "mean_ms": round(statistics.fmean(ms), 2)}


def machine() -> dict[str, Any]:
    """Where a figure came from; the CPU flags because speed and numerics (bf16, int8) depend on them."""
    from bench.cpu import cpu_flags

    return {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform(),
            "cpu": cpu_flags()}


def emit(name: str, result: dict[str, Any]) -> None:
    """The last line of every bench script: one JSON object."""
    result = {"bench": name, "machine": machine(), "unix_time": int(time.time()), **result}
    sys.stdout.flush()
    print(json.dumps(result, sort_keys=False))


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)
