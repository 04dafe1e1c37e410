"""Table-driven checks of the config models: every bound and choice is enforced, and each error is one
sentence naming the setting, where the value came from, the value and what is allowed."""
from pathlib import Path

import pytest

from tutor.config import AppConfig, MediaConfig, ModelConfig, RetrievalConfig, load_config
from tutor.config_loader import ConfigModel
from tutor.errors import ConfigError

# (env var, bad value, words the message must hold: the allowed values or the rule)
APP_BAD = [
    ("SMARTLEARN_MODEL_BACKEND", "vllm", "one of auto, transformers, mlx, llamacpp"),
    ("SMARTLEARN_MODEL_SLOTS", "65", "a whole number >= 1 and <= 64"),
    ("SMARTLEARN_MODEL_DEVICE", "cuda:x", "one of auto, cpu, cuda, cuda:N, mps"),
    ("SMARTLEARN_MODEL_DTYPE", "int3", "one of auto, float32, bfloat16, float16"),
    ("SMARTLEARN_MODEL_BASE_MODEL", "  ", "must not be empty"),
    ("SMARTLEARN_MODEL_THREADS", "-1", "a whole number >= 0"),
    ("SMARTLEARN_MODEL_MAX_CONTEXT_TOKENS", "255", "a whole number >= 256"),
    ("SMARTLEARN_GENERATION_MAX_NEW_TOKENS", "8193", "a whole number >= 1 and <= 8192"),
    ("SMARTLEARN_GENERATION_TEMPERATURE", "5.5", "a number >= 0.0 and <= 5.0"),
    ("SMARTLEARN_GENERATION_TOP_P", "0", "a number > 0.0 and <= 1.0"),
    ("SMARTLEARN_GENERATION_REPETITION_PENALTY", "0.4", "a number >= 0.5 and <= 3.0"),
    ("SMARTLEARN_GENERATION_KEY_POINT", "sometimes", "true or false"),
    ("SMARTLEARN_RETRIEVAL_CHUNK_WORDS", "19", "a whole number >= 20"),
    ("SMARTLEARN_RETRIEVAL_CHUNK_OVERLAP_WORDS", "120", "smaller than retrieval.chunk_words (120)"),
    ("SMARTLEARN_RETRIEVAL_TOP_K", "51", "a whole number >= 1 and <= 50"),
    ("SMARTLEARN_RETRIEVAL_TOP_K", "2.5", "a whole number"),
    ("SMARTLEARN_RETRIEVAL_CANDIDATES", "2", ">= retrieval.top_k (3)"),
    ("SMARTLEARN_RETRIEVAL_RRF_K", "0", "a whole number >= 1"),
    ("SMARTLEARN_RETRIEVAL_RELEVANCE_FLOOR", "1.5", "a number >= -1.0 and <= 1.0"),
    ("SMARTLEARN_RETRIEVAL_COLLECTION", "kb", "text of at least 3 characters and at most 512 characters"),
    ("SMARTLEARN_SERVER_PORT", "0", "a whole number >= 1 and <= 65535"),
    ("SMARTLEARN_SERVER_MAX_MESSAGE_CHARS", "99", "a whole number >= 100"),
    ("SMARTLEARN_SERVER_MAX_UPLOAD_MB", "0", "a number > 0"),
    ("SMARTLEARN_SERVER_ADMIN_PASSWORD", "pw", "set together with server.admin_user"),
    ("SMARTLEARN_LEARNING_MAX_QUESTIONS", "101", "a whole number >= 1 and <= 100"),
    ("SMARTLEARN_LEARNING_RECENT_QUIZZES", "-1", "a whole number >= 0"),
    ("SMARTLEARN_LEARNING_ADAPTIVE_WINDOW", "0", "a whole number >= 1"),
    ("SMARTLEARN_LEARNING_SHORT_ANSWER_THRESHOLD", "-2", "a number >= -1.0 and <= 1.0"),
    ("SMARTLEARN_LEARNING_MAX_PLAN_WEEKS", "105", "a whole number >= 1 and <= 104"),
    ("SMARTLEARN_MEDIA_SPEECH_BACKEND", "vosk", "one of faster-whisper, openai-whisper"),
    ("SMARTLEARN_MEDIA_SPEECH_LANGUAGE", "english", "a language code such as en or fr"),
    ("SMARTLEARN_MEDIA_OCR_THREADS", "-2", "a whole number >= 0"),
    ("SMARTLEARN_MEDIA_MAX_IMAGE_MEGAPIXELS", "0", "a number > 0"),
    ("SMARTLEARN_MONITORING_SAMPLE_INTERVAL_S", "0.1", "0 (off) or at least 0.5 seconds"),
    ("SMARTLEARN_MONITORING_RETENTION_DAYS", "0", "a number > 0"),
    ("SMARTLEARN_MONITORING_RAW_HOURS", "500", "not be longer than monitoring.retention_days"),
    ("SMARTLEARN_MONITORING_DOWNSAMPLE_S", "0.5", "a number >= 1"),
    ("SMARTLEARN_MONITORING_MIN_CALLS_TO_RECOMMEND", "0", "a whole number >= 1"),
    ("SMARTLEARN_MONITORING_CPU_WARN", "101", "a number > 0 and <= 100"),
    ("SMARTLEARN_MONITORING_MEMORY_CRITICAL", "50", ">= monitoring.memory_warn (75.0)"),
    ("SMARTLEARN_MONITORING_LATENCY_CRITICAL_MS", "1000", ">= monitoring.latency_warn_ms (2000.0)"),
]


@pytest.mark.parametrize("var, value, allowed", APP_BAD)
def test_app_env_errors_name_setting_env_value_and_rule(var, value, allowed):
    with pytest.raises(ConfigError) as e:
        load_config(env={var: value})
    setting = var[len("SMARTLEARN_"):].lower().replace("_", ".", 1)
    msg = str(e.value)
    assert msg.startswith(f"Invalid setting {setting} (env {var}): got {value!r}; it "), msg
    assert allowed in msg, msg


@pytest.mark.parametrize("var, value, _", APP_BAD)
def test_the_same_values_from_a_file_name_the_file(tmp_path, var, value, _):
    section, key = var[len("SMARTLEARN_"):].lower().split("_", 1)
    f = tmp_path / "c.yaml"
    f.write_text(f"{section}:\n  {key}: {value!r}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"Invalid setting {section}\.{key} \(in .*c\.yaml\)"):
        load_config(f, env={})


@pytest.mark.parametrize("env", [
    {"SMARTLEARN_RETRIEVAL_TOP_K": "50", "SMARTLEARN_RETRIEVAL_CANDIDATES": "50"},
    {"SMARTLEARN_MODEL_DEVICE": "cuda:3", "SMARTLEARN_MODEL_MAX_CONTEXT_TOKENS": "256"},
    {"SMARTLEARN_GENERATION_TOP_P": "1", "SMARTLEARN_GENERATION_TEMPERATURE": "5"},
    {"SMARTLEARN_MONITORING_SAMPLE_INTERVAL_S": "0", "SMARTLEARN_SERVER_PORT": "65535"},
    {"SMARTLEARN_SERVER_ADMIN_USER": "a", "SMARTLEARN_SERVER_ADMIN_PASSWORD": "b"},
    {"SMARTLEARN_SERVER_SHARE": "off", "SMARTLEARN_GENERATION_KEY_POINT": "yes"},
])
def test_values_on_the_bounds_are_accepted(env):
    load_config(env=env)


def test_yaml_values_are_typed_and_paths_expanded(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("server:\n  admin_user: 1234\n  admin_password: 42\npaths:\n  data_dir: ~/sl\nmodel:\n", "utf-8")
    cfg = load_config(f, env={})
    assert cfg.server.admin_user == "1234" and cfg.paths.data_dir == Path("~/sl").expanduser()


def test_a_boolean_is_not_a_number(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("retrieval:\n  top_k: true\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="retrieval.top_k .*got True; it must be a whole number"):
        load_config(f, env={})


def test_direct_construction_and_replace_validate_with_the_same_sentences():
    with pytest.raises(ConfigError, match=r"model.device \(env SMARTLEARN_MODEL_DEVICE\): got 'tpu'"):
        ModelConfig(device="tpu")
    with pytest.raises(ConfigError, match="retrieval.chunk_overlap_words"):
        RetrievalConfig().replace(chunk_words=25)
    with pytest.raises(ConfigError, match="Unknown setting media.speech_modle"):
        MediaConfig(speech_modle="x")
    cfg = AppConfig()
    assert cfg.replace(server=cfg.server.replace(port=8080)).server.port == 8080
    assert cfg.server.port == 7860, "replace returns a copy"


def test_configs_are_frozen_and_hashable():
    cfg = AppConfig()
    with pytest.raises(Exception):
        cfg.server.port = 1  # type: ignore[misc]
    assert hash(cfg) == hash(AppConfig()) and cfg == load_config(env={})


def leaf_fields(model: type[ConfigModel]):
    for name, f in model.model_fields.items():
        if isinstance(f.annotation, type) and issubclass(f.annotation, ConfigModel):
            yield from leaf_fields(f.annotation)
        yield model, name, f


def test_every_field_has_help_text():
    missing = [f"{m.__name__}.{n}" for m, n, f in leaf_fields(AppConfig) if not (f.description or "").strip()]
    assert not missing
