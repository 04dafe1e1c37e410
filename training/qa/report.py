"""Run measurements (pass rate, diversity) and the versioned export with its report.

Definitions (also printed in every report):
- kept: score >= min_score and not a near-duplicate (training/qa/checks.py);
- pass_rate: share of kept pairs that pass every enabled check;
- question pattern: the question lower-cased with its focus term masked and digits replaced by 0;
  distinct_pattern_share = distinct patterns / kept questions;
- max_first_word_share: the largest share of kept questions that start with one word.
"""
from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any

from training.config import REPO_ROOT
from training.qa.checks import is_kept
from training.qa.config import QAConfig
from training.qa.records import Pair, Problem


def pattern(pair: Pair) -> str:
    q = pair.question.lower()
    if pair.focus:
        q = q.replace(pair.focus.lower(), "<t>")
    return re.sub(r"\d+", "0", " ".join(q.split()))


def measures(pairs: list[Pair], cfg: QAConfig, documents: int) -> dict[str, Any]:
    kept = [p for p in pairs if is_kept(p, cfg)]
    n = len(kept)
    first = Counter(p.question.split()[0].lower().strip(",:?") for p in kept if p.question.split())
    return {
        "pairs": len(pairs), "kept": n, "documents": documents,
        "pairs_per_doc": round(n / documents, 2) if documents else 0.0,
        "pass_rate": round(sum(all(p.checks.get(c, False) for c in cfg.checks) for p in kept) / n, 4) if n else 0.0,
        "distinct_pattern_share": round(len({pattern(p) for p in kept}) / n, 4) if n else 0.0,
        "max_first_word_share": round(first.most_common(1)[0][1] / n, 4) if n else 0.0,
        "top_first_words": first.most_common(5),
        "kinds": dict(Counter(p.kind for p in kept)),
        "generated_by": dict(Counter(p.generated_by for p in kept)),
        "check_failures_all_pairs": {c: sum(not p.checks.get(c, False) for p in pairs) for c in cfg.checks},
        "mean_score_kept": round(sum(p.score or 0 for p in kept) / n, 2) if n else 0.0,
    }


def _shown(value: Any) -> Any:
    """Paths relative to the repository (a committed report names no machine's folders)."""
    if not isinstance(value, Path):
        return value
    try:
        return value.resolve().relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return str(value)


def next_version(out_dir: Path, run_name: str) -> int:
    found = [int(m.group(1)) for p in Path(out_dir).glob(f"qa-{run_name}-v*.jsonl")
             if (m := re.fullmatch(rf"qa-{re.escape(run_name)}-v(\d+)\.jsonl", p.name))]
    return max(found, default=0) + 1


LOWEST_SHOWN = 25  # the lowest-scored pairs a report keeps for inspection (the admin Data view lists them)


def score_histogram(pairs: list[Pair]) -> dict[str, int]:
    """Pairs per score bin over ALL pairs (dropped ones included): "0-1" ... "9-10", 10 in the last bin."""
    bins = {f"{i}-{i + 1}": 0 for i in range(10)}
    for p in pairs:
        i = min(int(p.score or 0.0), 9)
        bins[f"{i}-{i + 1}"] += 1
    return bins


def lowest_pairs(pairs: list[Pair], cfg: QAConfig, n: int = LOWEST_SHOWN) -> list[dict[str, Any]]:
    worst = sorted(pairs, key=lambda p: (p.score or 0.0, p.key))[:n]
    return [{"question": p.question, "answer": p.answer, "score": p.score, "kept": is_kept(p, cfg),
             "failed_checks": [c for c in cfg.checks if not p.checks.get(c, False)], "source": p.chunk_id,
             "kind": p.kind} for p in worst]


def export(pairs: list[Pair], problems: list[Problem], cfg: QAConfig, documents: int,
           throughput: dict[str, Any] | None = None) -> tuple[Path, Path]:
    """Write qa-<run>-vN.jsonl (kept pairs) and qa-<run>-vN.report.json; returns both paths.
    `throughput`: the generate stage's timing (training/qa/cli.py), copied into the report when known."""
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    version = next_version(out, cfg.run_name)
    data = out / f"qa-{cfg.run_name}-v{version}.jsonl"
    kept = sorted((p for p in pairs if is_kept(p, cfg)), key=lambda p: (p.doc_id, p.chunk_id, p.key))
    with open(data, "w", encoding="utf-8") as fh:
        for p in kept:
            row = {"id": p.key, "source_chunk_id": p.chunk_id, "doc_id": p.doc_id, "kind": p.kind,
                   "difficulty": p.difficulty, "question": p.question, "answer": p.answer, "score": p.score,
                   "checks": p.checks, "generated_by": p.generated_by}
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    report = {"version": version, "dataset": data.name, "config": {k: _shown(v) for k, v in asdict(cfg).items()},
              **measures(pairs, cfg, documents),
              "throughput": throughput, "score_histogram": score_histogram(pairs),
              "lowest_pairs": lowest_pairs(pairs, cfg),
              "problems": [p.to_json() for p in problems],
              "definitions": __doc__.split("Definitions (also printed in every report):\n", 1)[1].strip()}
    rep = out / f"qa-{cfg.run_name}-v{version}.report.json"
    rep.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return data, rep
