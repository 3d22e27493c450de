"""What fastinfer runs on: versions, native libraries and execution providers.

``fastinfer doctor`` prints :func:`report`; ``fastinfer --version`` prints
:func:`version_line`. Nothing here imports onnxruntime's Python package, torch
or cv2, and CUDA and TensorRT libraries are located, never loaded.
"""

from __future__ import annotations

import glob
import os
import platform
import site
import sys
from pathlib import Path
from typing import Any, Iterator

from .. import _core
from .._version import __version__
from ..errors import BackendUnavailableError
from ..runtime import backends
from ..runtime.cpu import cpu_features

CUDA_PROVIDER = "CUDAExecutionProvider"
TENSORRT_PROVIDER = "TensorrtExecutionProvider"
# Folders that hold CUDA and TensorRT beside the loader's own search path:
# the CUDA toolkit's default prefix and pip's NVIDIA and TensorRT wheels
# (relative to site-packages), which onnxruntime-gpu also loads from.
CUDA_DIRS = ("/usr/local/cuda/lib64", "/usr/local/cuda/targets/x86_64-linux/lib", "/usr/local/nvidia/lib64")
PIP_LIBRARY_DIRS = ("nvidia/*/lib", "tensorrt_libs", "tensorrt")
SYSTEM_DIRS = ("/lib64", "/usr/lib64", "/lib", "/usr/lib", "/usr/local/lib")


def report() -> dict[str, Any]:
    """Versions and locations of fastinfer, its core, OpenCV and ONNX Runtime; providers; CUDA and TensorRT.

    ``problems`` lists what would stop fastinfer or a GPU provider from working
    (empty when all is well).

    Example:
        >>> from fastinfer import doctor
        >>> info = doctor.report()
        >>> info["core"]["version"] == info["fastinfer"]["version"]
        True
        >>> "CPUExecutionProvider" in info["onnxruntime"]["providers"]
        True
    """
    problems = []
    if _core.__version__ != __version__:
        problems.append(f"the native core is version {_core.__version__} but the package is {__version__}: "
                        "reinstall fastinfer")
    try:
        ort = backends.onnxruntime_info()
        ort = {"version": ort["version"], "library": ort["library"], "providers": list(ort["providers"])}
    except BackendUnavailableError as exc:
        ort = {"version": None, "library": backends.onnxruntime_library(), "providers": []}
        problems.append(str(exc))
    providers = ort["providers"]
    cuda = {"provider": CUDA_PROVIDER in providers, "runtime": find_library("libcudart.so*"),
            "driver": find_library("libcuda.so*")}
    tensorrt = {"provider": TENSORRT_PROVIDER in providers, "library": find_library("libnvinfer.so*")}
    if cuda["provider"] and not (cuda["runtime"] and cuda["driver"]):
        missing = " and ".join(name for name, key in (("libcudart", "runtime"), ("libcuda (the NVIDIA driver)",
                                                                                 "driver")) if not cuda[key])
        problems.append(f"ONNX Runtime has the {CUDA_PROVIDER} but {missing} was not found")
    if tensorrt["provider"] and not tensorrt["library"]:
        problems.append(f"ONNX Runtime has the {TENSORRT_PROVIDER} but libnvinfer (TensorRT) was not found")
    return {
        "torch": torch_backend(),
        "fastinfer": {"version": __version__, "location": str(Path(__file__).resolve().parent)},
        "core": {"version": _core.__version__, "library": str(Path(_core.__file__).resolve())},
        "opencv": {"version": _core.opencv_version, "library": loaded_library("libopencv_core")},
        "onnxruntime": ort,
        "cuda": cuda,
        "tensorrt": tensorrt,
        "python": {"version": platform.python_version(), "executable": sys.executable},
        "platform": platform.platform(),
        "cpu": cpu_features().to_dict(),
        "problems": problems,
    }


def torch_backend() -> dict[str, Any]:
    """The torch backend's runtime, located without importing torch: its version (a ``+cpu`` build has no CUDA).

    TensorRT stays outside fastinfer's runtimes: no package index these builds
    use ships it, so ``backend="torch"`` (FP16, CUDA graphs) is the GPU path;
    a TensorRT engine would be one more loader in ``runtime.backends``.
    """
    from importlib.metadata import PackageNotFoundError, version

    found: str | None
    try:
        found = version("torch")
    except PackageNotFoundError:
        found = None
    return {"version": found, "cuda_build": found is not None and "+cpu" not in found,
            "install": None if found else "pip install 'fastinfer[torch]'"}


def version_line(info: dict[str, Any] | None = None) -> str:
    """One line for ``fastinfer --version``: versions, providers, and whether CUDA and TensorRT were found.

    Example:
        >>> from fastinfer import doctor
        >>> doctor.version_line()  # doctest: +SKIP
        'fastinfer 0.1.0 (core 0.1.0), OpenCV 4.6.0, ONNX Runtime 1.32.0 [CPUExecutionProvider]; CUDA: not found; ...'
    """
    info = info or report()
    ort = info["onnxruntime"]
    runtime = (f"ONNX Runtime {ort['version']} [{', '.join(ort['providers'])}]" if ort["version"]
               else "ONNX Runtime not available")
    return (f"fastinfer {info['fastinfer']['version']} (core {info['core']['version']}), "
            f"OpenCV {info['opencv']['version']}, {runtime}; CUDA: {_found(info['cuda'])}; "
            f"TensorRT: {_found(info['tensorrt'])}")


def format_report(info: dict[str, Any]) -> str:
    """The report as aligned ``name  version  where`` lines, then the problems."""
    ort, cuda, tensorrt = info["onnxruntime"], info["cuda"], info["tensorrt"]
    rows = [
        ("fastinfer", info["fastinfer"]["version"], info["fastinfer"]["location"]),
        ("core", info["core"]["version"], info["core"]["library"]),
        ("OpenCV", info["opencv"]["version"], info["opencv"]["library"] or ""),
        ("ONNX Runtime", ort["version"] or "not available", ort["library"] or "onnxruntime is not installed"),
        ("providers", ", ".join(ort["providers"]) or "none", ""),
        ("CUDA", _found(cuda), f"{CUDA_PROVIDER}: {_yes(cuda['provider'])}; libcudart: "
         f"{cuda['runtime'] or 'not found'}; libcuda: {cuda['driver'] or 'not found'}"),
        ("TensorRT", _found(tensorrt), f"{TENSORRT_PROVIDER}: {_yes(tensorrt['provider'])}; libnvinfer: "
         f"{tensorrt['library'] or 'not found'} (fastinfer runs no TensorRT engines itself: backend='torch' "
         "with half=True is its GPU path)"),
        ("torch backend", info["torch"]["version"] or "not installed",
         (("CUDA build" if info["torch"]["cuda_build"] else "CPU build") if info["torch"]["version"]
          else info["torch"]["install"])),
        ("Python", info["python"]["version"], info["python"]["executable"]),
        ("platform", info["platform"], ""),
        ("CPU", info["cpu"]["model"], _int8_line(info["cpu"])),
    ]
    name_width = max(len(name) for name, _, _ in rows)
    version_width = max(len(version) for _, version, where in rows if where)
    lines = [f"{name:<{name_width}}  {version:<{version_width}}  {where}".rstrip() for name, version, where in rows]
    lines += [f"problem: {problem}" for problem in info["problems"]] or ["no problems found"]
    return "\n".join(lines)


def _int8_line(cpu: dict[str, Any]) -> str:
    dot = cpu["int8_dot_product"]
    if dot:
        return f"int8 dot product: {', '.join(dot)} (INT8 quantizes activations through the backbone)"
    return "int8 dot product: none (INT8 will not be faster than FP32 here)"


def find_library(pattern: str) -> str | None:
    """The first file matching ``pattern`` (``"libcudart.so*"``) on the library search path, else None.

    Searched: ``$LD_LIBRARY_PATH``, the folders of ``/etc/ld.so.conf``, the
    system library folders, the CUDA toolkit's and pip's NVIDIA packages.
    """
    for folder in _library_dirs():
        found = sorted(glob.glob(os.path.join(folder, pattern)))
        if found:
            return found[0]
    return None


def loaded_library(name: str) -> str | None:
    """Path of the loaded shared library whose file name starts with ``name`` (Linux), else None."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return None
    for line in maps.splitlines():
        fields = line.split(maxsplit=5)  # address, perms, offset, device, inode[, path]
        if len(fields) == 6 and os.path.basename(fields[5]).startswith(name):
            return fields[5]
    return None


def _found(entry: dict[str, Any]) -> str:
    libraries = [value for key, value in entry.items() if key != "provider"]
    return "found" if all(libraries) else "partly found" if any(libraries) else "not found"


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _library_dirs() -> Iterator[str]:
    yield from filter(None, os.environ.get("LD_LIBRARY_PATH", "").split(os.pathsep))
    yield from _ld_so_conf("/etc/ld.so.conf")
    machine = f"{platform.machine()}-linux-gnu"
    for folder in SYSTEM_DIRS:
        yield os.path.join(folder, machine)
        yield folder
    yield from CUDA_DIRS
    for packages in [*site.getsitepackages(), site.getusersitepackages()]:
        for pattern in PIP_LIBRARY_DIRS:
            yield from sorted(glob.glob(os.path.join(packages, pattern)))


def _ld_so_conf(path: str, depth: int = 0) -> Iterator[str]:
    """The folders an ld.so.conf file lists, following its ``include`` lines."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if line.startswith("include ") and depth < 4:
            for included in sorted(glob.glob(os.path.join(os.path.dirname(path), line.split(None, 1)[1]))):
                yield from _ld_so_conf(included, depth + 1)
        elif line.startswith("/"):
            yield line
