"""Tutor answer evaluation: `python -m bench.tutor_eval [--quick] [--data-dir DIR]`.

Asks the development set in bench/data/tutor_eval/ through `Tutor.ask`, in process, on the configured
backend and embedder (load_config: SMARTLEARN_* and SMARTLEARN_CONFIG apply), and reports:
- retrieval recall@3 of the named document and section, over every KB question (retrieval is cheap);
- key-fact coverage of the answers (all key facts present; bench/tutor_eval_metrics.py FACT_MATCH),
  citation support (share of [n] whose excerpt holds the cited sentence; CITATION_OVERLAP),
  false "not covered" rate on KB questions and off-KB recall (Answer.grounded is False);
- degeneration rate, Socratic leaks of the final answer, injections obeyed (documents added to a
  throw-away copy of the knowledge base in a temp dir), latency and length percentiles;
- rubric band accuracy of hand-written interview answers, scored by tutor/features/rubric.py directly (with
  the question and its reference answer, as the interview coach scores).
`--only rubric` runs the rubric part alone (the configured embedder, no tutor, about a minute).
`--quick` asks a spread subset (about 13 answers: ~3-4 minutes on the embedded CPU model, seconds on a
fake backend); retrieval recall always covers every question. The last stdout line is one JSON object.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from bench import tutor_eval_metrics as M
from bench.common import emit, log, pct
from bench.tutor_eval_data import EvalSet, InjectionCase, load_eval_set

K = 3  # recall@k: the tutor shows three sources by default (retrieval.top_k)
FAKE_FLOOR = 0.05  # relevance floor with the hash embedder (as tests/tutor/test_service.py)
QUICK = {"kb": 6, "off_kb": 3, "socratic": 2, "injection": 2, "interview": 10}


def build_eval_tutor(cfg, *, backend=None, embedder=None):
    """The tutor as the app builds it (app/__main__.py). The one place to switch to build_services(cfg)."""
    from tutor.service import build_tutor

    return build_tutor(cfg, backend=backend, embedder=embedder)


@dataclass
class Env:
    main: object  # Tutor over the configured knowledge base
    injected: object  # Tutor over a temp copy of it plus the injection documents


def make_env(cfg, workdir: Path, cases: Sequence[InjectionCase], *, backend=None, embedder=None,
             build: Callable = build_eval_tutor) -> Env:
    """Two tutors sharing one backend and one embedder; the second indexes a throw-away knowledge base."""
    main_cfg = cfg.replace(paths=cfg.paths.replace(data_dir=workdir / "data"))
    main = build(main_cfg, backend=backend, embedder=embedder)
    _ready(main)
    kb = workdir / "kb-injected"
    shutil.copytree(cfg.paths.knowledge_base_dir, kb, dirs_exist_ok=True)
    for c in cases:
        (kb / c.filename).parent.mkdir(parents=True, exist_ok=True)
        (kb / c.filename).write_text(c.document, encoding="utf-8")
    inj_paths = cfg.paths.replace(knowledge_base_dir=kb, data_dir=workdir / "data-injected")
    # Same backend object: the model is loaded (and converted) once.
    injected = build(cfg.replace(paths=inj_paths), backend=main.backend,
                     embedder=main.retriever.embedder)
    _ready(injected)
    return Env(main, injected)


def _ready(tutor) -> None:
    st = tutor.warm_up()
    if not st.ready:
        raise SystemExit(f"tutor not ready: {st.message}")


def pick(items: Sequence, n: int | None) -> list:
    """n items spread evenly over the list (all when n is None), so a quick run still spans subjects."""
    if n is None or n >= len(items):
        return list(items)
    step = len(items) / n
    return [items[int(i * step)] for i in range(n)]


# ---------------------------------------------------------------- asking


@dataclass(frozen=True)
class Asked:
    answer: object  # tutor.types.Answer
    latency_s: float
    question: str = ""


def ask(tutor, question: str, socratic: bool = False) -> Asked:
    from tutor.types import Answer

    t0 = time.perf_counter()
    answer = None
    for ev in tutor.ask(question, socratic=socratic, user="bench-eval"):
        if isinstance(ev, Answer):
            answer = ev
    return Asked(answer, time.perf_counter() - t0, question)


def chunk_texts(tutor) -> dict[str, str]:
    chunks, _ = tutor.retriever.store.all_chunks(with_embeddings=False)
    return {c.id: c.text for c in chunks}


def excerpts_of(answer, texts: dict[str, str]) -> dict[int, str]:
    """[n] -> the full retrieved chunk (Source.snippet is cut at 240 characters)."""
    return {s.index: texts.get(s.chunk_id, s.snippet) for s in answer.sources}


def hit_token_limit(answer) -> bool:
    return answer.completion is not None and answer.completion.finish_reason == "length"


# ---------------------------------------------------------------- the parts


def key_point_facts(tutor, question: str, hits, facts) -> float:
    """Share of the key facts in the quoted key point alone (extractive: no model needed)."""
    text = tutor.key_point(question, hits)
    return M.fact_coverage(text.full_text if text else "", facts).share


def eval_retrieval(tutor, es: EvalSet) -> dict:
    docs, sections, covered, off_covered, kp_share = [], [], [], [], []
    for q in es.kb:
        r = tutor.retriever.search(q.question, k=K)
        d, s = M.recall_at_k([(h.chunk.doc_id, h.chunk.section) for h in r.hits], q.doc, q.section, K)
        docs.append(d), sections.append(s), covered.append(tutor.covers(r))
        kp_share.append(key_point_facts(tutor, q.question, r.hits, q.key_facts))
    for q in es.off_kb:
        off_covered.append(tutor.covers(tutor.retriever.search(q.question, k=K)))
    return {"n_kb_all": len(es.kb), "recall_doc_at_3": M.share(docs), "recall_section_at_3": M.share(sections),
            "retrieval_covered_kb_all": M.share(covered),
            "retrieval_not_covered_off_kb_all": M.share([not c for c in off_covered]),
            "key_point_fact_share_all": round(sum(kp_share) / len(kp_share), 4) if kp_share else None}


def eval_answers(env: Env, es: EvalSet, limits: dict, bar) -> tuple[dict, list[Asked]]:
    texts = chunk_texts(env.main)
    asked: list[Asked] = []
    facts_all, facts_share, refused, supported, markers, per_q = [], [], [], 0, 0, []
    for q in pick(es.kb, limits.get("kb")):
        a = ask(env.main, q.question)
        asked.append(a), bar.update(1)
        cov = M.fact_coverage(a.answer.text, q.key_facts)
        facts_all.append(cov.all_present), facts_share.append(cov.share)
        refused.append(not a.answer.grounded)
        if a.answer.grounded:
            s, n = M.citation_support(a.answer.text, excerpts_of(a.answer, texts))
            supported, markers = supported + s, markers + n
        per_q.append({"id": q.id, "all_facts": cov.all_present, "missing": list(cov.missing),
                      "grounded": a.answer.grounded, "s": round(a.latency_s, 2)})
    off = []
    for q in pick(es.off_kb, limits.get("off_kb")):
        a = ask(env.main, q.question)
        asked.append(a), bar.update(1)
        off.append(not a.answer.grounded)
    leaks, leak_texts = [], []
    for p in pick(es.socratic, limits.get("socratic")):
        a = ask(env.main, p.problem, socratic=True)
        asked.append(a), bar.update(1)
        hit = M.leaks(a.answer.text, p.leak_patterns)
        leaks.append(bool(hit))
        if hit:
            leak_texts.append({"id": p.id, "patterns": hit, "text": a.answer.text[-600:]})
    obeyed, quoted, retrieved = [], [], []
    for c in pick(es.injection, limits.get("injection")):
        a = ask(env.injected, c.question)
        asked.append(a), bar.update(1)
        obeyed.append(M.obeyed_injection(a.answer.text, c.marker))
        quoted.append(M.quoted_injection(a.answer.text, c.marker))
        retrieved.append(any(s.doc_id == c.filename for s in a.answer.sources))
    return {
        "n_kb": len(facts_all), "key_fact_coverage": M.share(facts_all),
        "key_fact_share_mean": round(sum(facts_share) / len(facts_share), 4) if facts_share else None,
        "false_refusal_rate": M.share(refused),
        "citation_support": round(supported / markers, 4) if markers else None, "citation_markers": markers,
        "n_off_kb": len(off), "off_kb_recall": M.share(off),
        "n_socratic": len(leaks), "socratic_leaks": sum(leaks), "socratic_leak_rate": M.share(leaks),
        "socratic_leak_ids": [t["id"] for t in leak_texts], "socratic_leak_texts": leak_texts,
        "n_injection": len(obeyed), "injection_obeyed": sum(obeyed),
        "injection_quoted_in_key_point": sum(quoted), "injection_retrieved": sum(retrieved),
        "kb_answers": per_q,
    }, asked


def eval_rubric(es: EvalSet, embed, n: int | None, bar) -> dict:
    from tutor.features.interview_bank import load_bank
    from tutor.features.rubric import score_answer

    bank = load_bank()
    hits: dict[str, list[bool]] = {}
    for case in pick(es.interview, n):
        q = bank.by_id(case.question_id)
        if q is None:
            raise SystemExit(f"interview question {case.question_id} is not in the bank")
        for cand in case.answers:
            score = score_answer(cand.text, q.key_points, embed, question=q.question, reference=q.answer).score
            hits.setdefault(cand.kind, []).append(M.in_band(score, cand.band))
        bar.update(1)
    every = [h for v in hits.values() for h in v]
    return {"n_interview_answers": len(every), "rubric_band_accuracy": M.share(every),
            "rubric_band_accuracy_by_kind": {k: M.share(v) for k, v in hits.items()}}


def rubric_only(cfg, es: EvalSet, quick: bool, embedder=None) -> dict:
    """The rubric part alone, on the configured embedder (the one build_retrieval gives the app)."""
    from tqdm import tqdm

    from tutor.retrieval import make_embedder

    embedder = embedder or make_embedder(cfg.retrieval.embedding_model)
    n = QUICK["interview"] if quick else None
    with tqdm(total=len(pick(es.interview, n)), desc="rubric", unit="question", file=sys.stderr) as bar:
        return {"embedder": embedder.name, **eval_rubric(es, embedder.embed, n, bar)}


def summarise(asked: list[Asked]) -> dict:
    lat = [a.latency_s for a in asked]
    words = [M.word_count(a.answer.text) for a in asked]
    # The model's words only: the quoted course extract is the document's text ("k = 0, 1, 2, ...." in the
    # Poisson PMF read as a punctuation run), and it cannot loop.
    reasons = [M.degeneration_reasons(M.without_key_point(a.answer.text), hit_token_limit(a.answer)) for a in asked]
    degen = [bool(r) for r in reasons]
    return {"n_answers": len(asked), "degeneration_rate": M.share(degen),
            # which ones and why, so a rate above 0 can be read without re-running
            "degenerate": [{"question": a.question, "reasons": list(r), "tail": a.answer.text[-160:]}
                           for a, r in zip(asked, reasons) if r],
            "token_limit_rate": M.share([hit_token_limit(a.answer) for a in asked]),
            "answer_p50_s": round(pct(lat, 50), 3), "answer_p95_s": round(pct(lat, 95), 3),
            "answer_words_p50": round(pct(words, 50), 1), "answer_words_p95": round(pct(words, 95), 1)}


def cpu_flags() -> dict[str, bool]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        text = ""
    flags = set(next((ln.split(":", 1)[1].split() for ln in text.splitlines() if ln.startswith("flags")), []))
    return {"avx2": "avx2" in flags, "avx512f": "avx512f" in flags, "avx512_bf16": "avx512_bf16" in flags,
            "amx": any(f.startswith("amx") for f in flags)}


def evaluate(env: Env, es: EvalSet, quick: bool, progress: bool = True) -> dict:
    from tqdm import tqdm

    limits = QUICK if quick else {}
    n_ask = sum(len(pick(getattr(es, k), limits.get(k))) for k in ("kb", "off_kb", "socratic", "injection"))
    n_iv = len(pick(es.interview, limits.get("interview")))
    with tqdm(total=n_ask + n_iv, desc="tutor_eval", unit="item", disable=not progress, file=sys.stderr) as bar:
        retrieval = eval_retrieval(env.main, es)
        answers, asked = eval_answers(env, es, limits, bar)
        embedder = getattr(env.main.retriever, "embedder", None)
        rubric = eval_rubric(es, embedder.embed if embedder is not None else None, limits.get("interview"), bar)
    info = env.main.status().backend
    return {"quick": quick, "model": info.model if info else None, "device": info.device if info else None,
            "dtype": info.dtype if info else None, "chat_adapter": env.main.chat_adapter(),
            "embedder": getattr(embedder, "name", None), **retrieval, **summarise(asked), **answers, **rubric}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.tutor_eval")
    ap.add_argument("--quick", action="store_true", help="a spread subset (about 3-4 minutes on the CPU model)")
    ap.add_argument("--data-dir", type=Path, help="keep the index and model cache here (default: a temp dir)")
    ap.add_argument("--only", choices=["rubric"],
                    help="rubric: score the interview answers alone (no tutor, no knowledge base; ~1 minute)")
    ap.add_argument("--fake", action="store_true",
                    help="scripted FakeBackend and hash embedder: a smoke test of the harness (CI); numbers mean nothing")
    args = ap.parse_args(argv)
    flags = cpu_flags()
    log(f"cpu flags: {flags}")
    from tutor.config import load_config

    cfg = load_config()
    es = load_eval_set()
    backend = embedder = None
    if args.fake:
        from tutor.backends.fake import FakeBackend
        from tutor.retrieval import HashEmbedder

        backend, embedder = FakeBackend(), HashEmbedder()
        # Hash vectors are far less similar than MiniLM's; the unit tests' floor keeps answers grounded.
        cfg = cfg.replace(retrieval=cfg.retrieval.replace(relevance_floor=FAKE_FLOOR))
    if args.only == "rubric":
        emit("tutor_eval", {"quick": args.quick, "only": "rubric", **rubric_only(cfg, es, args.quick, embedder)})
        return 0
    with tempfile.TemporaryDirectory(prefix="smartlearn-tutor-eval-") as tmp:
        work = args.data_dir or Path(tmp)
        t0 = time.perf_counter()
        env = make_env(cfg, work, es.injection, backend=backend, embedder=embedder)
        log(f"set up in {time.perf_counter() - t0:.1f}s: {env.main.status().message}")
        result = evaluate(env, es, args.quick)
    emit("tutor_eval", {**result, "cpu_flags": flags, "load_avg": _loadavg()})
    return 0


def _loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


if __name__ == "__main__":
    sys.exit(main())
