"""Q&A config validation: errors name the setting, before any model or service is built."""
import pytest

from training.__main__ import main
from training.qa.config import QAConfigError, load_qa_config


@pytest.mark.parametrize("overrides, named", [
    ({"checks": ["supported", "grammar"]}, "grammar"),
    ({"min_score": 12}, "min_score"),
    ({"near_duplicate": 0}, "near_duplicate"),
    ({"support_min": 1.5}, "support_min"),
    ({"question_words": [10, 5]}, "question_words"),
    ({"retries": 0}, "retries"),
    ({"temperature": 0.3}, "temperature"),
])
def test_bad_setting_is_named(overrides, named):
    with pytest.raises(QAConfigError, match=named):
        load_qa_config(None, overrides)


def test_yaml_and_overrides(tmp_path):
    p = tmp_path / "qa.yaml"
    p.write_text("checks: [supported, length]\nmin_score: 8\n", encoding="utf-8")
    cfg = load_qa_config(p, {"concurrency": 2})
    assert cfg.checks == ("supported", "length") and cfg.min_score == 8.0 and cfg.concurrency == 2


def test_cli_rejects_unknown_check_before_building_anything(monkeypatch, capsys):
    import training.qa.cli as cli

    def boom():
        raise AssertionError("services were built before the config was validated")

    monkeypatch.setattr(cli, "default_parts_factory", lambda: boom)
    assert main(["qa", "generate", "--set", "checks=supported,bogus"]) == 2
    assert "bogus" in capsys.readouterr().err
