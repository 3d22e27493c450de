"""What the CPU can do for INT8: integer dot-product instructions, read at run time.

INT8 convolutions pay off when the CPU multiplies 8-bit values and sums them
into 32 bits in one instruction: AVX-512 VNNI, AVX-VNNI or AMX on x86, the dot
product extension (``SDOT``/``UDOT``) or ``I8MM`` on ARM. Without one (AVX2
only: ``vpmaddubsw`` sums pairs into 16 bits), ONNX Runtime's INT8 kernels do
about as much work per value as its FP32 ones and a quantized model is no
faster. The flags come from ``/proc/cpuinfo`` (Linux; ``flags`` on x86,
``Features`` on ARM), else from ``sysctl`` on macOS.
"""

from __future__ import annotations

import functools
import platform
import subprocess
from dataclasses import dataclass

#: x86 flags (as Linux spells them in /proc/cpuinfo) of one-instruction int8 dot products.
X86_DOT_PRODUCT = ("avx512_vnni", "avx_vnni", "amx_int8")
#: ARM features of the same (``asimddp``: SDOT/UDOT; ``i8mm``: int8 matrix multiply).
ARM_DOT_PRODUCT = ("asimddp", "i8mm")
#: Every flag fastinfer reports (those above and what they build on).
REPORTED = ("avx2", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "amx_tile", "amx_int8", "asimd", "asimddp",
            "i8mm", "sve")


@dataclass(frozen=True)
class CpuFeatures:
    """The CPU's model, architecture and the flags that matter for INT8."""

    model: str
    arch: str
    flags: frozenset[str]

    @property
    def int8_dot_product(self) -> tuple[str, ...]:
        """The integer dot-product flags the CPU has (empty: none), in :data:`X86_DOT_PRODUCT` /
        :data:`ARM_DOT_PRODUCT` order."""
        return tuple(f for f in X86_DOT_PRODUCT + ARM_DOT_PRODUCT if f in self.flags)

    @property
    def has_int8_dot_product(self) -> bool:
        return bool(self.int8_dot_product)

    def to_dict(self) -> dict[str, object]:
        return {"model": self.model, "arch": self.arch, "int8_dot_product": list(self.int8_dot_product),
                "flags": [f for f in REPORTED if f in self.flags]}


def parse_cpuinfo(text: str) -> tuple[str, frozenset[str]]:
    """``/proc/cpuinfo`` text -> (model name, flags of the first processor).

    x86 lists ``model name`` and ``flags``; ARM ``Features`` (and often no model
    name: then its ``CPU part`` is used).
    """
    model, flags, part = "", "", ""
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            if flags:  # the end of the first processor's block
                break
            continue
        key = key.strip().lower()
        if key in ("model name", "hardware") and not model:
            model = value.strip()
        elif key == "cpu part" and not part:
            part = value.strip()
        elif key in ("flags", "features") and not flags:
            flags = value
    return model or (f"ARM CPU part {part}" if part else ""), frozenset(flags.split())


def _sysctl_flags() -> tuple[str, frozenset[str]]:
    """macOS: the brand string and the dot-product features sysctl reports."""
    def sysctl(name: str) -> str:
        try:
            return subprocess.run(["sysctl", "-n", name], capture_output=True, text=True, timeout=5).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    flags = set()
    if sysctl("hw.optional.arm.FEAT_DotProd") == "1":
        flags.add("asimddp")
    if sysctl("hw.optional.arm.FEAT_I8MM") == "1":
        flags.add("i8mm")
    features = sysctl("machdep.cpu.leaf7_features").lower().split()  # Intel Macs: "AVX512VNNI", ...
    if "avx512vnni" in features:
        flags.add("avx512_vnni")
    return sysctl("machdep.cpu.brand_string"), frozenset(flags)


@functools.cache
def cpu_features() -> CpuFeatures:
    """The CPU this process runs on: model name, architecture and INT8-related flags (read once).

    Example:
        >>> from fastinfer.runtime import cpu_features
        >>> cpu_features().int8_dot_product   # doctest: +SKIP
        ('avx512_vnni', 'avx_vnni', 'amx_int8')
    """
    arch = platform.machine().lower()
    model, flags = "", frozenset[str]()
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as info:
            model, flags = parse_cpuinfo(info.read())
    except OSError:
        if platform.system() == "Darwin":
            model, flags = _sysctl_flags()
    return CpuFeatures(model or platform.processor() or arch or "unknown", arch, flags)
