"""Calibrate the rubric thresholds (tutor/features/rubric.py) on the interview bank.

For every question, each key point's best match (rubric.best_matches) is measured against
- its OWN reference answer (positives: a correct answer must cover its own points), and
- the reference answer of ANOTHER question of the same topic (hard negatives: a fluent answer on
  a neighbouring question must not pass), plus one of a random other topic (easy negatives).
It prints, per threshold, the share of own points covered (recall), of same-topic and other-topic
points wrongly covered (false positives), and the resulting mean scores; then the threshold with
the best recall - same-topic FP. Usage:

    .venv/bin/python scripts/calibrate_rubric.py            # MiniLM (embedded) and lexical
    .venv/bin/python scripts/calibrate_rubric.py --lexical  # lexical only (no model)
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from tutor.features import rubric  # noqa: E402
from tutor.features.interview_bank import DEFAULT_BANK_DIR, load_bank  # noqa: E402


def pairings(questions, seed: int = 0):
    """(question, same-topic other question, other-topic question) triples, deterministic."""
    rng = random.Random(seed)
    by_topic: dict[str, list] = {}
    for q in questions:
        by_topic.setdefault(q.topic, []).append(q)
    out = []
    for q in questions:
        same = [o for o in by_topic[q.topic] if o.id != q.id]
        diff = [o for o in questions if o.topic != q.topic]
        out.append((q, rng.choice(same) if same else None, rng.choice(diff) if diff else None))
    return out


def measure(triples, embed):
    own, same, other = [], [], []
    for q, s, o in triples:  # as the coach scores: with the asked question (echoes earn nothing)
        own.extend(rubric.best_matches(q.answer, q.key_points, embed, q.question))
        if s is not None:
            same.extend(rubric.best_matches(s.answer, q.key_points, embed, q.question))
        if o is not None:
            other.extend(rubric.best_matches(o.answer, q.key_points, embed, q.question))
    return np.array(own), np.array(same), np.array(other)


def cached(embed, texts_to_warm):
    """embed() with a text -> vector cache, warmed in one batched pass over every text the
    measurement will ask for (each answer's units are embedded once, not once per pairing)."""
    cache: dict[str, np.ndarray] = {}
    todo = list(dict.fromkeys(texts_to_warm))
    # rubric.embed_texts: the same call sizes (so the same fp32 path) as scoring in the app
    cache.update(zip(todo, rubric.embed_texts(embed, todo)))

    def fn(texts: list[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in cache]
        if missing:
            cache.update(zip(missing, embed(missing)))
        return np.stack([cache[t] for t in texts])

    return fn


def all_texts(questions):
    out = []
    for q in questions:
        out.extend(q.key_points)
        out.extend(rubric.answer_units(q.answer))
        out.append(q.question)
    return out


def echo_answer(question: str) -> str:
    """An 'answer' that only restates the question, padded with filler a candidate might use."""
    return f"{question.rstrip('?. ')} is an important topic that comes up a lot in machine learning work."


def echo_coverage(questions, embed) -> float:
    """Mean coverage of echo answers: near 0 is right, they say nothing."""
    return float(np.mean([rubric.score_answer(echo_answer(q.question), q.key_points, embed,
                                              question=q.question).coverage for q in questions]))


def report(name: str, own, same, other, grid) -> dict:
    rows = []
    for t in grid:
        rows.append({"threshold": round(float(t), 3), "own_recall": round(float((own >= t).mean()), 3),
                     "same_topic_fp": round(float((same >= t).mean()), 3),
                     "other_topic_fp": round(float((other >= t).mean()), 3)})
    best = max(rows, key=lambda r: (r["own_recall"] - r["same_topic_fp"], -r["threshold"]))
    print(f"\n== {name}: {len(own)} own points, {len(same)} same-topic, {len(other)} other-topic")
    print(f"own best-match similarity:   p5 {np.percentile(own, 5):.3f}  p10 {np.percentile(own, 10):.3f}  "
          f"median {np.median(own):.3f}  min {own.min():.3f}")
    print(f"same-topic best match:       median {np.median(same):.3f}  p90 {np.percentile(same, 90):.3f}  "
          f"p95 {np.percentile(same, 95):.3f}  max {same.max():.3f}")
    print(f"other-topic best match:      median {np.median(other):.3f}  p95 {np.percentile(other, 95):.3f}  "
          f"max {other.max():.3f}")
    print(f"{'threshold':>9} {'own recall':>10} {'same-topic FP':>13} {'other-topic FP':>14}")
    for r in rows:
        mark = "  <- best recall - same-topic FP" if r is best else ""
        print(f"{r['threshold']:>9.3f} {r['own_recall']:>10.3f} {r['same_topic_fp']:>13.3f} "
              f"{r['other_topic_fp']:>14.3f}{mark}")
    return {"name": name, "best": best, "rows": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bank", type=Path, default=DEFAULT_BANK_DIR)
    ap.add_argument("--lexical", action="store_true", help="lexical fallback only (no embedding model)")
    ap.add_argument("--json", type=Path, help="also write the tables as JSON here")
    args = ap.parse_args()
    bank = load_bank(args.bank)
    triples = pairings(list(bank.questions))
    print(f"bank {args.bank}: {len(bank.questions)} questions, {len(bank.problems)} row problem(s)")
    results = []
    own, same, other = measure(triples, None)
    results.append(report("lexical (content-stem overlap)", own, same, other, np.arange(0.3, 0.81, 0.05)))
    echo = {"lexical": round(echo_coverage(bank.questions, None), 3)}
    print(f"question-echo answers, lexical: mean coverage {echo['lexical']:.3f}")
    if not args.lexical:
        from tutor.retrieval.embeddings import SentenceTransformerEmbedder

        emb = SentenceTransformerEmbedder()
        t0 = time.perf_counter()
        embed = cached(emb.embed, all_texts(bank.questions))
        own, same, other = measure(triples, embed)
        print(f"\n(MiniLM embedding + scoring of {len(triples) * 3} answer/rubric pairs: "
              f"{time.perf_counter() - t0:.1f}s, machine shared with other work)")
        results.append(report("MiniLM cosine (embedded all-MiniLM-L6-v2)", own, same, other,
                              np.arange(0.30, 0.71, 0.025)))
        # Hybrid (what score_answer does with an embedder): covered when MiniLM OR the lexical
        # overlap passes. Encoded as one number per point so the same report applies: the point
        # passes threshold t when sem >= t or lex >= LEXICAL_THRESHOLD.
        lex = measure(triples, None)
        hyb = [np.where(lx >= rubric.LEXICAL_THRESHOLD, 1.0, sm) for sm, lx in zip((own, same, other), lex)]
        results.append(report(f"hybrid: MiniLM >= t or lexical >= {rubric.LEXICAL_THRESHOLD}", *hyb,
                              np.arange(0.30, 0.71, 0.025)))
        echo["hybrid"] = round(echo_coverage(bank.questions, embed), 3)
        print(f"question-echo answers, shipped hybrid: mean coverage {echo['hybrid']:.3f}")
    print(f"\nshipped: SEMANTIC_THRESHOLD={rubric.SEMANTIC_THRESHOLD} LEXICAL_THRESHOLD={rubric.LEXICAL_THRESHOLD}")
    if args.json:
        args.json.write_text(json.dumps({
            "script": "scripts/calibrate_rubric.py", "measured_at": time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime()),
            "bank_questions": len(bank.questions), "key_points": sum(len(q.key_points) for q in bank.questions),
            "shipped": {"semantic_threshold": rubric.SEMANTIC_THRESHOLD, "lexical_threshold": rubric.LEXICAL_THRESHOLD,
                        "echo_similarity": rubric.ECHO_SIMILARITY},
            "echo_answer_coverage": echo, "tables": results}, indent=1) + "\n")


if __name__ == "__main__":
    main()
