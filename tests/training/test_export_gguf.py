"""peft LoRA -> GGUF LoRA (training/export_gguf.py): names, layout, metadata, q/k permutation; and,
on the real embedded model, that llama.cpp with the converted adapter decodes what peft decodes."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.tiny_models import build_lora_adapter, build_tiny_llama
from training.export_gguf import ExportError, export_adapter, permute_rows


def _base_gguf(path: Path, n_head: int = 2, n_head_kv: int = 2, arch: str = "llama") -> Path:
    """A header-only GGUF with the head counts the exporter reads (no weights needed)."""
    import gguf

    w = gguf.GGUFWriter(str(path), arch)
    w.add_head_count(n_head)
    w.add_head_count_kv(n_head_kv)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


@pytest.fixture(scope="module")
def tiny_adapter(tmp_path_factory) -> Path:
    model = build_tiny_llama(tmp_path_factory.mktemp("tiny"))
    return build_lora_adapter(model, tmp_path_factory.mktemp("adapter") / "a1", seed=1)


def test_permutation_is_llamas_rope_row_order():
    rows = np.arange(8).reshape(8, 1)  # 2 heads x head_dim 4
    assert permute_rows(rows, 2).ravel().tolist() == [0, 2, 1, 3, 4, 6, 5, 7]


def test_export_writes_a_llama_cpp_lora(tiny_adapter, tmp_path):
    import gguf
    from safetensors.numpy import load_file

    out = export_adapter(tiny_adapter, _base_gguf(tmp_path / "base.gguf"))
    assert out == tiny_adapter / "adapter.gguf"
    r = gguf.GGUFReader(str(out))
    assert r.fields["general.type"].contents() == "adapter"
    assert r.fields["adapter.type"].contents() == "lora"
    cfg = json.loads((tiny_adapter / "adapter_config.json").read_text())
    assert r.fields["adapter.lora.alpha"].contents() == pytest.approx(cfg["lora_alpha"])
    got = {t.name: np.array(t.data).reshape(tuple(reversed([int(d) for d in t.shape]))) for t in r.tensors}
    peft = load_file(str(tiny_adapter / "adapter_model.safetensors"))
    assert len(got) == len(peft) == 2 * 7 * 2
    pre = "base_model.model.model.layers.0."
    np.testing.assert_array_equal(got["blk.0.attn_v.weight.lora_a"], peft[pre + "self_attn.v_proj.lora_A.weight"])
    np.testing.assert_array_equal(got["blk.0.attn_v.weight.lora_b"], peft[pre + "self_attn.v_proj.lora_B.weight"])
    np.testing.assert_array_equal(got["blk.0.ffn_down.weight.lora_b"], peft[pre + "mlp.down_proj.lora_B.weight"])
    q_b = peft[pre + "self_attn.q_proj.lora_B.weight"]
    np.testing.assert_array_equal(got["blk.0.attn_q.weight.lora_b"], permute_rows(q_b, 2))
    assert not np.array_equal(got["blk.0.attn_q.weight.lora_b"], q_b)  # really permuted
    np.testing.assert_array_equal(got["blk.0.attn_q.weight.lora_a"], peft[pre + "self_attn.q_proj.lora_A.weight"])


def test_export_refuses_what_it_cannot_convert(tiny_adapter, tmp_path):
    with pytest.raises(ExportError, match="supports"):
        export_adapter(tiny_adapter, _base_gguf(tmp_path / "g.gguf", arch="gpt2"), out=tmp_path / "x.gguf")
    (tmp_path / "dora").mkdir()
    cfg = json.loads((tiny_adapter / "adapter_config.json").read_text()) | {"use_dora": True}
    (tmp_path / "dora" / "adapter_config.json").write_text(json.dumps(cfg))
    (tmp_path / "dora" / "adapter_model.safetensors").write_bytes(
        (tiny_adapter / "adapter_model.safetensors").read_bytes())
    with pytest.raises(ExportError, match="DoRA"):
        export_adapter(tmp_path / "dora", _base_gguf(tmp_path / "b.gguf"))
    with pytest.raises(ExportError, match="not a readable peft adapter"):
        export_adapter(tmp_path, _base_gguf(tmp_path / "c.gguf"))


@pytest.mark.integration
def test_shipped_tutor_adapter_gguf_matches_peft(tmp_path):
    """llama.cpp + the committed adapters/tutor/adapter.gguf vs peft fp32 on the same GGUF weights.

    Exact greedy tokens are too strict: llama.cpp multiplies Q4_1 weights with 8-bit activations, and
    even the base models' greedy texts part after ~12 tokens on a near-tie. So the check is teacher
    forced: every token llama.cpp chose must be peft's argmax or within 0.5 logits of it (measured:
    at most 0.04). The base model without the adapter misses the same tokens by up to ~9 logits, so a
    wrong conversion (names, permutation, alpha) fails here."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tutor.backends.embedded import resolve_model_dir
    from tutor.backends.llamacpp import LlamaCppBackend
    from tutor.config import EMBEDDED, ModelConfig
    from tutor.types import GenerationParams, GenerationRequest, Message

    root = Path(__file__).resolve().parents[2]
    messages = [{"role": "system", "content": "Answer from the course notes.\n[1] Gradient descent updates the "
                 "weights against the gradient, scaled by the learning rate."},
                {"role": "user", "content": "What does the learning rate do?"}]
    backend = LlamaCppBackend(ModelConfig(base_model=EMBEDDED, adapters_dir=root / "adapters", slots=1), 2048)
    req = GenerationRequest(tuple(Message(m["role"], m["content"]) for m in messages),
                            GenerationParams(max_new_tokens=24, temperature=0.0), adapter="tutor")
    try:
        text = [c for c in backend.stream(req)][-1].text
    finally:
        backend.close()

    src = resolve_model_dir(EMBEDDED, root / "data" / "model_cache")
    tok = AutoTokenizer.from_pretrained(src)
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(src, dtype=torch.float32),
                                      root / "adapters" / "tutor").eval()
    prompt = tok.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt",
                                     return_dict=True)["input_ids"]
    gen = tok(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
    assert gen.shape[1] >= 8, text

    def gaps() -> torch.Tensor:
        with torch.inference_mode():
            logits = model(torch.cat([prompt, gen], 1)).logits[0, prompt.shape[1] - 1:-1]
        return logits.max(-1).values - logits.gather(1, gen[0][:, None])[:, 0]

    assert float(gaps().max()) < 0.5, text
    with model.disable_adapter():
        assert float(gaps().max()) > 2.0, "the adapter should change this answer; the check cannot discriminate"


def test_head_counts_come_from_a_transformers_config_too(tiny_adapter, tmp_path):
    from types import SimpleNamespace

    from training.export_gguf import base_info_from_config

    cfg = SimpleNamespace(model_type="llama", num_attention_heads=2, num_key_value_heads=2)
    from_config = export_adapter(tiny_adapter, base_info_from_config(cfg), out=tmp_path / "c.gguf")
    from_gguf = export_adapter(tiny_adapter, _base_gguf(tmp_path / "base.gguf"), out=tmp_path / "g.gguf")
    assert from_config.read_bytes() == from_gguf.read_bytes()
    with pytest.raises(ExportError, match="supports"):
        base_info_from_config(SimpleNamespace(model_type="gpt2", num_attention_heads=2))


@pytest.mark.integration
def test_the_end_of_run_export_writes_the_committed_gguf_bytes(tmp_path):
    """A training run exports with head counts from the trained model's transformers config (trainer.export_gguf);
    on the embedded model that must give exactly the committed adapter.gguf files, which `export-gguf` wrote
    from the base GGUF."""
    import shutil

    from transformers import AutoConfig

    from training.export_gguf import base_info, base_info_from_config
    from tutor.backends.embedded import embedded_gguf

    gguf_file = embedded_gguf()
    info = base_info_from_config(AutoConfig.from_pretrained(gguf_file.parent, gguf_file=gguf_file.name))
    assert info == base_info(gguf_file)
    root = Path(__file__).resolve().parents[2] / "adapters"
    for name in ("tutor", "interview"):
        copy = tmp_path / name
        shutil.copytree(root / name, copy, ignore=shutil.ignore_patterns("adapter.gguf"))
        assert export_adapter(copy, info).read_bytes() == (root / name / "adapter.gguf").read_bytes()
