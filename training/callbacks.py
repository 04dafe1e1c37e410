"""Per-step training metrics: the run folder's metrics.jsonl, the app's metrics store, and a test hook.

The Trainer's own logs give loss, learning rate and epoch; StepCounter (fed by the trainer's
compute_loss) adds the tokens and examples actually processed, so tokens/s and samples/s measure
real work (padding excluded) between two log lines. Peak memory is CUDA's max allocated, MPS's
driver memory, or the process's peak RSS on CPU.
"""
from __future__ import annotations

import json
import logging
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

logger = logging.getLogger(__name__)


@dataclass
class StepCounter:
    """Mutable on purpose: one per training run, fed by the Trainer, read by the logger (same thread)."""
    tokens: int = 0
    samples: int = 0
    t0: float = field(default_factory=time.perf_counter)

    def add(self, tokens: int, samples: int) -> None:
        self.tokens += tokens
        self.samples += samples

    def take(self) -> tuple[int, int, float]:
        """(tokens, samples, seconds) since the previous take."""
        now = time.perf_counter()
        out = (self.tokens, self.samples, now - self.t0)
        self.tokens, self.samples, self.t0 = 0, 0, now
        return out


def reset_peak_memory() -> None:
    """Start a new peak for this run: several runs in one process (a sweep, the benchmark) would otherwise
    each report the largest peak so far. CUDA: torch's counter. Linux: writing 5 to /proc/self/clear_refs
    resets the process's VmHWM (since Linux 4.0). Elsewhere the process peak stays, and says so by being
    monotonic."""
    try:
        import torch

        if torch.cuda.is_available() and torch.cuda.is_initialized():
            torch.cuda.reset_peak_memory_stats()
    except Exception:  # noqa: BLE001 - a metric, never worth failing a run for
        pass
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def _linux_hwm_mb() -> float | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except (OSError, ValueError, IndexError):
        pass
    return None


def peak_memory_mb() -> float | None:
    try:
        import torch

        if torch.cuda.is_available() and torch.cuda.is_initialized():
            return torch.cuda.max_memory_allocated() / 2**20
        mps = getattr(torch, "mps", None)
        if mps is not None and torch.backends.mps.is_available():
            return mps.driver_allocated_memory() / 2**20
    except Exception:  # noqa: BLE001 - a metric, never worth failing a run for
        pass
    hwm = _linux_hwm_mb()  # resettable per run, unlike ru_maxrss
    if hwm is not None:
        return hwm
    try:
        import resource

        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return rss / 2**20 if sys.platform == "darwin" else rss / 1024  # bytes on macOS, KiB on Linux
    except (ImportError, OSError):
        return None


@dataclass(frozen=True)
class StepRecord:
    step: int
    epoch: float
    train_loss: float | None
    val_loss: float | None
    learning_rate: float | None
    tokens_per_s: float | None
    samples_per_s: float | None
    peak_memory_mb: float | None
    recorded_at: float
    # the work behind tokens_per_s / samples_per_s (for exact averages over several steps)
    tokens: int = 0
    samples: int = 0
    seconds: float = 0.0


def read_run_id(run_dir: Path) -> str:
    """A run keeps its id across resumes (one series in the metrics store)."""
    f = run_dir / "run_id"
    if f.is_file():
        return f.read_text(encoding="utf-8").strip()
    run_id = uuid.uuid4().hex[:12]
    run_dir.mkdir(parents=True, exist_ok=True)
    f.write_text(run_id + "\n", encoding="utf-8")
    return run_id


def truncate_log(path: Path, after_step: int) -> None:
    """On resume, drop lines logged after the checkpoint we continue from: those steps are re-run."""
    if not path.is_file():
        return
    keep = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            if json.loads(line)["step"] <= after_step:
                keep.append(line)
        except (json.JSONDecodeError, KeyError, TypeError):
            continue  # a line cut by a kill
    path.write_text("".join(k + "\n" for k in keep), encoding="utf-8")


def read_log(path: Path) -> list[StepRecord]:
    out = []
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                out.append(StepRecord(**json.loads(line)))
            except (json.JSONDecodeError, TypeError):
                continue
    return out


class MetricsLogger(TrainerCallback):
    """Writes a StepRecord per Trainer log event to metrics.jsonl and (best effort) the metrics store."""

    def __init__(self, path: Path, counter: StepCounter, run_id: str, run_name: str, store: Any | None) -> None:
        self.path = path
        self.counter = counter
        self.run_id = run_id
        self.run_name = run_name
        self.store = store
        self.records: list[StepRecord] = []

    def on_log(self, args, state, control, logs=None, **kwargs):  # noqa: ANN001 - Trainer's signature
        logs = logs or {}
        if "loss" not in logs and "eval_loss" not in logs:
            return
        if not state.is_world_process_zero:  # accelerate launch: one log, written by the main process
            self.counter.take()
            return
        tps = sps = None
        tokens, samples, secs = 0, 0, 0.0
        if "loss" in logs:
            tokens, samples, secs = self.counter.take()
            if secs > 0:
                tps, sps = tokens / secs, samples / secs
        rec = StepRecord(
            step=int(state.global_step),
            epoch=round(float(state.epoch or 0.0), 4),
            train_loss=_f(logs.get("loss")),
            val_loss=_f(logs.get("eval_loss")),
            learning_rate=_f(logs.get("learning_rate")),
            tokens_per_s=_r(tps),
            samples_per_s=_r(sps, 4),
            peak_memory_mb=_r(peak_memory_mb(), 1),
            recorded_at=time.time(),
            tokens=tokens, samples=samples, seconds=round(secs, 4),
        )
        self.records.append(rec)
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(asdict(rec)) + "\n")
        if self.store is not None:
            try:
                from dataclasses import fields

                from tutor.metrics import TrainingStep

                known = {f.name for f in fields(TrainingStep)}
                self.store.record_training_step(TrainingStep(
                    run_id=self.run_id, run_name=self.run_name,
                    **{k: v for k, v in asdict(rec).items() if k in known}))
            except Exception:  # noqa: BLE001 - the store is best effort by contract; training goes on
                logger.warning("could not record step %d in the metrics store", rec.step, exc_info=True)

    def on_evaluate(self, args, state, control, **kwargs):  # noqa: ANN001
        # evaluation time is not training throughput
        self.counter.take()


class StopAfterSteps(TrainerCallback):
    """Raises `exc` once global_step reaches `step` (after that step's checkpoint, if one was due):
    simulates a kill in tests and the bench's fixed-length runs."""

    def __init__(self, step: int, exc: type[BaseException] = KeyboardInterrupt) -> None:
        self.step = step
        self.exc = exc

    def on_save(self, args, state, control, **kwargs):  # noqa: ANN001
        if state.global_step >= self.step:
            raise self.exc(f"stopped after step {state.global_step}")


def _f(v: Any) -> float | None:
    return None if v is None else float(v)


def _r(v: float | None, nd: int = 2) -> float | None:
    return None if v is None else round(v, nd)
