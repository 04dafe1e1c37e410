"""Thread counts for llama.cpp on this machine: `python -m bench.threads [--quick]`.

llama.cpp processes a prompt (or several slots at once) with `cpuparams_batch` threads and decodes one
request token by token with `cpuparams` threads. Which count is fastest depends on the machine, not
only on its cores: on a 2-core KVM Xeon two threads processed prompts 1.6x faster than one, yet decoded
one request ~1.8x SLOWER (each token waits at a thread barrier ~450 times, and a virtual CPU wakes
slowly), while on a 2-core AMD EPYC two threads also decoded faster (MODELS.md). This bench serves the
model the app serves (the embedded GGUF's CPU copy, the tutor adapter on), once per setting, all loaded
together and asked in turn (so load drifts hit every setting alike), and prints prompt and decode
tokens/s per setting and the `model.decode_threads` it suggests. Last stdout line: one JSON object.
"""
from __future__ import annotations

import argparse
import glob
import random
from pathlib import Path

from bench.common import emit, log, pct


def _server(model: Path, adapter: Path | None, decode: int, batch: int):
    import xllamacpp

    p = xllamacpp.CommonParams()
    p.model.path = str(model)
    p.n_parallel = 1
    p.n_ctx = 2048
    p.cpuparams.n_threads = decode
    p.cpuparams_batch.n_threads = batch
    p.verbosity = 0
    p.cache_prompt = False
    if adapter is not None:
        p.lora_adapters = [xllamacpp.CommonAdapterLoraInfo(str(adapter), 0.0)]
        p.lora_init_without_apply = True
    return xllamacpp.Server(p)


def course_text(cfg) -> str:
    """The knowledge base's markdown documents in file order, a blank line between them."""
    files = sorted(glob.glob(str(cfg.paths.knowledge_base_dir / "**" / "*.md"), recursive=True))
    return "\n\n".join(Path(f).read_text(encoding="utf-8") for f in files)


def tutor_adapter(cfg) -> Path | None:
    """The tutor adapter's GGUF, as the app applies it to a chat answer, when it is there."""
    path = cfg.model.adapters_dir / "tutor" / "adapter.gguf"
    return path if path.is_file() else None


def rates_in_turn(servers: dict, words: list[str], rounds: int, max_tokens: int, lora: bool) -> dict:
    """{key: prompt and decode tokens/s, medians} for servers asked the same prompts in turn, the order
    reversed every round so load drifts hit each alike; the first round only warms them up."""
    seen: dict = {key: ([], []) for key in servers}
    for i in range(rounds):
        k = random.Random(i).randrange(0, max(1, len(words) - 200))
        body = {"messages": [{"role": "user", "content": "Explain this: " + " ".join(words[k:k + 170])}],
                "max_tokens": max_tokens, "temperature": 0, "cache_prompt": False, "ignore_eos": True}
        if lora:
            body["lora"] = [{"id": 0, "scale": 1.0}]
        for key in (list(servers) if i % 2 else list(servers)[::-1]):
            t = servers[key].handle_chat_completions(dict(body))["timings"]
            if i:
                seen[key][0].append(t["prompt_per_second"])
                seen[key][1].append(t["predicted_per_second"])
    return {key: {"prompt_tokens_per_s": round(pct(v[0], 50), 1), "decode_tokens_per_s": round(pct(v[1], 50), 1)}
            for key, v in seen.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer prompts (about a minute)")
    args = ap.parse_args()
    from tutor.backends.llamacpp import free_cores, resolve_gguf, served_gguf
    from tutor.config import load_config

    cfg = load_config(env={})
    model = served_gguf(cfg.model, resolve_gguf(cfg.model.base_model))
    adapter = tutor_adapter(cfg)
    threads, cores = free_cores()
    settings = sorted({(threads, threads), (1, threads), (1, 1)}, reverse=True)  # (decode, batch)
    log(f"model {model.name}, {threads} free of {cores} cores; settings (decode, prompt threads): {settings}")
    servers = {s: _server(model, adapter, *s) for s in settings}
    rounds = 6 if args.quick else 14
    rates = rates_in_turn(servers, course_text(cfg).split(), rounds, max_tokens=80, lora=adapter is not None)
    rows = {f"decode{d}_prompt{b}": rates[(d, b)] for d, b in settings}
    for name, r in rows.items():
        log(f"{name}: prompts {r['prompt_tokens_per_s']} tok/s, decoding {r['decode_tokens_per_s']} tok/s")
    best_decode = max((d for d, _ in settings), key=lambda d: rates[(d, threads)]["decode_tokens_per_s"])
    emit("threads", {"model": model.name, "free_threads": threads, "cores": cores, "rounds": rounds - 1,
                     "settings": rows, "suggested_decode_threads": 0 if best_decode == threads else best_decode})


if __name__ == "__main__":
    main()
