"""Serving benchmark: `python -m bench.serving [--quick]`.

Measures, in one run on the embedded GGUF and the shipped knowledge base (all compared in the same run,
so the machine's load is shared by every number):
- single-stream decode speed of our llama.cpp backend against xllamacpp called directly (same GGUF, same
  threads, same request body, interleaved), against the transformers backend, and of the
  OpenAI-compatible backend against a llama.cpp HTTP server on loopback;
- Tutor.ask on knowledge-base questions: time to the first model-written token and to the whole answer,
  one at a time, then 4 and 8 learners at once (threads on the same Tutor, as the app's request threads);
- crosstalk: grounded prompts each under three adapters (base, tutor, interview) sent all at once; count of
  answers that differ from the same request sent alone (greedy, so any difference is interference);
- the resident memory the LLM adds to the process, and the CPU flags and load average.
The machine is shared: read the numbers with `load_avg`. The last stdout line is one JSON object.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

from bench.chat import QUESTIONS
from bench.common import emit, log, pct

TARGETS = {"decode_ratio_vs_llamacpp": 0.9, "decode_ratio_vs_transformers": 3.0, "first_token_p50_s": 1.0,
           "answer_p50_s": 5.0, "concurrent_4_answer_p95_s": 12.0, "crosstalk": 0, "llm_rss_gb": 0.5}


def cpu_info() -> dict:
    try:
        from bench.cpu import cpu_flags  # the shared helper (model, vendor, SIMD flags)

        return cpu_flags()
    except ImportError:  # an older checkout without bench/cpu.py
        from tutor.backends.device import read_cpu_flags

        have = read_cpu_flags()
        return {f: f in have for f in ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16")}


def rss_gb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**30


def _rate(ttft: float, total: float, tokens: int) -> float:
    """Decode tokens/s after the first token (prefill excluded), as Completion.tokens_per_s."""
    return (tokens - 1) / (total - ttft) if tokens > 1 and total > ttft else float("nan")


def direct_run(server: Any, body: dict) -> float:
    """One request straight into xllamacpp (no SmartLearn code in the path); its decode tokens/s."""
    first: list[float] = []
    usage: dict = {}

    def on_chunk(chunk: Any) -> bool:
        if isinstance(chunk, dict):
            usage.update(chunk.get("usage") or {})
            if not first and any((c.get("delta") or {}).get("content") for c in chunk.get("choices") or ()):
                first.append(time.perf_counter())
        return False

    t0 = time.perf_counter()
    server.handle_chat_completions(body, on_chunk)
    t_end = time.perf_counter()
    return _rate(first[0] - t0, t_end - t0, int(usage.get("completion_tokens", 0))) if first else float("nan")


def backend_run(backend: Any, request: Any) -> float:
    from tutor.backends import generate

    return generate(backend, request).tokens_per_s


def interleaved(runs: dict[str, Callable[[], float]], repeats: int) -> dict[str, float]:
    """Median tokens/s of each runner, alternating their order every round so drift in the machine's
    load hits all of them alike."""
    names = list(runs)
    rates: dict[str, list[float]] = {n: [] for n in names}
    for n in names:  # warm every path (prompt cache, first allocations)
        runs[n]()
    for i in range(repeats):
        order = names if i % 2 == 0 else names[::-1]
        for n in order:
            rates[n].append(runs[n]())
        log(f"decode round {i}: " + ", ".join(f"{n} {rates[n][-1]:.1f} tok/s" for n in names))
    return {n: round(pct(v, 50), 2) for n, v in rates.items()}


def grounded_request(tutor: Any, question: str, *, adapter: str | None, max_new: int, penalty: float = 1.0) -> Any:
    """The request Tutor.ask would send for `question` (same prompt), with fixed sampling settings."""
    from tutor import prompting
    from tutor.types import GenerationParams, GenerationRequest

    hits = tutor.retrieve(question).hits
    messages = prompting.build_messages(question, (), hits, grounded=True, socratic=False,
                                        count_tokens=tutor.backend.count_tokens, budget_tokens=1700)
    return GenerationRequest(messages, GenerationParams(max_new_tokens=max_new, temperature=0.0,
                                                        repetition_penalty=penalty), adapter=adapter)


def ask_timed(tutor: Any, question: str, start: float | None = None) -> dict:
    """One Tutor.ask: seconds to the first model-written token (after the quoted key point), to the first
    text of any kind, and to the final Answer; `start` = a shared start time for concurrent waves. `place`:
    the learner's first place in the tutor's line (tutor/serving), None when the model took it at once."""
    from tutor.keypoint import LABEL
    from tutor.types import Answer, Delta, QueuePosition

    t0 = time.perf_counter() if start is None else start
    first_text = first_model = place = None
    tokens = 0
    for ev in tutor.ask(question, user="bench"):
        now = time.perf_counter() - t0
        if isinstance(ev, QueuePosition):
            place = ev.position if place is None else place
        elif isinstance(ev, Delta):
            first_text = now if first_text is None else first_text
            if first_model is None and not ev.text.startswith(LABEL):
                first_model = now
        elif isinstance(ev, Answer) and ev.completion:
            tokens = ev.completion.usage.completion_tokens
            if first_model is None:
                # Nothing the model wrote was shown (the repetition guard dropped a copy of the quoted extract):
                # its first token came (latency - ttft) before the end of the stream.
                c = ev.completion
                first_model = now - max(0.0, c.latency_s - c.ttft_s) if tokens else None
    return {"first_token_s": first_model, "first_text_s": first_text, "answer_s": time.perf_counter() - t0,
            "tokens": tokens, "place": place}


def bench_single(tutor: Any, questions: list[str]) -> dict:
    ask_timed(tutor, "warm-up: what is a vector?")
    rows = []
    for q in questions:
        rows.append(ask_timed(tutor, q))
        r = rows[-1]
        first = "none" if r["first_token_s"] is None else f"{r['first_token_s']:.2f}s"
        log(f"single: first token {first}, answer {r['answer_s']:.2f}s  {q}")
    return _summary(rows)


def bench_concurrent(tutor: Any, questions: list[str], n: int) -> dict:
    """n learners ask at the same moment (a barrier), each its own question; times from the shared start."""
    barrier = threading.Barrier(n)

    def one(i: int) -> dict:
        barrier.wait()
        return ask_timed(tutor, questions[i % len(questions)], start=time.perf_counter())

    t0 = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(n) as pool:
        rows = list(pool.map(one, range(n)))
    wall = time.perf_counter() - t0
    out = _summary(rows)
    out["wall_s"] = round(wall, 2)
    out["total_tokens_per_s"] = round(sum(r["tokens"] for r in rows) / wall, 1)
    out["queued"] = sum(r["place"] is not None for r in rows)  # waited in the tutor's FIFO line for a slot
    log(f"concurrent {n}: {out}")
    return out


def _summary(rows: list[dict]) -> dict:
    def col(key: str) -> list[float]:
        return [r[key] for r in rows if r[key] is not None]

    return {"n": len(rows),
            "first_token_p50_s": round(pct(col("first_token_s"), 50), 3),
            "first_token_p95_s": round(pct(col("first_token_s"), 95), 3),
            "first_text_p50_s": round(pct(col("first_text_s"), 50), 3),
            "answer_p50_s": round(pct(col("answer_s"), 50), 3), "answer_p95_s": round(pct(col("answer_s"), 95), 3),
            "tokens_p50": round(pct(col("tokens"), 50), 1)}


XT_MARGIN = 20  # characters of another adapter's answer, past where it parts from this one's, that count as crosstalk


def _common_prefix(a: str, b: str) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


def bench_crosstalk(backend: Any, requests: list, waves: int) -> dict:
    """Each request alone, then all at once (`waves` times). `requests` holds each prompt under several adapters.

    Exact equality with the solo run is not a crosstalk test on llama.cpp: batching changes the order of
    float sums, so greedy text drifts apart after a while even when every request uses the SAME adapter
    (measured here: 8 of 12 base-model answers differed, at character 15-140). Crosstalk, an adapter
    applied to the wrong request, shows as an answer closer to the SAME PROMPT's solo answer under another
    adapter than to its own (longer common prefix), and follows that answer at least XT_MARGIN characters past
    the point where the two solo answers part: the base model's and the interview adapter's solo answers can
    open with the same 25 characters, and a drifted answer then matched the rival's a few characters longer
    by chance (1 of 18 with the Q8_0 copy, every other character different). An adapter applied to the wrong
    request follows the rival's answer for its whole length. Both counts are reported."""
    from tutor.backends import generate

    alone = [generate(backend, r).text for r in requests]
    differ = crosstalk = 0
    for _ in range(waves):
        with concurrent.futures.ThreadPoolExecutor(len(requests)) as pool:
            together = list(pool.map(lambda r: generate(backend, r).text, requests))
        for i, (req, text) in enumerate(zip(requests, together)):
            differ += text != alone[i]
            own = _common_prefix(text, alone[i])
            rivals = [(_common_prefix(text, alone[j]), _common_prefix(alone[i], alone[j]))
                      for j, other in enumerate(requests)
                      if other.messages == req.messages and other.adapter != req.adapter]
            crosstalk += any(r > own and r - parted >= XT_MARGIN for r, parted in rivals)
    adapters = sorted({str(r.adapter) for r in requests})
    log(f"crosstalk: {crosstalk} of {len(requests) * waves} closer to another adapter's answer; {differ} differ "
        f"from their solo run at all (adapters {adapters})")
    return {"crosstalk": crosstalk, "differ": differ, "requests": len(requests) * waves, "adapters": adapters,
            "distinct_solo_answers": len(set(alone))}


def _configure(data_dir: Path) -> Any:
    from tutor.backends.llamacpp import free_cores
    from tutor.config import load_config

    cfg = load_config(env={})
    threads = free_cores()[0]  # fixed for every llama.cpp path in this run, so the ratios compare like with like
    return cfg.replace(model=cfg.model.replace(backend="llamacpp", threads=threads),
                       paths=cfg.paths.replace(data_dir=data_dir))


def bench_decode(cfg: Any, ours: Any, tutor: Any, n_new: int, repeats: int) -> dict:
    """Our llama.cpp backend vs xllamacpp directly vs the OpenAI-compatible backend over loopback HTTP."""
    from tutor.backends.llamacpp import LlamaCppBackend, free_cores
    from tutor.backends.llamacpp_http import start_http_server
    from tutor.backends.openai_compat import OpenAICompatBackend
    from tutor.config import OpenAIConfig

    state = ours._ensure_loaded()  # bench-only access: the same model file and adapters
    request = grounded_request(tutor, QUESTIONS[0], adapter=None, max_new=n_new)
    body = LlamaCppBackend.request_body(state.adapters, request)
    adapters = [cfg.model.adapters_dir / name / "adapter.gguf" for name in state.adapters]
    threads = cfg.model.threads
    poll = 0 if threads < free_cores(0.0)[1] else None  # as our backend sets it
    plain = start_http_server(state.model_path, adapters, slots=ours.slots, slot_tokens=ours.slot_tokens,
                              threads=threads, poll=poll)
    remote = OpenAICompatBackend(OpenAIConfig(base_url=plain.url, adapter_mode="lora", timeout_s=300))
    try:
        rates = interleaved({"ours": lambda: backend_run(ours, request),
                             "xllamacpp": lambda: direct_run(plain.server, dict(body)),
                             "openai_http": lambda: backend_run(remote, request)}, repeats)
    finally:
        remote.close()
        plain.close()
    rates["prompt_tokens"] = ours.count_tokens("".join(m.content for m in request.messages))
    return rates


def bench_transformers(cfg: Any, tutor: Any, n_new: int, repeats: int) -> dict:
    from tutor.backends.hf import TransformersBackend

    request = grounded_request(tutor, QUESTIONS[0], adapter=None, max_new=n_new)
    hf = TransformersBackend(cfg.model.replace(backend="transformers", threads=0), cfg.paths.model_cache_dir)
    t0 = time.perf_counter()
    info = hf.load()
    log(f"transformers loaded in {time.perf_counter() - t0:.1f}s ({info.dtype}, {info.detail})")
    backend_run(hf, request)
    rates = [backend_run(hf, request) for _ in range(repeats)]
    log(f"transformers decode: {rates}")
    return {"tokens_per_s": round(pct(rates, 50), 2), "dtype": info.dtype}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.serving")
    ap.add_argument("--quick", action="store_true", help="fewer questions, repeats and tokens (a few minutes)")
    ap.add_argument("--data-dir", type=Path, default=Path("data/bench-serving"),
                    help="index and model cache, kept between runs")
    args = ap.parse_args(argv)
    q = dict(single=3, n_new=64, repeats=2, waves=1, xt_new=40) if args.quick else \
        dict(single=8, n_new=128, repeats=4, waves=2, xt_new=64)
    load_start = os.getloadavg()
    cfg = _configure(args.data_dir)
    from tutor.backends import make_backend
    from tutor.service import build_tutor

    from tutor.backends import generate
    from tutor.types import GenerationParams, GenerationRequest, Message

    rss0 = rss_gb()  # before the model (and before the embedder, which warm_up loads below)
    ours = make_backend(cfg)
    generate(ours, GenerationRequest((Message("user", "What is a vector?"),), GenerationParams(max_new_tokens=32),
                                     adapter="tutor"))
    llm_rss = rss_gb() - rss0  # weights, every slot's KV cache, the adapters, xllamacpp itself
    log(f"llama.cpp backend: +{llm_rss:.3f} GB RSS, {cfg.model.threads} threads; indexing the knowledge base ...")
    tutor = build_tutor(cfg, backend=ours)
    status = tutor.warm_up()
    if not status.ready:
        raise SystemExit(f"tutor not ready: {status.message}")
    decode = bench_decode(cfg, ours, tutor, q["n_new"], q["repeats"])
    single = bench_single(tutor, QUESTIONS[:q["single"]])
    conc4 = bench_concurrent(tutor, QUESTIONS, 4)
    conc8 = bench_concurrent(tutor, QUESTIONS, 8)
    mixed = [grounded_request(tutor, question, adapter=a, max_new=q["xt_new"], penalty=1.15)
             for question in QUESTIONS[:2] for a in (None, "tutor", "interview")]  # each prompt under 3 adapters
    crosstalk = bench_crosstalk(ours, mixed, q["waves"])
    hf = bench_transformers(cfg, tutor, q["n_new"], q["repeats"])
    result = {
        "quick": args.quick, "threads": cfg.model.threads, "slots": cfg.model.slots,
        "decode_tokens_per_s": {**decode, "transformers": hf["tokens_per_s"], "transformers_dtype": hf["dtype"]},
        "decode_ratio_vs_llamacpp": round(decode["ours"] / decode["xllamacpp"], 3),
        "decode_ratio_openai_http_vs_llamacpp": round(decode["openai_http"] / decode["xllamacpp"], 3),
        "decode_ratio_vs_transformers": round(decode["ours"] / hf["tokens_per_s"], 2),
        "single": single, "concurrent_4": conc4, "concurrent_8": conc8,
        "crosstalk": crosstalk["crosstalk"], "crosstalk_detail": crosstalk,
        "llm_rss_gb": round(llm_rss, 3), "process_rss_gb": round(rss_gb(), 3),
        "cpu_flags": cpu_info(), "load_avg": {"start": load_start, "end": os.getloadavg()},
        "targets": TARGETS,
    }
    result["pass"] = {
        "decode_vs_llamacpp": result["decode_ratio_vs_llamacpp"] >= TARGETS["decode_ratio_vs_llamacpp"],
        "decode_vs_transformers": result["decode_ratio_vs_transformers"] >= TARGETS["decode_ratio_vs_transformers"],
        "first_token_p50": single["first_token_p50_s"] <= TARGETS["first_token_p50_s"],
        "answer_p50": single["answer_p50_s"] <= TARGETS["answer_p50_s"],
        "concurrent_4_p95": conc4["answer_p95_s"] <= TARGETS["concurrent_4_answer_p95_s"],
        "crosstalk": crosstalk["crosstalk"] == 0, "llm_rss": result["llm_rss_gb"] <= TARGETS["llm_rss_gb"]}
    emit("serving", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
