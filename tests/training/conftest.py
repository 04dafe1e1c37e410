"""A tiny Llama (tests/tiny_models.py), a small interview bank in its vocabulary, and configs that use them."""
from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import yaml

from tests.tiny_models import WORDS, build_tiny_llama

TOPICS = ["ML fundamentals", "Deep learning", "NLP", "Statistics", "MLOps", "ML system design", "Python"]
CONTENT = [w for w in WORDS if w.isalpha() and w not in {"system", "user", "assistant"}]


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama") / "model", allow_special_output=True)


def bank_rows(n: int, seed: int = 0) -> list[dict]:
    """Rows whose answers follow a learnable pattern (the answer repeats a phrase from the question)."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        q = " ".join(rng.sample(CONTENT, 5))
        rows.append({
            "id": f"mlf-{i:03d}", "question": f"what is {q} ?",
            "answer": f"the answer is {q} because {q} is good .",
            "topic": TOPICS[i % len(TOPICS)], "difficulty": "beginner",
            "key_points": [q.split()[0], q.split()[1], q.split()[2]],
        })
    return rows


@pytest.fixture()
def bank_dir(tmp_path) -> Path:
    d = tmp_path / "bank"
    d.mkdir()
    (d / "bank.jsonl").write_text("".join(json.dumps(r) + "\n" for r in bank_rows(48)), encoding="utf-8")
    return d


@pytest.fixture()
def make_config(tmp_path, tiny_model_dir, bank_dir):
    """Write a training config for the tiny model; keyword sections override the defaults."""

    def make(name: str = "tiny", **sections) -> Path:
        data = {
            "name": name,
            "base_model": str(tiny_model_dir),
            "data": {"task": "interview", "path": str(bank_dir), "max_seq_len": 64, "packing": True,
                     "pack_len": 128},
            "lora": {"r": 8, "alpha": 16, "dropout": 0.0, "target_modules": ["q_proj", "v_proj", "o_proj"]},
            "optim": {"learning_rate": 0.02, "batch_size": 1, "grad_accum": 2, "epochs": 3,
                      "warmup_ratio": 0.0, "lr_scheduler": "constant_with_warmup", "seed": 0},
            "run": {"output_dir": str(tmp_path / "runs"), "eval_steps": 4, "early_stopping_patience": 0,
                    "device": "cpu", "precision": "fp32", "metrics_store": False, "progress": False,
                    # one thread: the tiny model's matmuls are too small to split, and on a loaded
                    # 2-core machine two spinning threads made each step ~10x slower
                    "threads": 1,
                    "adapters_dir": str(tmp_path / "adapters")},
            "eval": {"max_new_tokens": 8, "batch_size": 4},
        }
        for sec, values in sections.items():
            if isinstance(values, dict):
                data[sec] = {**data.get(sec, {}), **values}
            else:
                data[sec] = values
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(data), encoding="utf-8")
        return path

    return make


@pytest.fixture()
def parts():
    """What the training commands build at their entry point, without the app's metrics store."""
    from training.wiring import build_parts

    return build_parts(metrics_store=False)
