"""GPU path check for the transformers backend: `python scripts/gpu_check.py` on a CUDA machine.

Builds a Llama with SmolLM2-135M's shape (random weights: this checks device selection, dtype,
streaming and adapters on the GPU, not answer quality) and prints one JSON line:
- what `model.device=auto` / `model.dtype=auto` pick, and why;
- tokens/s of our streaming backend against a plain `model.generate` on the same weights (ratio);
- two LoRA adapters used from concurrent threads give the same outputs as sequential runs.
Needs only torch, transformers, peft (what the GPU image has); no download.
"""
from __future__ import annotations

import dataclasses
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def build_model(folder: Path) -> Path:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from tests.tiny_models import build_tiny_llama

    build_tiny_llama(folder)  # the word-level tokenizer + chat template, saved in the folder
    vocab = json.loads((folder / "config.json").read_text())["vocab_size"]
    cfg = LlamaConfig(vocab_size=vocab, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                      num_attention_heads=9, num_key_value_heads=3, max_position_embeddings=2048,
                      tie_word_embeddings=True, bos_token_id=0, eos_token_id=1, pad_token_id=1)
    torch.manual_seed(0)
    model = LlamaForCausalLM(cfg)
    model.generation_config.suppress_tokens = None
    model.save_pretrained(folder)
    # Keep the tiny model's generation settings (no special tokens sampled -> fixed lengths).
    return folder


def main() -> int:
    import torch

    from tests.tiny_models import build_lora_adapter
    from tutor.backends.device import choose_device, choose_dtype
    from tutor.backends.hf import TransformersBackend
    from tutor.config import ModelConfig
    from tutor.types import GenerationParams, GenerationRequest, Message

    out: dict = {"torch": torch.__version__, "cuda": torch.cuda.is_available()}
    if torch.cuda.is_available():
        out["gpu"] = torch.cuda.get_device_name(0)
    dev, dev_why = choose_device("auto")
    dtype, dtype_why = choose_dtype("auto", dev)
    out.update(device=dev, device_reason=dev_why, dtype=str(dtype), dtype_reason=dtype_why)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model_dir = build_model(tmp / "model")
        adapters = tmp / "adapters"
        build_lora_adapter(model_dir, adapters / "alpha", seed=1)
        build_lora_adapter(model_dir, adapters / "beta", seed=2)
        backend = TransformersBackend(ModelConfig(base_model=str(model_dir), adapters_dir=adapters), tmp / "cache")
        info = backend.load()
        out["backend"] = dataclasses.asdict(info)
        state = backend._ensure_loaded()
        msgs = (Message("system", "you are a tutor"), Message("user", "what is a vector " * 40))
        n_new = 128
        req = GenerationRequest(msgs, GenerationParams(max_new_tokens=n_new, temperature=0.0))

        tok, model = state.tokenizer, state.model
        prompt = tok.apply_chat_template([{"role": m.role, "content": m.content} for m in msgs],
                                         add_generation_prompt=True, tokenize=False)
        enc = tok(prompt, add_special_tokens=False, return_tensors="pt").to(state.device)

        def plain():
            torch.cuda.synchronize() if dev.startswith("cuda") else None
            t0 = time.perf_counter()
            with torch.inference_mode(), model.disable_adapter():
                o = model.generate(**enc, max_new_tokens=n_new, do_sample=False, pad_token_id=state.pad_id)
            torch.cuda.synchronize() if dev.startswith("cuda") else None
            return time.perf_counter() - t0, int(o.shape[1] - enc["input_ids"].shape[1])

        def ours():
            t0 = time.perf_counter()
            c = None
            for c in backend.stream(req):
                pass
            return time.perf_counter() - t0, c.usage.completion_tokens, c.ttft_s

        plain(), ours()
        rows = []
        for i in range(6):
            p, o = (plain(), ours()) if i % 2 == 0 else tuple(reversed((ours(), plain())))
            rows.append((p, o))
        plain_tps = statistics.median(p[1] / p[0] for p, _ in rows)
        ours_tps = statistics.median(o[1] / o[0] for _, o in rows)
        out["throughput"] = {
            "prompt_tokens": int(enc["input_ids"].shape[1]), "new_tokens": n_new,
            "plain_tokens_per_s": round(plain_tps, 1), "ours_tokens_per_s": round(ours_tps, 1),
            "overhead_ratio": round(plain_tps / ours_tps - 1, 4),
            "ours_ttft_s_p50": round(statistics.median(o[2] for _, o in rows), 4),
        }
        if dev.startswith("cuda"):
            out["peak_gpu_mem_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)

        # Adapters from concurrent threads stay apart.
        short = GenerationRequest(msgs[:1] + (Message("user", "what is a vector"),),
                                  GenerationParams(max_new_tokens=24))

        def text(adapter):
            r = dataclasses.replace(short, adapter=adapter)
            return "".join(x for x in backend.stream(r) if isinstance(x, str))

        expected = {a: text(a) for a in (None, "alpha", "beta")}
        got: list = []
        threads = [threading.Thread(target=lambda a=a: got.append((a, text(a))))
                   for a in [None, "alpha", "beta"] * 3]
        [t.start() for t in threads]
        [t.join() for t in threads]
        out["adapters"] = {
            "distinct_outputs": len(set(expected.values())) == 3,
            "concurrent_equal_sequential": all(expected[a] == t for a, t in got) and len(got) == 9,
        }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
