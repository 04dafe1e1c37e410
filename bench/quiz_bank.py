"""Quizzes drawn from the question bank: `python -m bench.quiz_bank [--quick]`, on the shipped knowledge base
and the shipped bank (training/data/qa/qa-kb-v1.jsonl). No model: bank items need none.

For every subject, 5-question "mixed" quizzes with several seeds: how many documents and question kinds
each quiz spans (issue 13's target: >= 2 documents where the subject has them, >= 2 kinds for "mixed"),
the share of items that came from the bank (the rest: the course-text fallback), every delivered item
re-checked against its chunk as read back from the index, and the time per quiz. Then every bank record
of the subject turned into an item, to report how many records make a usable item per kind.
The last stdout line is one JSON object.
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench.common import emit, log

TARGETS = {"min_docs": 2, "min_kinds": 2, "pass_rate": 1.0}


def _usable_by_kind(services, chunks) -> dict[str, dict[str, int]]:
    """Per kind: records, and records that make an item passing every check."""
    from tutor.features import quiz_checks as checks
    from tutor.features.quiz_bank_facts import parse
    from tutor.features.quiz_bank_items import build_bank_item, build_fact_pool
    from tutor.features.quiz_distractors import build_pool

    by_id = {c.id: c for c in chunks}
    out: dict[str, Counter] = {"records": Counter(), "usable": Counter()}
    rng = random.Random(0)
    for subject in services.tutor.subjects():
        sc = [c for c in chunks if c.subject == subject]
        records = services.quizzes.bank.for_chunks(c.id for c in sc)
        pool = build_fact_pool([f for f in map(parse, records) if f], build_pool(sc))
        for r in records:
            out["records"][r.kind] += 1
            fact = parse(r)
            item = build_bank_item(fact, by_id[r.chunk_id], pool, rng, "beginner") if fact else None
            if item is not None and not checks.check_item(item, by_id[r.chunk_id].text, set()):
                out["usable"][r.kind] += 1
    return {k: dict(v) for k, v in out.items()}


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.quiz_bank")
    ap.add_argument("--quick", action="store_true", help="2 seeds per subject instead of 5")
    args = ap.parse_args(argv)

    from tutor.backends.fake import FakeBackend
    from tutor.config import load_config
    from tutor.features import quiz_checks as checks
    from tutor.features.quiz import ItemReady, QuizRequest
    from tutor.retrieval import HashEmbedder
    from tutor.services import build_services

    seeds = range(2 if args.quick else 5)
    with tempfile.TemporaryDirectory() as tmp:
        # The configured KB and bank; a hash embedder and a scripted backend: bank items need no model, and
        # a subject quiz retrieves nothing.
        cfg = load_config()
        cfg = cfg.replace(paths=cfg.paths.replace(data_dir=Path(tmp)))
        services = build_services(cfg, backend=FakeBackend(), embedder=HashEmbedder())
        if not services.tutor.warm_up().ready:
            log("the knowledge base could not be indexed")
            return 1
        chunks, _ = services.tutor.retriever.store.all_chunks(with_embeddings=False)
        text = {c.id: c.text for c in chunks}
        docs_per_subject = Counter(c.subject for c in {c.doc_id: c for c in chunks}.values())
        rows, seconds, delivered, passed, from_bank = [], [], 0, 0, 0
        for subject in services.tutor.subjects():
            for seed in seeds:
                t0 = time.perf_counter()
                items = [e.item for e in services.quizzes.generate(QuizRequest(
                    f"b-{subject}-{seed}", subject, count=5, kind="mixed", difficulty="beginner", seed=seed,
                    use_model=False)) if isinstance(e, ItemReady)]
                seconds.append(time.perf_counter() - t0)
                delivered += len(items)
                passed += sum(not checks.check_item(i, text[i.chunk_id], set()) for i in items)
                from_bank += sum(i.generated_by.startswith("bank:") for i in items)
                rows.append({"subject": subject, "seed": seed, "items": len(items),
                             "docs": len({i.doc_id for i in items}), "subject_docs": docs_per_subject[subject],
                             "kinds": sorted({i.question_kind for i in items})})
                log(f"{rows[-1]}")
        usable = _usable_by_kind(services, chunks)
    min_docs = min(r["docs"] for r in rows)
    min_kinds = min(len(r["kinds"]) for r in rows)
    result = {
        "quizzes": len(rows), "bank_records": sum(usable["records"].values()),
        "min_docs": min_docs, "min_kinds": min_kinds,
        "mean_docs": round(statistics.mean(r["docs"] for r in rows), 2),
        "mean_kinds": round(statistics.mean(len(r["kinds"]) for r in rows), 2),
        "from_bank_share": round(from_bank / max(1, delivered), 4),
        "pass_rate": round(passed / max(1, delivered), 4),
        "quiz_s_p50": round(statistics.median(seconds), 3), "quiz_s_max": round(max(seconds), 3),
        "usable_records_by_kind": usable,
        "rows": rows,
        "targets": TARGETS,
        "pass": {"min_docs": min_docs >= TARGETS["min_docs"], "min_kinds": min_kinds >= TARGETS["min_kinds"],
                 "pass_rate": passed / max(1, delivered) >= TARGETS["pass_rate"]},
    }
    emit("quiz_bank", result)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
