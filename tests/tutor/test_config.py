from pathlib import Path

import pytest

from tutor.config import AppConfig, describe, load_config
from tutor.errors import ConfigError


def test_defaults_are_embedded_models():
    cfg = load_config(env={})
    assert cfg == AppConfig()
    assert cfg.model.base_model == "embedded" and cfg.retrieval.embedding_model == "embedded"
    assert cfg.server.port == 7860 and cfg.server.host == "127.0.0.1" and cfg.server.share is False


def test_env_overrides_with_types():
    cfg = load_config(env={
        "SMARTLEARN_MODEL_DEVICE": "cuda:1", "SMARTLEARN_SERVER_SHARE": "1",
        "SMARTLEARN_RETRIEVAL_TOP_K": "5", "SMARTLEARN_GENERATION_TEMPERATURE": "0.7",
        "SMARTLEARN_PATHS_DATA_DIR": "/tmp/x", "SMARTLEARN_LOG_LEVEL": "DEBUG",  # not a setting: ignored
    })
    assert cfg.model.device == "cuda:1"
    assert cfg.server.share is True
    assert cfg.retrieval.top_k == 5
    assert cfg.generation.temperature == 0.7
    assert cfg.paths.data_dir == Path("/tmp/x")


def test_file_then_env_precedence(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("model:\n  dtype: float32\nretrieval:\n  top_k: 2\n")
    cfg = load_config(f, env={"SMARTLEARN_RETRIEVAL_TOP_K": "4"})
    assert cfg.model.dtype == "float32" and cfg.retrieval.top_k == 4


@pytest.mark.parametrize("env, setting", [
    ({"SMARTLEARN_MODEL_DEVICE": "tpu"}, "model.device"),
    ({"SMARTLEARN_MODEL_DTYPE": "int3"}, "model.dtype"),
    ({"SMARTLEARN_MODEL_BACKEND": "vllm"}, "model.backend"),
    ({"SMARTLEARN_MODEL_SLOTS": "0"}, "model.slots"),
    ({"SMARTLEARN_RETRIEVAL_TOP_K": "zero"}, "retrieval.top_k"),
    ({"SMARTLEARN_RETRIEVAL_TOP_K": "0"}, "retrieval.top_k"),
    ({"SMARTLEARN_RETRIEVAL_CHUNK_OVERLAP_WORDS": "500"}, "retrieval.chunk_overlap_words"),
    ({"SMARTLEARN_GENERATION_TOP_P": "0"}, "generation.top_p"),
    ({"SMARTLEARN_SERVER_PORT": "70000"}, "server.port"),
    ({"SMARTLEARN_SERVER_SHARE": "maybe"}, "server.share"),
    ({"SMARTLEARN_MODEL_NO_SUCH": "1"}, "model.no_such"),
    ({"SMARTLEARN_SERVER_ADMIN_USER": "root"}, "server.admin_password"),
])
def test_invalid_values_name_the_setting(env, setting):
    with pytest.raises(ConfigError) as e:
        load_config(env=env)
    assert setting in str(e.value)


def test_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml", env={})
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad, env={})
    unknown = tmp_path / "u.yaml"
    unknown.write_text("modle:\n  device: cpu\n")
    with pytest.raises(ConfigError, match="modle"):
        load_config(unknown, env={})


def test_describe_hides_password():
    cfg = load_config(env={"SMARTLEARN_SERVER_ADMIN_USER": "a", "SMARTLEARN_SERVER_ADMIN_PASSWORD": "s3cret"})
    rows = dict((k, v) for k, v, _ in describe(cfg))
    assert rows["server.admin_password"] == "***"
    assert all(h for _, _, h in describe(cfg)), "every setting has help text"
