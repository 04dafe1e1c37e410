"""Measure the chat backend on this machine: load time and greedy decode speed per dtype.

    .venv/bin/python scripts/bench_llm.py [--model embedded] [--dtypes float32,bfloat16] [--tokens 64]

Prints one line per dtype (load seconds, prompt/completion tokens, TTFT, tokens/s) and the
answer text, so a precision that breaks the model shows up as garbage next to its speed.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tutor.backends.base import generate  # noqa: E402
from tutor.backends.embedded import resolve_model_dir  # noqa: E402
from tutor.backends.hf import TransformersBackend  # noqa: E402
from tutor.config import load_config  # noqa: E402
from tutor.types import GenerationParams, GenerationRequest, Message  # noqa: E402

QUESTION = "Explain in two sentences what gradient descent does."


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="embedded")
    ap.add_argument("--dtypes", default="float32,bfloat16")
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()

    cfg = load_config()
    cache = cfg.paths.model_cache_dir
    t0 = time.perf_counter()
    resolve_model_dir(args.model, cache)
    print(f"resolve_model_dir({args.model!r}): {time.perf_counter() - t0:.1f} s (conversion happens once)")
    empty_adapters = Path(tempfile.mkdtemp())  # measure the bare model
    for dtype in args.dtypes.split(","):
        mcfg = cfg.model.replace(base_model=args.model, dtype=dtype, threads=args.threads,
                                   adapters_dir=empty_adapters)
        backend = TransformersBackend(mcfg, cache)
        info = backend.load()
        req = GenerationRequest((Message("user", QUESTION),), GenerationParams(max_new_tokens=args.tokens))
        for i in range(args.repeats):  # the first run includes one-off warm-up
            c = generate(backend, req)
            print(f"{info.dtype:9s} load {info.load_s:4.1f} s  run {i}: prompt {c.usage.prompt_tokens} tok, "
                  f"completion {c.usage.completion_tokens} tok, ttft {c.ttft_s:.2f} s, "
                  f"{c.tokens_per_s:5.1f} tok/s ({c.finish_reason})")
        print(f"  answer: {c.text!r}")


if __name__ == "__main__":
    main()
