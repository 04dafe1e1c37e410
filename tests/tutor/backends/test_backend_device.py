"""Device and dtype choice, with the hardware mocked so results hold on any machine."""
from __future__ import annotations

import pytest
import torch

from tutor.backends.device import choose_device, choose_dtype, dtype_name, parse_cpu_flags, read_cpu_flags
from tutor.errors import ConfigError

CPUINFO_EPYC = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 9R14
flags\t\t: fpu vme sse sse2 avx2 avx512f avx512_bf16 avx512_vnni
processor\t: 1
flags\t\t: fpu vme sse sse2 avx2 avx512f avx512_bf16 avx512_vnni
"""
CPUINFO_OLD = "processor\t: 0\nflags\t\t: fpu sse sse2 avx avx2\n"


@pytest.fixture
def no_accelerator(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


@pytest.fixture
def fake_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i=0: "NVIDIA H100 80GB HBM3")


def test_auto_prefers_cuda(fake_cuda):
    device, reason = choose_device("auto")
    assert device == "cuda" and reason == "cuda: NVIDIA H100 80GB HBM3 available"


def test_auto_then_mps_then_cpu(monkeypatch, no_accelerator):
    assert choose_device("auto") == ("cpu", "cpu: no CUDA or MPS device found")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert choose_device("auto")[0] == "mps"


def test_explicit_devices(fake_cuda):
    assert choose_device("cpu") == ("cpu", "cpu: set by model.device")
    assert choose_device("cuda")[0] == "cuda"
    assert choose_device("cuda:0")[0] == "cuda:0"
    with pytest.raises(ConfigError, match=r"model\.device.*only 1 CUDA"):
        choose_device("cuda:1")


@pytest.mark.parametrize("requested", ["cuda", "cuda:0", "mps"])
def test_unavailable_device_raises_config_error(no_accelerator, requested):
    with pytest.raises(ConfigError, match=r"model\.device \(env SMARTLEARN_MODEL_DEVICE\)"):
        choose_device(requested)


def test_unknown_device_raises(no_accelerator):
    with pytest.raises(ConfigError, match="model.device"):
        choose_device("tpu")


def test_cpu_dtype_follows_native_bf16_flags():
    assert choose_dtype("auto", "cpu", parse_cpu_flags(CPUINFO_EPYC))[0] is torch.bfloat16
    assert choose_dtype("auto", "cpu", {"amx_bf16"})[0] is torch.bfloat16
    dtype, reason = choose_dtype("auto", "cpu", parse_cpu_flags(CPUINFO_OLD))
    assert dtype is torch.float32 and "no native bf16" in reason


def test_cpu_dtype_reads_proc_cpuinfo_by_default(monkeypatch):
    import tutor.backends.device as device

    monkeypatch.setattr(device, "read_cpu_flags", lambda: {"avx512_bf16"})
    assert choose_dtype("auto", "cpu")[0] is torch.bfloat16
    monkeypatch.setattr(device, "read_cpu_flags", lambda: set())
    assert choose_dtype("auto", "cpu")[0] is torch.float32


def test_explicit_dtype_is_honoured():
    for name in ("float32", "bfloat16", "float16"):
        dtype, reason = choose_dtype(name, "cpu", set())
        assert dtype_name(dtype) == name and "set by model.dtype" in reason
    with pytest.raises(ConfigError, match="model.dtype"):
        choose_dtype("int8", "cpu", set())


def test_cuda_and_mps_dtypes(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert choose_dtype("auto", "cuda")[0] is torch.bfloat16
    assert choose_dtype("auto", "cuda:1")[0] is torch.bfloat16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert choose_dtype("auto", "cuda")[0] is torch.float32
    assert choose_dtype("auto", "mps")[0] is torch.float16


def test_read_cpu_flags(tmp_path):
    f = tmp_path / "cpuinfo"
    f.write_text(CPUINFO_EPYC)
    assert {"avx512_bf16", "avx2"} <= read_cpu_flags(f)
    assert read_cpu_flags(tmp_path / "missing") == set()
    assert parse_cpu_flags("Features\t: fp asimd bf16\n") == {"fp", "asimd", "bf16"}  # arm64 Linux
