"""Study-plan benchmark: `python -m bench.study_plan [--quick]`, embedded model, shipped knowledge base.

- Latency per plan (4 weeks, 4 h/week, 5 subjects): first week visible and whole plan. Side by side,
  in the same run: the plan's model calls replayed as a plain unconstrained `model.generate` of exactly
  the same number of tokens (no schema), so the ratio is the cost of the constrained pipeline.
- Validity: every plan validated against PLAN_SCHEMA (target 100%) and every reading checked to be
  an indexed chunk with its real document id and title; how many weeks the model wrote (the rest
  came from the course outline) and its week acceptance rate.
The last stdout line is one JSON object.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.common import emit, log
from bench.quiz import SUBJECTS, Recording, plain_generate_s

TARGETS = {"first_week_s": 4.0, "whole_plan_s": 15.0, "schema_valid_rate": 1.0}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.study_plan")
    ap.add_argument("--quick", action="store_true", help="2 subjects")
    args = ap.parse_args(argv)
    subjects = SUBJECTS[:2] if args.quick else SUBJECTS

    from tutor.config import PathsConfig, load_config
    from tutor.features.study_plan import PlanFinished, PlanMaker, PlanRequest, WeekReady, validate_plan
    from tutor.learners import LearnerStore
    from tutor.service import build_tutor

    with tempfile.TemporaryDirectory(prefix="smartlearn-bench-plan-") as tmp:
        cfg = load_config(env={})
        cfg = cfg.replace(paths=PathsConfig(knowledge_base_dir=cfg.paths.knowledge_base_dir,
                                                         data_dir=Path(tmp)))
        log("setting up (index + model) ...")
        tutor = build_tutor(cfg)
        log(tutor.warm_up().message)
        real = tutor.backend
        rec = Recording(real)
        tutor.backend = rec
        maker = PlanMaker(backend=rec, course=tutor, chunks=tutor.retriever.store,
                          learners=LearnerStore(cfg.paths.db_path), cfg=cfg)
        chunks, _ = tutor.retriever.store.all_chunks(with_embeddings=False)
        index = {c.id: c for c in chunks}
        list(maker.generate(PlanRequest("warm", "NLP", weeks=1)))  # first constrained call builds llguidance's view

        rows, valid, real_citations, citations = [], 0, 0, 0
        model_weeks = weeks_total = 0
        for i, subject in enumerate(subjects):
            for level in ("beginner", "intermediate"):
                rec.calls.clear()
                t0 = time.perf_counter()
                first = None
                plan = None
                for ev in maker.generate(PlanRequest(f"p{i}", subject, level=level, hours_per_week=4, weeks=4)):
                    if isinstance(ev, WeekReady) and first is None:
                        first = time.perf_counter() - t0
                    elif isinstance(ev, PlanFinished):
                        plan = ev.plan
                        model_weeks += ev.model_weeks
                total = time.perf_counter() - t0
                ok = plan is not None and validate_plan(plan) is None
                valid += ok
                weeks_total += len(plan.weeks) if plan else 0
                for w in plan.weeks if plan else ():
                    for s in w.sessions:
                        for r in s.readings:
                            citations += 1
                            c = index.get(r.chunk_id)
                            real_citations += bool(c and c.doc_id == r.doc_id and c.title == r.title)
                calls = list(rec.calls)
                plain = [plain_generate_s(real, r, c.usage.completion_tokens) for r, c in calls]
                rows.append({"subject": subject, "level": level, "first_week_s": round(first or float("nan"), 2),
                             "whole_plan_s": round(total, 2), "valid": ok, "model_calls": len(calls),
                             "tokens": sum(c.usage.completion_tokens for _, c in calls),
                             "plain_first_call_s": round(plain[0], 2) if plain else 0.0,
                             "plain_same_tokens_s": round(sum(plain), 2)})
                log(f"{rows[-1]}")

    firsts = [r["first_week_s"] for r in rows]
    wholes = [r["whole_plan_s"] for r in rows]
    result = {
        "plans": rows,
        "first_week_s_p50": round(statistics.median(firsts), 2),
        "first_week_s_max": round(max(firsts), 2),
        "whole_plan_s_p50": round(statistics.median(wholes), 2),
        "whole_plan_s_max": round(max(wholes), 2),
        "plain_same_tokens_s_p50": round(statistics.median([r["plain_same_tokens_s"] for r in rows]), 2),
        "schema_valid_rate": round(valid / len(rows), 4),
        "citations_indexed_rate": round(real_citations / max(1, citations), 4),
        "model_written_weeks": f"{model_weeks}/{weeks_total}",
        "targets": TARGETS,
        "pass": {
            "first_week": max(firsts) <= TARGETS["first_week_s"],
            "whole_plan": max(wholes) <= TARGETS["whole_plan_s"],
            "schema_valid": valid == len(rows),
        },
    }
    emit("study_plan", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
