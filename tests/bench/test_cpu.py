"""bench/cpu.py: the CPU model, vendor and numerics-relevant flags a bench records."""
from bench.cpu import FLAGS, cpu_flags, describe

CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 9454 48-Core Processor
flags\t\t: fpu sse2 avx avx2 avx512f avx512_vnni avx512_bf16

processor\t: 1
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 9454 48-Core Processor
flags\t\t: fpu sse2 avx avx2 avx512f avx512_vnni avx512_bf16
"""


def test_flags_model_and_vendor_come_from_cpuinfo(tmp_path):
    path = tmp_path / "cpuinfo"
    path.write_text(CPUINFO)
    f = cpu_flags(path)
    assert f["model"] == "AMD EPYC 9454 48-Core Processor" and f["vendor"] == "AuthenticAMD"
    assert f["avx2"] and f["avx512f"] and f["avx512_bf16"] and not f["amx_tile"] and not f["amx_bf16"]
    assert set(FLAGS) <= set(f)
    assert describe(f) == "AMD EPYC 9454 48-Core Processor (avx2, avx512f, avx512_vnni, avx512_bf16)"


def test_no_cpuinfo_reports_no_flags(tmp_path):
    f = cpu_flags(tmp_path / "missing")
    assert f["model"] and f["vendor"] == "" and not any(f[k] for k in FLAGS)
    assert "none of" in describe(f)
