"""fastinfer.runtime.cpu_features: the CPU's int8 dot-product support, against /proc/cpuinfo and numpy's cpuid."""

from __future__ import annotations

import json
import logging
import platform
from pathlib import Path

import pytest
from numpy._core._multiarray_umath import __cpu_features__ as NUMPY_CPU

from fastinfer import cli, quantization
from fastinfer.runtime import CpuFeatures, cpu, cpu_features
from fastinfer.tools import doctor

CPUINFO = Path("/proc/cpuinfo")
needs_cpuinfo = pytest.mark.skipif(not CPUINFO.is_file(), reason="no /proc/cpuinfo (not Linux)")


def first_processor_flags() -> set[str]:
    """The flags (x86) or Features (ARM) of the first processor, read straight from /proc/cpuinfo."""
    for line in CPUINFO.read_text().splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return set(value.split())
    raise AssertionError("/proc/cpuinfo lists no flags")


@needs_cpuinfo
def test_features_are_the_flags_of_proc_cpuinfo():
    features = cpu_features()
    flags = first_processor_flags()
    assert features.flags == flags
    assert features.int8_dot_product == tuple(f for f in cpu.X86_DOT_PRODUCT + cpu.ARM_DOT_PRODUCT if f in flags)
    assert features.has_int8_dot_product == bool(flags & {"avx512_vnni", "avx_vnni", "amx_int8", "asimddp", "i8mm"})
    model = next(line.split(":", 1)[1].strip() for line in CPUINFO.read_text().splitlines()
                 if line.lower().startswith(("model name", "cpu part")))
    assert model in features.model
    assert features.arch == platform.machine().lower()


def test_features_agree_with_numpys_own_cpuid():
    # numpy reads the same capabilities with cpuid (x86) or the auxiliary vector (ARM), not /proc/cpuinfo.
    features = cpu_features()
    if platform.machine().lower() in ("x86_64", "amd64"):
        assert ("avx512_vnni" in features.flags) == NUMPY_CPU["AVX512VNNI"]
        assert ("avx2" in features.flags) == NUMPY_CPU["AVX2"]
    else:
        assert ("asimddp" in features.flags) == NUMPY_CPU.get("ASIMDDP", False)


def test_arm_cpuinfo_is_read_from_its_features_line():
    text = ("processor\t: 0\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp "
            "asimdhp cpuid asimdrdm lrcpc dcpop asimddp\nCPU implementer\t: 0x41\nCPU part\t: 0xd0c\n\n"
            "processor\t: 1\nFeatures\t: fp asimd\n")
    model, flags = cpu.parse_cpuinfo(text)
    assert model == "ARM CPU part 0xd0c" and "asimddp" in flags and "fp" in flags
    assert CpuFeatures(model, "aarch64", flags).int8_dot_product == ("asimddp",)
    assert not CpuFeatures(model, "aarch64", frozenset({"fp", "asimd"})).has_int8_dot_product


def test_recipe_follows_the_cpu_and_warns_once_without_a_dot_product(caplog, monkeypatch):
    monkeypatch.setattr(quantization, "_warned_no_dot_product", False)
    vnni = CpuFeatures("some Xeon", "x86_64", frozenset({"avx2", "avx512_vnni"}))
    avx2 = CpuFeatures("AMD EPYC 7B12", "x86_64", frozenset({"avx2", "fma"}))
    with caplog.at_level(logging.WARNING, logger="fastinfer"):
        assert quantization.default_recipe(vnni).name == "full" and not caplog.records
        assert quantization.default_recipe(avx2).name == "full-7bit"
        assert quantization.default_recipe(avx2).name == "full-7bit"
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    message = warnings[0].getMessage()
    assert "INT8 will not be faster than FP32 on this CPU (AMD EPYC 7B12)" in message and "VNNI" in message
    assert quantization.RECIPES["full"].reduce_range is False
    assert quantization.RECIPES["full-7bit"].reduce_range is True  # 7-bit: no int16 saturation on AVX2


def test_doctor_reports_the_cpu(capsys):
    info = doctor.report()
    assert info["cpu"] == cpu_features().to_dict()
    assert cli.main(["doctor", "--json"]) in (0, 1)
    assert json.loads(capsys.readouterr().out)["cpu"]["int8_dot_product"] == list(cpu_features().int8_dot_product)
    cli.main(["doctor"])
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("CPU "))
    assert "int8 dot product: " + (", ".join(cpu_features().int8_dot_product) or "none") in line
