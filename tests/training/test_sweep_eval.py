"""Evaluation (base vs adapter on the test split) and the sweep report, on the tiny model."""
import json

from training.__main__ import main
from training.config import load_train_config


def test_eval_compares_base_and_adapter(make_config, monkeypatch, capsys):
    monkeypatch.setenv("SMARTLEARN_RETRIEVAL_EMBEDDING_MODEL", "hash")  # no MiniLM load in a unit test
    path = make_config("ev", optim={"max_steps": 24}, eval={"max_new_tokens": 6, "batch_size": 4})
    assert main(["train", "--config", str(path), "--eval"]) == 0
    cfg = load_train_config(path)
    ev = json.loads((cfg.run_dir / "eval.json").read_text())
    assert ev["questions"] > 0 and ev["generated"] == ev["questions"]
    # the adapter learned the answer pattern: the reference answers are likelier under it
    assert ev["adapter"]["perplexity"] < ev["base"]["perplexity"]
    for side in ("base", "adapter"):
        assert 0.0 <= ev[side]["coverage"] <= 1.0 and 0.0 <= ev[side]["score"] <= 10.0
    card = (cfg.run_dir / "adapter" / "README.md").read_text()
    assert "| perplexity (lower is better) |" in card and "Not evaluated yet" not in card
    # an adapter from elsewhere, evaluated under a run name that has no folder yet
    assert main(["eval", "--config", str(path), "--adapter", str(cfg.run_dir / "adapter"),
                 "--set", "name=outside"]) == 0
    assert json.loads((cfg.run_dir.parent / "outside" / "eval.json").read_text())["generated"] == ev["generated"]


def test_sweep_writes_a_report_with_every_run(make_config, tmp_path, capsys):
    a = make_config("sa", optim={"max_steps": 8})
    b = make_config("sb", optim={"max_steps": 8, "learning_rate": 0.001}, lora={"r": 2, "alpha": 4})
    out = tmp_path / "report"
    assert main(["sweep", str(a), str(b), "--no-eval", "--report-dir", str(out)]) == 0
    md = (out / "sweep.md").read_text()
    assert "| sa | 0.02 | 8 | 16 | 8 |" in md and "| sb | 0.001 | 2 | 4 | 8 |" in md
    assert "Best run by validation loss: **sa**" in md  # lr 0.02 learns the toy data faster than 0.001
    html = (out / "sweep.html").read_text()
    for trace in ("sa train", "sa validation", "sb train", "sb validation", "sa best checkpoint"):
        assert trace in html
    # offline: plotly.js sits beside the page instead of coming from a CDN
    assert "cdn.plot.ly" not in html and 'src="plotly.min.js"' in html and (out / "plotly.min.js").is_file()
    runs = json.loads((out / "sweep.json").read_text())
    assert [r["config"]["name"] for r in runs] == ["sa", "sb"]


def test_report_paths_inside_the_repository_are_relative(tmp_path):
    from training.config import REPO_ROOT
    from training.report import _portable

    res = {"run_dir": str(REPO_ROOT / "training" / "runs" / "run_a"), "adapter_dir": str(tmp_path / "x"),
           "published_dir": None, "global_step": 3}
    out = _portable(res)
    assert out["run_dir"] == "training/runs/run_a" and out["adapter_dir"] == str(tmp_path / "x")
    assert out["published_dir"] is None and out["global_step"] == 3


def test_sweep_validates_every_config_before_training(make_config, tmp_path, capsys):
    good = make_config("ok", optim={"max_steps": 2})
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\noptim:\n  epochz: 3\n")
    assert main(["sweep", str(good), str(bad), "--no-eval", "--report-dir", str(tmp_path / "r")]) == 2
    assert "optim.epochz" in capsys.readouterr().err
    assert not (tmp_path / "runs" / "ok").exists()  # nothing trained


def test_the_report_copies_plotlyjs_from_the_installed_package_replacing_a_stale_copy(tmp_path):
    """plotly.min.js is not committed: the report writes the installed plotly's own copy, even over an old one."""
    from plotly.offline import get_plotlyjs, get_plotlyjs_version

    from training.report import copy_plotlyjs

    (tmp_path / "plotly.min.js").write_text("/* plotly.js v0.0.1, left by an older plotly */", encoding="utf-8")
    target = copy_plotlyjs(tmp_path)
    js = target.read_text(encoding="utf-8")
    assert js == get_plotlyjs() and f"plotly.js v{get_plotlyjs_version()}" in js[:200]
