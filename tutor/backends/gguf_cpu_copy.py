"""A Q8_0 copy of a GGUF whose weights have no fast llama.cpp CPU kernels (Q4_1, Q5_0, Q5_1).

Why: on 2 CPU cores the first token of an answer is prompt processing (~230 new prompt tokens per
question), and llama.cpp's CPU matrix kernels for Q4_1 are among its slowest. The embedded SmolLM2 GGUF
is Q4_1. `python -m bench.gguf_copy` on this project's 2-core KVM Xeon (avx512_vnni, no avx512_bf16),
2 threads, tutor adapter on (bench/results/gguf_copy.json):

| weights | prompt tok/s | decode tok/s | perplexity on knowledge_base/ (fp32 from each file) |
|---|---|---|---|
| Q4_1 (as shipped) | 237 | 25.1 | 11.152 |
| Q8_0 (this copy) | 356 (1.5x) | 20.6 (0.82x: twice the bytes per weight to read) | 11.181 (+0.3 %) |

So the first model token comes ~0.3 s sooner on a typical question and a 75-token answer ends about as
much later: the learner waits less before the model's text starts (the quoted extract shows at once
either way). A Q4_0 copy (llama.cpp repacks it for AVX2/AVX-512) processed prompts 1.8x faster but
changed the model (perplexity +20-31 % in a one-off run of the same measure: Q4_1 through a second 4-bit
rounding): not offered.
The copy is written once per source file (keyed by its name, size and first and last MiB) into a cache
shared by every data folder, atomically (a temp file, then rename), so concurrent starts never see half a file.
Weights of any other type, and files that already have none of the slow types, are served as they are.
"""
from __future__ import annotations

import hashlib
import logging
import os
import time
from pathlib import Path

from tutor.errors import ModelLoadError

logger = logging.getLogger(__name__)

SLOW_TYPES = ("Q4_1", "Q5_0", "Q5_1")  # no repacked/VNNI CPU kernels in llama.cpp; re-encoded to Q8_0


def needs_copy(path: Path) -> bool:
    """True when the model holds weights of a slow type (reads the header only)."""
    import gguf

    reader = gguf.GGUFReader(str(path))
    return any(t.tensor_type.name in SLOW_TYPES for t in reader.tensors)


KEY_BYTES = 1 << 20  # the key reads this much from each end of the file: the header and the last tensors


def copy_path(src: Path, cache_dir: Path) -> Path:
    """Where the copy of `src` lives: keyed by the file's size and its first and last MiB, not its path or
    mtime, so every clone and virtual environment that installs the same package shares one copy (keyed by
    path, a fresh clone's test run wrote a second 145 MB copy beside the first)."""
    size = src.stat().st_size
    h = hashlib.sha1(f"{src.name}|{size}|".encode())
    with open(src, "rb") as f:
        h.update(f.read(KEY_BYTES))
        if size > 2 * KEY_BYTES:
            f.seek(size - KEY_BYTES)
        h.update(f.read(KEY_BYTES))
    return cache_dir / f"{src.stem}.{h.hexdigest()[:12]}.Q8_0.gguf"


def cpu_copy(src: Path, cache_dir: Path) -> Path:
    """The file to serve: `src` itself, or its Q8_0 copy (made now when missing)."""
    src = Path(src)
    try:
        if not needs_copy(src):
            return src
    except Exception as e:  # noqa: BLE001 - not a GGUF: the caller's own checks say so in a sentence
        logger.debug("not re-encoding %s: %s", src, e)
        return src
    dst = copy_path(src, Path(cache_dir).expanduser())
    if dst.is_file():
        return dst
    t0 = time.perf_counter()
    try:
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.with_name(f"{dst.name}.{os.getpid()}.tmp")
        write_q8_0(src, tmp)
        os.replace(tmp, dst)
    except OSError as e:
        raise ModelLoadError(
            f"Could not write the Q8_0 copy of {src.name} to {dst.parent} ({e}); free some disk space, set "
            "SMARTLEARN_MODEL_CPU_COPY_DIR to a writable folder, or SMARTLEARN_MODEL_CPU_COPY=off.") from e
    logger.info("Wrote a Q8_0 copy of %s for faster prompts on CPU (%.1f s, once): %s",
                src.name, time.perf_counter() - t0, dst)
    return dst


def write_q8_0(src: Path, dst: Path) -> None:
    """Every tensor of a slow type re-encoded as Q8_0; all metadata and other tensors copied unchanged."""
    import gguf
    import numpy as np
    from gguf.quants import dequantize, quantize

    reader = gguf.GGUFReader(str(src))
    arch = reader.fields["general.architecture"].contents()
    writer = gguf.GGUFWriter(str(dst), arch)
    for f in reader.fields.values():
        # the writer adds these itself; general.file_type would name the old type
        if f.name in ("general.architecture", "general.file_type") or f.name.startswith("GGUF."):
            continue
        vtype = f.types[0]
        sub = f.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(f.name, f.contents(), vtype, sub_type=sub)
    Q = gguf.GGMLQuantizationType
    for t in reader.tensors:
        data = np.asarray(t.data)
        if t.tensor_type.name in SLOW_TYPES:
            shape = tuple(int(d) for d in reversed(t.shape))  # numpy order
            values = dequantize(data, t.tensor_type).reshape(shape).astype(np.float32)
            q = quantize(values, Q.Q8_0)
            writer.add_tensor(t.name, q, raw_shape=q.shape, raw_dtype=Q.Q8_0)
        elif t.tensor_type in (Q.F32, Q.F16):
            writer.add_tensor(t.name, data)
        else:
            writer.add_tensor(t.name, data, raw_shape=data.shape, raw_dtype=t.tensor_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
