"""Training configs: every key checked, errors name the key, before any model is loaded."""
import pytest

from training.__main__ import main
from training.config import TrainConfig, TrainConfigError, load_train_config, parse_config
from tutor.config_loader import ConfigModel

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


# (training data, message fragment): every training bound, with the file named
TRAIN_BAD = [
    ({"data": {"max_seq_len": 16}}, "data.max_seq_len in x.yaml: got 16; it must be a whole number >= 32"),
    ({"data": {"path": " "}}, "data.path in x.yaml: got ' '; it must be a folder path, not empty"),
    ({"lora": {"alpha": 0}}, "lora.alpha in x.yaml: got 0; it must be a whole number >= 1"),
    ({"lora": {"dropout": 1.0}}, "lora.dropout in x.yaml: got 1.0; it must be a number >= 0.0 and < 1.0"),
    ({"lora": {"target_modules": 5}}, "lora.target_modules in x.yaml: got 5; it must be a non-empty list of names"),
    ({"optim": {"learning_rate": 2}}, "optim.learning_rate in x.yaml: got 2; it must be a number > 0.0 and <= 1.0"),
    ({"optim": {"epochs": 0}}, "optim.epochs in x.yaml: got 0; it must be a number > 0"),
    ({"optim": {"max_steps": 0}}, "optim.max_steps in x.yaml: got 0; it must be -1 (all epochs) or >= 1"),
    ({"optim": {"max_steps": -2}}, "optim.max_steps in x.yaml: got -2; it must be a whole number >= -1"),
    ({"optim": {"warmup_ratio": 1}}, "optim.warmup_ratio in x.yaml: got 1; it must be a number >= 0.0 and < 1.0"),
    ({"optim": {"lr_scheduler": "step"}}, "got 'step'; it must be one of linear, cosine, constant_with_warmup"),
    ({"optim": {"weight_decay": -0.1}}, "optim.weight_decay in x.yaml: got -0.1; it must be a number >= 0"),
    ({"optim": {"max_grad_norm": 0}}, "optim.max_grad_norm in x.yaml: got 0; it must be a number > 0"),
    ({"optim": {"answer_only_logits": "yes"}}, "optim.answer_only_logits in x.yaml: got 'yes'; it must be true or"),
    ({"run": {"eval_steps": 0}}, "run.eval_steps in x.yaml: got 0; it must be a whole number >= 1"),
    ({"run": {"early_stopping_patience": -1}}, "run.early_stopping_patience in x.yaml: got -1; it must be a whole"),
    ({"run": {"save_total_limit": 0}}, "run.save_total_limit in x.yaml: got 0; it must be a whole number >= 1"),
    ({"run": {"device": "cuda:0"}}, "run.device in x.yaml: got 'cuda:0'; it must be one of auto, cpu, cuda, mps"),
    ({"run": {"precision": "int8"}}, "run.precision in x.yaml: got 'int8'; it must be one of auto, fp32, bf16, fp16"),
    ({"run": {"threads": -1}}, "run.threads in x.yaml: got -1; it must be a whole number >= 0"),
    ({"run": {"adapter_name": "my adapter"}}, "run.adapter_name in x.yaml: got 'my adapter'; it must be a folder"),
    ({"eval": {"max_new_tokens": 2049}}, "eval.max_new_tokens in x.yaml: got 2049; it must be a whole number >= 1"),
    ({"eval": {"batch_size": 0}}, "eval.batch_size in x.yaml: got 0; it must be a whole number >= 1"),
    ({"base_model": ""}, "base_model in x.yaml: got ''; it must not be empty"),
    ({"name": ""}, "name in x.yaml: got ''; it must be a non-empty folder name"),
    ({"data": {"task": "chat"}}, "data.task in x.yaml: got 'chat'; it must be one of interview, tutor"),
    ({"lora": {"rank": 8}}, "Unknown setting lora.rank in x.yaml; known in lora: r, alpha, dropout, target_modules."),
]


@pytest.mark.parametrize("data, fragment", TRAIN_BAD)
def test_training_errors_name_key_file_value_and_rule(data, fragment):
    with pytest.raises(TrainConfigError) as e:
        parse_config(data, "x.yaml")
    assert fragment in str(e.value)


def test_training_overrides_use_the_same_loader(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("name: c\nlora:\n  r: 4\neval:\n", encoding="utf-8")
    cfg = load_train_config(p, {"lora.target_modules": "q_proj, v_proj", "name": "d"})
    assert cfg.lora.target_modules == ("q_proj", "v_proj") and cfg.name == "d" and cfg.lora.r == 4
    assert cfg.to_dict()["lora"]["target_modules"] == ["q_proj", "v_proj"]
    assert cfg.to_dict()["run"]["output_dir"] == "training/runs"
    with pytest.raises(TrainConfigError, match="lora.r .*got 0"):
        load_train_config(p, {"lora.r": 0})


def test_every_training_field_has_help_text():
    sections = [TrainConfig, *(f.annotation for f in TrainConfig.model_fields.values()
                               if isinstance(f.annotation, type) and issubclass(f.annotation, ConfigModel))]
    missing = [f"{m.__name__}.{n}" for m in sections for n, f in m.model_fields.items() if not f.description]
    assert not missing and len(sections) == 6
