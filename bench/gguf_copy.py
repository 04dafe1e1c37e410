"""The chat model's Q8_0 CPU copy against the GGUF it came from: `python -m bench.gguf_copy [--quick]`.

Two questions, both answered in one run on this machine: is the copy the same model (perplexity on the
course documents, each file's weights dequantized into transformers fp32, so only the weights differ),
and is it faster (llama.cpp prompt processing and decoding, both files loaded and asked in turn with the
tutor adapter on, as the app runs them). Last stdout line: one JSON object.
"""
from __future__ import annotations

import argparse
import math
import os
import tempfile
from pathlib import Path

from bench.common import emit, log
from bench.threads import _server, course_text, rates_in_turn, tutor_adapter


def perplexity(path: Path, text: str, windows: int, width: int = 512) -> float:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    with tempfile.TemporaryDirectory() as d:
        os.symlink(path, Path(d) / "m.gguf")  # transformers reads a GGUF from a folder + file name
        tok = AutoTokenizer.from_pretrained(d, gguf_file="m.gguf")
        model = AutoModelForCausalLM.from_pretrained(d, gguf_file="m.gguf", dtype=torch.float32).eval()
    ids = tok(text, return_tensors="pt").input_ids[0]
    nll, n = 0.0, 0
    with torch.no_grad():
        for i in range(0, min(len(ids) - width, windows * width), width):
            x = ids[i:i + width][None]
            nll += model(x, labels=x).loss.item() * (width - 1)
            n += width - 1
    return math.exp(nll / max(1, n))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer windows and prompts (about 2 minutes)")
    args = ap.parse_args()
    from tutor.backends.gguf_cpu_copy import cpu_copy
    from tutor.backends.llamacpp import free_cores, resolve_gguf
    from tutor.config import load_config

    cfg = load_config(env={})
    source = resolve_gguf(cfg.model.base_model)
    copy = cpu_copy(source, cfg.model.cpu_copy_dir)
    text = course_text(cfg)
    windows = 10 if args.quick else 40
    ppl = {}
    for name, p in (("source", source), ("copy", copy)):
        ppl[name] = round(perplexity(p, text, windows), 3)
        log(f"{name} {p.name}: perplexity {ppl[name]} over {windows} windows of 512 tokens")
    adapter = tutor_adapter(cfg)
    threads = free_cores()[0]
    servers = {"source": _server(source, adapter, threads, threads), "copy": _server(copy, adapter, threads, threads)}
    rates = rates_in_turn(servers, text.split(), 6 if args.quick else 14, max_tokens=48, lora=adapter is not None)
    for name, r in rates.items():
        log(f"{name}: prompts {r['prompt_tokens_per_s']} tok/s, decoding {r['decode_tokens_per_s']} tok/s")
    emit("gguf_copy", {
        "source": source.name, "copy": copy.name, "same_file": copy == source, "threads": threads,
        "perplexity": ppl, "perplexity_ratio": round(ppl["copy"] / ppl["source"], 4),
        "speed": rates,
        "prompt_speedup": round(rates["copy"]["prompt_tokens_per_s"] / rates["source"]["prompt_tokens_per_s"], 3),
        "decode_ratio": round(rates["copy"]["decode_tokens_per_s"] / rates["source"]["decode_tokens_per_s"], 3),
    })


if __name__ == "__main__":
    main()
