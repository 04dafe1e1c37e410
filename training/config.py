"""Typed training configuration: frozen pydantic models per section, read from YAML, validated before any model loads.

A run config looks like training/configs/run_a.yaml::

    name: run_a
    base_model: embedded
    data:  {task: interview, path: training/data/interview, max_seq_len: 512, packing: false}
    lora:  {r: 8, alpha: 16, dropout: 0.05, target_modules: [q_proj, k_proj, v_proj, o_proj]}
    optim: {learning_rate: 2.0e-4, batch_size: 1, grad_accum: 4, epochs: 3, warmup_ratio: 0.1}
    run:   {eval_steps: 10, early_stopping_patience: 3, device: auto, precision: auto, adapter_name: interview}
    eval:  {max_new_tokens: 160, max_questions: 0}

Every key is checked: an unknown key or an invalid value raises TrainConfigError naming it
(``optim.learning_rate``) with the file it came from, the value and what is allowed, so a typo costs seconds,
not a model load. Reading, overrides and error sentences are tutor/config_loader.py's, the same as the app's config.
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Mapping

from pydantic import BeforeValidator, Field, ValidationInfo, field_validator

from tutor.config import EMBEDDED
from tutor.config_loader import ConfigModel, build, read_yaml, with_overrides
from tutor.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[1]
Task = Literal["interview", "tutor"]
Device = Literal["auto", "cpu", "cuda", "mps"]
Precision = Literal["auto", "fp32", "bf16", "fp16"]
Scheduler = Literal["linear", "cosine", "constant_with_warmup"]
TASKS, DEVICES, PRECISIONS, SCHEDULERS = (Task.__args__, Device.__args__, Precision.__args__,  # type: ignore[attr-defined]
                                          Scheduler.__args__)  # type: ignore[attr-defined]


class TrainConfigError(ConfigError):
    """A training config key is unknown or its value invalid; the message names the key."""


def _path(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        raise ValueError("must be a folder path, not empty")
    return value


def _names(value: Any) -> Any:
    """`q_proj, v_proj` on the command line means the list [q_proj, v_proj]."""
    if isinstance(value, str):
        return [s.strip() for s in value.split(",") if s.strip()]
    return value


def _folder_name(value: str, extra: str = "") -> str:
    if value != value.strip() or any(c in value for c in "/\\." + extra):
        shown = "'/', '\\', '.'" + (" or spaces" if extra else "")
        raise ValueError(f"must be a folder name without {shown}")
    return value


RepoPath = Annotated[Path, BeforeValidator(_path)]
StrictBool = Annotated[bool, Field(strict=True)]  # `packing: yes` is a typo in a training file, not true


class _TrainSection(ConfigModel):
    error = TrainConfigError


class DataConfig(_TrainSection):
    section = "data"

    task: Task = Field("interview", description="interview (bank rows: question -> answer) | tutor (grounded KB Q&A rows)")
    path: RepoPath = Field(Path("training/data/interview"),
                           description="folder of *.jsonl rows, or (tutor) one *.jsonl file such as "
                           "a Q&A export; relative paths are taken from the repo root")
    max_seq_len: int = Field(512, ge=32, description="longest example in tokens; longer answers are cut at the end")
    packing: StrictBool = Field(
        False, description="pack several examples into one row of pack_len tokens (position ids restart per example, "
        "so attention never crosses examples); false = one example per row, rows grouped by length (with batch_size 1: "
        "no padding at all, and measured faster on CPU than packing, bench/training.py)")
    pack_len: int = Field(512, ge=32, description="tokens per packed row (512 measured fastest on CPU for the embedded "
                          "model: at 1024 the masked attention costs more than the better fill saves)")

    @field_validator("pack_len")
    @classmethod
    def _row_fits_an_example(cls, value: int, info: ValidationInfo) -> int:
        seq = info.data.get("max_seq_len")
        if info.data.get("packing") and seq is not None and value < seq:
            raise ValueError(f"must be >= data.max_seq_len ({seq}) so every example fits a row")
        return value


class LoraSettings(_TrainSection):
    section = "lora"

    r: int = Field(8, ge=1, description="LoRA rank")
    alpha: int = Field(16, ge=1, description="LoRA alpha (scale = alpha / r)")
    dropout: float = Field(0.05, ge=0.0, lt=1.0, description="dropout on the LoRA input")
    target_modules: Annotated[tuple[Annotated[str, Field(min_length=1)], ...], BeforeValidator(_names)] = Field(
        ("q_proj", "k_proj", "v_proj", "o_proj"), min_length=1, description="linear layers that get LoRA matrices")


class OptimConfig(_TrainSection):
    section = "optim"

    learning_rate: float = Field(2e-4, gt=0.0, le=1.0, description="peak learning rate (AdamW)")
    batch_size: int = Field(
        1, ge=1, description="rows per device per micro-step (a row holds one example, or several when packed)")
    grad_accum: int = Field(4, ge=1, description="micro-steps per optimizer step")
    epochs: float = Field(3.0, gt=0, description="passes over the train split")
    max_steps: int = Field(-1, ge=-1, description="stop after this many optimizer steps; -1 = run all epochs")
    warmup_ratio: float = Field(0.1, ge=0.0, lt=1.0, description="fraction of steps with linear warmup")
    lr_scheduler: Scheduler = Field("cosine", description="linear | cosine | constant_with_warmup")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay")
    max_grad_norm: float = Field(1.0, gt=0, description="gradient clipping")
    seed: int = Field(13, description="seed of init, shuffling and dropout")
    answer_only_logits: StrictBool = Field(
        True, description="project to the vocabulary only where the loss is taken (answer tokens; rows of one batch "
        "entry, which packing gives): the same loss with less compute")

    @field_validator("max_steps")
    @classmethod
    def _not_zero_steps(cls, value: int) -> int:
        if value == 0:
            raise ValueError("must be -1 (all epochs) or >= 1")
        return value


class RunConfig(_TrainSection):
    section = "run"

    output_dir: RepoPath = Field(Path("training/runs"),
                                 description="run folders go here (checkpoints, metrics.jsonl, eval.json)")
    eval_steps: int = Field(10, ge=1, description="validate (and checkpoint) every N optimizer steps")
    early_stopping_patience: int = Field(3, ge=0, description="stop after N validations without improvement; 0 = off")
    save_total_limit: int = Field(2, ge=1, description="checkpoints kept (the best one is always kept too)")
    device: Device = Field("auto", description="auto (cuda > mps > cpu) | cpu | cuda | mps (pick a GPU with "
                           "CUDA_VISIBLE_DEVICES; several GPUs: accelerate launch)")
    precision: Precision = Field(
        "auto", description="auto | fp32 | bf16 | fp16. auto: bf16 on CUDA with bf16 and on CPUs with avx512_bf16/amx "
        "(measured ~2x faster LoRA steps than fp32 on this CI CPU), else fp32")
    bf16_base: StrictBool = Field(
        True, description="with bf16 precision, hold the frozen base weights in bf16 (the LoRA weights stay fp32): "
        "half the weight memory, and no fp32->bf16 cast of every weight on every step")
    gradient_checkpointing: StrictBool = Field(
        False, description="trade compute for memory (lower it first when out of memory)")
    threads: int = Field(0, ge=0, description="torch CPU threads; 0 = torch's default")
    adapter_name: str = Field(
        "", description="also publish the final adapter as adapters/<adapter_name>; empty = run folder only")
    adapters_dir: RepoPath = Field(Path("adapters"), description="where published adapters go")
    metrics_store: StrictBool = Field(True, description="also record each logged step in the app's metrics store")
    progress: StrictBool = Field(True, description="tqdm progress bar on the terminal")

    @field_validator("adapter_name")
    @classmethod
    def _module_name(cls, value: str) -> str:
        if value:  # peft uses the adapter name as a module name
            _folder_name(value, extra=" ")
        return value


class EvalConfig(_TrainSection):
    section = "eval"

    max_new_tokens: int = Field(160, ge=1, le=2048, description="length limit of generated answers for the rubric")
    max_questions: int = Field(0, ge=0, description="test questions evaluated; 0 = the whole test split")
    batch_size: int = Field(8, ge=1, description="prompts generated together (left padded)")
    generate: StrictBool = Field(
        True, description="generate answers and score key-point coverage (perplexity is always computed)")


class TrainConfig(_TrainSection):
    name: str = Field("run", description="run name: the run folder is <run.output_dir>/<name>")
    base_model: str = Field(
        EMBEDDED, description="'embedded' (SmolLM2-135M-Instruct shipped on PyPI), a local folder, or a hub id")
    data: DataConfig = Field(default_factory=DataConfig, description="which rows to train on")
    lora: LoraSettings = Field(default_factory=LoraSettings, description="the LoRA adapter's shape")
    optim: OptimConfig = Field(default_factory=OptimConfig, description="optimizer and schedule")
    run: RunConfig = Field(default_factory=RunConfig, description="device, checkpoints and where results go")
    eval: EvalConfig = Field(default_factory=EvalConfig, description="the held-out evaluation after training")

    @field_validator("name")
    @classmethod
    def _run_folder(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must be a non-empty folder name")
        return _folder_name(value)

    @field_validator("base_model")
    @classmethod
    def _model_given(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty; use 'embedded', a folder or a hub id")
        return value

    @property
    def run_dir(self) -> Path:
        return resolve_path(self.run.output_dir) / self.name

    @property
    def data_dir(self) -> Path:
        return resolve_path(self.data.path)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types (paths as str, tuples as lists), as written next to each run."""
        return self.model_dump(mode="json")


def resolve_path(p: Path) -> Path:
    """Relative paths are taken from the repo root, so commands work from any working directory."""
    p = Path(p).expanduser()
    return p if p.is_absolute() else REPO_ROOT / p


def parse_config(data: Any, origin: str = "<dict>") -> TrainConfig:
    """A mapping (as read from YAML) -> validated TrainConfig."""
    return build(TrainConfig, data, lambda _name: f"in {origin}", origin)


def load_train_config(path: str | Path, overrides: Mapping[str, Any] | None = None) -> TrainConfig:
    """Read, merge `overrides` ({"optim.max_steps": 5}), validate. Raises TrainConfigError naming the key."""
    p = Path(path)
    overrides = dict(overrides or {})
    data = with_overrides(read_yaml(p, TrainConfigError, "Training config"), overrides, TrainConfigError, str(p))
    return build(TrainConfig, data, lambda name: f"in {'overrides (--set) of ' if name in overrides else ''}{p}",
                 str(p))
