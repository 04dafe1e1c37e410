"""`python -m training qa generate|score|export` (also `all`): the Q&A pipeline's commands.

    python -m training qa generate [--config training/configs/qa.yaml] [--set concurrency=4] [--limit-docs N]
    python -m training qa score
    python -m training qa export
    python -m training qa all --limit-docs 3 --status-file training/data/qa/work/kb/status.json

The config is validated before anything is built (an unknown check or a bad threshold is an error naming it,
before any model loads). `generate` resumes: after a crash or kill -9, the same command does only what is missing.
Every command keeps a status file (training/qa/status.py; default `<run folder>/status.json`) with its stage,
progress and outcome, which the admin Data view polls; `generate` also leaves its throughput in
`<run folder>/generate.json`, which `export` copies into the report.
"""
from __future__ import annotations

import argparse
import json
import logging
from dataclasses import asdict
from pathlib import Path
from typing import Callable

from training.qa.config import QAConfig, QAConfigError, load_qa_config
from training.qa.status import RunStatus, StatusWriter, write_json_atomic

logger = logging.getLogger("training.qa")
PartsFactory = Callable[[], object]  # () -> training.wiring.QAParts


def add_parser(sub: argparse._SubParsersAction) -> None:
    q = sub.add_parser("qa", help="course documents -> scored question/answer dataset")
    q.add_argument("stage", choices=("generate", "score", "export", "all"))
    q.add_argument("--config", help="Q&A settings YAML (training/qa/config.py)")
    q.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a Q&A setting")
    q.add_argument("--limit-docs", type=int, default=None, help="only the first N documents (a quick subset)")
    q.add_argument("--no-progress", action="store_true", help="no progress bar")
    q.add_argument("--status-file", default=None,
                   help="where to keep the run's status JSON (default: <run folder>/status.json)")


def _overrides(pairs: list[str]) -> dict[str, object]:
    from training.qa.config import QAConfigError
    from tutor.config_loader import parse_overrides

    return parse_overrides(pairs, QAConfigError, "concurrency=4")


def _generate(cfg: QAConfig, parts, a: argparse.Namespace, status: StatusWriter) -> dict:
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
            status.progress(done, total)

        stats = generate(cfg, backend, kb, parts.chunking, workers, paths=paths, progress=progress)
    throughput = {"documents": stats.documents, "seconds": round(stats.seconds, 2), "new_pairs": stats.new_pairs,
                  "total_pairs": stats.total_pairs, "workers": stats.workers,
                  "documents_per_s": round(stats.documents / stats.seconds, 3) if stats.seconds > 0 else None,
                  "pairs_per_min": round(stats.pairs_per_min, 1),
                  "resumed": stats.new_pairs < stats.total_pairs}  # this invocation did only part of the run
    write_json_atomic(run_dir(cfg) / "generate.json", throughput)
    status.update(documents=stats.documents, docs_per_s=throughput["documents_per_s"],
                  pairs_per_min=throughput["pairs_per_min"])
    return {**asdict(stats), "pairs_per_min": round(stats.pairs_per_min, 1)}


def _throughput(cfg: QAConfig) -> dict | None:
    path = run_dir(cfg) / "generate.json"
    try:
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
    except (OSError, ValueError):
        return None  # a report without throughput beats no report


def run_dir(cfg: QAConfig) -> Path:
    return Path(cfg.out_dir) / "work" / cfg.run_name  # the same folder as training.qa.pipeline.run_dir


def command_line(a: argparse.Namespace) -> list[str]:
    """The command as typed (running it again resumes the run)."""
    cmd = ["python", "-m", "training", "qa", a.stage]
    for flag, value in (("--config", a.config), ("--limit-docs", a.limit_docs), ("--status-file", a.status_file)):
        if value is not None:
            cmd += [flag, str(value)]
    for pair in a.set:
        cmd += ["--set", pair]
    return cmd


def _reason(e: BaseException) -> str:
    if isinstance(e, (QAConfigError, FileNotFoundError)):
        return str(e)
    from tutor.errors import TutorError

    if isinstance(e, TutorError):
        return str(e)
    return f"The run stopped on an unexpected error ({type(e).__name__}: {e}); see the command's log."


def run(a: argparse.Namespace, parts_factory: PartsFactory) -> int:
    cmd = command_line(a)
    try:
        cfg = load_qa_config(a.config, _overrides(a.set))  # validated before anything loads
    except QAConfigError as e:
        if a.status_file:  # whoever launched it waits on this file: say why it never started
            path = Path(a.status_file)
            write_json_atomic(path, RunStatus(path.parent.name, "failed", error=str(e), command=tuple(cmd)).to_json())
        raise
    status = StatusWriter(Path(a.status_file) if a.status_file else run_dir(cfg) / "status.json", cfg.run_name, cmd)
    try:
        out = _stages(cfg, a, parts_factory, status)
    except KeyboardInterrupt:
        status.fail("Stopped with Ctrl+C; run the same command to resume from the checkpoint.", state="interrupted")
        raise
    except BaseException as e:
        status.fail(_reason(e))
        raise
    print(json.dumps(out, indent=2))
    return 0


def _stages(cfg: QAConfig, a: argparse.Namespace, parts_factory: PartsFactory, status: StatusWriter) -> dict:
    status.stage("load")
    parts = parts_factory()
    out: dict = {}
    if a.stage in ("generate", "all"):
        status.stage("generate")
        out["generate"] = _generate(cfg, parts, a, status)
    if a.stage in ("score", "all"):
        from training.qa.pipeline import score_run

        status.stage("score")
        pairs = score_run(cfg, parts.embed)
        out["score"] = {"pairs": len(pairs)}
    report_name = ""
    if a.stage in ("export", "all"):
        from training.qa.pipeline import load_problems, load_scored
        from training.qa.report import export

        status.stage("export")
        rows = (run_dir(cfg) / "sections.jsonl").read_text(encoding="utf-8").splitlines()
        problems = load_problems(cfg)
        docs = len({json.loads(r)["doc_id"] for r in rows if r.strip()}) + sum(p.stage == "document" for p in problems)
        data, report = export(load_scored(cfg), problems, cfg, docs, throughput=_throughput(cfg))
        report_name = report.name
        summary = json.loads(report.read_text(encoding="utf-8"))
        out["export"] = {"dataset": str(data), "report": str(report),
                         **{k: summary[k] for k in ("kept", "pairs_per_doc", "pass_rate", "distinct_pattern_share",
                                                    "max_first_word_share")}}
    status.finish(report_name)
    return out


def default_parts_factory() -> PartsFactory:
    """Built only after the config validated: the app's own services (training/wiring.py)."""
    def build():
        from training.wiring import build_qa_parts

        return build_qa_parts()
    return build
