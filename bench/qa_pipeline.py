"""Q&A pipeline bench: concurrent vs sequential phrasing, dataset quality on the shipped KB, kill -9 resume.

    python -m bench.qa_pipeline [--docs 2] [--quality-model]

1. Throughput: the same first `--docs` documents through `generate` with the app's backend, once one request
   at a time (workers=1) and once with the backend's slots (model.slots), each into a fresh folder; reports
   documents/s and pairs/min side by side and `speedup_vs_sequential` = sequential s / concurrent s.
2. Quality on the whole shipped KB: generate (templates only unless --quality-model: the embedded model on
   every document takes long on a small CPU), score, export; pairs_per_doc, pass_rate, diversity.
3. Resume: `python -m training qa generate` on the subset as a subprocess, SIGKILLed mid-run once some
   model-phrased pairs are in, then run again; lost / duplicated keys against the uninterrupted run.
Prints one JSON object last; its "machine" carries the CPU model and flags (bench/cpu.py, through emit).
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from bench.common import emit, log

def _keys(path: Path) -> list[str]:
    if not path.is_file():
        return []
    return [json.loads(line)["key"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def throughput(parts, cfg, paths, workers: int, out: Path) -> dict:
    from training.qa.pipeline import generate

    stats = generate(replace(cfg, out_dir=out), parts.backend, parts.kb_dir, parts.chunking, workers, paths=paths)
    return {"workers": workers, "seconds": round(stats.seconds, 2), "pairs": stats.new_pairs,
            "documents_per_s": round(stats.documents / stats.seconds, 4) if stats.seconds else None,
            "pairs_per_min": round(stats.pairs_per_min, 1)}


def quality(parts, cfg, out: Path, use_model: bool) -> dict:
    from training.qa.pipeline import generate, load_problems, score_run
    from training.qa.report import export

    cfg = replace(cfg, out_dir=out, use_model=use_model)
    t0 = time.perf_counter()
    stats = generate(cfg, parts.backend if use_model else None, parts.kb_dir, parts.chunking,
                     cfg.concurrency or parts.parallel)
    pairs = score_run(cfg, parts.embed)
    _, report = export(pairs, load_problems(cfg), cfg, stats.documents)
    r = json.loads(report.read_text(encoding="utf-8"))
    return {"documents": stats.documents, "seconds": round(time.perf_counter() - t0, 1), "model_phrasing": use_model,
            **{k: r[k] for k in ("pairs", "kept", "pairs_per_doc", "pass_rate", "distinct_pattern_share",
                                 "max_first_word_share", "top_first_words", "kinds", "generated_by",
                                 "check_failures_all_pairs")},
            "problems": len(r["problems"])}


def resume(docs: int, reference: list[str], model_calls: int, out: Path) -> dict:
    cmd = [sys.executable, "-m", "training", "qa", "generate", "--limit-docs", str(docs), "--no-progress",
           "--set", f"out_dir={out}"]
    log_path = out / "pairs-log"
    pairs_file = out / "work" / "kb" / "pairs.jsonl"
    out.mkdir(parents=True, exist_ok=True)
    # Kill once at least one model-phrased pair is in (template pairs finish first) and some are still missing.
    kill_at = len(reference) - model_calls + 1
    with open(log_path, "w") as logf:
        proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, start_new_session=True)
        killed_at = None
        while proc.poll() is None:
            n = len(_keys(pairs_file))
            if n >= kill_at and n < len(reference):
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
                killed_at = n
                break
            time.sleep(0.05)
    rerun = subprocess.run(cmd, capture_output=True, text=True)
    got = _keys(pairs_file)
    return {"killed_after_pairs": killed_at, "expected": len(reference), "final_lines": len(got),
            "resume_lost": len(set(reference) - set(got)), "resume_duplicated": len(got) - len(set(got)),
            "rerun_exit": rerun.returncode, "tested": killed_at is not None}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--docs", type=int, default=2, help="documents in the throughput subset")
    p.add_argument("--quality-model", action="store_true", help="model phrasing in the whole-KB quality run")
    a = p.parse_args(argv)
    from training.qa.config import load_qa_config
    from training.qa.sections import document_paths
    from training.wiring import build_qa_parts

    cfg = load_qa_config()
    parts = build_qa_parts()
    paths = document_paths(parts.kb_dir)[: a.docs]
    info = parts.backend.load()
    log(f"backend {info.backend} {info.model} ({info.detail}); parallel requests {parts.parallel}")
    with tempfile.TemporaryDirectory(prefix="qa-bench-") as tmp:
        tmp = Path(tmp)
        seq = throughput(parts, cfg, paths, 1, tmp / "seq")
        conc = throughput(parts, cfg, paths, cfg.concurrency or parts.parallel, tmp / "conc")
        log(f"sequential {seq}; concurrent {conc}")
        reference = _keys(tmp / "conc" / "work" / "kb" / "pairs.jsonl")
        model_calls = sum(1 for line in (tmp / "conc" / "work" / "kb" / "problems.jsonl").read_text().splitlines()
                          if '"stage": "model"' in line)
        from training.qa.candidates import candidates
        from training.qa.sections import load_sections

        phrased = sum(c.model_phrased for c in candidates(load_sections(parts.kb_dir, *parts.chunking, paths=paths)[0],
                                                         cfg.max_pairs_per_section))
        res = resume(a.docs, reference, max(phrased, 1), tmp / "resume")
        log(f"resume {res}")
        q = quality(parts, cfg, tmp / "quality", a.quality_model)
        log(f"quality {q}")
    emit("qa_pipeline", {
        "backend": f"{info.backend}:{info.model}", "parallel_requests": parts.parallel,
        "subset_documents": len(paths), "model_requests_in_subset": phrased, "model_problems_in_subset": model_calls,
        "sequential": seq, "concurrent": conc,
        "speedup_vs_sequential": round(seq["seconds"] / conc["seconds"], 2) if conc["seconds"] else None,
        "quality": q, "resume": res,
        "pairs_per_doc": q["pairs_per_doc"], "pass_rate": q["pass_rate"],
        "distinct_pattern_share": q["distinct_pattern_share"], "max_first_word_share": q["max_first_word_share"],
        "resume_lost": res["resume_lost"], "resume_duplicated": res["resume_duplicated"],
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
