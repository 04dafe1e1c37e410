"""End to end on a tiny Llama: the loss falls, a killed run resumes, the adapter loads in the app's backend."""
import json
from pathlib import Path

import pytest

from training.callbacks import StopAfterSteps, read_log
from training.config import load_train_config
from training.run_folder import complete_checkpoints
from training.trainer import train
from training.wiring import build_parts


def _losses(run_dir: Path) -> tuple[list[float], list[float]]:
    log = read_log(run_dir / "metrics.jsonl")
    return [x.train_loss for x in log if x.train_loss is not None], [x.val_loss for x in log if x.val_loss is not None]


def test_loss_decreases_and_every_step_is_logged(make_config, parts):
    cfg = load_train_config(make_config("fall", optim={"max_steps": 16}))
    res = train(cfg, parts)
    train_loss, val_loss = _losses(cfg.run_dir)
    assert res.global_step == 16 and len(train_loss) == 16
    assert sum(train_loss[-4:]) / 4 < sum(train_loss[:4]) / 4 - 0.3
    assert val_loss[-1] < val_loss[0] and res.best_val_loss == min(val_loss)
    rec = read_log(cfg.run_dir / "metrics.jsonl")[1]
    assert rec.tokens_per_s > 0 and rec.samples_per_s > 0 and rec.peak_memory_mb > 0 and rec.learning_rate > 0
    assert (cfg.run_dir / "adapter" / "adapter_model.safetensors").is_file()
    card = (cfg.run_dir / "adapter" / "README.md").read_text(encoding="utf-8")
    assert "LoRA r / alpha / dropout | 8 / 16" in card and "best validation loss" in card


def test_a_killed_run_resumes_from_its_last_checkpoint(make_config, parts):
    path = make_config("resume", optim={"max_steps": 12})
    cfg = load_train_config(path)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, parts, extra_callbacks=[StopAfterSteps(8)])  # "killed" right after the step-8 checkpoint
    assert [p.name for p in complete_checkpoints(cfg.run_dir)][-1] == "checkpoint-8"
    assert not (cfg.run_dir / "result.json").exists()
    res = train(load_train_config(path), parts)  # the same command again
    assert res.resumed_from == "checkpoint-8" and res.global_step == 12
    steps = [x.step for x in read_log(cfg.run_dir / "metrics.jsonl") if x.train_loss is not None]
    assert steps == list(range(1, 13))  # nothing lost, nothing logged twice
    # a finished run is not trained again; a changed config is refused with the key named
    assert train(load_train_config(path), parts).global_step == 12
    from training.errors import TrainingError

    with pytest.raises(TrainingError, match="optim.learning_rate"):
        train(load_train_config(path, {"optim.learning_rate": 0.001}), parts)


def test_the_saved_adapter_loads_in_the_app_backend(make_config, parts, tiny_model_dir, tmp_path):
    from tutor.backends.hf import TransformersBackend
    from tutor.config import ModelConfig
    from tutor.types import GenerationParams, GenerationRequest, Message

    cfg = load_train_config(make_config("app", optim={"max_steps": 4}, run={"adapter_name": "interview"}))
    res = train(cfg, parts)
    published = Path(res.published_dir)
    assert published == tmp_path / "adapters" / "interview"
    acfg = json.loads((published / "adapter_config.json").read_text())
    assert acfg["r"] == 8 and acfg["base_model_name_or_path"] == str(tiny_model_dir)
    backend = TransformersBackend(ModelConfig(base_model=str(tiny_model_dir), adapters_dir=published.parent,
                                              device="cpu", dtype="float32"), tmp_path / "cache")
    info = backend.load()
    assert info.adapters == ("interview",), info.detail
    req = lambda adapter: GenerationRequest(  # noqa: E731
        messages=(Message("user", "what is a loss ?"),), params=GenerationParams(max_new_tokens=6), adapter=adapter)
    from tutor.backends.base import generate

    with_adapter = generate(backend, req("interview")).text
    without = generate(backend, req(None)).text
    assert with_adapter and without and with_adapter != without


def test_steps_go_to_the_metrics_store(make_config, tmp_path, monkeypatch):
    import sqlite3

    monkeypatch.setenv("SMARTLEARN_PATHS_DATA_DIR", str(tmp_path / "appdata"))
    cfg = load_train_config(make_config("store", optim={"max_steps": 4}, run={"metrics_store": True}))
    train(cfg, build_parts(metrics_store=True))
    with sqlite3.connect(tmp_path / "appdata" / "metrics.sqlite3") as conn:
        rows = conn.execute("SELECT run_name, step, train_loss, val_loss, tokens_per_s FROM training_steps "
                            "ORDER BY id").fetchall()
    assert [r[1] for r in rows if r[2] is not None] == [1, 2, 3, 4]
    assert any(r[3] is not None for r in rows) and all(r[0] == "store" for r in rows)


def test_out_of_memory_names_the_settings_to_lower(make_config, parts):
    import torch
    from transformers import TrainerCallback

    from training.errors import TrainingError

    class Oom(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    cfg = load_train_config(make_config("oom", optim={"max_steps": 4}))
    with pytest.raises(TrainingError) as e:
        train(cfg, parts, extra_callbacks=[Oom()])
    msg = str(e.value)
    assert "Out of memory" in msg and "optim.batch_size" in msg and "data.pack_len" in msg
    assert "run.gradient_checkpointing" in msg


def test_a_committed_adapter_names_its_base_model_not_a_local_cache_path(tmp_path):
    from training.publish import EMBEDDED_HUB_ID, portable_adapter_config

    (tmp_path / "adapter_config.json").write_text(json.dumps(
        {"peft_type": "LORA", "r": 8, "base_model_name_or_path": "/home/me/data/model_cache/SmolLM2.Q4_1"}))
    portable_adapter_config(tmp_path, "embedded")
    cfg = json.loads((tmp_path / "adapter_config.json").read_text())
    assert cfg["base_model_name_or_path"] == EMBEDDED_HUB_ID and cfg["r"] == 8


def test_answer_only_logits_give_the_same_losses_as_the_full_projection(make_config, parts):
    """The shortcut must not change what is learned: same train and validation losses, step by step (fp32)."""
    path = make_config("proj", optim={"max_steps": 6}, run={"eval_steps": 3})
    runs = {}
    for flag in (True, False):
        cfg = load_train_config(path, {"optim.answer_only_logits": flag, "name": f"proj_{flag}"})
        train(cfg, parts)
        runs[flag] = _losses(cfg.run_dir)
    (t_fast, v_fast), (t_full, v_full) = runs[True], runs[False]
    assert len(t_fast) == 6 and len(v_fast) == 2
    assert t_fast == pytest.approx(t_full, rel=1e-4) and v_fast == pytest.approx(v_full, rel=1e-4)


def test_bf16_base_weights_train_fp32_lora_weights(make_config, parts):
    """bf16 precision: the frozen base is held in bf16, the trained LoRA matrices stay fp32, the loss still falls."""
    import torch

    from training.step_loop import _counting_trainer_cls

    seen = {}

    class Spy:  # a callback that looks at the model the Trainer trains
        def __getattr__(self, name):
            def hook(args, state, control, model=None, **kw):
                if model is not None and not seen:
                    seen.update({n: p.dtype for n, p in model.named_parameters()})
            return hook

    assert _counting_trainer_cls()  # the trainer class builds without a model
    cfg = load_train_config(make_config("bf16", optim={"max_steps": 12}, run={"precision": "bf16"}))
    res = train(cfg, parts, extra_callbacks=[Spy()])
    assert res.precision == "bf16"
    lora = {d for n, d in seen.items() if "lora_" in n}
    base = {d for n, d in seen.items() if "lora_" not in n}
    assert lora == {torch.float32} and base == {torch.bfloat16}
    train_loss, _ = _losses(cfg.run_dir)
    assert sum(train_loss[-3:]) / 3 < sum(train_loss[:3]) / 3


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="per-run peak needs Linux's clear_refs")
def test_each_run_reports_its_own_peak_memory_not_the_process_peak_so_far():
    # In a fresh process: after the integration tests this one holds GBs of models and threads, and its
    # high-water mark did not come down in that state (seen once in a full run), which is not what a run sees.
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent("""
        import numpy as np
        from training.callbacks import peak_memory_mb, reset_peak_memory
        big = np.ones(400 * 2**20 // 8)  # 400 MB, touched
        before = peak_memory_mb()
        del big
        reset_peak_memory()  # what train() does first
        print(before, peak_memory_mb())
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.returncode == 0, out.stderr
    before, after = map(float, out.stdout.split()[-2:])
    assert after < before - 300


def test_a_run_publishes_its_adapter_in_both_formats_and_records_its_dataset(make_config, parts, bank_dir):
    import gguf
    from safetensors.numpy import load_file

    from training.dataset_info import content_sha256

    cfg = load_train_config(make_config("both", optim={"max_steps": 4}, run={"adapter_name": "interview"}))
    res = train(cfg, parts)
    published = Path(res.published_dir)
    assert res.gguf_error is None and res.gguf_path == str(published / "adapter.gguf")
    reader = gguf.GGUFReader(str(published / "adapter.gguf"))
    assert reader.fields["adapter.type"].contents() == "lora"
    assert len(reader.tensors) == len(load_file(str(published / "adapter_model.safetensors"))) == 2 * 3 * 2
    sha = content_sha256(bank_dir)
    assert (res.dataset_path, res.dataset_version, res.dataset_sha256) == (str(bank_dir), None, sha)
    saved = json.loads((cfg.run_dir / "result.json").read_text(encoding="utf-8"))
    assert saved["dataset_sha256"] == sha and saved["gguf_path"] == res.gguf_path
    card = (published / "README.md").read_text(encoding="utf-8")
    assert f"dataset_sha256: {sha}" in card and f"sha256 {sha[:12]}" in card and "`adapter.gguf`" in card


def test_a_failed_gguf_export_is_reported_and_the_peft_adapter_kept(make_config, parts, monkeypatch):
    import training.export_gguf as export_gguf

    def refuse(config):
        raise export_gguf.ExportError("the base model is a 'gpt2' model; export-gguf supports ('llama',).")

    monkeypatch.setattr(export_gguf, "base_info_from_config", refuse)
    cfg = load_train_config(make_config("nogguf", optim={"max_steps": 4}, run={"adapter_name": "interview"}))
    res = train(cfg, parts)
    published = Path(res.published_dir)
    assert (published / "adapter_model.safetensors").is_file() and not (published / "adapter.gguf").exists()
    assert res.gguf_path is None and "'gpt2' model" in res.gguf_error and "export-gguf" in res.gguf_error
    assert "No GGUF copy" in (published / "README.md").read_text(encoding="utf-8")
    assert json.loads((cfg.run_dir / "result.json").read_text(encoding="utf-8"))["gguf_error"] == res.gguf_error
