"""Calibrate the interview rubric's semantic thresholds on half of the scoring set, report the other half.

`python -m bench.rubric_calibration [--out bench/results/rubric_band_calibration.json]`

The scoring set (bench/data/tutor_eval/interview_answers.yaml) holds, per bank question, a strong, a
partial, an off-topic and a word-salad answer with the score band each should get. The even-numbered
questions (0, 2, ...) calibrate: every (covered, partial floor) pair of the grid is scored on them,
and the one with the most answers inside their band wins (ties: scores nearest their band's middle). Besides
the set's four kinds, calibration scores each question's same-topic neighbour (another bank question's
reference answer, band 0-3), so that a fluent answer to a nearby question cannot pass. The odd-numbered
questions are held out: only scored, with the shipped and the chosen thresholds, so the held-out number
says how the rubric does on questions it was not fitted to.
The embedder is the configured one (retrieval.embedding_model, as the app's); texts are embedded once.
The last stdout line is one JSON object; --out also writes it to a file.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.common import emit, log
from bench.tutor_eval_data import load_eval_set
from bench.tutor_eval_metrics import in_band, share

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "rubric_band_calibration.json"
# A neighbouring question's reference answer may share a point or so with this question's; more is a
# rubric that rewards talking about the topic. Not a band of the scoring set: calibration only.
NEIGHBOUR_BAND = (0.0, 3.0)
COVERED_GRID = np.round(np.arange(0.5, 1.001, 0.05), 3)
PARTIAL_GRID = np.round(np.arange(0.0, 0.801, 0.05), 3)


@dataclass(frozen=True)
class Scored:
    index: int  # position of the question in the scoring set: even = calibration, odd = held out
    question_id: str
    kind: str
    band: tuple[float, float]
    evidence: object  # tutor.features.rubric.Evidence


def cached_embed(embed):
    """embed() with a text -> vector cache: every threshold pair re-reads the same texts."""
    cache: dict[str, np.ndarray] = {}

    def run(texts: list[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in cache]
        if missing:
            cache.update(zip(missing, np.asarray(embed(missing), dtype=np.float32)))
        return np.stack([cache[t] for t in texts])

    return run


def gather_all(embed) -> list[Scored]:
    from tutor.features.interview_bank import load_bank
    from tutor.features.rubric import gather

    bank = load_bank()
    out = []
    for i, case in enumerate(load_eval_set().interview):
        q = bank.by_id(case.question_id)
        if q is None:
            raise SystemExit(f"interview question {case.question_id} is not in the bank")
        answers = [(c.kind, c.band, c.text) for c in case.answers]
        other = neighbour(bank, q, i)
        if other is not None:
            answers.append(("neighbour", NEIGHBOUR_BAND, other.answer))
        for kind, band, text in answers:
            out.append(Scored(i, q.id, kind, band, gather(text, q.key_points, embed, question=q.question,
                                                          reference=q.answer)))
    return out


def neighbour(bank, q, seed: int):
    """The reference answer of another bank question of the same topic: fluent, on the subject, and
    still not an answer to this question (the hard negative the scoring set's off-topic answers are not)."""
    same = sorted((o for o in bank.questions if o.topic == q.topic and o.id != q.id), key=lambda o: o.id)
    return random.Random(seed).choice(same) if same else None


def score(item: Scored, th) -> float:
    """What score_answer gives once its early exits (empty, nonsense, echo, no prose) have passed: the
    scoring set's answers are all real text, and a salad with no prose unit has no usable evidence."""
    from tutor.features.rubric import judge

    if not item.evidence.usable.any():
        return 0.0
    return th.score(judge(item.evidence, th).credit)


def report(all_items: list[Scored], th) -> dict:
    """Band accuracy on the scoring set's own kinds (as bench.tutor_eval reports it), and the neighbours apart."""
    items = [it for it in all_items if it.kind != "neighbour"]
    nb = [score(it, th) for it in all_items if it.kind == "neighbour"]
    scores = [score(it, th) for it in items]
    hits = [in_band(s, it.band) for s, it in zip(scores, items)]

    def acc(pred) -> float | None:
        return share([h for h, it in zip(hits, items) if pred(it)])

    kinds = sorted({it.kind for it in items})
    return {
        "thresholds": {"covered": th.covered, "partial": th.partial, "lexical": th.lexical},
        "rubric_band_accuracy": acc(lambda it: True),
        "calibration_half": acc(lambda it: it.index % 2 == 0),
        "held_out_half": acc(lambda it: it.index % 2 == 1),
        "held_out_by_kind": {k: acc(lambda it, k=k: it.index % 2 == 1 and it.kind == k) for k in kinds},
        "by_kind": {k: acc(lambda it, k=k: it.kind == k) for k in kinds},
        "max_score": {k: max(s for s, it in zip(scores, items) if it.kind == k) for k in kinds},
        "neighbour_in_band": share([in_band(s, NEIGHBOUR_BAND) for s in nb]),
        "neighbour_max_score": max(nb) if nb else None,
        "mean_score": {k: round(float(np.mean([s for s, it in zip(scores, items) if it.kind == k])), 2)
                       for k in kinds},
    }


def calibrate(items: list[Scored]) -> tuple[object, list[dict]]:
    from tutor.features.rubric import LEXICAL_THRESHOLD, Thresholds

    cal = [it for it in items if it.index % 2 == 0]
    grid = []
    for c in COVERED_GRID:
        for p in PARTIAL_GRID[PARTIAL_GRID < c]:
            th = Thresholds(float(c), float(p), LEXICAL_THRESHOLD)
            scores = [score(it, th) for it in cal]
            acc = float(np.mean([in_band(s, it.band) for s, it in zip(scores, cal)]))
            off = float(np.mean([abs(s - sum(it.band) / 2) for s, it in zip(scores, cal)]))
            grid.append({"covered": float(c), "partial": float(p), "accuracy": round(acc, 4),
                         "mean_distance_to_band_middle": round(off, 3)})
    grid.sort(key=lambda g: (-g["accuracy"], g["mean_distance_to_band_middle"]))
    best = grid[0]
    return Thresholds(best["covered"], best["partial"], LEXICAL_THRESHOLD), grid


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.rubric_calibration")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="also write the JSON result here")
    args = ap.parse_args(argv)
    from tutor.config import load_config
    from tutor.features.rubric import Thresholds
    from tutor.retrieval import make_embedder

    cfg = load_config()
    embedder = make_embedder(cfg.retrieval.embedding_model)
    log(f"embedder: {embedder.name}")
    items = gather_all(cached_embed(embedder.embed))
    best, grid = calibrate(items)
    result = {"embedder": embedder.name, "n_answers": len(items),
              "n_questions": len({it.question_id for it in items}),
              "split": "calibration = even-numbered questions of the scoring set, held out = odd-numbered",
              "shipped": report(items, Thresholds()), "calibrated": report(items, best),
              "grid_top": grid[:15], "grid_size": len(grid)}
    emit("rubric_calibration", result)
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
