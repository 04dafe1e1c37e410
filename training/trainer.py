"""One LoRA training run: base model + peft LoRA + transformers Trainer, resumable, with per-step metrics.

Run folder (<run.output_dir>/<name>/): config.json (the config it was started with; a resume with a
different config is refused), run_id, checkpoint-N/ (Trainer checkpoints, every run.eval_steps),
metrics.jsonl (one StepRecord per log line), adapter/ (the best checkpoint's LoRA in peft format with a
model card), result.json. Running the same command again after a kill continues from the newest complete
checkpoint; after a finished run it does nothing unless --fresh.

Why the plain Trainer and not TRL's SFTTrainer: trl 1.16 pins cleanly with transformers 5.23, but pulls
datasets, pyarrow, dill, multiprocess and xxhash (pip --dry-run) for the two features we need here,
prompt masking and packing, which data.py does in ~150 lines on plain lists.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

from training.config import TrainConfig, resolve_path
from training.data import Collator, RowDataset, build_rows, count_tokens, load_dataset, tokenize_all
from tutor.errors import TutorError

logger = logging.getLogger(__name__)


class TrainingError(TutorError):
    """A run cannot start or continue; the message says what to change."""


@dataclass(frozen=True)
class Placement:
    device: str  # cpu | cuda | mps (as the Trainer will use it)
    precision: str  # fp32 | bf16 | fp16
    reason: str


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


# ---------------------------------------------------------------- placement


def choose_placement(cfg: TrainConfig) -> Placement:
    """device and precision, with the reason (logged and written to the model card)."""
    import torch

    from tutor.backends.device import CPU_BF16_FLAGS, read_cpu_flags

    want = cfg.run.device
    if want == "auto":
        if torch.cuda.is_available():
            device, why = "cuda", f"CUDA ({torch.cuda.get_device_name(0)})"
        elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            device, why = "mps", "Apple MPS"
        else:
            device, why = "cpu", "no CUDA or MPS device"
    else:
        device, why = want, "set by run.device"
        if device == "cuda" and not torch.cuda.is_available():
            raise TrainingError("run.device is cuda but no CUDA device is available; use auto or cpu.")
        if device == "mps" and not torch.backends.mps.is_available():
            raise TrainingError("run.device is mps but Apple MPS is not available; use auto or cpu.")
    prec = cfg.run.precision
    if prec == "auto":
        if device == "cuda":
            prec = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
            why += f"; {prec}: what the GPU supports"
        elif device == "cpu" and any(f in read_cpu_flags() for f in CPU_BF16_FLAGS):
            prec = "bf16"
            why += "; bf16 autocast: the CPU has native bf16"
        else:
            prec = "fp32"
            why += "; fp32"
    if prec == "bf16" and device == "cuda" and not torch.cuda.is_bf16_supported():
        raise TrainingError("run.precision is bf16 but this GPU lacks bf16; use fp16 or auto.")
    if prec == "fp16" and device == "cpu":
        raise TrainingError("run.precision fp16 is not supported on CPU; use bf16, fp32 or auto.")
    return Placement(device, prec, why)


# ---------------------------------------------------------------- model


def base_model_source(base_model: str) -> Path | str:
    """The embedded model's safetensors cache (never a download), a local folder, or a hub id."""
    from tutor.backends.embedded import resolve_model_dir
    from tutor.config import load_config

    return resolve_model_dir(base_model, resolve_path(load_config().paths.model_cache_dir))


def load_base(base_model: str, *, bf16: bool = False) -> tuple[Any, Any, Path | str]:
    """Tokenizer and model. bf16=False: fp32 weights (autocast casts them on every step); True: bf16 weights."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = base_model_source(base_model)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        model = AutoModelForCausalLM.from_pretrained(source, dtype=torch.bfloat16 if bf16 else torch.float32)
    except Exception as e:  # noqa: BLE001 - any loader failure means the same to the user
        raise TrainingError(f"Could not load base_model {base_model!r} ({source}): {e}") from e
    if not getattr(tokenizer, "chat_template", None):
        raise TrainingError(f"base_model {base_model!r} has no chat template; use an instruct/chat model.")
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer, source


def add_lora(model: Any, cfg: TrainConfig) -> Any:
    from peft import LoraConfig, get_peft_model

    names = {n.rsplit(".", 1)[-1] for n, _ in model.named_modules()}
    missing = [m for m in cfg.lora.target_modules if m not in names]
    if missing:
        raise TrainingError(f"lora.target_modules {missing} are not layers of {cfg.base_model!r}.")
    lcfg = LoraConfig(r=cfg.lora.r, lora_alpha=cfg.lora.alpha, lora_dropout=cfg.lora.dropout,
                      target_modules=list(cfg.lora.target_modules), task_type="CAUSAL_LM")
    with warnings.catch_warnings():  # peft 0.21 calls a method transformers 5.x deprecated
        warnings.filterwarnings("ignore", ".*is_gradient_checkpointing", FutureWarning)
        return get_peft_model(model, lcfg)


def count_params(model: Any) -> tuple[int, int]:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total


# ---------------------------------------------------------------- checkpoints


def complete_checkpoints(run_dir: Path) -> list[Path]:
    """checkpoint-N folders that were fully written (trainer_state.json is saved last), oldest first."""
    out = []
    for p in run_dir.glob("checkpoint-*"):
        suffix = p.name.split("-", 1)[1]
        if p.is_dir() and suffix.isdigit() and (p / "trainer_state.json").is_file() \
                and (p / "adapter_model.safetensors").is_file():
            out.append((int(suffix), p))
    return [p for _, p in sorted(out)]


def _check_same_config(run_dir: Path, cfg: TrainConfig) -> None:
    f = run_dir / "config.json"
    now = cfg.to_dict()
    if f.is_file():
        before = json.loads(f.read_text(encoding="utf-8"))
        changed: list[str] = []
        if before != now:
            flat_b, flat_n = _flatten(before), _flatten(now)
            changed = sorted(k for k in set(flat_b) | set(flat_n)
                             if flat_b.get(k) != flat_n.get(k) and not _no_effect_on_training(k))
        if changed:
            raise TrainingError(
                f"The run folder {run_dir} was started with a different config (changed: {', '.join(changed)}). "
                "Run with --fresh to start over, or give the run another name.")
    else:
        run_dir.mkdir(parents=True, exist_ok=True)
        f.write_text(json.dumps(now, indent=2) + "\n", encoding="utf-8")


# settings that do not change what is trained: a resume may change them (e.g. fewer threads on a busy machine)
_FREE_KEYS = {"run.threads", "run.progress", "run.metrics_store", "run.adapter_name", "run.adapters_dir",
              "optim.answer_only_logits"}  # the same loss, computed on fewer positions


def _no_effect_on_training(key: str) -> bool:
    return key in _FREE_KEYS or key.startswith("eval.")


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


# ---------------------------------------------------------------- the run


def _oom_message(cfg: TrainConfig, e: BaseException) -> str:
    rows = "data.pack_len (now %d)" % cfg.data.pack_len if cfg.data.packing else \
        "data.max_seq_len (now %d)" % cfg.data.max_seq_len
    gc = "" if cfg.run.gradient_checkpointing else ", or set run.gradient_checkpointing: true"
    return (f"Out of memory during training ({type(e).__name__}). Lower optim.batch_size (now "
            f"{cfg.optim.batch_size}; raise optim.grad_accum to keep the effective batch) or {rows}{gc}. "
            "The newest checkpoint is kept: the same command resumes from it.")


def _is_oom(e: BaseException) -> bool:
    import torch

    if isinstance(e, getattr(torch, "OutOfMemoryError", ())) or isinstance(e, MemoryError):
        return True
    msg = str(e).lower()
    return isinstance(e, RuntimeError) and ("out of memory" in msg or "can't allocate memory" in msg)


def train(cfg: TrainConfig, *, fresh: bool = False, extra_callbacks: Sequence[Any] = (),
          train_rows_mode: str | None = None) -> TrainResult:
    """Train (or resume) the run described by `cfg`; returns what it did. Config was validated on load.

    `train_rows_mode` "naive" is the benchmark's baseline (pad every row to the longest example).
    run.threads applies to this run only: torch's thread count is restored afterwards.
    """
    import torch

    threads = torch.get_num_threads()
    try:
        return _train(cfg, fresh=fresh, extra_callbacks=extra_callbacks, train_rows_mode=train_rows_mode)
    finally:
        torch.set_num_threads(threads)


def _train(cfg: TrainConfig, *, fresh: bool, extra_callbacks: Sequence[Any],
           train_rows_mode: str | None) -> TrainResult:
    import torch
    from transformers import EarlyStoppingCallback, TrainingArguments, set_seed

    from training.callbacks import MetricsLogger, StepCounter, read_log, read_run_id, reset_peak_memory, truncate_log

    t_start = time.perf_counter()
    reset_peak_memory()
    run_dir = cfg.run_dir
    if fresh and run_dir.exists():
        shutil.rmtree(run_dir)
    # Data first: a bad data folder must fail before the (slow) model load.
    ds = load_dataset(cfg.data.task, cfg.data_dir)
    for p in ds.problems:
        logger.warning("row skipped: %s", p)
    _check_same_config(run_dir, cfg)
    if (run_dir / "result.json").is_file():
        logger.info("run %s already finished (%s); use --fresh to train again", cfg.name, run_dir / "result.json")
        return TrainResult(**json.loads((run_dir / "result.json").read_text(encoding="utf-8")))
    placement = choose_placement(cfg)
    logger.info("run %s on %s/%s (%s)", cfg.name, placement.device, placement.precision, placement.reason)
    if cfg.run.threads > 0:
        torch.set_num_threads(cfg.run.threads)
    set_seed(cfg.optim.seed)

    model, tokenizer, source = load_base(cfg.base_model, bf16=placement.precision == "bf16" and cfg.run.bf16_base)
    if cfg.run.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    model.config.use_cache = False  # see Collator: packed rows need the cache off
    model = add_lora(model, cfg)
    trainable, total = count_params(model)
    logger.info("trainable parameters: %d of %d (%.3f%%)", trainable, total, 100 * trainable / total)

    mode = train_rows_mode or ("packed" if cfg.data.packing else "grouped")
    train_tok = tokenize_all(tokenizer, ds.train, cfg.data.max_seq_len)
    val_tok = tokenize_all(tokenizer, ds.validation, cfg.data.max_seq_len)
    train_rows = build_rows(train_tok, mode, cfg.data.pack_len)
    val_rows = build_rows(val_tok, "packed" if cfg.data.packing else "grouped", cfg.data.pack_len)
    pad_to = max(len(t.input_ids) for t in train_tok) if mode == "naive" else None
    tokens, answer_tokens = count_tokens(train_rows)
    logger.info("%d train examples -> %d %s rows (%d tokens, %d answer tokens); %d validation examples",
                len(train_tok), len(train_rows), mode, tokens, answer_tokens, len(val_tok))

    counter = StepCounter()
    store = None
    if cfg.run.metrics_store:
        try:
            from tutor.config import load_config
            from tutor.metrics import MetricsStore

            store = MetricsStore(resolve_path(load_config().paths.metrics_db_path))
        except Exception:  # noqa: BLE001 - metrics are best effort; the run folder log is the record
            logger.warning("metrics store unavailable; logging to the run folder only", exc_info=True)
    run_id = read_run_id(run_dir)
    metrics_path = run_dir / "metrics.jsonl"
    checkpoints = complete_checkpoints(run_dir)
    resume = checkpoints[-1] if checkpoints else None
    if resume is not None:
        step = int(resume.name.split("-")[1])
        truncate_log(metrics_path, step)
        logger.info("resuming run %s from %s (step %d)", cfg.name, resume.name, step)
    elif metrics_path.exists():
        metrics_path.unlink()  # killed before the first checkpoint: start the log over
    metrics_cb = MetricsLogger(metrics_path, counter, run_id, cfg.name, store)

    o, r = cfg.optim, cfg.run
    args = TrainingArguments(
        output_dir=str(run_dir),
        per_device_train_batch_size=o.batch_size,
        per_device_eval_batch_size=o.batch_size,
        gradient_accumulation_steps=o.grad_accum,
        num_train_epochs=o.epochs,
        max_steps=o.max_steps,
        learning_rate=o.learning_rate,
        lr_scheduler_type=o.lr_scheduler,
        warmup_steps=o.warmup_ratio,  # transformers 5: a float in [0, 1) is a ratio of the total steps
        weight_decay=o.weight_decay,
        max_grad_norm=o.max_grad_norm,
        seed=o.seed,
        data_seed=o.seed,
        eval_strategy="steps",
        eval_steps=r.eval_steps,
        save_strategy="steps",
        save_steps=r.eval_steps,
        save_total_limit=r.save_total_limit,
        load_best_model_at_end=True,
        metric_for_best_model="eval_loss",
        greater_is_better=False,
        logging_steps=1,
        logging_first_step=True,
        report_to="none",
        disable_tqdm=not r.progress,
        use_cpu=placement.device == "cpu",
        bf16=placement.precision == "bf16",
        fp16=placement.precision == "fp16",
        remove_unused_columns=False,
        train_sampling_strategy="group_by_length" if mode == "grouped" else "random",
        ddp_find_unused_parameters=False,
        dataloader_num_workers=0,
        save_only_model=False,
        prediction_loss_only=True,  # validation needs the loss only, not every row's vocabulary logits
    )
    callbacks: list[Any] = [metrics_cb]
    if r.early_stopping_patience > 0:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=r.early_stopping_patience))
    callbacks += list(extra_callbacks)
    trainer = _CountingTrainer(
        counter=counter, answer_only_logits=cfg.optim.answer_only_logits, model=model, args=args,
        train_dataset=RowDataset(train_rows),
        eval_dataset=RowDataset(val_rows),
        data_collator=Collator(tokenizer.pad_token_id, pad_to, flatten=cfg.data.packing and mode == "packed"),
        callbacks=callbacks,
    )
    try:
        trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    except Exception as e:
        if _is_oom(e):
            raise TrainingError(_oom_message(cfg, e)) from e
        raise
    state = trainer.state
    stopped_early = state.global_step < state.max_steps
    if not trainer.is_world_process_zero():
        # accelerate launch: the main process saves, reports and publishes; the others are done
        return _result_placeholder(cfg, state, placement, trainable, total)

    adapter_dir = run_dir / "adapter"
    _save_adapter(trainer.model, adapter_dir, cfg.base_model)
    log = read_log(metrics_path)
    train_losses = [x.train_loss for x in log if x.train_loss is not None]
    sps = [x.samples_per_s for x in log if x.samples_per_s]
    tps = [x.tokens_per_s for x in log if x.tokens_per_s]
    best_step = None
    if state.best_model_checkpoint:
        best_step = int(Path(state.best_model_checkpoint).name.split("-")[1])
    result = TrainResult(
        name=cfg.name, run_dir=str(run_dir), adapter_dir=str(adapter_dir), published_dir=None,
        global_step=int(state.global_step), best_step=best_step,
        best_val_loss=None if state.best_metric is None else float(state.best_metric),
        first_train_loss=train_losses[0] if train_losses else None,
        last_train_loss=train_losses[-1] if train_losses else None,
        # our counter's mean over logged steps: the Trainer's own figure counts rows, and a packed row holds
        # several examples (a resumed run: the steps of this process only)
        train_samples_per_s=round(sum(sps) / len(sps), 4) if sps else None,
        train_tokens_per_s=round(sum(tps) / len(tps), 1) if tps else None,
        peak_memory_mb=max((x.peak_memory_mb or 0.0 for x in log), default=None),
        trainable_params=trainable, total_params=total,
        train_examples=len(train_tok), validation_examples=len(val_tok), train_rows=len(train_rows),
        wall_s=round(time.perf_counter() - t_start, 1), resumed_from=resume.name if resume else None,
        device=placement.device, precision=placement.precision, stopped_early=stopped_early,
    )
    from training.report import write_model_card

    write_model_card(adapter_dir, cfg, result, source=str(source), placement=placement, evaluation=None)
    if r.adapter_name:
        published = publish_adapter(adapter_dir, resolve_path(r.adapters_dir) / r.adapter_name)
        result = _replace(result, published_dir=str(published))
    (run_dir / "result.json").write_text(json.dumps(asdict(result), indent=2) + "\n", encoding="utf-8")
    logger.info("run %s done: %d steps, best val loss %s at step %s, adapter %s", cfg.name, result.global_step,
                result.best_val_loss, result.best_step, result.published_dir or adapter_dir)
    return result


def _result_placeholder(cfg: TrainConfig, state: Any, placement: Placement, trainable: int,
                        total: int) -> TrainResult:
    return TrainResult(
        name=cfg.name, run_dir=str(cfg.run_dir), adapter_dir=str(cfg.run_dir / "adapter"), published_dir=None,
        global_step=int(state.global_step), best_step=None, best_val_loss=state.best_metric, first_train_loss=None,
        last_train_loss=None, train_samples_per_s=None, train_tokens_per_s=None, peak_memory_mb=None,
        trainable_params=trainable, total_params=total, train_examples=0, validation_examples=0, train_rows=0,
        wall_s=0.0, resumed_from=None, device=placement.device, precision=placement.precision, stopped_early=False)


def _replace(r: TrainResult, **kw: Any) -> TrainResult:
    from dataclasses import replace

    return replace(r, **kw)


EMBEDDED_HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"  # what the embedded GGUF is a quantization of


def _save_adapter(model: Any, target: Path, base_model: str) -> None:
    if target.exists():
        shutil.rmtree(target)
    model.save_pretrained(str(target))
    portable_adapter_config(target, base_model)


def portable_adapter_config(folder: Path, base_model: str) -> None:
    """peft records the base model's load path (here a cache folder on this machine); a committed adapter
    names the model instead: the hub id the embedded weights come from, or the configured base_model."""
    f = Path(folder) / "adapter_config.json"
    cfg = json.loads(f.read_text(encoding="utf-8"))
    cfg["base_model_name_or_path"] = EMBEDDED_HUB_ID if base_model == "embedded" else base_model
    f.write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def publish_adapter(src: Path, target: Path) -> Path:
    """Copy a saved adapter folder into adapters/<name> atomically (temp folder + rename)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{target.name}-", dir=target.parent))
    try:
        for f in src.iterdir():
            if f.is_file():
                shutil.copy2(f, tmp / f.name)
        old = target.with_name(f".old-{target.name}")
        if target.exists():
            if old.exists():
                shutil.rmtree(old)
            os.rename(target, old)
        # mkdtemp makes a 0700 folder and safetensors writes 0600 files: the app may run as another user
        os.chmod(tmp, 0o755)
        for f in tmp.iterdir():
            os.chmod(f, 0o644)
        os.rename(tmp, target)
        if old.exists():
            shutil.rmtree(old)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def _counting_trainer_cls():
    from transformers import Trainer

    class CountingTrainer(Trainer):
        """Counts real (unpadded) tokens and examples of each training micro-batch for tokens/s, samples/s, and
        (answer_only_logits) computes the vocabulary projection only at the positions the loss is taken on."""

        def __init__(self, *a: Any, counter: Any, answer_only_logits: bool = False, **kw: Any) -> None:
            super().__init__(*a, **kw)
            self.counter = counter
            self.answer_only_logits = answer_only_logits

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):  # noqa: ANN001
            n = inputs.pop("num_examples", None)
            if model.training:
                mask = inputs.get("attention_mask")
                tokens = int(mask.sum()) if mask is not None else int(inputs["input_ids"].numel())
                self.counter.add(tokens, int(n.sum()) if n is not None else int(inputs["input_ids"].shape[0]))
            labels = inputs.get("labels")
            # one row per batch (packed rows are flattened into one): transformers' logits_to_keep takes one
            # index list for the whole batch
            if not self.answer_only_logits or labels is None or labels.shape[0] != 1:
                return super().compute_loss(model, inputs, return_outputs=return_outputs,
                                            num_items_in_batch=num_items_in_batch)
            return self._answer_only_loss(model, inputs, return_outputs, num_items_in_batch)

        def _answer_only_loss(self, model, inputs, return_outputs, num_items_in_batch):  # noqa: ANN001
            """The causal-LM loss of transformers (shifted labels, sum over answer tokens / their count, or /
            num_items_in_batch under gradient accumulation), but the lm_head (a 49k-word projection, ~1/5 of the
            embedded model's compute) and the softmax run on the answer positions only, not on the prompt."""
            import torch.nn.functional as F

            from training.data import IGNORE_INDEX

            inputs = dict(inputs)
            labels = inputs.pop("labels")
            targets = labels[0, 1:]  # position i predicts token i+1
            keep = (targets != IGNORE_INDEX).nonzero().squeeze(1)
            outputs = model(**inputs, logits_to_keep=keep)
            logits = outputs.logits[0].float()
            loss = F.cross_entropy(logits, targets[keep], reduction="sum")
            scaled = self.model_accepts_loss_kwargs and num_items_in_batch is not None
            if scaled:
                # what transformers' own loss does under gradient accumulation (training_step then does not
                # divide by the accumulation steps again), including its multi-process averaging
                loss = loss / num_items_in_batch
                if self.args.average_tokens_across_devices:
                    loss = loss * (self.accelerator.num_processes if self.args.n_gpu <= 1 else self.args.n_gpu)
            else:
                loss = loss / max(int(keep.numel()), 1)
            return (loss, outputs) if return_outputs else loss

    return CountingTrainer


def _CountingTrainer(**kw: Any) -> Any:  # noqa: N802 - reads like the class it builds
    return _counting_trainer_cls()(**kw)
