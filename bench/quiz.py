"""Quiz benchmark: `python -m bench.quiz [--quick]`, on the embedded model and the shipped knowledge base.

- Latency of a 5-question multiple-choice quiz (items stream as they pass their checks): time to the
  first item and to all five, per subject. Side by side, in the same run: the same model calls as a
  plain unconstrained `model.generate` of exactly the same number of tokens (no schema, no checks,
  no retrieval), so the ratio shows what the constrained, grounded pipeline costs.
- Quality over 100 generated items across 5 subjects (20 each): every delivered item re-checked
  independently against its chunk as read back from the index (pass rate), cites an indexed chunk
  (citation rate); plus how many built items were dropped and how often the model's own phrasing
  passed (the rest fell back to cloze questions built from the chunk).
The last stdout line is one JSON object.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.common import emit, log, pct

SUBJECTS = ["Python", "Statistics", "Machine Learning", "Deep Learning", "Data Structures and Algorithms"]
TARGETS = {"first_item_s": 3.0, "five_items_s": 10.0, "pass_rate": 0.95, "citation_rate": 1.0}


class Recording:
    """Wraps a backend and keeps (request, completion) of every call, to replay them plainly."""

    def __init__(self, backend) -> None:
        self.backend = backend
        self.calls: list = []

    def __getattr__(self, name):
        return getattr(self.backend, name)

    def stream(self, request):
        from tutor.types import Completion

        for item in self.backend.stream(request):
            if isinstance(item, Completion):
                self.calls.append((request, item))
            yield item


def plain_generate_s(backend, request, n_tokens: int) -> float:
    """Seconds for a plain greedy model.generate of exactly n_tokens on the same prompt."""
    import torch

    state = backend._ensure_loaded()  # bench-only access to the loaded model
    tok = state.tokenizer
    prompt = tok.apply_chat_template([{"role": m.role, "content": m.content} for m in request.messages],
                                     add_generation_prompt=True, tokenize=False)
    enc = tok(prompt, add_special_tokens=False, return_tensors="pt").to(state.device)
    n = max(1, n_tokens)
    t0 = time.perf_counter()
    with torch.inference_mode():
        state.model.generate(**enc, max_new_tokens=n, min_new_tokens=n, do_sample=False,
                             pad_token_id=state.pad_id)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.quiz")
    ap.add_argument("--quick", action="store_true", help="2 latency quizzes and 25 quality items")
    args = ap.parse_args(argv)
    per_subject = 5 if args.quick else 20
    latency_subjects = SUBJECTS[:2] if args.quick else SUBJECTS[:3]

    from tutor.config import PathsConfig, load_config
    from tutor.features import quiz_checks as checks
    from tutor.features.quiz import ItemReady, QuizFinished, QuizMaker, QuizRequest
    from tutor.learners import LearnerStore
    from tutor.service import build_tutor

    with tempfile.TemporaryDirectory(prefix="smartlearn-bench-quiz-") as tmp:
        cfg = load_config(env={})
        cfg = cfg.replace(paths=PathsConfig(knowledge_base_dir=cfg.paths.knowledge_base_dir,
                                                         data_dir=Path(tmp)))
        log("setting up (index + model) ...")
        tutor = build_tutor(cfg)
        st = tutor.warm_up()
        log(st.message)
        real_backend = tutor.backend
        rec = Recording(real_backend)
        tutor.backend = rec
        store = LearnerStore(cfg.paths.db_path)
        maker = QuizMaker(backend=rec, course=tutor, retriever=tutor.retriever, chunks=tutor.retriever.store,
                          learners=store, cfg=cfg)
        chunks, _ = tutor.retriever.store.all_chunks(with_embeddings=False)
        chunk_text = {c.id: c.text for c in chunks}

        # warm-up quiz (first constrained call builds llguidance's tokenizer view, ~0.5 s, once per process)
        list(maker.generate(QuizRequest("warm", "NLP", count=1, difficulty="beginner")))

        lat = []
        for i, subject in enumerate(latency_subjects):
            rec.calls.clear()
            t0 = time.perf_counter()
            first = None
            n = 0
            for ev in maker.generate(QuizRequest(f"lat{i}", subject, count=5, kind="mcq", difficulty="beginner")):
                if isinstance(ev, ItemReady):
                    n += 1
                    first = first if first is not None else time.perf_counter() - t0
            total = time.perf_counter() - t0
            calls = list(rec.calls)
            plain = [plain_generate_s(real_backend, r, c.usage.completion_tokens) for r, c in calls]
            first_plain = plain[0] if plain else 0.0
            lat.append({"subject": subject, "items": n, "first_item_s": round(first or float("nan"), 2),
                        "all_items_s": round(total, 2), "model_calls": len(calls),
                        "tokens": sum(c.usage.completion_tokens for _, c in calls),
                        "plain_first_call_s": round(first_plain, 2), "plain_same_tokens_s": round(sum(plain), 2)})
            log(f"latency {lat[-1]}")

        log(f"quality: {per_subject} items x {len(SUBJECTS)} subjects ...")
        delivered, passed, cited, attempted, model_calls, model_passed = 0, 0, 0, 0, 0, 0
        by_kind: dict[str, int] = {}
        dropped: dict[str, int] = {}
        for subject in SUBJECTS:
            got = 0
            for kind in ("mcq", "true_false", "short_answer"):
                if got >= per_subject:
                    break
                want = per_subject - got if kind == "short_answer" else -(-per_subject // 3)
                for ev in maker.generate(QuizRequest(f"q-{subject}", subject, count=want, kind=kind,
                                                     difficulty="beginner" if kind == "mcq" else "intermediate")):
                    if isinstance(ev, ItemReady):
                        it = ev.item
                        got += 1
                        delivered += 1
                        by_kind[kind] = by_kind.get(kind, 0) + 1
                        text = chunk_text.get(it.chunk_id)
                        if text is not None and it.topic in it.explanation:
                            cited += 1
                        if text is not None and not checks.check_item(it, text, set()):
                            passed += 1
                    elif isinstance(ev, QuizFinished):
                        attempted += ev.attempted
                        model_calls += ev.model_calls
                        model_passed += ev.model_passed
                        for k, v in ev.failed_checks.items():
                            dropped[k] = dropped.get(k, 0) + v
            log(f"{subject}: {got} items")

    firsts = [r["first_item_s"] for r in lat]
    alls = [r["all_items_s"] for r in lat]
    result = {
        "latency": lat,
        "first_item_s_p50": round(statistics.median(firsts), 2),
        "all_five_s_p50": round(statistics.median(alls), 2),
        "all_five_s_max": round(max(alls), 2),
        "plain_same_tokens_s_p50": round(statistics.median([r["plain_same_tokens_s"] for r in lat]), 2),
        "quality": {
            "delivered": delivered, "by_kind": by_kind, "pass_rate": round(passed / max(1, delivered), 4),
            "citation_rate": round(cited / max(1, delivered), 4), "built": attempted,
            "dropped_by_check": dropped, "model_phrasing_calls": model_calls,
            "model_phrasing_pass_rate": round(model_passed / max(1, model_calls), 4),
        },
        "targets": TARGETS,
        "pass": {
            "first_item": pct(firsts, 50) <= TARGETS["first_item_s"],
            "five_items": max(alls) <= TARGETS["five_items_s"],
            "pass_rate": passed / max(1, delivered) >= TARGETS["pass_rate"],
            "citation_rate": cited / max(1, delivered) >= TARGETS["citation_rate"],
        },
    }
    emit("quiz", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
