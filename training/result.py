"""What a run did (TrainResult, saved as result.json): steps, losses, throughput and peak memory, read back from
the run's metrics.jsonl so a resumed run reports the same way as one that ran straight through; which dataset
trained it (training/dataset_info.py); and whether its GGUF copy was written (training/export_gguf.py)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from training.callbacks import read_log
from training.dataset_info import DatasetInfo


@dataclass(frozen=True)
class TrainResult:
    name: str
    run_dir: str
    adapter_dir: str
    published_dir: str | None
    global_step: int
    best_step: int | None
    best_val_loss: float | None
    first_train_loss: float | None
    last_train_loss: float | None
    train_samples_per_s: float | None
    train_tokens_per_s: float | None
    peak_memory_mb: float | None
    trainable_params: int
    total_params: int
    train_examples: int
    validation_examples: int
    train_rows: int
    wall_s: float
    resumed_from: str | None
    device: str
    precision: str
    stopped_early: bool
    # the data that trained it (defaults: a result.json written before these were recorded still loads)
    dataset_path: str | None = None
    dataset_version: int | None = None  # the Q&A export's version; None for a folder of rows
    dataset_sha256: str | None = None
    # the adapter's llama.cpp copy: its path, or why it could not be written (the peft adapter is kept either way)
    gguf_path: str | None = None
    gguf_error: str | None = None


@dataclass(frozen=True)
class RunFacts:
    """What the trainer knows about a run besides the Trainer's state and the metrics log."""

    name: str
    run_dir: Path
    adapter_dir: Path
    trainable_params: int
    total_params: int
    train_examples: int
    validation_examples: int
    train_rows: int
    wall_s: float
    resumed_from: str | None
    device: str
    precision: str
    dataset: DatasetInfo | None = None


def summarize_run(facts: RunFacts, state: Any) -> TrainResult:
    """The result from the Trainer's final `state` and the run's metrics.jsonl."""
    log = read_log(facts.run_dir / "metrics.jsonl")
    train_losses = [x.train_loss for x in log if x.train_loss is not None]
    sps = [x.samples_per_s for x in log if x.samples_per_s]
    tps = [x.tokens_per_s for x in log if x.tokens_per_s]
    best_step = None
    if state.best_model_checkpoint:
        best_step = int(Path(state.best_model_checkpoint).name.split("-")[1])
    return TrainResult(
        name=facts.name, run_dir=str(facts.run_dir), adapter_dir=str(facts.adapter_dir), published_dir=None,
        global_step=int(state.global_step), best_step=best_step,
        best_val_loss=None if state.best_metric is None else float(state.best_metric),
        first_train_loss=train_losses[0] if train_losses else None,
        last_train_loss=train_losses[-1] if train_losses else None,
        # our counter's mean over logged steps: the Trainer's own figure counts rows, and a packed row holds
        # several examples (a resumed run: the steps of this process only)
        train_samples_per_s=round(sum(sps) / len(sps), 4) if sps else None,
        train_tokens_per_s=round(sum(tps) / len(tps), 1) if tps else None,
        # the per-step peaks were measured after reset_peak_memory at the run's start: this run's own peak
        peak_memory_mb=max((x.peak_memory_mb or 0.0 for x in log), default=None),
        trainable_params=facts.trainable_params, total_params=facts.total_params,
        train_examples=facts.train_examples, validation_examples=facts.validation_examples,
        train_rows=facts.train_rows, wall_s=facts.wall_s, resumed_from=facts.resumed_from,
        device=facts.device, precision=facts.precision, stopped_early=state.global_step < state.max_steps,
        dataset_path=facts.dataset.path if facts.dataset else None,
        dataset_version=facts.dataset.version if facts.dataset else None,
        dataset_sha256=facts.dataset.sha256 if facts.dataset else None,
    )


def placeholder_result(facts: RunFacts, state: Any) -> TrainResult:
    """What a non-main process of `accelerate launch` returns: the main process saves and reports."""
    return TrainResult(
        name=facts.name, run_dir=str(facts.run_dir), adapter_dir=str(facts.adapter_dir), published_dir=None,
        global_step=int(state.global_step), best_step=None, best_val_loss=state.best_metric, first_train_loss=None,
        last_train_loss=None, train_samples_per_s=None, train_tokens_per_s=None, peak_memory_mb=None,
        trainable_params=facts.trainable_params, total_params=facts.total_params, train_examples=0,
        validation_examples=0, train_rows=0, wall_s=0.0, resumed_from=None, device=facts.device,
        precision=facts.precision, stopped_early=False)
