"""Typed training configuration: frozen dataclasses per section, read from YAML, validated before any model loads.

A run config looks like training/configs/run_a.yaml::

    name: run_a
    base_model: embedded
    data:  {task: interview, path: training/data/interview, max_seq_len: 512, packing: false}
    lora:  {r: 8, alpha: 16, dropout: 0.05, target_modules: [q_proj, k_proj, v_proj, o_proj]}
    optim: {learning_rate: 2.0e-4, batch_size: 1, grad_accum: 4, epochs: 3, warmup_ratio: 0.1}
    run:   {eval_steps: 10, early_stopping_patience: 3, device: auto, precision: auto, adapter_name: interview}
    eval:  {max_new_tokens: 160, max_questions: 0}

Every key is checked: an unknown key or an invalid value raises TrainConfigError naming it
(``optim.learning_rate``) with the file it came from, so a typo costs seconds, not a model load.
"""
from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

from tutor.config import EMBEDDED
from tutor.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[1]
TASKS = ("interview", "tutor")
DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
SCHEDULERS = ("linear", "cosine", "constant_with_warmup")


class TrainConfigError(ConfigError):
    """A training config key is unknown or its value invalid; the message names the key."""


def _help(text: str, **kw: Any) -> Any:
    return field(metadata={"help": text}, **kw)


@dataclass(frozen=True)
class DataConfig:
    task: str = _help("interview (bank rows: question -> answer) | tutor (grounded KB Q&A rows)", default="interview")
    path: Path = _help("folder of *.jsonl rows; relative paths are taken from the repo root",
                       default=Path("training/data/interview"))
    max_seq_len: int = _help("longest example in tokens; longer answers are cut at the end", default=512)
    packing: bool = _help(
        "pack several examples into one row of pack_len tokens (position ids restart per example, so "
        "attention never crosses examples); false = one example per row, rows grouped by length (with "
        "batch_size 1: no padding at all, and measured faster on CPU than packing, bench/training.py)",
        default=False)
    pack_len: int = _help("tokens per packed row (512 measured fastest on CPU for the embedded model: at 1024 the "
                          "masked attention costs more than the better fill saves)", default=512)


@dataclass(frozen=True)
class LoraSettings:
    r: int = _help("LoRA rank", default=8)
    alpha: int = _help("LoRA alpha (scale = alpha / r)", default=16)
    dropout: float = _help("dropout on the LoRA input", default=0.05)
    target_modules: tuple[str, ...] = _help(
        "linear layers that get LoRA matrices", default=("q_proj", "k_proj", "v_proj", "o_proj"))


@dataclass(frozen=True)
class OptimConfig:
    learning_rate: float = _help("peak learning rate (AdamW)", default=2e-4)
    batch_size: int = _help("rows per device per micro-step (a row holds one example, or several when packed)",
                            default=1)
    grad_accum: int = _help("micro-steps per optimizer step", default=4)
    epochs: float = _help("passes over the train split", default=3.0)
    max_steps: int = _help("stop after this many optimizer steps; -1 = run all epochs", default=-1)
    warmup_ratio: float = _help("fraction of steps with linear warmup", default=0.1)
    lr_scheduler: str = _help("linear | cosine | constant_with_warmup", default="cosine")
    weight_decay: float = _help("AdamW weight decay", default=0.0)
    max_grad_norm: float = _help("gradient clipping", default=1.0)
    seed: int = _help("seed of init, shuffling and dropout", default=13)
    answer_only_logits: bool = _help(
        "project to the vocabulary only where the loss is taken (answer tokens; rows of one batch entry, which "
        "packing gives): the same loss with less compute", default=True)


@dataclass(frozen=True)
class RunConfig:
    output_dir: Path = _help("run folders go here (checkpoints, metrics.jsonl, eval.json)",
                             default=Path("training/runs"))
    eval_steps: int = _help("validate (and checkpoint) every N optimizer steps", default=10)
    early_stopping_patience: int = _help("stop after N validations without improvement; 0 = off", default=3)
    save_total_limit: int = _help("checkpoints kept (the best one is always kept too)", default=2)
    device: str = _help("auto (cuda > mps > cpu) | cpu | cuda | mps (pick a GPU with CUDA_VISIBLE_DEVICES; several "
                        "GPUs: accelerate launch)", default="auto")
    precision: str = _help("auto | fp32 | bf16 | fp16. auto: bf16 on CUDA with bf16 and on CPUs with "
                           "avx512_bf16/amx (measured ~2x faster LoRA steps than fp32 on this CI CPU), else fp32",
                           default="auto")
    bf16_base: bool = _help(
        "with bf16 precision, hold the frozen base weights in bf16 (the LoRA weights stay fp32): half the weight "
        "memory, and no fp32->bf16 cast of every weight on every step", default=True)
    gradient_checkpointing: bool = _help("trade compute for memory (lower it first when out of memory)",
                                         default=False)
    threads: int = _help("torch CPU threads; 0 = torch's default", default=0)
    adapter_name: str = _help("also publish the final adapter as adapters/<adapter_name>; empty = run folder only",
                              default="")
    adapters_dir: Path = _help("where published adapters go", default=Path("adapters"))
    metrics_store: bool = _help("also record each logged step in the app's metrics store", default=True)
    progress: bool = _help("tqdm progress bar on the terminal", default=True)


@dataclass(frozen=True)
class EvalConfig:
    max_new_tokens: int = _help("length limit of generated answers for the rubric", default=160)
    max_questions: int = _help("test questions evaluated; 0 = the whole test split", default=0)
    batch_size: int = _help("prompts generated together (left padded)", default=8)
    generate: bool = _help("generate answers and score key-point coverage (perplexity is always computed)",
                           default=True)


@dataclass(frozen=True)
class TrainConfig:
    name: str = _help("run name: the run folder is <run.output_dir>/<name>", default="run")
    base_model: str = _help("'embedded' (SmolLM2-135M-Instruct shipped on PyPI), a local folder, or a hub id",
                            default=EMBEDDED)
    data: DataConfig = field(default_factory=DataConfig)
    lora: LoraSettings = field(default_factory=LoraSettings)
    optim: OptimConfig = field(default_factory=OptimConfig)
    run: RunConfig = field(default_factory=RunConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    @property
    def run_dir(self) -> Path:
        return resolve_path(self.run.output_dir) / self.name

    @property
    def data_dir(self) -> Path:
        return resolve_path(self.data.path)

    def to_dict(self) -> dict[str, Any]:
        def conv(v: Any) -> Any:
            if isinstance(v, Path):
                return str(v)
            if isinstance(v, tuple):
                return list(v)
            return v
        out: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            out[f.name] = {k: conv(x) for k, x in dataclasses.asdict(v).items()} if dataclasses.is_dataclass(v) \
                else conv(v)
        return out


_SECTIONS = {f.name for f in fields(TrainConfig) if f.name not in ("name", "base_model")}


def resolve_path(p: Path) -> Path:
    """Relative paths are taken from the repo root, so commands work from any working directory."""
    p = Path(p).expanduser()
    return p if p.is_absolute() else REPO_ROOT / p


def _coerce(name: str, typ: Any, raw: Any, origin: str) -> Any:
    def bad() -> TrainConfigError:
        want = getattr(typ, "__name__", str(typ))
        return TrainConfigError(f"Invalid training setting {name} in {origin}: expected {want}, got {raw!r}.")

    if typing.get_origin(typ) is tuple:
        if isinstance(raw, str):
            raw = [s.strip() for s in raw.split(",") if s.strip()]
        if not isinstance(raw, (list, tuple)) or not all(isinstance(x, str) and x.strip() for x in raw):
            raise TrainConfigError(f"Invalid training setting {name} in {origin}: expected a list of names, "
                                   f"got {raw!r}.")
        return tuple(x.strip() for x in raw)
    if typ is bool:
        if isinstance(raw, bool):
            return raw
        raise bad()
    if typ is int:
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise bad()
        return raw
    if typ is float:
        if isinstance(raw, bool):
            raise bad()
        try:
            return float(raw)  # YAML reads 2e-4 (no dot) as a string
        except (TypeError, ValueError):
            raise bad() from None
    if typ is Path:
        if not isinstance(raw, str) or not raw.strip():
            raise bad()
        return Path(raw)
    if not isinstance(raw, str):
        raise bad()
    return raw


def _apply(obj: Any, prefix: str, values: Mapping[str, Any], origin: str) -> Any:
    hints = typing.get_type_hints(type(obj))
    known = {f.name for f in fields(obj)}
    changes = {}
    for key, raw in values.items():
        name = f"{prefix}{key}"
        if key not in known:
            raise TrainConfigError(f"Unknown training setting {name} in {origin}; known in this section: "
                                   f"{', '.join(sorted(known))}.")
        changes[key] = _coerce(name, hints[key], raw, origin)
    return dataclasses.replace(obj, **changes)


def parse_config(data: Any, origin: str = "<dict>") -> TrainConfig:
    """A mapping (as read from YAML) -> validated TrainConfig."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise TrainConfigError(f"{origin} must be a mapping of settings (name:, data:, lora:, optim:, run:, eval:).")
    cfg = TrainConfig()
    top = {k: v for k, v in data.items() if k not in _SECTIONS}
    cfg = _apply(cfg, "", {k: v for k, v in top.items()}, origin) if top else cfg
    for section in _SECTIONS:
        if section not in data:
            continue
        values = data[section]
        if values is None:
            continue
        if not isinstance(values, dict):
            raise TrainConfigError(f"Training setting {section} in {origin} must be a mapping.")
        cfg = dataclasses.replace(cfg, **{section: _apply(getattr(cfg, section), f"{section}.", values, origin)})
    validate(cfg, origin)
    return cfg


def load_train_config(path: str | Path, overrides: Mapping[str, Any] | None = None) -> TrainConfig:
    """Read, merge `overrides` ({"optim.max_steps": 5}), validate. Raises TrainConfigError naming the key."""
    import yaml

    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise TrainConfigError(f"Training config {p} does not exist.") from e
    except yaml.YAMLError as e:
        raise TrainConfigError(f"Training config {p} is not valid YAML: {e}") from e
    data = {} if data is None else data
    if overrides:
        if not isinstance(data, dict):
            raise TrainConfigError(f"{p} must be a mapping of settings.")
        data = {k: (dict(v) if isinstance(v, dict) else v) for k, v in data.items()}
        for dotted, value in overrides.items():
            section, _, key = dotted.partition(".")
            if key:
                sec = data.setdefault(section, {})
                if not isinstance(sec, dict):
                    raise TrainConfigError(f"Training setting {section} in {p} must be a mapping.")
                sec[key] = value
            else:
                data[section] = value
    return parse_config(data, str(p))


def validate(cfg: TrainConfig, origin: str = "<config>") -> None:
    def bad(key: str, why: str) -> TrainConfigError:
        return TrainConfigError(f"Invalid training setting {key} in {origin}: {why}")

    name = cfg.name.strip()
    if not name or any(c in name for c in "/\\.") or name != cfg.name:
        raise bad("name", f"{cfg.name!r} must be a non-empty folder name without '/', '\\' or '.'.")
    if not cfg.base_model.strip():
        raise bad("base_model", "is empty; use 'embedded', a folder or a hub id.")
    d, lo, o, r, e = cfg.data, cfg.lora, cfg.optim, cfg.run, cfg.eval
    if d.task not in TASKS:
        raise bad("data.task", f"{d.task!r} is not one of {', '.join(TASKS)}.")
    if d.max_seq_len < 32:
        raise bad("data.max_seq_len", "must be at least 32.")
    if d.packing and d.pack_len < d.max_seq_len:
        raise bad("data.pack_len", f"must be >= data.max_seq_len ({d.max_seq_len}) so every example fits a row.")
    if lo.r < 1:
        raise bad("lora.r", "must be >= 1.")
    if lo.alpha < 1:
        raise bad("lora.alpha", "must be >= 1.")
    if not 0.0 <= lo.dropout < 1.0:
        raise bad("lora.dropout", "must be in [0, 1).")
    if not lo.target_modules:
        raise bad("lora.target_modules", "needs at least one module name.")
    if not 0.0 < o.learning_rate <= 1.0:
        raise bad("optim.learning_rate", "must be in (0, 1].")
    if o.batch_size < 1:
        raise bad("optim.batch_size", "must be >= 1.")
    if o.grad_accum < 1:
        raise bad("optim.grad_accum", "must be >= 1.")
    if o.epochs <= 0:
        raise bad("optim.epochs", "must be > 0.")
    if o.max_steps == 0 or o.max_steps < -1:
        raise bad("optim.max_steps", "must be -1 (all epochs) or >= 1.")
    if not 0.0 <= o.warmup_ratio < 1.0:
        raise bad("optim.warmup_ratio", "must be in [0, 1).")
    if o.lr_scheduler not in SCHEDULERS:
        raise bad("optim.lr_scheduler", f"{o.lr_scheduler!r} is not one of {', '.join(SCHEDULERS)}.")
    if o.weight_decay < 0:
        raise bad("optim.weight_decay", "must be >= 0.")
    if o.max_grad_norm <= 0:
        raise bad("optim.max_grad_norm", "must be > 0.")
    if r.eval_steps < 1:
        raise bad("run.eval_steps", "must be >= 1.")
    if r.early_stopping_patience < 0:
        raise bad("run.early_stopping_patience", "must be >= 0.")
    if r.save_total_limit < 1:
        raise bad("run.save_total_limit", "must be >= 1.")
    if r.device not in DEVICES:
        raise bad("run.device", f"{r.device!r} is not one of {', '.join(DEVICES)} (choose a GPU with "
                                "CUDA_VISIBLE_DEVICES).")
    if r.precision not in PRECISIONS:
        raise bad("run.precision", f"{r.precision!r} is not one of {', '.join(PRECISIONS)}.")
    if r.threads < 0:
        raise bad("run.threads", "must be >= 0.")
    if r.adapter_name and (any(c in r.adapter_name for c in "/\\. ") or r.adapter_name != r.adapter_name.strip()):
        raise bad("run.adapter_name", "must be a folder name without '/', '\\', '.' or spaces (peft uses it "
                                      "as a module name).")
    if not 1 <= e.max_new_tokens <= 2048:
        raise bad("eval.max_new_tokens", "must be between 1 and 2048.")
    if e.max_questions < 0:
        raise bad("eval.max_questions", "must be >= 0 (0 = all).")
    if e.batch_size < 1:
        raise bad("eval.batch_size", "must be >= 1.")
