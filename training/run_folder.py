"""The run folder between processes: the config a run was started with, its complete checkpoints, where a
restarted run resumes, and the result of a finished one (see trainer.py for the folder's layout)."""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from training.callbacks import truncate_log
from training.config import TrainConfig
from training.errors import TrainingError
from training.result import TrainResult

logger = logging.getLogger(__name__)

# settings that do not change what is trained: a resume may change them (e.g. fewer threads on a busy machine)
_FREE_KEYS = {"run.threads", "run.progress", "run.metrics_store", "run.adapter_name", "run.adapters_dir",
              "optim.answer_only_logits"}  # the same loss, computed on fewer positions


def complete_checkpoints(run_dir: Path) -> list[Path]:
    """checkpoint-N folders that were fully written (trainer_state.json is saved last), oldest first."""
    out = []
    for p in run_dir.glob("checkpoint-*"):
        suffix = p.name.split("-", 1)[1]
        if p.is_dir() and suffix.isdigit() and (p / "trainer_state.json").is_file() \
                and (p / "adapter_model.safetensors").is_file():
            out.append((int(suffix), p))
    return [p for _, p in sorted(out)]


def check_same_config(run_dir: Path, cfg: TrainConfig) -> None:
    """A new run folder records cfg; an existing one refuses a config that changes what is trained."""
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


def finished_result(run_dir: Path) -> TrainResult | None:
    """The result of a run that already finished (result.json is written last), else None."""
    f = run_dir / "result.json"
    if not f.is_file():
        return None
    return TrainResult(**json.loads(f.read_text(encoding="utf-8")))


def resume_point(cfg: TrainConfig) -> Path | None:
    """The newest complete checkpoint to resume from, with metrics.jsonl cut back to its step (nothing logged
    twice); None for a new run, whose leftover log (killed before the first checkpoint) is started over."""
    metrics_path = cfg.run_dir / "metrics.jsonl"
    checkpoints = complete_checkpoints(cfg.run_dir)
    if checkpoints:
        resume = checkpoints[-1]
        step = int(resume.name.split("-")[1])
        truncate_log(metrics_path, step)
        logger.info("resuming run %s from %s (step %d)", cfg.name, resume.name, step)
        return resume
    if metrics_path.exists():
        metrics_path.unlink()
    return None


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
