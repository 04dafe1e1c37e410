"""One LoRA training run: base model + peft LoRA + transformers Trainer, resumable, with per-step metrics.

Run folder (<run.output_dir>/<name>/): config.json (the config it was started with; a resume with a
different config is refused), run_id, checkpoint-N/ (Trainer checkpoints, every run.eval_steps),
metrics.jsonl (one StepRecord per log line), adapter/ (the best checkpoint's LoRA in peft format with a
model card), result.json. Running the same command again after a kill continues from the newest complete
checkpoint; after a finished run it does nothing unless --fresh.

This module runs the steps in order; each lives in its own module: placement.py (device, precision),
model.py (base model + LoRA), data.py (rows), run_folder.py (config check, resume point), step_loop.py (the
Trainer: validation, checkpoints, early stopping, out of memory), result.py (what the run did, peak memory
included), publish.py (adapter save and publish), export_gguf.py (the published adapter's llama.cpp copy,
adapter.gguf, beside the peft files; a failed export is reported and the peft adapter kept). The tutor-side
parts come in from wiring.py.

Why the plain Trainer and not TRL's SFTTrainer: trl 1.16 pins cleanly with transformers 5.23, but pulls
datasets, pyarrow, dill, multiprocess and xxhash (pip --dry-run) for the two features we need here,
prompt masking and packing, which data.py does in ~150 lines on plain lists.
"""
from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Sequence

from training.config import TrainConfig, resolve_path
from training.data import Dataset, TrainRows, load_dataset, prepare_rows
from training.dataset_info import DatasetInfo, describe_dataset
from training.model import PreparedModel, prepare_model
from training.placement import Placement, choose_placement
from training.publish import publish_adapter, save_adapter
from training.result import RunFacts, TrainResult, placeholder_result, summarize_run
from training.run_folder import check_same_config, finished_result, resume_point
from training.step_loop import build_trainer, run_steps
from training.wiring import TrainingParts

logger = logging.getLogger(__name__)


def train(cfg: TrainConfig, parts: TrainingParts, *, fresh: bool = False, extra_callbacks: Sequence[Any] = (),
          train_rows_mode: str | None = None) -> TrainResult:
    """Train (or resume) the run described by `cfg`; returns what it did. Config was validated on load.

    `parts` come from training.wiring.build_parts (the metrics store is used only when run.metrics_store).
    `train_rows_mode` "naive" is the benchmark's baseline (pad every row to the longest example).
    run.threads applies to this run only: torch's thread count is restored afterwards.
    """
    import torch

    threads = torch.get_num_threads()
    try:
        return _train(cfg, parts, fresh=fresh, extra_callbacks=extra_callbacks, train_rows_mode=train_rows_mode)
    finally:
        torch.set_num_threads(threads)


def _train(cfg: TrainConfig, parts: TrainingParts, *, fresh: bool, extra_callbacks: Sequence[Any],
           train_rows_mode: str | None) -> TrainResult:
    from training.callbacks import reset_peak_memory

    t_start = time.perf_counter()
    reset_peak_memory()  # this run's peak, not the process's so far (a sweep trains several runs)
    if fresh and cfg.run_dir.exists():
        shutil.rmtree(cfg.run_dir)
    ds = _load_data(cfg, parts)  # data first: a bad data folder must fail before the (slow) model load
    dataset = describe_dataset(cfg.data_dir)  # what trained this run, hashed as it was read
    check_same_config(cfg.run_dir, cfg)
    done = finished_result(cfg.run_dir)
    if done is not None:
        logger.info("run %s already finished (%s); use --fresh to train again", cfg.name, cfg.run_dir / "result.json")
        return done
    placement = choose_placement(cfg)
    logger.info("run %s on %s/%s (%s)", cfg.name, placement.device, placement.precision, placement.reason)
    _set_threads_and_seed(cfg)
    prepared = prepare_model(cfg, placement, parts.model_cache_dir)
    rows = prepare_rows(prepared.tokenizer, ds, cfg.data, train_rows_mode)
    trainer, resume = _start_trainer(cfg, parts, placement, prepared, rows, extra_callbacks)
    run_steps(trainer, cfg, resume)
    if not trainer.is_world_process_zero():
        # accelerate launch: the main process saves, reports and publishes; the others are done
        return placeholder_result(_facts(cfg, placement, prepared, rows, 0.0, None), trainer.state)
    adapter_dir = cfg.run_dir / "adapter"
    save_adapter(trainer.model, adapter_dir, cfg.base_model)
    facts = _facts(cfg, placement, prepared, rows, round(time.perf_counter() - t_start, 1), resume, dataset)
    return _finish(cfg, summarize_run(facts, trainer.state), prepared, placement)


def _load_data(cfg: TrainConfig, parts: TrainingParts) -> Dataset:
    ds = load_dataset(cfg.data.task, cfg.data_dir, parts.source_notes)
    for p in ds.problems:
        logger.warning("row skipped: %s", p)
    return ds


def _set_threads_and_seed(cfg: TrainConfig) -> None:
    import torch
    from transformers import set_seed

    if cfg.run.threads > 0:
        torch.set_num_threads(cfg.run.threads)
    set_seed(cfg.optim.seed)


def _start_trainer(cfg: TrainConfig, parts: TrainingParts, placement: Placement, prepared: PreparedModel,
                   rows: TrainRows, extra_callbacks: Sequence[Any]) -> tuple[Any, Any]:
    """The Trainer with its metrics logger, and the checkpoint to resume from (None: a new run)."""
    from training.callbacks import MetricsLogger, StepCounter, read_run_id

    counter = StepCounter()
    store = parts.metrics_store if cfg.run.metrics_store else None
    run_id = read_run_id(cfg.run_dir)
    resume = resume_point(cfg)
    metrics_logger = MetricsLogger(cfg.run_dir / "metrics.jsonl", counter, run_id, cfg.name, store)
    trainer = build_trainer(cfg, placement, prepared.model, prepared.tokenizer, rows, counter=counter,
                            metrics_logger=metrics_logger, extra_callbacks=extra_callbacks)
    return trainer, resume


def _facts(cfg: TrainConfig, placement: Placement, prepared: PreparedModel, rows: TrainRows, wall_s: float,
           resume: Any, dataset: DatasetInfo | None = None) -> RunFacts:
    return RunFacts(
        name=cfg.name, run_dir=cfg.run_dir, adapter_dir=cfg.run_dir / "adapter",
        trainable_params=prepared.trainable_params, total_params=prepared.total_params,
        train_examples=rows.train_examples, validation_examples=rows.validation_examples,
        train_rows=len(rows.train_rows), wall_s=wall_s, resumed_from=resume.name if resume else None,
        device=placement.device, precision=placement.precision, dataset=dataset)


def export_gguf(adapter_dir: Path, model: Any) -> tuple[str | None, str | None]:
    """adapter.gguf beside the peft files, for the llama.cpp backend: (its path, None), or (None, why not).
    A failed export must not cost the trained adapter, so it is reported, not raised."""
    from training.export_gguf import ExportError, base_info_from_config, export_adapter

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    try:
        return str(export_adapter(adapter_dir, base_info_from_config(base.config))), None
    except (ExportError, ImportError, OSError, ValueError, KeyError, AttributeError) as e:
        logger.warning("GGUF export of %s failed: %s", adapter_dir, e)
        return None, (f"The GGUF export (adapter.gguf, for the llama.cpp engine) failed: {str(e).rstrip('.')}. "
                      f"The peft adapter is kept; after fixing this, run "
                      f"`python -m training export-gguf {adapter_dir}`.")


def _finish(cfg: TrainConfig, result: TrainResult, prepared: PreparedModel, placement: Placement) -> TrainResult:
    """GGUF export, model card, publishing to adapters/<run.adapter_name> (peft files and adapter.gguf), and
    result.json (written last: the run is done)."""
    from training.report import write_model_card

    adapter_dir = cfg.run_dir / "adapter"
    gguf_path, gguf_error = export_gguf(adapter_dir, prepared.model)
    result = replace(result, gguf_path=gguf_path, gguf_error=gguf_error)
    write_model_card(adapter_dir, cfg, result, source=str(prepared.source), placement=placement, evaluation=None)
    if cfg.run.adapter_name:
        published = publish_adapter(adapter_dir, resolve_path(cfg.run.adapters_dir) / cfg.run.adapter_name)
        result = replace(result, published_dir=str(published),
                         gguf_path=str(published / Path(gguf_path).name) if gguf_path else None)
    (cfg.run_dir / "result.json").write_text(json.dumps(asdict(result), indent=2) + "\n", encoding="utf-8")
    logger.info("run %s done: %d steps, best val loss %s at step %s, adapter %s", cfg.name, result.global_step,
                result.best_val_loss, result.best_step, result.published_dir or adapter_dir)
    return result
