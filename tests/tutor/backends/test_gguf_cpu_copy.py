"""The Q8_0 copy of a GGUF with slow CPU weight types: same values, same metadata, written once."""
from __future__ import annotations

import os

import numpy as np
import pytest

gguf = pytest.importorskip("gguf")

from gguf.quants import dequantize, quantize  # noqa: E402

from tutor.backends.gguf_cpu_copy import copy_path, cpu_copy, needs_copy  # noqa: E402
from tutor.errors import ModelLoadError  # noqa: E402

Q = gguf.GGMLQuantizationType


def _write(path, qtype, seed=0):
    rng = np.random.default_rng(seed)
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_context_length(64)
    w.add_string("tokenizer.chat_template", "{{ messages }}")
    weights = rng.normal(0, 0.05, size=(8, 64)).astype(np.float32)
    if qtype == Q.F32:
        w.add_tensor("blk.0.attn_q.weight", weights)
    else:
        q = quantize(weights, qtype)
        w.add_tensor("blk.0.attn_q.weight", q, raw_shape=q.shape, raw_dtype=qtype)
    w.add_tensor("blk.0.attn_norm.weight", np.ones(64, np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def _tensors(path):
    r = gguf.GGUFReader(str(path))
    return r, {t.name: t for t in r.tensors}


def test_q4_1_weights_get_a_q8_0_copy_with_the_same_values_and_metadata(tmp_path):
    src = tmp_path / "m.gguf"
    _write(src, Q.Q4_1)
    assert needs_copy(src)
    out = cpu_copy(src, tmp_path / "cache")
    assert out == copy_path(src, tmp_path / "cache") and out != src
    r0, before = _tensors(src)
    r1, after = _tensors(out)
    a, b = before["blk.0.attn_q.weight"], after["blk.0.attn_q.weight"]
    assert b.tensor_type == Q.Q8_0 and tuple(b.shape) == tuple(a.shape)
    va = dequantize(a.data, a.tensor_type).reshape(8, 64)
    vb = dequantize(b.data, b.tensor_type).reshape(8, 64)
    # Q8_0 steps are a 127th of each block's largest value: far finer than Q4_1's 15 levels
    assert np.max(np.abs(va - vb)) <= np.max(np.abs(va)) / 127
    assert after["blk.0.attn_norm.weight"].tensor_type == Q.F32
    assert r1.fields["tokenizer.chat_template"].contents() == "{{ messages }}"
    assert r1.fields["llama.context_length"].contents() == 64
    assert not needs_copy(out)
    # written once: a second start reuses it
    stamp = out.stat().st_mtime_ns
    assert cpu_copy(src, tmp_path / "cache") == out and out.stat().st_mtime_ns == stamp
    assert not list((tmp_path / "cache").glob("*.tmp"))


@pytest.mark.parametrize("qtype", [Q.Q4_0, Q.Q8_0, Q.F32])
def test_fast_types_are_served_as_they_are(tmp_path, qtype):
    src = tmp_path / "m.gguf"
    _write(src, qtype)
    assert cpu_copy(src, tmp_path / "cache") == src
    assert not (tmp_path / "cache").exists()


def test_a_changed_source_gets_a_new_copy_and_an_unwritable_cache_a_sentence(tmp_path):
    src = tmp_path / "m.gguf"
    _write(src, Q.Q4_1)
    first = cpu_copy(src, tmp_path / "cache")
    # the same file elsewhere (another clone's virtual environment), touched: the same copy
    other = tmp_path / "elsewhere" / "m.gguf"
    other.parent.mkdir()
    other.write_bytes(src.read_bytes())
    os.utime(other, ns=(1, 1))
    assert copy_path(other, tmp_path / "cache") == first
    # other weights: a new copy
    _write(src, Q.Q4_1, seed=1)
    assert copy_path(src, tmp_path / "cache") != first
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(ModelLoadError, match="SMARTLEARN_MODEL_CPU_COPY"):
        cpu_copy(src, blocker / "cache")


def test_not_a_gguf_is_left_to_the_model_checks(tmp_path):
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a gguf" * 10)
    assert cpu_copy(junk, tmp_path / "cache") == junk
