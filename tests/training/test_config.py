"""Training configs: every key checked, errors name the key, before any model is loaded."""
import pytest

from training.__main__ import main
from training.config import TrainConfigError, load_train_config, parse_config

REPO_CONFIGS = ["run_a", "run_b", "run_c", "tutor"]


@pytest.mark.parametrize("name", REPO_CONFIGS)
def test_shipped_configs_are_valid(name):
    from training.config import REPO_ROOT

    cfg = load_train_config(REPO_ROOT / "training" / "configs" / f"{name}.yaml")
    assert cfg.optim.batch_size == 1 and cfg.optim.grad_accum == 4 and cfg.optim.epochs == 3
    assert cfg.base_model == "embedded"


def test_sweep_hyperparameters_match_the_original_runs():
    from training.config import REPO_ROOT

    got = {}
    for x in "abc":
        c = load_train_config(REPO_ROOT / "training" / "configs" / f"run_{x}.yaml")
        got[x] = (c.optim.learning_rate, c.lora.r, c.lora.alpha)
    assert got == {"a": (2e-4, 8, 16), "b": (1e-4, 4, 8), "c": (5e-5, 2, 4)}


@pytest.mark.parametrize("data, key", [
    ({"optim": {"learnin_rate": 1e-4}}, "optim.learnin_rate"),
    ({"lora": {"rank": 8}}, "lora.rank"),
    ({"nmae": "x"}, "nmae"),
    ({"optim": {"learning_rate": -1}}, "optim.learning_rate"),
    ({"optim": {"batch_size": "two"}}, "optim.batch_size"),
    ({"optim": {"batch_size": 1.5}}, "optim.batch_size"),
    ({"lora": {"r": 0}}, "lora.r"),
    ({"lora": {"target_modules": []}}, "lora.target_modules"),
    ({"data": {"task": "chat"}}, "data.task"),
    ({"data": {"packing": "yes"}}, "data.packing"),
    ({"data": {"packing": True, "max_seq_len": 256, "pack_len": 128}}, "data.pack_len"),
    ({"run": {"device": "tpu"}}, "run.device"),
    ({"run": {"precision": "int8"}}, "run.precision"),
    ({"run": {"adapter_name": "my.adapter"}}, "run.adapter_name"),
    ({"eval": {"max_questions": -1}}, "eval.max_questions"),
    ({"name": "a/b"}, "name"),
    ({"optim": "fast"}, "optim"),
])
def test_bad_values_name_the_key(data, key):
    with pytest.raises(TrainConfigError) as e:
        parse_config(data, "x.yaml")
    assert key in str(e.value) and "x.yaml" in str(e.value)


def test_yaml_scientific_notation_without_dot_is_a_float(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("optim:\n  learning_rate: 2e-4\n", encoding="utf-8")  # YAML 1.1 reads this as a string
    assert load_train_config(p).optim.learning_rate == 2e-4


def test_overrides_are_validated_too(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("name: c\n", encoding="utf-8")
    assert load_train_config(p, {"optim.max_steps": 5}).optim.max_steps == 5
    with pytest.raises(TrainConfigError, match="optim.max_step"):
        load_train_config(p, {"optim.max_step": 5})


def test_cli_reports_a_bad_key_before_loading_any_model(tmp_path, capsys, monkeypatch):
    import training.model as model

    def boom(*a, **k):  # would be called if the CLI got as far as loading the model
        raise AssertionError("model loaded despite a bad config")

    monkeypatch.setattr(model, "load_base", boom)
    p = tmp_path / "bad.yaml"
    p.write_text("name: bad\nlora:\n  r: 8\n  alpah: 16\n", encoding="utf-8")
    assert main(["train", "--config", str(p)]) == 2
    err = capsys.readouterr().err
    assert "lora.alpah" in err and "bad.yaml" in err
    assert main(["train", "--config", str(tmp_path / "missing.yaml")]) == 2
    assert "does not exist" in capsys.readouterr().err
