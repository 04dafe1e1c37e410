"""Calibrate the coverage decision (tutor/retrieval/coverage.py) on the development set, retrieval only.

    .venv/bin/python -m bench.coverage_calibration [--data-dir DIR] [--out bench/results/coverage_calibration.json]

Builds the index with the configured embedder (a temp dir, or --data-dir to reuse one), searches every
question of bench/data/tutor_eval (KB and off-KB), and grid-searches the word thresholds
(retrieval.min_term_support, strong_similarity) at the configured dense floor (retrieval.relevance_floor:
quiz, study plan and interview reading use it too, so it is not refitted here) on the EVEN-numbered items
of each file only: the most off-KB questions said "not covered" with at most MAX_REFUSED of KB questions
refused. It reports the chosen thresholds on the ODD items (held out), on all items, and on the
independent question lists of bench/retrieval_calibration.py, plus the current config's numbers.
Targets (issue 16): >= 90% of uncovered questions said not covered, <= 5% of covered ones refused.
No model is loaded. The last stdout line is one JSON object.
"""
from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench.common import emit, log
from bench.tutor_eval_data import load_eval_set
from tutor.retrieval.coverage import decide
from tutor.types import CoverageSignals

MAX_REFUSED = 0.05
SUPPORTS = tuple(round(0.05 * i, 2) for i in range(0, 19))
STRONGS = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 1.01)  # 1.01: never lenient by similarity


@dataclass(frozen=True)
class Item:
    id: str
    question: str
    covered_truth: bool
    signals: CoverageSignals


def rates(items: list[Item], t: tuple[float, float, float]) -> dict:
    kb = [i for i in items if i.covered_truth]
    off = [i for i in items if not i.covered_truth]
    refused = [i for i in kb if not decide(i.signals, *t)]
    said_not = [i for i in off if not decide(i.signals, *t)]
    return {"n_kb": len(kb), "n_off": len(off),
            "kb_refused": round(len(refused) / len(kb), 4) if kb else None,
            "off_said_not_covered": round(len(said_not) / len(off), 4) if off else None,
            "refused_ids": [i.id for i in refused], "missed_off_ids": [i.id for i in off if i not in said_not]}


def fit(items: list[Item], floor: float) -> tuple[float, float, float]:
    """Most off-KB caught with refusals <= MAX_REFUSED; ties: fewer refusals, then the loosest word bar."""
    best, best_key = None, None
    for t in itertools.product((floor,), SUPPORTS, STRONGS):
        r = rates(items, t)
        if r["kb_refused"] > MAX_REFUSED:
            continue
        key = (r["off_said_not_covered"], -r["kb_refused"], -t[1], t[0], t[2])
        if best_key is None or key > best_key:
            best, best_key = t, key
    if best is None:
        raise SystemExit(f"no word thresholds keep refusals <= {MAX_REFUSED} at relevance_floor {floor}")
    return best


def search_all(retriever, labelled: list[tuple[str, str, bool]]) -> list[Item]:
    out = []
    for id_, q, truth in labelled:
        r = retriever.search(q)
        s = r.coverage
        log(f"{'KB ' if truth else 'OFF'} {s.best_similarity:.3f} sup={s.term_support:.2f} agree={int(s.agreement)} "
            f"missing={list(s.missing_terms[:3])} {id_}: {q[:70]}")
        out.append(Item(id_, q, truth, s))
    return out


def main(argv: list[str] | None = None) -> int:
    from bench.retrieval_calibration import NEAR_OFF, OFF_TOPIC, ON_TOPIC, TERSE_ON
    from tutor.config import load_config
    from tutor.retrieval import ChromaStore, Ingestor, Retriever, make_embedder

    ap = argparse.ArgumentParser(prog="python -m bench.coverage_calibration")
    ap.add_argument("--data-dir", type=Path, help="keep the index here (default: a temp dir)")
    ap.add_argument("--out", type=Path, default=Path("bench/results/coverage_calibration.json"))
    args = ap.parse_args(argv)
    cfg = load_config()
    es = load_eval_set()
    with tempfile.TemporaryDirectory(prefix="smartlearn-coverage-") as tmp:
        work = args.data_dir or Path(tmp)
        emb = make_embedder(cfg.retrieval.embedding_model)
        store = ChromaStore(work / "chroma", cfg.retrieval.collection, emb)
        Ingestor(cfg.paths.knowledge_base_dir, store, emb, cfg.retrieval).run()
        retriever = Retriever(store, emb, cfg.retrieval)
        dev = ([(f"{q.id}#{n}", q.question, True) for n, q in enumerate(es.kb)]
               + [(f"{q.id}#{n}", q.question, False) for n, q in enumerate(es.off_kb)])
        items = search_all(retriever, dev)
        extra = search_all(retriever, [(f"on{n}", q, True) for n, (q, _) in enumerate(ON_TOPIC + TERSE_ON)]
                           + [(f"off{n}", q, False) for n, q in enumerate(OFF_TOPIC + NEAR_OFF)])
        store.close()
    even = [i for i in items if int(i.id.rsplit("#", 1)[1]) % 2 == 0]
    odd = [i for i in items if int(i.id.rsplit("#", 1)[1]) % 2 == 1]
    chosen = fit(even, cfg.retrieval.relevance_floor)
    c = cfg.retrieval
    current = (c.relevance_floor, c.min_term_support, c.strong_similarity)
    old_rule = (c.relevance_floor, 0.0, 1.01)  # the dense floor alone
    result = {
        "embedder": getattr(emb, "name", None), "fit_on": "even items of kb_questions.yaml and off_kb.yaml",
        "reported_on": "odd items (held out); retrieval_calibration.py lists (independent)",
        "max_refused": MAX_REFUSED,
        "chosen": {"relevance_floor": chosen[0], "min_term_support": chosen[1], "strong_similarity": chosen[2]},
        "chosen_train_even": rates(even, chosen), "chosen_heldout_odd": rates(odd, chosen),
        "chosen_all": rates(items, chosen), "chosen_independent": rates(extra, chosen),
        "config": {"relevance_floor": current[0], "min_term_support": current[1], "strong_similarity": current[2]},
        "config_heldout_odd": rates(odd, current), "config_all": rates(items, current),
        "config_independent": rates(extra, current),
        "dense_floor_only_all": rates(items, old_rule), "dense_floor_only_independent": rates(extra, old_rule),
        "signals": [{"id": i.id, "kb": i.covered_truth, **{k: (list(v) if isinstance(v, tuple) else v)
                     for k, v in dataclasses.asdict(i.signals).items()}} for i in items],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    emit("coverage_calibration", {k: v for k, v in result.items() if k != "signals"})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
