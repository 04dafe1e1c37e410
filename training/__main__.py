"""`python -m training train|sweep|eval`: LoRA runs on the interview bank or the tutor dataset.

    python -m training train --config training/configs/run_a.yaml [--fresh] [--eval] [--set optim.max_steps=5]
    python -m training sweep [CONFIG ...]          # default: run_a, run_b, run_c; trains, evaluates, reports
    python -m training eval --config training/configs/run_a.yaml [--adapter DIR] [--max-questions N]
    python -m training export-gguf [--adapters-dir adapters] [--base embedded|MODEL.gguf] [FOLDER ...]
    python -m training qa generate|score|export|all [--config Q.yaml] [--set concurrency=4] [--limit-docs N]

Configs are validated before any model loads; an error names the key. Exit codes: 0 ok, 2 bad config or
data, 1 a run failed (the message says what to change), 130 interrupted (re-run the same command to resume).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from dataclasses import asdict
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from training.config import REPO_ROOT, TrainConfig, TrainConfigError, load_train_config  # noqa: E402
from training.wiring import TrainingParts, build_parts  # noqa: E402

logger = logging.getLogger("training")
DEFAULT_SWEEP = [REPO_ROOT / "training" / "configs" / f"run_{x}.yaml" for x in ("a", "b", "c")]
REPORT_DIR = REPO_ROOT / "training" / "reports"


def _overrides(pairs: list[str]) -> dict[str, object]:
    from tutor.config_loader import parse_overrides

    return parse_overrides(pairs, TrainConfigError, "optim.max_steps=5")


def _evaluate_and_card(cfg: TrainConfig, parts: TrainingParts, adapter: Path | None = None,
                       max_questions: int | None = None):
    from training.config import resolve_path
    from training.evaluate import evaluate
    from training.model import base_model_source
    from training.placement import choose_placement
    from training.publish import publish_adapter
    from training.report import write_model_card
    from training.result import TrainResult

    adapter = adapter or cfg.run_dir / "adapter"
    if not (adapter / "adapter_config.json").is_file():
        raise FileNotFoundError(f"no adapter in {adapter}: train first (python -m training train --config ...)")
    ev = evaluate(cfg, adapter, parts=parts, max_questions=max_questions)
    cfg.run_dir.mkdir(parents=True, exist_ok=True)  # an outside adapter evaluated under a new run name
    (cfg.run_dir / "eval.json").write_text(ev.to_json() + "\n", encoding="utf-8")
    res_path = cfg.run_dir / "result.json"
    if res_path.is_file() and adapter == cfg.run_dir / "adapter":
        res = TrainResult(**json.loads(res_path.read_text(encoding="utf-8")))
        write_model_card(adapter, cfg, res, source=str(base_model_source(cfg.base_model, parts.model_cache_dir)),
                         placement=choose_placement(cfg), evaluation=ev)
        if cfg.run.adapter_name:
            publish_adapter(adapter, resolve_path(cfg.run.adapters_dir) / cfg.run.adapter_name)
    return ev


def cmd_train(a: argparse.Namespace) -> int:
    cfg = load_train_config(a.config, _overrides(a.set))
    from training.trainer import train

    parts = build_parts(metrics_store=cfg.run.metrics_store)
    res = train(cfg, parts, fresh=a.fresh)
    print(json.dumps(asdict(res), indent=2))
    if a.eval:
        ev = _evaluate_and_card(cfg, parts)
        print(ev.to_json())
    return 0


def cmd_eval(a: argparse.Namespace) -> int:
    cfg = load_train_config(a.config, _overrides(a.set))
    ev = _evaluate_and_card(cfg, build_parts(metrics_store=False), Path(a.adapter) if a.adapter else None,
                            a.max_questions)
    print(ev.to_json())
    return 0


def cmd_sweep(a: argparse.Namespace) -> int:
    paths = [Path(p) for p in a.configs] or DEFAULT_SWEEP
    overrides = _overrides(a.set)
    cfgs = [load_train_config(p, overrides) for p in paths]  # every config validated before the first run
    names = [c.name for c in cfgs]
    if len(set(names)) != len(names):
        raise TrainConfigError(f"sweep configs must have different names, got {names}.")
    from training.evaluate import load_evaluation
    from training.report import sweep_report
    from training.trainer import train

    parts = build_parts(metrics_store=any(c.run.metrics_store for c in cfgs))  # one store for the sweep
    done = []
    for cfg in cfgs:
        logger.info("sweep: run %s", cfg.name)
        res = train(cfg, parts, fresh=a.fresh)
        ev = load_evaluation(cfg.run_dir / "eval.json")
        if ev is None and not a.no_eval:
            ev = _evaluate_and_card(cfg, parts)
        done.append((cfg, res, ev))
        sweep_report(done, Path(a.report_dir))  # after every run, so a stopped sweep still has its report
    md, html = sweep_report(done, Path(a.report_dir))
    print(md.read_text(encoding="utf-8"))
    logger.info("sweep report: %s and %s", md, html)
    return 0


def cmd_export_gguf(a: argparse.Namespace) -> int:
    """peft adapters -> adapter.gguf beside each, for the llama.cpp backend (training/export_gguf.py)."""
    from training.export_gguf import export_adapter, export_all

    if a.base == "embedded":
        from tutor.backends.embedded import embedded_gguf

        base = embedded_gguf()
    else:
        base = Path(a.base)
    written = [export_adapter(Path(f), base) for f in a.folders] if a.folders else export_all(
        Path(a.adapters_dir), base)
    for path in written:
        print(path)
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training", description=__doc__.split("\n")[0])
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="train (or resume) one run")
    t.add_argument("--config", required=True)
    t.add_argument("--fresh", action="store_true", help="delete the run folder and start over")
    t.add_argument("--eval", action="store_true", help="evaluate on the test split afterwards")
    t.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a setting")
    s = sub.add_parser("sweep", help="train + evaluate several configs and write a comparison report")
    s.add_argument("configs", nargs="*", help="config files (default: run_a, run_b, run_c)")
    s.add_argument("--fresh", action="store_true")
    s.add_argument("--no-eval", action="store_true", help="skip the test-split evaluation")
    s.add_argument("--report-dir", default=str(REPORT_DIR))
    s.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    e = sub.add_parser("eval", help="base vs adapter on the test split")
    e.add_argument("--config", required=True)
    e.add_argument("--adapter", help="adapter folder (default: the run folder's adapter/)")
    e.add_argument("--max-questions", type=int, default=None)
    e.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    x = sub.add_parser("export-gguf", help="convert peft LoRA adapters to GGUF for the llama.cpp backend")
    x.add_argument("folders", nargs="*", help="adapter folders (default: every one under --adapters-dir)")
    x.add_argument("--adapters-dir", default=str(REPO_ROOT / "adapters"))
    x.add_argument("--base", default="embedded", help="the base model GGUF ('embedded' = the shipped one)")
    from training.qa.cli import add_parser as add_qa_parser

    add_qa_parser(sub)
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if a.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from training.data import DataError
    from training.errors import TrainingError
    from training.export_gguf import ExportError
    from training.qa.config import QAConfigError
    from tutor.errors import TutorError

    try:
        if a.cmd == "qa":
            from training.qa.cli import default_parts_factory, run as run_qa

            return run_qa(a, default_parts_factory())
        return {"train": cmd_train, "sweep": cmd_sweep, "eval": cmd_eval, "export-gguf": cmd_export_gguf}[a.cmd](a)
    except (TrainConfigError, DataError, FileNotFoundError, ExportError, QAConfigError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except (TrainingError, TutorError) as e:  # TutorError: e.g. the app's config or model (qa builds the app)
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: run the same command again to resume from the last checkpoint", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
