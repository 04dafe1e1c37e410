"""Calibrate retrieval.relevance_floor and measure ingest/query speed on the real knowledge base.

    .venv/bin/python -m bench.retrieval_calibration [--kb knowledge_base] [--out /tmp/calib.json]

Builds a throw-away index (temp folder) with the configured embedder, then reports the best dense
cosine similarity of on-topic and off-topic questions, the threshold that separates them, whether
the expected subject is in the top 3, ingestion chunks/s, and query latency p50/p95. Per-question
lines go to stderr; the last stdout line is one JSON object (bench convention).
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from bench.common import emit, log, pct
from tutor.config import load_config
from tutor.retrieval import ChromaStore, Ingestor, Retriever, make_embedder

# (question, a word expected in the subject of a top-3 hit)
ON_TOPIC = [
    ("What is the chain rule?", "calculus"),
    ("How do you compute the derivative of x squared?", "calculus"),
    ("What does the gradient of a function tell you?", "calculus"),
    ("How does the learning rate affect gradient descent?", "calculus"),
    ("What is a Jacobian matrix?", "calculus"),
    ("How does backpropagation compute gradients?", "deep"),
    ("What is an activation function like ReLU for?", "deep"),
    ("What is dropout and why does it help?", "deep"),
    ("How does a convolutional layer work?", "deep"),
    ("What is the difference between a list and a tuple in Python?", "python"),
    ("How do I write a list comprehension?", "python"),
    ("How do Python dictionaries work?", "python"),
    ("What is the standard deviation?", "statistics"),
    ("What does a p-value mean?", "statistics"),
    ("What is the central limit theorem?", "statistics"),
    ("What are eigenvalues and eigenvectors?", "linear"),
    ("How do you multiply two matrices?", "linear"),
    ("What is logistic regression used for?", "machine"),
    ("What is overfitting and how can I avoid it?", "machine"),
    ("How does a random forest make predictions?", "machine"),
    ("What is tokenization in NLP?", "nlp"),
    ("How does self-attention work in a transformer?", "nlp"),
    ("What is the time complexity of binary search?", "algorithms"),
    ("How does breadth-first search traverse a graph?", "algorithms"),
]
OFF_TOPIC = [
    "What's the best pizza topping in Naples?",
    "Who won the football world cup in 1998?",
    "How do I repot an orchid?",
    "What is the capital of Australia?",
    "Can you recommend a good romantic comedy movie?",
    "How long should I boil an egg?",
    "What time does the bakery open on Sundays?",
    "How do I fix a flat bicycle tire?",
    "Who painted the Mona Lisa?",
    "What is the weather like in Paris in spring?",
    "How do I train my puppy to sit?",
    "What are the rules of cricket?",
    "Which wine goes well with salmon?",
    "How tall is Mount Everest?",
    "What should I pack for a beach holiday?",
    "How do I knit a scarf?",
    "When did the Roman empire fall?",
    "What's a good recipe for banana bread?",
    "How do I change the oil in my car?",
    "What is the plot of Hamlet?",
]


# Harder cases, reported separately: terse/informal on-topic questions, and technical questions
# from domains the knowledge base does not cover (the ones a floor must still reject).
TERSE_ON = [
    ("chain rule", "calculus"), ("explain overfitting like I'm five", "machine"), ("whats softmax", "deep"),
    ("big O of quicksort?", "algorithms"), ("why normalize features", "machine"), ("mean vs median", "statistics"),
    ("dict vs list python", "python"), ("what's a word embedding", "nlp"),
]
NEAR_OFF = [
    "How do I configure a Kubernetes ingress?", "What is a Kalman filter?", "How do I center a div in CSS?",
    "What is quantum entanglement?", "How does TCP congestion control work?", "How do I undo a git rebase?",
    "What is the Krebs cycle?", "How does a blockchain reach consensus?", "How do index funds work?",
    "What is the difference between SQL inner and outer joins?",
]


def top(result) -> str:
    return result.hits[0].chunk.doc_id if result.hits else "-"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kb", default=None)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    cfg = load_config()
    kb = Path(args.kb) if args.kb else cfg.paths.knowledge_base_dir
    emb = make_embedder(cfg.retrieval.embedding_model)
    t0 = time.perf_counter()
    emb.embed(["warm up"])
    load_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        store = ChromaStore(Path(tmp) / "chroma", cfg.retrieval.collection, emb)
        report = Ingestor(kb, store, emb, cfg.retrieval).run(rebuild=True)
        retriever = Retriever(store, emb, cfg.retrieval)
        retriever.search("warm up")

        on, off, top3, lat = [], [], 0, []
        for q, want in ON_TOPIC:
            r = retriever.search(q)
            on.append(r.best_similarity)
            lat.append(r.latency_s)
            ok = any(want in h.chunk.subject.lower() or want in h.chunk.doc_id for h in r.hits)
            top3 += ok
            log(f"ON  {r.best_similarity:.3f} {'ok ' if ok else 'MISS'} {q} -> {top(r)}")
        for q in OFF_TOPIC:
            r = retriever.search(q)
            off.append(r.best_similarity)
            lat.append(r.latency_s)
            log(f"OFF {r.best_similarity:.3f} {q} -> {top(r)}")
        terse, near = [], []
        for q, want in TERSE_ON:
            r = retriever.search(q)
            terse.append(r.best_similarity)
            ok = any(want in h.chunk.subject.lower() or want in h.chunk.doc_id for h in r.hits)
            log(f"TERSE {r.best_similarity:.3f} {'ok ' if ok else 'MISS'} {q} -> {top(r)}")
        for q in NEAR_OFF:
            r = retriever.search(q)
            near.append(r.best_similarity)
            log(f"NEAR-OFF {r.best_similarity:.3f} {q} -> {top(r)}")
        for _ in range(3):  # more latency samples
            for q, _w in ON_TOPIC:
                lat.append(retriever.search(q).latency_s)
        store.close()

    gap_lo, gap_hi = max(off), min(on)
    summary = {
        "docs": len(report.added), "chunks": report.total_chunks, "ingest_s": round(report.seconds, 2),
        "ingest_chunks_per_s": round(report.total_chunks / report.seconds, 1), "model_load_s": round(load_s, 2),
        "on_topic": {"n": len(on), "min": round(min(on), 3), "p10": round(pct(on, 10), 3),
                     "median": round(statistics.median(on), 3), "max": round(max(on), 3)},
        "off_topic": {"n": len(off), "min": round(min(off), 3), "median": round(statistics.median(off), 3),
                      "p90": round(pct(off, 90), 3), "max": round(max(off), 3)},
        "separable": gap_hi > gap_lo, "midpoint": round((gap_lo + gap_hi) / 2, 3),
        "top3_subject_hit_rate": f"{top3}/{len(ON_TOPIC)}",
        "query_latency_ms": {"n": len(lat), "p50": round(pct(lat, 50) * 1000, 1), "p95": round(pct(lat, 95) * 1000, 1)},
        "embedder": emb.name,
    }
    summary["terse_on_topic"] = {"n": len(terse), "min": round(min(terse), 3),
                                 "median": round(statistics.median(terse), 3)}
    summary["near_domain_off_topic"] = {"n": len(near), "median": round(statistics.median(near), 3),
                                        "max": round(max(near), 3)}
    for floor in (0.25, 0.3, 0.35, 0.4, 0.45):
        summary[f"floor_{floor}"] = {"on_topic_missed": sum(s < floor for s in on),
                                     "terse_missed": sum(s < floor for s in terse),
                                     "off_topic_covered": sum(s >= floor for s in off),
                                     "near_domain_covered": sum(s >= floor for s in near)}
    if args.out:
        Path(args.out).write_text(json.dumps(
            {"summary": summary, "on": on, "off": off, "terse": terse, "near_off": near}, indent=1))
    emit("retrieval_calibration", summary)


if __name__ == "__main__":
    main()
