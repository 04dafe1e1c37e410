"""The transformers (+ peft) backend: one causal LM, its LoRA adapters, streaming generation.

Loading is lazy and happens once: the configured model (the embedded GGUF via its safetensors
cache, a local folder or a hub id) on the device/dtype picked by `device.py`, then every
sub-folder of `model.adapters_dir` with an `adapter_config.json` as a named peft adapter. A broken
or mismatched adapter is skipped with a warning, never a crash.

Generation runs on the backend's one long-lived worker thread, feeding a `TextIteratorStreamer`. peft's `set_adapter` and
`disable_adapter` mutate modules shared by every request, so one lock is held for a whole
`generate`: requests with different adapters are served one after the other (on 2 CPU cores
serial decoding costs no throughput). The consumer takes the lock and hands it to the worker,
which releases it when `generate` ends; a consumer that stops early only signals the worker to
stop, so an abandoned stream can never block the next request.
"""
from __future__ import annotations

import concurrent.futures
import functools
import json
import logging
import queue
import re
import threading
import time
import warnings
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from tutor.backends.device import choose_device, choose_dtype, dtype_name
from tutor.backends.embedded import resolve_model_dir
from tutor.backends.stopping import StopScanner
from tutor.config import ModelConfig
from tutor.errors import GenerationError, ModelLoadError, UnknownAdapter
from tutor.types import BackendInfo, Completion, GenerationParams, GenerationRequest, StreamItem, Usage

logger = logging.getLogger(__name__)

SET_MODEL_HINT = (
    "Set SMARTLEARN_MODEL_BASE_MODEL (model.base_model) to 'embedded', a local model folder, "
    "or a Hugging Face model id that is available offline."
)
_POLL_S = 0.2  # how often a waiting consumer checks that the worker is still alive
_LORA_KEY = re.compile(r"^(?:base_model\.model\.)?(?P<module>.+)\.lora_(?P<ab>[AB])(?:\.[^.]+)?\.weight$")


@dataclass
class _Loaded:
    model: Any  # a transformers PreTrainedModel, or a peft PeftModel wrapping it
    tokenizer: Any
    device: str
    dtype: Any
    adapters: tuple[str, ...]
    eos_ids: tuple[int, ...]
    pad_id: int | None


@dataclass
class _WorkerResult:
    error: BaseException | None = None


@dataclass
class _AdapterReport:
    loaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "name: why" sentences


class TransformersBackend:
    """LLMBackend on transformers; see the module docstring for the threading design."""

    backend_name = "transformers"

    def __init__(self, model_cfg: ModelConfig, cache_dir: Path) -> None:
        self.cfg = model_cfg
        self.cache_dir = Path(cache_dir)
        self._load_lock = threading.Lock()
        self._gen_lock = threading.Lock()
        # One long-lived generation thread, not a new one per request: on CUDA a fresh thread per
        # request made decoding 3.4x slower than plain generate (per-thread CUDA state set up every
        # time); a reused thread costs ~nothing (scripts/profile_stream.py, measured on an H100).
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._executor_lock = threading.Lock()
        self._state: _Loaded | None = None
        self._info = BackendInfo(
            backend=self.backend_name, model=model_cfg.base_model, device=model_cfg.device,
            dtype=model_cfg.dtype, adapters=(), load_s=0.0, detail="not loaded yet",
        )

    # ------------------------------------------------------------------ loading

    def load(self) -> BackendInfo:
        self._ensure_loaded()
        return self._info

    def _ensure_loaded(self) -> _Loaded:
        state = self._state
        if state is not None:
            return state
        with self._load_lock:
            if self._state is None:
                self._state = self._load()
            return self._state

    def _load(self) -> _Loaded:
        import torch

        t0 = time.perf_counter()
        cfg = self.cfg
        device, device_reason = choose_device(cfg.device)
        dtype, dtype_reason = choose_dtype(cfg.dtype, device)
        if cfg.threads > 0:
            torch.set_num_threads(cfg.threads)
        source = resolve_model_dir(cfg.base_model, self.cache_dir)
        model, tokenizer = self._load_base(source, dtype, device)
        model, report = self._load_adapters(model, source, dtype, device)
        eos_ids = _eos_ids(model, tokenizer)
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (eos_ids[0] if eos_ids else None)
        load_s = time.perf_counter() - t0
        detail = [f"device {device_reason}", f"dtype {dtype_reason}"]
        if cfg.threads > 0:
            detail.append(f"{cfg.threads} torch threads")
        detail += [f"skipped adapter {s}" for s in report.skipped]
        self._info = BackendInfo(
            backend=self.backend_name, model=cfg.base_model, device=device, dtype=dtype_name(dtype),
            adapters=tuple(report.loaded), load_s=load_s, detail="; ".join(detail),
        )
        logger.info("Loaded %s on %s/%s in %.1f s, adapters: %s", cfg.base_model, device,
                    dtype_name(dtype), load_s, ", ".join(report.loaded) or "none")
        return _Loaded(model, tokenizer, device, dtype, tuple(report.loaded), eos_ids, pad_id)

    def _load_base(self, source: Path | str, dtype: Any, device: str) -> tuple[Any, Any]:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        name = self.cfg.base_model
        if isinstance(source, str) and _looks_like_path(source):
            raise ModelLoadError(f"Could not load the chat model: folder {source} does not exist. {SET_MODEL_HINT}")
        try:
            tokenizer = AutoTokenizer.from_pretrained(source)
            model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype)
        except Exception as e:  # noqa: BLE001 - OSError, ValueError, safetensors errors all mean "unusable"
            raise ModelLoadError(f"Could not load the chat model {name!r} ({source}): {e}. {SET_MODEL_HINT}") from e
        if not getattr(tokenizer, "chat_template", None):
            raise ModelLoadError(
                f"The model {name!r} has no chat template, so it cannot hold a conversation; use an "
                f"instruct/chat model. {SET_MODEL_HINT}"
            )
        model.to(device)
        model.eval()
        return model, tokenizer

    def _load_adapters(self, model: Any, source: Path | str, dtype: Any, device: str) -> tuple[Any, _AdapterReport]:
        report = _AdapterReport()
        adir = Path(self.cfg.adapters_dir)
        if not adir.is_dir():
            return model, report
        folders = sorted(p for p in adir.iterdir() if p.is_dir() and (p / "adapter_config.json").is_file())
        if not folders:
            return model, report
        from peft import PeftModel

        base = model  # peft injects LoRA layers into this module tree in place
        peft_model = None

        def skip(name: str, why: str) -> None:
            logger.warning("Skipping adapter %s: %s", name, why)
            report.skipped.append(f"{name}: {why}")

        for folder in folders:
            name = folder.name
            problem = check_adapter(folder, base)
            if problem:
                skip(name, problem)
                continue
            try:
                with warnings.catch_warnings():
                    # peft 0.21 calls a transformers method that 5.x deprecated; not ours to fix
                    warnings.filterwarnings("ignore", ".*is_gradient_checkpointing", FutureWarning)
                    peft_model = _attach_adapter(PeftModel, base, peft_model, folder, name)
            except Exception as e:  # noqa: BLE001 - a bad adapter must not take the tutor down
                skip(name, f"peft could not load it ({type(e).__name__}: {e})")
                if peft_model is not None:
                    if name in peft_model.peft_config:
                        peft_model.delete_adapter(name)
                elif _has_tuner_layers(base):
                    # the failed first load left LoRA layers in the base model: start from clean weights
                    base, _ = self._load_base(source, dtype, device)
                continue
            report.loaded.append(name)
        if peft_model is None:
            return base, report
        peft_model.to(device)
        peft_model.eval()
        return peft_model, report

    # ------------------------------------------------------------------ queries

    def info(self) -> BackendInfo:
        return self._info

    def adapters(self) -> tuple[str, ...]:
        """Loads the model (adapters are only known once peft accepted them)."""
        return self._ensure_loaded().adapters

    def count_tokens(self, text: str) -> int:
        tok = self._ensure_loaded().tokenizer
        return len(tok(text, add_special_tokens=False)["input_ids"])

    # ------------------------------------------------------------------ generation

    def stream(self, request: GenerationRequest) -> Iterator[StreamItem]:
        """Validate now (UnknownAdapter raises at the call), generate lazily on iteration."""
        state = self._ensure_loaded()
        if request.adapter is not None and request.adapter not in state.adapters:
            available = ", ".join(state.adapters) or "none"
            raise UnknownAdapter(f"The adapter {request.adapter!r} is not loaded (available: {available}).")
        return self._stream(state, request)

    def _stream(self, state: _Loaded, request: GenerationRequest) -> Iterator[StreamItem]:
        from transformers import StoppingCriteriaList

        counting_streamer, stop_criteria = _lazy_classes()
        t0 = time.perf_counter()
        params = request.params
        tok = state.tokenizer
        try:
            prompt = tok.apply_chat_template(
                [{"role": m.role, "content": m.content} for m in request.messages],
                add_generation_prompt=True, tokenize=False,
            )
        except Exception as e:  # noqa: BLE001 - jinja errors, e.g. a template without a system role
            raise GenerationError(f"The model's chat template rejected this conversation: {e}") from e
        # The template already wrote every special token; adding BOS again would double it.
        enc = tok(prompt, add_special_tokens=False, return_tensors="pt")
        input_ids = enc["input_ids"].to(state.device)
        prompt_len = int(input_ids.shape[1])
        cancel = threading.Event()
        streamer = counting_streamer(tok, skip_prompt=True, timeout=_POLL_S, skip_special_tokens=True)
        criteria = stop_criteria(tok, prompt_len, tuple(s for s in params.stop if s), cancel)
        gen_kwargs = dict(
            input_ids=input_ids,
            attention_mask=enc["attention_mask"].to(state.device),
            streamer=streamer,
            stopping_criteria=StoppingCriteriaList([criteria]),
            eos_token_id=list(state.eos_ids) or None,
            pad_token_id=state.pad_id,
            **sampling_kwargs(params),
        )
        if request.json_schema is not None:
            from transformers import LogitsProcessorList

            from tutor.backends.json_schema import make_logits_processor

            # Built here, in the consumer, so a bad schema raises at the call, not in the worker.
            gen_kwargs["logits_processor"] = LogitsProcessorList(
                [make_logits_processor(tok, request.json_schema, prompt_len)])
        result = _WorkerResult()
        scanner = StopScanner(params.stop)

        self._gen_lock.acquire()  # released by the worker when generate ends
        try:
            worker = self._generation_thread().submit(
                self._worker, state, request.adapter, params, gen_kwargs, streamer, result)
        except BaseException:
            self._gen_lock.release()
            raise
        try:
            while True:
                try:
                    piece = next(streamer)
                except StopIteration:
                    break
                except queue.Empty:
                    if not worker.done() or not streamer.text_queue.empty():
                        continue
                    break  # the worker died without signalling the end (should not happen)
                if not piece:
                    continue
                out, stopped = scanner.feed(piece)
                if out:
                    yield out
                if stopped:
                    cancel.set()  # the worker's criteria normally stopped on the same token
                    break
            worker.result()  # the worker catches its own errors into `result`
            if result.error is not None:
                raise GenerationError(f"The model failed while writing the answer: {result.error}") from result.error
            tail = scanner.flush()
            if tail:
                yield tail
            t_end = time.perf_counter()
            n = streamer.n_generated
            if scanner.stopped or criteria.hit:
                finish = "stop"
            elif streamer.last_token is not None and streamer.last_token in state.eos_ids:
                finish = "stop"
            elif n >= params.max_new_tokens:
                finish = "length"
            else:
                finish = "stop"
            first = streamer.first_token_at
            yield Completion(
                text=scanner.text,
                model=self.cfg.base_model,
                adapter=request.adapter,
                usage=Usage(prompt_tokens=prompt_len, completion_tokens=n),
                ttft_s=(first - t0) if first is not None else t_end - t0,
                latency_s=t_end - t0,
                finish_reason=finish,
            )
        finally:
            # On early close (GeneratorExit) or an error, stop the worker at its next token; it
            # releases the lock itself, so nothing here waits on it.
            cancel.set()

    def _generation_thread(self) -> concurrent.futures.ThreadPoolExecutor:
        with self._executor_lock:
            if self._executor is None:
                self._executor = concurrent.futures.ThreadPoolExecutor(
                    max_workers=1, thread_name_prefix="smartlearn-generate")
            return self._executor

    def _worker(self, state: _Loaded, adapter: str | None, params: GenerationParams,
                gen_kwargs: dict, streamer: Any, result: _WorkerResult) -> None:
        try:
            import torch

            model = state.model
            if state.adapters:  # a PeftModel
                if adapter is None:
                    adapter_ctx = model.disable_adapter()
                else:
                    model.set_adapter(adapter, inference_mode=True)
                    adapter_ctx = nullcontext()
            else:
                adapter_ctx = nullcontext()
            if params.temperature > 0 and params.seed is not None:
                rng_ctx = _forked_rng(torch, state.device)
            else:
                rng_ctx = nullcontext()
            # inference_mode, not generate's own no_grad: ~10% faster decoding on CPU (same script).
            with adapter_ctx, rng_ctx, torch.inference_mode():
                if params.temperature > 0 and params.seed is not None:
                    torch.manual_seed(params.seed)
                model.generate(**gen_kwargs)
        except BaseException as e:  # noqa: BLE001 - handed to the consumer as GenerationError
            logger.exception("generation failed")
            result.error = e
            try:
                streamer.end()  # wake the consumer
            except Exception:  # noqa: BLE001
                streamer.text_queue.put(streamer.stop_signal)
        finally:
            self._gen_lock.release()


# ---------------------------------------------------------------------- helpers


def sampling_kwargs(params: GenerationParams) -> dict:
    """generate() kwargs for the sampling part of a request (temperature 0 = greedy)."""
    kw: dict[str, Any] = {"max_new_tokens": max(1, int(params.max_new_tokens))}
    if params.temperature > 0:
        kw.update(do_sample=True, temperature=float(params.temperature), top_p=float(params.top_p))
    else:
        # explicit Nones override sampling values a model's generation_config may carry
        kw.update(do_sample=False, temperature=None, top_p=None, top_k=None)
    if params.repetition_penalty and params.repetition_penalty != 1.0:
        kw["repetition_penalty"] = float(params.repetition_penalty)
    return kw


def _attach_adapter(peft_cls: Any, base: Any, peft_model: Any, folder: Path, name: str) -> Any:
    """Wrap `base` with its first adapter, or add one more; returns the PeftModel."""
    # autocast_adapter_dtype=False: keep LoRA weights in the base dtype (bf16 stays bf16)
    if peft_model is None:
        return peft_cls.from_pretrained(base, folder, adapter_name=name, autocast_adapter_dtype=False)
    peft_model.load_adapter(folder, adapter_name=name, autocast_adapter_dtype=False)
    return peft_model


def _forked_rng(torch: Any, device: str):
    """Seed per request without leaving the process-wide RNG changed."""
    if device.startswith("cuda"):
        index = torch.device(device).index
        return torch.random.fork_rng(devices=[index if index is not None else torch.cuda.current_device()],
                                     device_type="cuda")
    return torch.random.fork_rng(devices=[])


def _eos_ids(model: Any, tokenizer: Any) -> tuple[int, ...]:
    """Token ids that end an answer: the generation config's, the tokenizer's, and ChatML's <|im_end|>."""
    ids: list[int] = []
    gen_eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if isinstance(gen_eos, int):
        ids.append(gen_eos)
    elif isinstance(gen_eos, (list, tuple)):
        ids.extend(int(i) for i in gen_eos)
    if tokenizer.eos_token_id is not None:
        ids.append(int(tokenizer.eos_token_id))
    template = getattr(tokenizer, "chat_template", None) or ""
    if isinstance(template, str) and "<|im_end|>" in template:
        im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
        if isinstance(im_end, int) and im_end != tokenizer.unk_token_id:
            ids.append(im_end)
    return tuple(dict.fromkeys(ids))


def _looks_like_path(s: str) -> bool:
    """True for a folder-like string (absolute, ./, ~, or more than one '/'), not a hub id 'org/name'."""
    return s.startswith(("/", ".", "~", "\\")) or s.count("/") > 1 or "\\" in s or (len(s) > 1 and s[1] == ":")


def _has_tuner_layers(model: Any) -> bool:
    from peft.tuners.tuners_utils import BaseTunerLayer

    return any(isinstance(m, BaseTunerLayer) for m in model.modules())


def check_adapter(folder: Path, model: Any) -> str | None:
    """Why the adapter in `folder` cannot be used with `model`, or None if it fits.

    Reads only the config and the tensor shapes, so a mismatched adapter is rejected before peft
    touches the model. LoRA A/B shapes are compared with the base model's layers.
    """
    name = folder.name
    if "." in name or not name.strip():
        return "its folder name must not contain '.' (peft uses it as a module name)"
    try:
        cfg = json.loads((folder / "adapter_config.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        return f"adapter_config.json is not valid JSON ({e})"
    if not isinstance(cfg, dict) or "peft_type" not in cfg:
        return "adapter_config.json has no peft_type; it is not a peft adapter"
    weights = folder / "adapter_model.safetensors"
    if not weights.is_file():
        if (folder / "adapter_model.bin").is_file():
            return None  # legacy pickle format: leave the checks to peft
        return "it has no adapter_model.safetensors"
    try:
        from safetensors import safe_open

        with safe_open(str(weights), framework="pt") as f:
            shapes = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except Exception as e:  # noqa: BLE001 - truncated or not a safetensors file
        return f"adapter_model.safetensors is unreadable ({e})"
    if not shapes:
        return "adapter_model.safetensors holds no weights"
    if str(cfg.get("peft_type", "")).upper() != "LORA":
        return None
    if not any(".lora_" in k for k in shapes):
        return "adapter_model.safetensors holds no LoRA weights"
    modules = dict(model.named_modules())
    for key, shape in shapes.items():
        m = _LORA_KEY.match(key)  # linear-layer A/B matrices; embedding LoRA etc. is left to peft
        if not m:
            continue
        path = m.group("module")
        module = modules.get(path)
        if module is None:
            return f"it was trained for a different model (layer {path} does not exist in this one)"
        in_f, out_f = getattr(module, "in_features", None), getattr(module, "out_features", None)
        if in_f is None or out_f is None or len(shape) != 2:
            continue
        expected = in_f if m.group("ab") == "A" else out_f
        got = shape[1] if m.group("ab") == "A" else shape[0]
        if got != expected:
            return (f"it was trained for a different model (layer {path} has {expected} features here, "
                    f"the adapter expects {got})")
    return None


@functools.cache
def _lazy_classes() -> tuple[type, type]:
    """transformers subclasses, defined on first use so importing this module stays light."""
    import torch
    from transformers import StoppingCriteria, TextIteratorStreamer

    class CountingStreamer(TextIteratorStreamer):
        """TextIteratorStreamer that also counts generated tokens and times the first one."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.n_generated = 0
            self.first_token_at: float | None = None
            self.last_token: int | None = None

        def put(self, value: Any) -> None:
            if not (self.skip_prompt and self.next_tokens_are_prompt):
                flat = value.reshape(-1)
                if flat.numel():
                    if self.first_token_at is None:
                        self.first_token_at = time.perf_counter()
                    self.n_generated += int(flat.numel())
                    self.last_token = int(flat[-1])
            super().put(value)

    class StopCriteria(StoppingCriteria):
        """Stops generate() when the decoded answer contains a stop string, or the consumer left.

        Checked in the worker on every token, so the token count is exact even when the consumer
        is slow to notice. Only a window of recent tokens is decoded, keeping each check cheap.
        """

        def __init__(self, tokenizer: Any, prompt_len: int, stops: tuple[str, ...],
                     cancel: threading.Event) -> None:
            self.tokenizer = tokenizer
            self.prompt_len = prompt_len
            self.stops = stops
            self.cancel = cancel
            self.window = max(32, 4 * max((len(s) for s in stops), default=0))
            self.hit = False

        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            done = self.cancel.is_set()
            if not done and self.stops:
                start = max(self.prompt_len, int(input_ids.shape[1]) - self.window)
                text = self.tokenizer.decode(input_ids[0, start:], skip_special_tokens=True)
                if any(s in text for s in self.stops):
                    self.hit = done = True
            return torch.full((input_ids.shape[0],), done, dtype=torch.bool, device=input_ids.device)

    return CountingStreamer, StopCriteria
