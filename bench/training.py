"""Training throughput: our pipeline vs a naive baseline, same model, data and run, with an ablation between.

    .venv/bin/python -m bench.training [--quick] [--examples N] [--threads N] [--config training/configs/run_a.yaml]

Every arm runs `training.trainer.train` on the run A config with the embedded SmolLM2-135M (the same device,
precision, LoRA and optimizer) over the same first N train-split questions of the interview bank, for one
epoch, without validation or checkpoints in between, each in its own process (so peak memory is the arm's
own and no arm inherits another's warm caches):

- naive: one example per row, every row padded to the longest example, the stock transformers loss
  (vocabulary logits at every position), fp32 base weights under bf16 autocast;
- packed: the naive arm with packing instead of padding (examples packed into rows of 512 tokens; attention
  kept inside each example by a block-diagonal mask);
- unpadded: one example per row with no padding at all (data.packing: false, batch 1);
- unpadded_answer_logits: + the vocabulary projection only at answer positions (optim.answer_only_logits);
- pipeline: what `python -m training train --config run_a.yaml` does (+ the frozen base in bf16, run.bf16_base).

The middle arms are the ablation: what each choice adds. The target is about pipeline / naive.

samples/s = examples trained / training seconds, from the per-step counters in the run's metrics.jsonl,
leaving out the first optimizer step (warm-up) of each arm. Progress goes to stderr; the last stdout line is
one JSON object (bench convention). Target (issue 5): ratio >= 1.5.
"""
from __future__ import annotations

import argparse
import json
import logging
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import emit, log

from training.callbacks import read_log  # noqa: E402
from training.config import REPO_ROOT, load_train_config  # noqa: E402
from training.trainer import train  # noqa: E402
from training.wiring import build_parts  # noqa: E402
from tutor.features.interview_bank import load_bank, split_of  # noqa: E402

TARGET_RATIO = 1.5


def _subset_bank(n: int, folder: Path) -> int:
    """N train-split questions (+ 4 validation ones, which the trainer requires) into folder/bank.jsonl."""
    bank = load_bank(REPO_ROOT / "training" / "data" / "interview")
    train_q = [q for q in bank.questions if split_of(q.question) == "train"][:n]
    val_q = [q for q in bank.questions if split_of(q.question) == "validation"][:4]
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "bank.jsonl").open("w", encoding="utf-8") as f:
        for q in train_q + val_q:
            f.write(json.dumps({"id": q.id, "question": q.question, "answer": q.answer, "topic": q.topic,
                                "difficulty": q.difficulty, "key_points": list(q.key_points)}) + "\n")
    return len(train_q)


_STOCK = {"optim.answer_only_logits": False, "run.bf16_base": False}
ARMS = {  # arm -> (rows mode, config overrides)
    "naive": ("naive", _STOCK),
    "packed": (None, {**_STOCK, "data.packing": True, "data.pack_len": 512}),
    "unpadded": (None, {**_STOCK, "data.packing": False}),
    "unpadded_answer_logits": (None, {"data.packing": False, "optim.answer_only_logits": True,
                                      "run.bf16_base": False}),
    "pipeline": (None, {}),
}


def _arm(config: Path, mode: str, data_dir: Path, out_dir: Path, threads: int) -> dict:
    rows_mode, overrides = ARMS[mode]
    cfg = load_train_config(config, {
        **overrides, "run.threads": threads,
        "name": f"bench_{mode}", "data.path": str(data_dir), "optim.epochs": 1, "optim.grad_accum": 1,
        "optim.warmup_ratio": 0.0, "run.eval_steps": 100000, "run.early_stopping_patience": 0,
        "run.output_dir": str(out_dir), "run.adapter_name": "", "run.metrics_store": False,
        "run.progress": False,
    })
    log(f"[training] {mode}: training {cfg.name} ...")
    res = train(cfg, build_parts(metrics_store=False), fresh=True, train_rows_mode=rows_mode)
    steps = [r for r in read_log(cfg.run_dir / "metrics.jsonl") if r.train_loss is not None]
    timed = steps[1:] if len(steps) > 1 else steps
    samples = sum(r.samples for r in timed)
    tokens = sum(r.tokens for r in timed)
    secs = sum(r.seconds for r in timed)
    out = {
        "rows": res.train_rows, "steps": res.global_step, "timed_steps": len(timed), "examples_timed": samples,
        "samples_per_s": round(samples / secs, 4) if secs else None,
        "real_tokens_per_s": round(tokens / secs, 1) if secs else None,
        "seconds": round(secs, 1), "peak_memory_mb": res.peak_memory_mb,
        "device": res.device, "precision": res.precision,
    }
    log(f"[training] {mode}: {out}")
    return out


def _arm_in_process(config: str, mode: str, tmp: Path, threads: int) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "bench.training", "--arm", mode, "--config", config, "--threads", str(threads),
         "--work", str(tmp)], stdout=subprocess.PIPE, text=True, cwd=REPO_ROOT, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--arm", choices=list(ARMS), help=argparse.SUPPRESS)  # one arm, in a child process
    ap.add_argument("--work", help=argparse.SUPPRESS)
    ap.add_argument("--quick", action="store_true", help="8 examples instead of 32")
    ap.add_argument("--examples", type=int, default=None)
    ap.add_argument("--threads", type=int, default=0,
                    help="torch threads (0 = torch's default); 1 is much faster on a CPU shared with other work")
    ap.add_argument("--config", default=str(REPO_ROOT / "training" / "configs" / "run_a.yaml"))
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if a.arm:
        work = Path(a.work)
        print(json.dumps(_arm(Path(a.config), a.arm, work / "data", work / "runs", a.threads)), flush=True)
        return
    n = a.examples or (8 if a.quick else 32)
    tmp = Path(tempfile.mkdtemp(prefix="bench-training-"))
    try:
        used = _subset_bank(n, tmp / "data")
        arms = {m: _arm_in_process(a.config, m, tmp, a.threads) for m in ARMS}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    base = arms["naive"]["samples_per_s"]
    for m in arms:
        sps = arms[m]["samples_per_s"]
        arms[m]["ratio_to_naive"] = round(sps / base, 3) if sps and base else None
    ratio = arms["pipeline"]["ratio_to_naive"]
    emit("training", {
        "examples": used, "config": Path(a.config).name, "threads": a.threads, **arms,
        "ratio_samples_per_s": ratio, "target_ratio": TARGET_RATIO,
        "meets_target": bool(ratio and ratio >= TARGET_RATIO),
    })


if __name__ == "__main__":
    main()
