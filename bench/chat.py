"""Chat benchmark: `python -m bench.chat [--quick]`.

Measures, on the embedded model and the shipped knowledge base:
- cold start of the real app (`python -m app`, set up: model cache and index exist) to a usable UI
  (HTTP 200) and to "ready" (model loaded), and the app's peak RSS after answering questions;
- time to first streamed model token of Tutor.ask for knowledge-base questions (retrieval + key point
  + prompt + prefill), and separately when the first text (the quoted key point) arrives;
- streaming overhead: our backend stream against a plain `model.generate` call on the same loaded
  weights, same prompt and same greedy settings, interleaved in the same run (a ratio, not a clock).
The last stdout line is one JSON object.
"""
from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.common import emit, log, pct, summary_ms

QUESTIONS = [
    "What does the chain rule say?",
    "How does binary search work?",
    "What is a p-value?",
    "What is dropout in neural networks?",
    "What is the difference between a list and a tuple in Python?",
    "How does gradient descent choose the step size?",
    "What is the singular value decomposition?",
    "What does TF-IDF measure?",
    "How does Dijkstra's algorithm find shortest paths?",
    "What is overfitting and how does regularization help?",
]

TARGETS = {"ttft_p50_s": 1.0, "overhead_ratio": 0.10, "cold_start_ui_s": 30.0, "peak_rss_gb": 2.5}


def vm_hwm_gb(pid: int) -> float:
    """Peak resident set size of a process (Linux VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024 / 1024
    return float("nan")


def bench_app(data_dir: Path, questions: list[str]) -> dict:
    from gradio_client import Client

    from bench.live import LiveApp

    app = LiveApp(data_dir)
    try:
        t_ui = app.wait_http(timeout=180)
        st = app.wait_ready(timeout=300)
        t_ready = time.perf_counter() - app.started_at
        client = Client(app.url, verbose=False)
        client_ttft = []
        for q in questions:
            t0 = time.perf_counter()
            first = None
            for out in client.submit(q, "", False, api_name="/ask"):
                if first is None and out.get("text"):
                    first = time.perf_counter() - t0
            client_ttft.append(first or float("nan"))
        rss = vm_hwm_gb(app.proc.pid)
    finally:
        app.stop()
    return {"cold_start_ui_s": round(t_ui, 2), "cold_start_ready_s": round(t_ready, 2), "state": st["state"],
            "peak_rss_gb": round(rss, 3), "client_ttft_s": summary_ms(client_ttft)}


def bench_inprocess(cfg, questions: list[str], repeats: int) -> dict:
    from tutor.service import build_tutor
    from tutor.types import Delta, GenerationParams, GenerationRequest

    tutor = build_tutor(cfg)
    st = tutor.warm_up()
    if not st.ready:
        raise SystemExit(f"tutor not ready: {st.message}")
    info = st.backend

    # Time to first token from the service: ask() -> first text written by the model. The quoted
    # key point (tutor/keypoint.py) arrives earlier; it is reported on its own, not as the TTFT.
    from tutor.keypoint import LABEL

    list(tutor.ask("warm-up: what is a vector?"))
    ttfts, first_texts, decode_tps = [], [], []
    for q in questions:
        t0 = time.perf_counter()
        first = first_text = None
        answer = None
        for ev in tutor.ask(q):
            if isinstance(ev, Delta):
                now = time.perf_counter() - t0
                if first_text is None:
                    first_text = now
                if first is None and not ev.text.startswith(LABEL):
                    first = now
            answer = ev
        ttfts.append(first)
        first_texts.append(first_text)
        if answer.completion and answer.completion.tokens_per_s:
            decode_tps.append(answer.completion.tokens_per_s)
        log(f"model ttft {first:.3f}s, first text {first_text:.3f}s  {q}")

    # Overhead: the same prompt through our stream and through a plain generate, interleaved.
    backend = tutor.backend
    state = backend._ensure_loaded()  # the loaded model and tokenizer (bench-only access)
    hits = tutor.retrieve(questions[0]).hits
    from tutor import prompting

    messages = prompting.build_messages(questions[0], (), hits, grounded=True, socratic=False,
                                        count_tokens=backend.count_tokens, budget_tokens=1800)
    n_new = 96
    params = GenerationParams(max_new_tokens=n_new, temperature=0.0, repetition_penalty=1.0)
    request = GenerationRequest(messages, params)
    tok, model = state.tokenizer, state.model
    prompt = tok.apply_chat_template([{"role": m.role, "content": m.content} for m in messages],
                                     add_generation_prompt=True, tokenize=False)
    enc = tok(prompt, add_special_tokens=False, return_tensors="pt")
    import torch

    import contextlib

    def plain() -> tuple[float, int]:
        # the request names no adapter, so our backend runs the base weights: so must the plain generate
        # (with adapters in adapters/ the model is a PeftModel whose active adapter would otherwise apply)
        base_only = model.disable_adapter() if hasattr(model, "disable_adapter") else contextlib.nullcontext()
        t0 = time.perf_counter()
        with torch.inference_mode(), base_only:
            out = model.generate(**enc, max_new_tokens=n_new, do_sample=False, repetition_penalty=1.0,
                                 eos_token_id=list(state.eos_ids), pad_token_id=state.pad_id)
        return time.perf_counter() - t0, int(out.shape[1] - enc["input_ids"].shape[1])

    def ours() -> tuple[float, int]:
        t0 = time.perf_counter()
        comp = None
        for item in backend.stream(request):
            comp = item
        return time.perf_counter() - t0, comp.usage.completion_tokens

    plain(), ours()  # warm both paths
    rows = []
    for i in range(repeats):
        a = plain() if i % 2 == 0 else ours()
        b = ours() if i % 2 == 0 else plain()
        p, o = (a, b) if i % 2 == 0 else (b, a)
        rows.append({"plain_s": p[0], "plain_tokens": p[1], "ours_s": o[0], "ours_tokens": o[1]})
        log(f"overhead run {i}: plain {p[0]:.2f}s/{p[1]} tok, ours {o[0]:.2f}s/{o[1]} tok")
    per_tok_plain = [r["plain_s"] / r["plain_tokens"] for r in rows]
    per_tok_ours = [r["ours_s"] / r["ours_tokens"] for r in rows]
    ratio = statistics.median(o / p for o, p in zip(per_tok_ours, per_tok_plain)) - 1
    return {
        "backend": dataclasses.asdict(info) if info else None,
        "ttft_s": {"n": len(ttfts), "p50": round(pct(ttfts, 50), 3), "p95": round(pct(ttfts, 95), 3),
                   "max": round(max(ttfts), 3)},
        "first_text_s": {"p50": round(pct(first_texts, 50), 3), "p95": round(pct(first_texts, 95), 3),
                         "what": "ask() -> first Delta, the quoted key point when there is one"},
        "decode_tokens_per_s_p50": round(pct(decode_tps, 50), 1) if decode_tps else None,
        "chat_adapter": tutor.chat_adapter(),  # used by the grounded answers timed above
        "overhead": {
            "prompt_tokens": int(enc["input_ids"].shape[1]), "new_tokens": n_new, "runs": len(rows),
            "plain_tokens_per_s_p50": round(1 / statistics.median(per_tok_plain), 1),
            "ours_tokens_per_s_p50": round(1 / statistics.median(per_tok_ours), 1),
            "same_token_count": all(r["plain_tokens"] == r["ours_tokens"] for r in rows),
            "ratio_median": round(ratio, 4),
        },
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.chat")
    ap.add_argument("--quick", action="store_true", help="fewer questions and repeats")
    args = ap.parse_args(argv)
    questions = QUESTIONS[:4] if args.quick else QUESTIONS
    repeats = 4 if args.quick else 8

    from tutor.config import PathsConfig, load_config

    with tempfile.TemporaryDirectory(prefix="smartlearn-bench-chat-") as tmp:
        data = Path(tmp)
        cfg = load_config(env={})
        cfg = cfg.replace(paths=PathsConfig(knowledge_base_dir=cfg.paths.knowledge_base_dir,
                                                         data_dir=data))
        log("setting up (index + model cache) ...")
        t0 = time.perf_counter()
        from tutor.service import build_tutor

        first = build_tutor(cfg).warm_up()
        setup_s = time.perf_counter() - t0
        log(f"first start (index + GGUF conversion): {setup_s:.1f}s — {first.message}")
        del first
        log("cold start of the app ...")
        app = bench_app(data, questions[:3])
        log(f"app: {app}")
        log("in-process ttft and overhead ...")
        inproc = bench_inprocess(cfg, questions, repeats)

    result = {
        "first_start_setup_s": round(setup_s, 1),
        "app": app,
        **inproc,
        "targets": TARGETS,
        "pass": {
            "ttft_p50": inproc["ttft_s"]["p50"] <= TARGETS["ttft_p50_s"],
            "overhead": inproc["overhead"]["ratio_median"] <= TARGETS["overhead_ratio"],
            "cold_start_ui": app["cold_start_ui_s"] <= TARGETS["cold_start_ui_s"],
            "peak_rss": app["peak_rss_gb"] <= TARGETS["peak_rss_gb"],
        },
    }
    emit("chat", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
