"""The step loop: transformers' Trainer set up for one run (arguments, callbacks, the token-counting subclass)
and run, with validation and a checkpoint every run.eval_steps, early stopping, and out-of-memory turned into a
message that names the settings to lower."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from training.config import TrainConfig
from training.data import Collator, RowDataset, TrainRows
from training.errors import TrainingError
from training.placement import Placement


def training_arguments(cfg: TrainConfig, placement: Placement, mode: str) -> Any:
    from transformers import TrainingArguments

    o, r = cfg.optim, cfg.run
    return TrainingArguments(
        output_dir=str(cfg.run_dir),
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


def build_trainer(cfg: TrainConfig, placement: Placement, model: Any, tokenizer: Any, rows: TrainRows, *,
                  counter: Any, metrics_logger: Any, extra_callbacks: Sequence[Any]) -> Any:
    """The Trainer for this run: its callbacks are the metrics logger, early stopping (if configured), then
    `extra_callbacks` (tests and the benchmark)."""
    from transformers import EarlyStoppingCallback

    callbacks: list[Any] = [metrics_logger]
    if cfg.run.early_stopping_patience > 0:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=cfg.run.early_stopping_patience))
    callbacks += list(extra_callbacks)
    return _counting_trainer_cls()(
        counter=counter, answer_only_logits=cfg.optim.answer_only_logits, model=model,
        args=training_arguments(cfg, placement, rows.mode),
        train_dataset=RowDataset(rows.train_rows),
        eval_dataset=RowDataset(rows.val_rows),
        data_collator=Collator(tokenizer.pad_token_id, rows.pad_to,
                               flatten=cfg.data.packing and rows.mode == "packed"),
        callbacks=callbacks,
    )


def run_steps(trainer: Any, cfg: TrainConfig, resume: Path | None) -> None:
    """Train from scratch or from the checkpoint `resume`; out of memory becomes a TrainingError."""
    try:
        trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    except Exception as e:
        if _is_oom(e):
            raise TrainingError(_oom_message(cfg, e)) from e
        raise


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
