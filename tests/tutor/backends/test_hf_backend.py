"""TransformersBackend on a tiny Llama saved to a folder: the real loading and streaming path."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from tests.tiny_models import build_lora_adapter, build_tiny_llama
from tutor.backends import LLMBackend, generate
from tutor.backends.hf import TransformersBackend
from tutor.backends.hf_adapter_check import check_adapter
from tutor.backends.hf_stream import sampling_kwargs
from tutor.errors import GenerationError, ModelLoadError, UnknownAdapter
from tutor.types import Completion, GenerationParams, GenerationRequest, Message

QUESTION = (Message("user", "what is 2 + 2 ?"),)


def req(adapter: str | None = None, messages=QUESTION, **params) -> GenerationRequest:
    params.setdefault("max_new_tokens", 12)
    return GenerationRequest(messages, GenerationParams(**params), adapter=adapter)


# ---------------------------------------------------------------- loading


def test_loads_folder_with_adapters_and_reports_skips(backend):
    info = backend.info()
    assert isinstance(backend, LLMBackend)
    assert (info.backend, info.device, info.dtype) == ("transformers", "cpu", "float32")
    assert info.adapters == backend.adapters() == ("a1", "a2")
    assert info.load_s > 0
    assert "cpu: set by model.device" in info.detail and "float32: set by model.dtype" in info.detail
    for name in ("broken_json", "no_weights", "other_arch"):
        assert f"skipped adapter {name}:" in info.detail
    assert "different model" in info.detail and "notes" not in info.detail


def test_construction_does_not_load(tiny_model_dir, make_model_cfg, tmp_path):
    b = TransformersBackend(make_model_cfg(tiny_model_dir), tmp_path)
    assert b.info().detail == "not loaded yet" and b._state is None
    # stream() loads lazily; no adapters folder means the plain model
    c = generate(b, req(max_new_tokens=3))
    assert c.usage.completion_tokens == 3 and b.adapters() == ()
    assert b.load() is b.load()  # idempotent


def test_concurrent_first_loads_load_once(tiny_model_dir, make_model_cfg, tmp_path):
    b = TransformersBackend(make_model_cfg(tiny_model_dir), tmp_path)
    states = []
    threads = [threading.Thread(target=lambda: states.append(b._ensure_loaded())) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(s) for s in states}) == 1


def test_missing_model_folder_raises_model_load_error(tmp_path, make_model_cfg):
    b = TransformersBackend(make_model_cfg(tmp_path / "does-not-exist"), tmp_path)
    with pytest.raises(ModelLoadError, match="SMARTLEARN_MODEL_BASE_MODEL"):
        b.load()
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelLoadError, match="SMARTLEARN_MODEL_BASE_MODEL"):
        TransformersBackend(make_model_cfg(empty), tmp_path).load()


def test_check_adapter_reasons(backend, adapters_dir):
    base = backend._state.model.get_base_model()
    assert check_adapter(adapters_dir / "a1", base) is None
    assert "not valid JSON" in check_adapter(adapters_dir / "broken_json", base)
    assert "no adapter_model.safetensors" in check_adapter(adapters_dir / "no_weights", base)
    assert "different model" in check_adapter(adapters_dir / "other_arch", base)


def test_first_adapter_failing_inside_peft_leaves_a_clean_base(tmp_path, tiny_model_dir, adapters_dir,
                                                               make_model_cfg, monkeypatch, backend):
    """If peft fails half-way on the first adapter, the base model is reloaded, not left patched."""
    import shutil

    import tutor.backends.hf_load as hf_load

    root = tmp_path / "adapters"
    shutil.copytree(adapters_dir / "other_arch", root / "aa_mismatch")  # sorts first
    shutil.copytree(adapters_dir / "a1", root / "a1")
    monkeypatch.setattr(hf_load, "check_adapter", lambda folder, model: None)  # let peft hit the mismatch
    b = TransformersBackend(make_model_cfg(tiny_model_dir, root), tmp_path / "cache")
    info = b.load()
    assert info.adapters == ("a1",)
    assert "skipped adapter aa_mismatch: peft could not load it" in info.detail
    assert generate(b, req()).text == generate(backend, req()).text
    assert generate(b, req("a1")).text == generate(backend, req("a1")).text


# ---------------------------------------------------------------- streaming contract


def test_stream_yields_str_deltas_then_one_completion(backend):
    items = list(backend.stream(req(max_new_tokens=8)))
    *deltas, last = items
    assert deltas and all(isinstance(d, str) and d for d in deltas)
    assert isinstance(last, Completion)
    assert last.text == "".join(deltas)
    assert last.usage.prompt_tokens == backend.count_tokens(
        "<|im_start|>user\nwhat is 2 + 2 ?<|im_end|>\n<|im_start|>assistant\n")
    assert last.usage.completion_tokens == 8 and last.finish_reason == "length"
    assert 0 <= last.ttft_s <= last.latency_s
    assert last.adapter is None and last.model == backend.cfg.base_model


@pytest.mark.parametrize("n", [1, 3, 7])
def test_max_new_tokens_respected(backend, n):
    c = generate(backend, req(max_new_tokens=n))
    # the word-level tokenizer decodes one token to one word
    assert c.usage.completion_tokens == n == len(c.text.split())
    assert c.finish_reason == "length"


def test_temperature_zero_is_deterministic(backend):
    assert generate(backend, req()).text == generate(backend, req()).text


def test_seed_makes_sampling_reproducible_without_touching_global_rng(backend):
    import torch

    before = torch.random.get_rng_state()
    a = generate(backend, req(temperature=1.0, top_p=1.0, seed=7, max_new_tokens=16)).text
    b = generate(backend, req(temperature=1.0, top_p=1.0, seed=7, max_new_tokens=16)).text
    others = {generate(backend, req(temperature=1.0, top_p=1.0, seed=s, max_new_tokens=16)).text for s in (8, 9)}
    assert a == b
    assert others - {a}  # another seed gives another sample
    assert torch.equal(before, torch.random.get_rng_state())


def test_repetition_penalty_changes_greedy_output(backend):
    plain = generate(backend, req(max_new_tokens=30)).text
    penalised = generate(backend, req(max_new_tokens=30, repetition_penalty=3.0)).text
    assert plain != penalised
    assert len(set(penalised.split())) >= len(set(plain.split()))


def test_sampling_kwargs():
    assert sampling_kwargs(GenerationParams(temperature=0.0, max_new_tokens=5)) == {
        "max_new_tokens": 5, "do_sample": False, "temperature": None, "top_p": None, "top_k": None}
    kw = sampling_kwargs(GenerationParams(temperature=0.7, top_p=0.9, repetition_penalty=1.2))
    assert kw["do_sample"] is True and kw["temperature"] == 0.7 and kw["top_p"] == 0.9
    assert kw["repetition_penalty"] == 1.2


# ---------------------------------------------------------------- stop strings and eos


def test_stop_string_cuts_output_and_generation(backend):
    words = generate(backend, req(max_new_tokens=12)).text.split(" ")
    # a stop string made of two words spans two streamed deltas
    stop = f"{words[3]} {words[4]}"
    expected = " ".join(words)[: " ".join(words).find(stop)]
    items = list(backend.stream(req(max_new_tokens=12, stop=(stop,))))
    *deltas, c = items
    assert c.text == "".join(deltas) == expected
    assert stop not in c.text
    assert c.finish_reason == "stop"
    assert c.usage.completion_tokens < 12  # generation itself stopped, not just the text


def test_stop_string_never_yields_a_partial_stop(backend):
    words = generate(backend, req(max_new_tokens=12)).text.split(" ")
    stop = f"{words[2]} {words[3]} NEVER"  # starts like the output but never completes
    items = list(backend.stream(req(max_new_tokens=12, stop=(stop,))))
    *deltas, c = items
    assert c.text == " ".join(words)  # held-back text is released at the end
    assert c.finish_reason == "length"
    for i in range(1, len(deltas)):  # before the final flush, no shown text ends inside the stop string
        shown = "".join(deltas[:i])
        assert not any(shown.endswith(stop[:k]) for k in range(1, len(stop)))


def test_eos_token_stops_with_reason_stop(tmp_path, make_model_cfg):
    """A model whose only allowed token is <|im_end|> answers with nothing and finish 'stop'."""
    import json

    from tests.tiny_models import VOCAB

    d = build_tiny_llama(tmp_path / "eos_model", allow_special_output=True)
    gen = json.loads((d / "generation_config.json").read_text())
    gen["suppress_tokens"] = [i for i, t in enumerate(VOCAB) if t != "<|im_end|>"]
    (d / "generation_config.json").write_text(json.dumps(gen))
    b = TransformersBackend(make_model_cfg(d), tmp_path / "cache")
    items = list(b.stream(req(max_new_tokens=10)))
    assert len(items) == 1
    c = items[0]
    assert c.text == "" and c.finish_reason == "stop" and c.usage.completion_tokens == 1


# ---------------------------------------------------------------- adapters


def test_adapters_change_output_and_base_is_restored(backend):
    base = generate(backend, req()).text
    a1 = generate(backend, req("a1")).text
    a2 = generate(backend, req("a2")).text
    assert len({base, a1, a2}) == 3
    assert generate(backend, req()).text == base  # disabling after an adapter gives the base model back
    assert generate(backend, req("a1")).adapter == "a1"


def test_adapter_changes_logits(backend):
    import torch

    model = backend._state.model
    ids = torch.tensor([[2, 5, 18, 13, 3, 2, 6]])
    with torch.no_grad():
        with model.disable_adapter():
            base = model(input_ids=ids).logits
        model.set_adapter("a1")
        adapted = model(input_ids=ids).logits
    assert not torch.allclose(base, adapted, atol=1e-4)


def test_unknown_adapter_raises(backend):
    with pytest.raises(UnknownAdapter, match="'nope'.*a1, a2"):
        backend.stream(req("nope"))


@pytest.mark.timeout(60)
def test_concurrent_requests_with_different_adapters_do_not_interfere(backend):
    names = [None, "a1", "a2"]
    expected = {n: generate(backend, req(n, max_new_tokens=10)).text for n in names}
    results: dict[int, str] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def run(i: int) -> None:
        try:
            barrier.wait()
            results[i] = generate(backend, req(names[i % 3], max_new_tokens=10)).text
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=50)
    assert not errors
    assert results == {i: expected[names[i % 3]] for i in range(8)}


# ---------------------------------------------------------------- early close, errors


@pytest.mark.timeout(60)
def test_early_close_does_not_block_the_next_request(backend):
    s = backend.stream(req("a1", max_new_tokens=200))
    first = next(s)
    assert isinstance(first, str)
    s.close()
    c = generate(backend, req("a2", max_new_tokens=5))  # would hang if the lock were kept
    assert c.usage.completion_tokens == 5
    assert c.text == generate(backend, req("a2", max_new_tokens=5)).text


@pytest.mark.timeout(60)
def test_abandoned_stream_without_close_does_not_block(backend):
    s = backend.stream(req(max_new_tokens=50))
    next(s)  # started, then left suspended while still referenced
    c = generate(backend, req("a1", max_new_tokens=5))
    assert c.usage.completion_tokens == 5
    del s


def test_stream_that_is_never_iterated_holds_nothing(backend):
    backend.stream(req(max_new_tokens=5))  # created, never started
    assert generate(backend, req(max_new_tokens=2)).usage.completion_tokens == 2


@pytest.mark.timeout(60)
def test_error_in_generate_surfaces_as_generation_error(tiny_model_dir, make_model_cfg, tmp_path, monkeypatch):
    b = TransformersBackend(make_model_cfg(tiny_model_dir), tmp_path)
    model = b._ensure_loaded().model
    real = model.generate

    def boom(**kwargs):
        raise RuntimeError("out of memory (simulated)")

    monkeypatch.setattr(model, "generate", boom)
    t0 = time.perf_counter()
    with pytest.raises(GenerationError, match="simulated"):
        list(b.stream(req()))
    assert time.perf_counter() - t0 < 10
    monkeypatch.setattr(model, "generate", real)
    assert generate(b, req(max_new_tokens=3)).usage.completion_tokens == 3  # the lock was released


def test_error_midway_after_some_tokens(tiny_model_dir, make_model_cfg, tmp_path, monkeypatch):
    """A failure after text was streamed still ends the stream with GenerationError."""
    b = TransformersBackend(make_model_cfg(tiny_model_dir), tmp_path)
    model = b._ensure_loaded().model
    real = model.generate

    def half(**kwargs):
        streamer = kwargs["streamer"]
        import torch

        streamer.put(kwargs["input_ids"].cpu())
        for _ in range(3):
            streamer.put(torch.tensor([10]))
        raise RuntimeError("device lost (simulated)")

    monkeypatch.setattr(model, "generate", half)
    got = []
    with pytest.raises(GenerationError, match="device lost"):
        for item in b.stream(req()):
            got.append(item)
    assert all(isinstance(x, str) for x in got)
    monkeypatch.setattr(model, "generate", real)
    assert generate(b, req(max_new_tokens=2)).usage.completion_tokens == 2


def test_count_tokens(backend):
    assert backend.count_tokens("what is 2 + 2 ?") == 6
    assert backend.count_tokens("") == 0


def test_adapters_dir_may_be_missing(tmp_path, tiny_model_dir, make_model_cfg):
    b = TransformersBackend(make_model_cfg(tiny_model_dir, tmp_path / "nothing"), tmp_path)
    assert b.adapters() == ()
    with pytest.raises(UnknownAdapter):
        b.stream(req("a1"))


def test_adapter_name_with_dot_is_skipped(tmp_path, tiny_model_dir, adapters_dir, make_model_cfg):
    import shutil

    root = tmp_path / "adapters"
    shutil.copytree(adapters_dir / "a1", root / "math.v2")
    shutil.copytree(adapters_dir / "a2", root / "a2")
    info = TransformersBackend(make_model_cfg(tiny_model_dir, root), tmp_path).load()
    assert info.adapters == ("a2",)
    assert "skipped adapter math.v2" in info.detail


def test_adapter_builder_is_deterministic(tmp_path, tiny_model_dir):
    from safetensors.torch import load_file

    a = build_lora_adapter(tiny_model_dir, tmp_path / "x", seed=5)
    b = build_lora_adapter(tiny_model_dir, tmp_path / "y", seed=5)
    wa, wb = load_file(str(a / "adapter_model.safetensors")), load_file(str(b / "adapter_model.safetensors"))
    assert wa.keys() == wb.keys() and all((wa[k] == wb[k]).all() for k in wa)
    assert any(k.endswith("lora_B.weight") and wa[k].abs().sum() > 0 for k in wa)


def test_bf16_runs_on_cpu(tiny_model_dir, adapters_dir, make_model_cfg, tmp_path):
    """Explicit bfloat16 is honoured, adapters included (the dtype auto picks on bf16 CPUs)."""

    cfg = make_model_cfg(tiny_model_dir, adapters_dir).replace(dtype="bfloat16")
    b = TransformersBackend(cfg, Path(tmp_path))
    assert b.load().dtype == "bfloat16"
    c = generate(b, req("a1", max_new_tokens=4))
    assert c.usage.completion_tokens == 4 and c.text


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.mark.skipif(not _has_cuda(), reason="needs a CUDA GPU")
@pytest.mark.timeout(120)
def test_cuda_auto_device_dtype_adapters_and_threads(tiny_model_dir, adapters_dir, make_model_cfg, tmp_path):
    """On a GPU machine: auto picks cuda (+bf16 where supported) and the contract holds there too."""

    import torch

    cfg = make_model_cfg(tiny_model_dir, adapters_dir).replace(device="auto", dtype="auto")
    b = TransformersBackend(cfg, tmp_path)
    info = b.load()
    assert info.device == "cuda" and info.detail.startswith("device cuda: ")
    assert info.dtype == ("bfloat16" if torch.cuda.is_bf16_supported() else "float32")
    assert info.adapters == ("a1", "a2")
    names = [None, "a1", "a2"]
    expected = {n: generate(b, req(n, max_new_tokens=10)).text for n in names}
    assert len(set(expected.values())) == 3
    results: dict[int, str] = {}
    threads = [threading.Thread(target=lambda i=i: results.__setitem__(
        i, generate(b, req(names[i % 3], max_new_tokens=10)).text)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert results == {i: expected[names[i % 3]] for i in range(8)}
    sampled = [generate(b, req("a1", temperature=1.0, top_p=1.0, seed=11)).text for _ in range(2)]
    assert sampled[0] == sampled[1]
    s = b.stream(req(max_new_tokens=200))
    next(s)
    s.close()
    assert generate(b, req(max_new_tokens=3)).usage.completion_tokens == 3


def test_chat_template_error_becomes_generation_error(tiny_model_dir, make_model_cfg, tmp_path):
    b = TransformersBackend(make_model_cfg(tiny_model_dir), tmp_path)
    b._ensure_loaded().tokenizer.chat_template = (
        "{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}"
        "{% for m in messages %}{{ m['content'] }}{% endfor %}"
    )
    with pytest.raises(GenerationError, match="System role not supported"):
        list(b.stream(req(messages=(Message("system", "be brief"), Message("user", "hi")))))
    assert generate(b, req(max_new_tokens=2)).usage.completion_tokens == 2
