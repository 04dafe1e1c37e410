"""The mlx-lm backend for Apple Silicon (after smolagents' MLXModel and simonw/llm-mlx).

mlx-lm is imported only inside `load()`: elsewhere (Linux CI, where it cannot be installed) the
backend raises BackendUnavailable with a sentence saying how to fix it. mlx-lm applies one
adapter per loaded model, so one model is kept per adapter name (None = base), each loaded lazily
under a lock; generation is serialized by a second lock.

Adapters here are mlx-lm's own format (`mlx_lm.lora` output: adapter_config.json +
adapters.safetensors); peft folders are listed as skipped. The mapping request -> mlx-lm
arguments and responses -> Completion are pure functions, tested without mlx installed.
"""
from __future__ import annotations

import dataclasses
import importlib
import logging
import threading
import time
from pathlib import Path
from typing import Any, Iterator, Sequence

from tutor.backends.embedded import resolve_model_dir
from tutor.backends.stopping import StopScanner
from tutor.config import ModelConfig
from tutor.errors import BackendUnavailable, GenerationError, ModelLoadError, UnknownAdapter
from tutor.serving.queue import AdmissionGate
from tutor.types import BackendInfo, Completion, FinishReason, GenerationParams, GenerationRequest, StreamItem, Usage

logger = logging.getLogger(__name__)

NOT_INSTALLED = (
    "mlx-lm is not installed: pip install mlx-lm==0.32.2 (Apple Silicon only; scripts/setup.sh installs it there), "
    "or set SMARTLEARN_MODEL_BACKEND=transformers"
)
MLX_ADAPTER_WEIGHTS = "adapters.safetensors"


# ---------------------------------------------------------------------- pure mappings


def build_generate_kwargs(params: GenerationParams) -> dict[str, Any]:
    """Plain values for one mlx-lm call: max_tokens, sampler args, repetition penalty, seed.

    temperature 0 means greedy (make_sampler(temp=0) is argmax); top_p 1.0 turns nucleus off;
    the seed only matters when sampling.
    """
    sampling = params.temperature > 0
    return {
        "max_tokens": max(1, int(params.max_new_tokens)),
        "sampler": {
            "temp": float(params.temperature) if sampling else 0.0,
            "top_p": float(params.top_p) if sampling else 1.0,
        },
        "repetition_penalty": (
            float(params.repetition_penalty)
            if params.repetition_penalty and params.repetition_penalty != 1.0 else None
        ),
        "seed": params.seed if sampling else None,
    }


def completion_from_responses(
    text: str,
    last: Any | None,
    *,
    model: str,
    adapter: str | None,
    t_start: float,
    t_first: float | None,
    t_end: float,
    max_tokens: int,
    stopped_by_string: bool = False,
) -> Completion:
    """The Completion for a finished mlx-lm stream.

    `last` is the final GenerationResponse seen (duck-typed: prompt_tokens, generation_tokens,
    finish_reason), or None when nothing was generated.
    """
    prompt_tokens = int(getattr(last, "prompt_tokens", 0) or 0)
    generated = int(getattr(last, "generation_tokens", 0) or 0)
    reason = getattr(last, "finish_reason", None)
    finish: FinishReason
    if stopped_by_string:
        finish = "stop"
    elif reason in ("stop", "length"):
        finish = reason
    elif generated >= max_tokens:
        finish = "length"
    else:
        finish = "stop"
    return Completion(
        text=text, model=model, adapter=adapter,
        usage=Usage(prompt_tokens=prompt_tokens, completion_tokens=generated),
        ttft_s=(t_first - t_start) if t_first is not None else t_end - t_start,
        latency_s=t_end - t_start,
        finish_reason=finish,
    )


def find_mlx_adapters(adapters_dir: Path) -> tuple[dict[str, Path], list[str]]:
    """({name: folder} of mlx-lm adapters, ["name: why" for skipped folders])."""
    found: dict[str, Path] = {}
    skipped: list[str] = []
    adir = Path(adapters_dir)
    if not adir.is_dir():
        return found, skipped
    for folder in sorted(p for p in adir.iterdir() if p.is_dir() and (p / "adapter_config.json").is_file()):
        if (folder / MLX_ADAPTER_WEIGHTS).is_file():
            found[folder.name] = folder
        elif (folder / "adapter_model.safetensors").is_file():
            skipped.append(f"{folder.name}: a peft adapter; mlx-lm needs its own format (mlx_lm.lora)")
        else:
            skipped.append(f"{folder.name}: no {MLX_ADAPTER_WEIGHTS}")
    return found, skipped


# ---------------------------------------------------------------------- the backend


def _import_mlx_lm() -> Any:
    try:
        return importlib.import_module("mlx_lm")
    except ImportError as e:
        raise BackendUnavailable(NOT_INSTALLED) from e


class MLXBackend:
    backend_name = "mlx"
    slots = 1  # one generation at a time (the FIFO gate below); the app's admission gate shows the line

    def __init__(self, model_cfg: ModelConfig, cache_dir: Path) -> None:
        self.cfg = model_cfg
        self.cache_dir = Path(cache_dir)
        self._load_lock = threading.Lock()
        self._gen_gate = AdmissionGate(1)  # FIFO: a threading.Lock lets a later request overtake
        self._source: Path | str | None = None
        self._models: dict[str | None, tuple[Any, Any]] = {}  # adapter name -> (model, tokenizer)
        self._adapter_dirs: dict[str, Path] = {}
        self._info = BackendInfo(self.backend_name, model_cfg.base_model, "metal", "as saved", (), 0.0,
                                 "not loaded yet")

    def load(self) -> BackendInfo:
        mlx_lm = _import_mlx_lm()
        with self._load_lock:
            if None in self._models:
                return self._info
            t0 = time.perf_counter()
            self._source = resolve_model_dir(self.cfg.base_model, self.cache_dir)
            self._adapter_dirs, skipped = find_mlx_adapters(self.cfg.adapters_dir)
            for s in skipped:
                logger.warning("Skipping adapter %s", s)
            self._models[None] = self._load_one(mlx_lm, None)
            detail = ["mlx-lm on the Apple GPU (Metal), weights in their saved dtype"]
            detail += [f"skipped adapter {s}" for s in skipped]
            self._info = BackendInfo(
                self.backend_name, self.cfg.base_model, "metal", "as saved", tuple(self._adapter_dirs),
                time.perf_counter() - t0, "; ".join(detail),
            )
        return self._info

    def _load_one(self, mlx_lm: Any, adapter: str | None) -> tuple[Any, Any]:
        path = self._adapter_dirs.get(adapter) if adapter else None
        try:
            return mlx_lm.load(str(self._source), adapter_path=str(path) if path else None)
        except Exception as e:  # noqa: BLE001 - any mlx-lm failure means unusable weights
            what = f"adapter {adapter!r}" if adapter else f"model {self.cfg.base_model!r}"
            raise ModelLoadError(
                f"mlx-lm could not load the {what}: {e}. Set SMARTLEARN_MODEL_BASE_MODEL to 'embedded', "
                "a local model folder or a Hugging Face model id."
            ) from e

    def _model_for(self, adapter: str | None) -> tuple[Any, Any]:
        mlx_lm = _import_mlx_lm()
        with self._load_lock:
            if adapter not in self._models:
                self._models[adapter] = self._load_one(mlx_lm, adapter)
            return self._models[adapter]

    def info(self) -> BackendInfo:
        return self._info

    def adapters(self) -> tuple[str, ...]:
        self.load()
        return tuple(self._adapter_dirs)

    def count_tokens(self, text: str) -> int:
        self.load()
        _, tokenizer = self._models[None]
        return len(tokenizer.encode(text, add_special_tokens=False))

    def stream(self, request: GenerationRequest) -> Iterator[StreamItem]:
        if request.json_schema is not None:
            # Checked before load so the message is the same on every machine. Callers (quiz,
            # study plan) fall back to their knowledge-base-only path on this error.
            raise BackendUnavailable("JSON-schema-constrained generation is not implemented for the mlx "
                                     "backend yet; use SMARTLEARN_MODEL_BACKEND=transformers.")
        self.load()
        if request.adapter is not None and request.adapter not in self._adapter_dirs:
            available = ", ".join(self._adapter_dirs) or "none"
            raise UnknownAdapter(f"The adapter {request.adapter!r} is not loaded (available: {available}).")
        return self._stream(request)

    def _stream(self, request: GenerationRequest) -> Iterator[StreamItem]:
        import mlx.core as mx
        from mlx_lm import stream_generate
        from mlx_lm.sample_utils import make_logits_processors, make_sampler

        t0 = time.perf_counter()
        model, tokenizer = self._model_for(request.adapter)
        spec = build_generate_kwargs(request.params)
        prompt = prompt_token_ids(tokenizer, request.messages)
        kwargs: dict[str, Any] = {"max_tokens": spec["max_tokens"], "sampler": make_sampler(**spec["sampler"])}
        if spec["repetition_penalty"] is not None:
            kwargs["logits_processors"] = make_logits_processors(repetition_penalty=spec["repetition_penalty"])
        scanner = StopScanner.for_params(request.params)
        last = None
        t_first = None
        # mlx-lm generates in this thread: the slot is held while the consumer iterates and is
        # released when the stream ends or is closed.
        with self._gen_gate.slot():
            if spec["seed"] is not None:
                mx.random.seed(spec["seed"])
            responses = stream_generate(model, tokenizer, prompt, **kwargs)
            try:
                for resp in responses:
                    if t_first is None:
                        t_first = time.perf_counter()
                    last = resp
                    out, stopped = scanner.feed(resp.text)
                    if out:
                        yield out
                    if stopped:
                        break
            except Exception as e:  # noqa: BLE001
                raise GenerationError(f"The model failed while writing the answer: {e}") from e
            finally:
                close = getattr(responses, "close", None)
                if close is not None:
                    close()
        tail = scanner.flush()
        if tail:
            yield tail
        done = completion_from_responses(
            scanner.text, last, model=self.cfg.base_model, adapter=request.adapter, t_start=t0,
            t_first=t_first, t_end=time.perf_counter(), max_tokens=spec["max_tokens"],
            stopped_by_string=scanner.stopped,
        )
        yield dataclasses.replace(done, finish_reason="repetition") if scanner.degenerate else done


def prompt_token_ids(tokenizer: Any, messages: Sequence[Any]) -> list[int]:
    """Chat-template the messages and tokenize without adding BOS again (the template has it)."""
    text = tokenizer.apply_chat_template(
        [{"role": m.role, "content": m.content} for m in messages], add_generation_prompt=True, tokenize=False
    )
    return list(tokenizer.encode(text, add_special_tokens=False))
