"""`python -m training qa generate|score|export` (also `all`): the Q&A pipeline's commands.

    python -m training qa generate [--config training/configs/qa.yaml] [--set concurrency=4] [--limit-docs N]
    python -m training qa score
    python -m training qa export

The config is validated before anything is built (an unknown check or a bad threshold is an error naming it,
before any model loads). `generate` resumes: after a crash or kill -9, the same command does only what is missing.
"""
from __future__ import annotations

import argparse
import json
import logging
from dataclasses import asdict
from pathlib import Path
from typing import Callable

from training.qa.config import QAConfig, load_qa_config

logger = logging.getLogger("training.qa")
PartsFactory = Callable[[], object]  # () -> training.wiring.QAParts


def add_parser(sub: argparse._SubParsersAction) -> None:
    q = sub.add_parser("qa", help="course documents -> scored question/answer dataset")
    q.add_argument("stage", choices=("generate", "score", "export", "all"))
    q.add_argument("--config", help="Q&A settings YAML (training/qa/config.py)")
    q.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a Q&A setting")
    q.add_argument("--limit-docs", type=int, default=None, help="only the first N documents (a quick subset)")
    q.add_argument("--no-progress", action="store_true", help="no progress bar")


def _overrides(pairs: list[str]) -> dict[str, object]:
    from training.qa.config import QAConfigError
    from tutor.config_loader import parse_overrides

    return parse_overrides(pairs, QAConfigError, "concurrency=4")


def _generate(cfg: QAConfig, parts, a: argparse.Namespace) -> dict:
    from tqdm import tqdm

    from training.qa.pipeline import generate
    from training.qa.sections import document_paths

    kb = Path(cfg.kb_dir) if cfg.kb_dir else parts.kb_dir
    paths = document_paths(kb)[: a.limit_docs] if a.limit_docs else None
    workers = cfg.concurrency or parts.parallel
    backend = parts.backend if cfg.use_model else None
    with tqdm(desc="qa pairs", unit="pair", disable=a.no_progress) as bar:
        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done)

        stats = generate(cfg, backend, kb, parts.chunking, workers, paths=paths, progress=progress)
    return {**asdict(stats), "pairs_per_min": round(stats.pairs_per_min, 1)}


def run(a: argparse.Namespace, parts_factory: PartsFactory) -> int:
    cfg = load_qa_config(a.config, _overrides(a.set))  # validated before anything loads
    parts = parts_factory()
    out: dict = {}
    if a.stage in ("generate", "all"):
        out["generate"] = _generate(cfg, parts, a)
    if a.stage in ("score", "all"):
        from training.qa.pipeline import score_run

        pairs = score_run(cfg, parts.embed)
        out["score"] = {"pairs": len(pairs)}
    if a.stage in ("export", "all"):
        from training.qa.pipeline import load_problems, load_scored, run_dir
        from training.qa.report import export

        rows = (run_dir(cfg) / "sections.jsonl").read_text(encoding="utf-8").splitlines()
        problems = load_problems(cfg)
        docs = len({json.loads(r)["doc_id"] for r in rows if r.strip()}) + sum(p.stage == "document" for p in problems)
        data, report = export(load_scored(cfg), problems, cfg, docs)
        summary = json.loads(report.read_text(encoding="utf-8"))
        out["export"] = {"dataset": str(data), "report": str(report),
                         **{k: summary[k] for k in ("kept", "pairs_per_doc", "pass_rate", "distinct_pattern_share",
                                                    "max_first_word_share")}}
    print(json.dumps(out, indent=2))
    return 0


def default_parts_factory() -> PartsFactory:
    """Built only after the config validated: the app's own services (training/wiring.py)."""
    def build():
        from training.wiring import build_qa_parts

        return build_qa_parts()
    return build
